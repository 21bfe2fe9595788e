"""Benchmark the grading pipeline against plain nbgrader, fairly.

Grades the same class of submissions in fresh copies of one course:

* ``simcrm`` — :func:`simcrm.lab.grading.autograde` (repair, a referee per submission, scores
  from the referee's record), with 1 worker and with ``--jobs`` workers;
* ``plain`` — plain ``nbgrader autograde <assignment> --force`` (nbgrader's command line, one
  call for the class; hidden tests then run the referee from the kernel, as a self-learner would).

Fair: every run starts with its own world cache (``SIMCRM_CACHE_DIR``) and its own copy of the
course — an **empty** cache (``--caches fresh``: a first grading, every world generated during
the run) or a copy of one cache **holding the class's worlds**, built once before the runs and
not timed (``--caches warm``: a re-grade, or worlds built when the assignment was handed out;
the same copy for both sides); the order of the sides alternates from round to round; the figures are
**medians** over the rounds. Both sides must give the same scores. Prints seconds per
submission for each side, the ratio, and the speed-up of the workers; next to the wall time, the
CPU time (user + sys of every process of the run, including processes the kernel left behind,
which this process adopts and reaps on Linux) and the load average, since on a shared machine
the wall time says more about the neighbours than about the grader.

Run: ``python benchmarks/bench_autograde.py [n_students] [--lab ch04_customers] [--rounds 2] [--jobs 2]
[--caches fresh|warm|both] [--marginal]``.

``--marginal`` also grades each class's first submission alone on both sides (same rounds, same
alternation) and prints the CPU of one more submission — the class's CPU minus that of its first
submission alone, divided by n − 1 — for each side and their ratio: the per-submission cost with
each run's fixed cost (simcrm's grader, kernel parent and referee starting; nbgrader's command
line starting) taken out of both sides alike.

``--only simcrm`` times the simcrm side alone on a whole class (e.g. 100 students), without
plain nbgrader: the world build phase (every world and its chapter files built once, on every core,
into an empty cache), then grading with those worlds at 1 worker and at ``--jobs`` workers; it prints
wall, CPU and per-submission figures of each phase and the load.

With ``--lab`` the class is a real chapter lab from ``solutions/``: every student gets their own
world, two thirds hand in the solution, one third a wrong answer to the lab's last question.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data" / "nb"

# nbgrader runs `alembic`; keep Jupyter and IPython out of $HOME
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
# one folder for the run: worker processes (spawned, so they import this module again) reuse it
if os.environ.get("SIMCRM_BENCH_TMP"):
    _TMP = Path(os.environ["SIMCRM_BENCH_TMP"])
else:
    _TMP = Path(tempfile.mkdtemp(prefix="simcrm-bench-"))
    os.environ["SIMCRM_BENCH_TMP"] = str(_TMP)
    for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        (_TMP / var).mkdir()
        os.environ[var] = str(_TMP / var)

from simcrm.lab import grading  # noqa: E402 - after the environment is set

_spec = importlib.util.spec_from_file_location("mini_submissions", DATA / "mini_submissions.py")
subs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subs)


def make_class(n: int) -> tuple[Path, Path, dict[str, float]]:
    solutions = _TMP / "solutions"
    shutil.copytree(DATA / "mini", solutions / "mini")
    course = grading.create_course(_TMP / "course_simcrm", solutions)
    grading.release(course, "mini")
    release = subs.read(course / "release" / "mini" / "mini.ipynb")
    expected = {}
    for i in range(n):
        sid = f"s{i:03d}"
        if i % 3 == 2:
            nb, expected[sid] = (subs.answered(release, q1=subs.WRONG_Q1), 6.0) if i % 2 else \
                (subs.answered(release, q2=subs.WRONG_Q2), 4.0)
        else:
            nb, expected[sid] = subs.answered(release), 10.0
        subs.write(nb, course / "submitted" / sid / "mini" / "mini.ipynb")
    twin = _TMP / "course_cli"
    shutil.copytree(course, twin)
    return course, twin, expected


def make_lab_class(lab: str, n: int) -> tuple[Path, Path, dict[str, float]]:
    """A class of ``n`` submissions of chapter lab ``lab`` (solution or one wrong answer)."""
    import copy
    import re

    import nbformat

    source = nbformat.read(ROOT / "solutions" / lab / f"{lab}.ipynb", as_version=4)
    meta = [(c, c.metadata.get("nbgrader", {})) for c in source.cells]
    answers = {m["grade_id"]: re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", "", c.source, flags=re.M)
               for c, m in meta if m.get("solution") and c.cell_type == "code"}
    points = {m["grade_id"]: float(m["points"]) for c, m in meta if m.get("grade") and c.cell_type == "code"}
    auto_max = sum(points.values())
    # the last autograded question: its answer cell is the solution cell just before its test
    order = [m.get("grade_id") for _c, m in meta]
    last_test = [g for g in order if g in points][-1]
    last_answer = [g for g in order[: order.index(last_test)] if g in answers][-1]
    solutions = _TMP / "solutions"
    shutil.copytree(ROOT / "solutions" / lab, solutions / lab)
    course = grading.create_course(_TMP / "course_simcrm", solutions, timeout=300)
    grading.release(course, lab)
    release = nbformat.read(course / "release" / lab / f"{lab}.ipynb", as_version=4)
    expected = {}
    for i in range(n):
        sid = f"s{i:03d}"
        nb = copy.deepcopy(release)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers:
                cell.source = answers[gid]
        if i % 3 == 2:  # the last answer is not done at all: that question's points are lost
            cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == last_answer)
            cell.source = "raise ValueError('wrong on purpose')\n" + cell.source
            expected[sid] = auto_max - points[last_test]
        else:
            expected[sid] = auto_max
        folder = course / "submitted" / sid / lab
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab}.ipynb")
    twin = _TMP / "course_cli"
    shutil.copytree(course, twin)
    return course, twin, expected


def cli_scores(course: Path, assignment: str = "mini") -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="simcrm") as gb:
        return {s.student.id: float(s.code_score) for s in gb.assignment_submissions(assignment)}


#: the world cache every "warm" run starts from a copy of (the class's worlds, built once)
WARM = _TMP / "warm_cache"


def _fresh(template: Path, name: str, warm: bool = False) -> tuple[Path, Path]:
    """A copy of the course and a world cache of its own: empty, or a copy of :data:`WARM`."""
    course = _TMP / "runs" / name
    if course.exists():
        shutil.rmtree(course)
    shutil.copytree(template, course)
    cache = _TMP / "caches" / name
    shutil.rmtree(cache, ignore_errors=True)
    if warm:
        shutil.copytree(WARM, cache)
    else:
        cache.mkdir(parents=True)
    return course, cache


def build_warm_cache(template: Path, assignment: str, students: list[str]) -> float:
    """Build the class's worlds once into :data:`WARM` (as a teacher's cache holds them after
    the first grading or ``simcrm course worlds``); the seconds it took."""
    WARM.mkdir(parents=True, exist_ok=True)
    saved = os.environ.get("SIMCRM_CACHE_DIR")
    os.environ["SIMCRM_CACHE_DIR"] = str(WARM)
    t0 = time.perf_counter()
    try:
        grading.prebuild_worlds(template, assignment, students, jobs=os.cpu_count() or 1)
    finally:
        if saved is None:
            os.environ.pop("SIMCRM_CACHE_DIR", None)
        else:
            os.environ["SIMCRM_CACHE_DIR"] = saved
    return time.perf_counter() - t0


def _cpu() -> float:
    """CPU seconds (user + sys) of this process and of every child it has waited for."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


CPU: dict[str, float] = {}


def _adopt_orphans() -> None:
    """Make this process the reaper of its orphaned descendants (Linux), so that their CPU time
    is counted too: plain nbgrader's kernel starts a referee that outlives it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def _reap(wait: float = 15.0) -> None:
    """Wait for the descendants this process adopted (their CPU time then counts as children's)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.2)


def run_simcrm(template: Path, assignment: str, expected: dict[str, float], jobs: int, name: str,
               warm: bool = False) -> float:
    """Grade the class (or the students of ``expected`` only) with simcrm's pipeline."""
    course, cache = _fresh(template, name, warm)
    os.environ["SIMCRM_CACHE_DIR"] = str(cache)
    c0 = _cpu()
    t0 = time.perf_counter()
    table = grading.autograde(course, assignment, progress=False, jobs=jobs, students=sorted(expected))
    took = time.perf_counter() - t0
    _reap()
    CPU[name] = _cpu() - c0
    got = dict(zip(table["student"], table["auto_score"]))
    assert got == expected, {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
    return took


def run_plain(template: Path, assignment: str, expected: dict[str, float], name: str, warm: bool = False) -> float:
    course, cache = _fresh(template, name, warm)
    env = dict(os.environ, SIMCRM_CACHE_DIR=str(cache),
               SIMCRM_COURSE_SALT=grading.course_settings(course)["salt"])
    c0 = _cpu()
    t0 = time.perf_counter()
    only = [f"--student={next(iter(expected))}"] if len(expected) == 1 else []
    subprocess.run([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force", *only], cwd=course,
                   check=True, capture_output=True, env=env)
    took = time.perf_counter() - t0
    _reap()
    CPU[name] = _cpu() - c0
    got = cli_scores(course, assignment); assert got == expected, (got, expected)
    return took


def _build_phase(template: Path, assignment: str, students: list[str], name: str) -> tuple[Path, float, float]:
    """Build the class's worlds (and chapter files) into an empty cache of their own, in parallel
    on every core, as ``autograde`` does first when it has idle cores; (cache, wall, CPU)."""
    cache = _TMP / "caches" / name
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    saved = os.environ.get("SIMCRM_CACHE_DIR")
    os.environ["SIMCRM_CACHE_DIR"] = str(cache)
    c0, t0 = _cpu(), time.perf_counter()
    try:
        built = grading.prebuild_worlds(template, assignment, students, jobs=os.cpu_count() or 1)
    finally:
        if saved is None:
            os.environ.pop("SIMCRM_CACHE_DIR", None)
        else:
            os.environ["SIMCRM_CACHE_DIR"] = saved
    took = time.perf_counter() - t0
    _reap()
    assert built <= len(students), (built, len(students))
    return cache, took, _cpu() - c0


def main_simcrm_only(n: int, lab: str | None, rounds: int, jobs: int) -> None:
    """Time the simcrm side alone on a whole class (``--only simcrm``): the world build phase
    (every world built once, on every core, into an empty cache), then grading with those worlds
    at 1 worker and at ``jobs`` workers. Prints wall, CPU and per-submission figures of each phase
    and the load; medians over the rounds."""
    from statistics import median

    _adopt_orphans()
    assignment = lab or "mini"
    template, _twin, expected = make_lab_class(lab, n) if lab else make_class(n)
    students = sorted(expected)
    workers = sorted({1, jobs})
    build_wall: list[float] = []
    build_cpu: list[float] = []
    wall: dict[int, list[float]] = {j: [] for j in workers}
    cpu: dict[int, list[float]] = {j: [] for j in workers}
    loads: list[float] = []
    for r in range(rounds):
        cache, took, used = _build_phase(template, assignment, students, f"only-r{r}-build")
        build_wall.append(took)
        build_cpu.append(used)
        loads.append(os.getloadavg()[0])
        print(f"  round {r + 1}: world build phase {took:7.1f} s = {took / n:6.2f} s/student; "
              f"CPU {used / n:6.2f} s/student; load average {loads[-1]:.1f}", flush=True)
        for j in (workers[::-1] if r % 2 == 0 else workers):  # the class at --jobs workers first
            name = f"only-r{r}-jobs{j}"
            course, run_cache = _fresh(template, name)
            shutil.rmtree(run_cache)
            shutil.copytree(cache, run_cache)
            os.environ["SIMCRM_CACHE_DIR"] = str(run_cache)
            c0, t0 = _cpu(), time.perf_counter()
            table = grading.autograde(course, assignment, progress=False, jobs=j)
            took = time.perf_counter() - t0
            _reap()
            used = _cpu() - c0
            got = dict(zip(table["student"], table["auto_score"]))
            assert got == expected, {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
            wall[j].append(took)
            cpu[j].append(used)
            loads.append(os.getloadavg()[0])
            print(f"  round {r + 1}: grading, {j} worker(s)  {took:7.1f} s = {took / n:6.2f} s/submission; "
                  f"CPU {used / n:6.2f} s/submission; load average {loads[-1]:.1f}", flush=True)
            shutil.rmtree(course, ignore_errors=True)
            shutil.rmtree(run_cache, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    where = f"solutions/{lab}" if lab else "tests/data/nb/mini"
    bw, bc = median(build_wall), median(build_cpu)
    print(f"simcrm only: class of {n} submissions of {where}, {rounds} round(s), {os.cpu_count()} cores; medians:")
    print(f"  world build phase ({os.cpu_count()} builders): {bw:7.1f} s wall, {bc:7.1f} s CPU "
          f"= {bc / n:5.2f} s CPU/student")
    for j in workers:
        w, c = median(wall[j]), median(cpu[j])
        print(f"  grading, {j} worker(s): {w:7.1f} s wall = {w / n:5.2f} s/submission; {c:7.1f} s CPU "
              f"= {c / n:5.2f} s CPU/submission; with the build phase: {(bw + w) / 60:5.1f} min for the class "
              f"({(bw + w) / n * 100 / 60:5.1f} min per 100)")
    if len(workers) > 1:
        print(f"  speed-up of {jobs} workers (grading): {median(wall[1]) / median(wall[jobs]):.2f}x")
    print(f"  load average during the runs: {min(loads):.1f}–{max(loads):.1f} (1-minute, after each phase)")
    shutil.rmtree(_TMP, ignore_errors=True)


def main(n: int = 30, lab: str | None = None, rounds: int = 2, jobs: int = 2, caches: str = "fresh",
         marginal: bool = False) -> None:
    from statistics import median

    _adopt_orphans()
    assignment = lab or "mini"
    template, _twin, expected = make_lab_class(lab, n) if lab else make_class(n)
    where = f"solutions/{lab}" if lab else "tests/data/nb/mini"
    modes = ["fresh", "warm"] if caches == "both" else [caches]
    if "warm" in modes:
        took = build_warm_cache(template, assignment, sorted(expected))
        print(f"  the class's {n} worlds built once for the warm runs: {took:.1f} s", flush=True)
    for mode in modes:
        warm = mode == "warm"
        times: dict[str, list[float]] = {"simcrm 1 worker": [], f"simcrm {jobs} workers": [], "plain nbgrader": []}
        cpus: dict[str, list[float]] = {k: [] for k in times}
        loads: list[float] = []
        for r in range(rounds):
            sides = [("simcrm 1 worker", lambda k: run_simcrm(template, assignment, expected, 1, k, warm)),
                     (f"simcrm {jobs} workers", lambda k: run_simcrm(template, assignment, expected, jobs, k, warm)),
                     ("plain nbgrader", lambda k: run_plain(template, assignment, expected, k, warm))]
            if marginal:  # each side on the first submission alone too: its fixed cost
                one = dict([min(expected.items())])
                sides += [("simcrm 1 worker, 1 sub", lambda k: run_simcrm(template, assignment, one, 1, k, warm)),
                          ("plain nbgrader, 1 sub", lambda k: run_plain(template, assignment, one, k, warm))]
                times.update({k: times.get(k, []) for k in ("simcrm 1 worker, 1 sub", "plain nbgrader, 1 sub")})
                cpus.update({k: cpus.get(k, []) for k in ("simcrm 1 worker, 1 sub", "plain nbgrader, 1 sub")})
            if r % 2:
                sides.reverse()
            for label, run in sides:
                name = f"{mode}-r{r}-{label.replace(' ', '_').replace(',', '')}"
                took = run(name)
                times[label].append(took)
                cpus[label].append(CPU[name])
                load = os.getloadavg()[0]
                loads.append(load)
                k = 1 if label.endswith("1 sub") else n
                print(f"  {mode} round {r + 1}: {label:22s} {took:7.1f} s = {took / k:6.2f} s/submission; "
                      f"CPU {CPU[name] / k:6.2f} s/submission; load average {load:.1f}", flush=True)
        cache_said = ("empty world cache per run" if not warm else
                      "world cache per run holding the class's worlds (a re-grade, or worlds built before grading)")
        print(f"class of {n} submissions of {where} ({sum(v == max(expected.values()) for v in expected.values())} "
              f"correct), {rounds} rounds, alternating order, {cache_said}; medians:")
        med = {k: median(v) for k, v in times.items()}
        cpu = {k: median(v) for k, v in cpus.items()}
        for label, t in med.items():
            if label.endswith("1 sub"):
                continue
            print(f"  {label:18s}: {t:7.1f} s = {t / n:6.2f} s/submission (CPU {cpu[label] / n:6.2f} s); "
                  f"a class of 100: {t / n * 100 / 60:5.1f} min")
        print(f"  load average during the runs: {min(loads):.1f}–{max(loads):.1f} (1-minute, after each run)")
        one, many, plain = med["simcrm 1 worker"], med[f"simcrm {jobs} workers"], med["plain nbgrader"]
        c1, cm, cp = cpu["simcrm 1 worker"], cpu[f"simcrm {jobs} workers"], cpu["plain nbgrader"]
        print(f"  wall: simcrm 1 worker / plain: {one / plain:.2f};  simcrm {jobs} workers / plain: {many / plain:.2f};  "
              f"speed-up of {jobs} workers: {one / many:.2f}x; same scores on every run")
        print(f"  CPU:  simcrm 1 worker / plain: {c1 / cp:.2f};  simcrm {jobs} workers / plain: {cm / cp:.2f}")
        if marginal and n > 1:
            # the cost of one more submission, without each run's fixed cost (starting the grader,
            # its kernels' parent, the referee; nbgrader's command line and its imports)
            s1, p1 = cpu["simcrm 1 worker, 1 sub"], cpu["plain nbgrader, 1 sub"]
            ms, mp = (c1 - s1) / (n - 1), (cp - p1) / (n - 1)
            print(f"  per added submission (CPU of the class minus CPU of its first submission alone, "
                  f"÷ {n - 1}): simcrm 1 worker {ms:5.2f} s, plain {mp:5.2f} s, ratio {ms / mp:.2f}; "
                  f"fixed cost of a run: simcrm {s1 - ms:5.2f} s, plain {p1 - mp:5.2f} s")
    shutil.rmtree(_TMP, ignore_errors=True)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=30, help="students in the class")
    parser.add_argument("--lab", default=None, help="a chapter lab of solutions/, e.g. ch04_customers")
    parser.add_argument("--rounds", type=int, default=2, help="rounds (each side once per round, order alternating)")
    parser.add_argument("--jobs", type=int, default=2, help="workers of the parallel simcrm run")
    parser.add_argument("--caches", choices=["fresh", "warm", "both"], default="fresh",
                        help="world caches of the runs: empty (a first grading), holding the class's worlds "
                             "(a re-grade, or worlds built before grading), or both")
    parser.add_argument("--only", choices=["simcrm"], default=None,
                        help="time only the simcrm side on the whole class: the world build phase, then "
                             "grading at 1 worker and at --jobs workers (--caches is ignored)")
    parser.add_argument("--marginal", action="store_true",
                        help="also grade the first submission alone on each side, and print the CPU of one "
                             "more submission (class minus first alone) without each run's fixed cost")
    args = parser.parse_args()
    if args.only == "simcrm":
        main_simcrm_only(args.n, args.lab, args.rounds, args.jobs)
    else:
        main(args.n, args.lab, args.rounds, args.jobs, args.caches, args.marginal)
