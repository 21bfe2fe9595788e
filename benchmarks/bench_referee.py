"""The referee's judging CPU on a chapter lab's solution, in one process (no nbgrader, no kernel).

Runs the code cells of ``solutions/<lab>/<lab>.ipynb`` (the solution's answers and its hidden
tests) in this process, as autograde would: ``lab.check`` skips the visible reference, and
``lab.grade`` hands the answer — encoded and decoded as it travels — to an in-process
:class:`simcrm.lab.referee.Referee` of the same student and world. Prints, per run, the CPU
(user + sys of this process) spent in the referee's ``judge`` calls, the CPU of everything
else (the student's code), and whether every answer passed; then the medians. The worlds come
from ``SIMCRM_CACHE_DIR`` (the first run of a world builds them, and its figures are left out
with ``--warmup 1``, the default).

Run: ``python benchmarks/bench_referee.py [--lab ch04_customers] [--runs 3] [--student bench01]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_MARKS = re.compile(r"^\s*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$\n?", flags=re.M)


def run_once(lab_name: str, student: str) -> dict:
    import nbformat

    from simcrm.lab import session
    from simcrm.lab.questions import get_question
    from simcrm.lab.referee import Referee, decode_answer, encode_answer

    nb = nbformat.read(ROOT / "solutions" / lab_name / f"{lab_name}.ipynb", as_version=4)
    cells = [_MARKS.sub("", c.source) for c in nb.cells if c.cell_type == "code"]
    judged: list[tuple[str, bool, str]] = []
    spent = {"judge": 0.0, "prepare": 0.0}
    referee: list = []

    def check(self, key, answer):  # autograde: the visible reference is skipped
        if get_question(key).kind == "operation":
            self.journal.checked(key)

    def ask(self, request):
        if not referee:
            referee.append(Referee(self.student.id, self.seed, self.customers))
            t = time.process_time()
            referee[0].prepare(self.chapter)  # the referee's world is built before the notebook runs
            spent["prepare"] += time.process_time() - t  # not counted: set-up
        t = time.process_time()
        answer = decode_answer(json.loads(json.dumps(request["answer"])))
        verdict = referee[0].judge(request["question"], answer, request["store"])
        spent["judge"] += time.process_time() - t
        judged.append((request["question"], bool(verdict["ok"]), verdict.get("hint", "")))
        return verdict

    real_check, real_ask = session.Lab.check, session.Lab._ask_referee
    session.Lab.check, session.Lab._ask_referee = check, ask
    os.environ["SIMCRM_STUDENT"] = student
    ns: dict = {}
    t0 = time.process_time()
    try:
        for src in cells:
            exec(compile(src, f"<{lab_name}>", "exec"), ns)  # noqa: S102 - the project's own solution
    finally:
        session.Lab.check, session.Lab._ask_referee = real_check, real_ask
        total = time.process_time() - t0
        if referee:
            referee[0].close()
        lab = ns.get("lab")
        if lab is not None:
            lab.store.close()
    return {"judge_cpu": spent["judge"], "other_cpu": total - spent["judge"] - spent["prepare"],
            "passed": sum(ok for _q, ok, _h in judged), "answers": len(judged),
            "failed": [(q, h) for q, ok, h in judged if not ok]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default="ch04_customers")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="runs first, not counted (worlds built)")
    parser.add_argument("--student", default="bench01")
    args = parser.parse_args()
    import simcrm

    print(f"simcrm from {Path(simcrm.__file__).parent}, load {os.getloadavg()}", flush=True)
    rows = []
    for i in range(args.warmup + args.runs):
        r = run_once(args.lab, args.student)
        tag = "warm-up" if i < args.warmup else f"run {i - args.warmup + 1}"
        print(f"{tag}: referee judging {r['judge_cpu']:.3f} s CPU, student code {r['other_cpu']:.3f} s CPU, "
              f"{r['passed']}/{r['answers']} passed {r['failed'] or ''}", flush=True)
        if i >= args.warmup:
            rows.append(r)
    print(f"median: referee judging {statistics.median(r['judge_cpu'] for r in rows):.3f} s CPU, "
          f"student code {statistics.median(r['other_cpu'] for r in rows):.3f} s CPU; load {os.getloadavg()}")
    return 0 if all(r["passed"] == r["answers"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
