"""The hidden grader's other half: a separate Python process the notebook cannot alter.

``python -m simcrm.lab.referee`` reads JSON requests, one per line, on stdin and answers each
with one JSON line ``{"ok": bool, "hint": str, "details": [...]}`` on stdout. A lab session
starts one referee on its first hidden check and keeps it for the rest of the notebook, so the
imports and the world are paid for once.

The referee resolves the student's identity itself — during nbgrader autograde from its
working directory alone — and builds that student's world afresh from the seed. The
reference answer is computed here and compared here; the notebook only hands over its
answer (a pickle file) and the path of its database (for operations).
"""

from __future__ import annotations

import json
import pickle
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any


class Referee:
    """Builds one student's world once and grades answers against it."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="simcrm-referee-")
        self._worlds: dict[tuple, Any] = {}

    def _world(self, chapter: str, seed: int, customers: int | None) -> tuple[Any, dict[str, Any]]:
        from .session import _chapter_module, build_world

        key = (chapter, seed, customers)
        if key not in self._worlds:
            folder = Path(self._tmp.name) / f"{chapter}-{seed}-{customers}"
            folder.mkdir(parents=True, exist_ok=True)
            world = build_world(seed, chapter, folder, customers)
            builder = getattr(_chapter_module(chapter), "build_files", None)
            files = builder(world, folder) if builder is not None else {}
            self._worlds[key] = (world, files)
        return self._worlds[key]

    def grade(self, request: dict[str, Any]) -> dict[str, Any]:
        from ..store import Store
        from .identity import resolve_student, world_seed
        from .questions import Context, evaluate
        from .session import CHAPTER_ROLES, pick_employee

        explicit = request.get("student") if request.get("source") == "explicit" else None
        who = resolve_student(explicit)
        seed = world_seed(who.id, request.get("salt"))
        chapter = request["chapter"]
        with open(request["answer"], "rb") as fh:
            answer = pickle.load(fh)
        world, files = self._world(chapter, seed, request.get("customers"))
        student_store = Store(request["store"], create=False)
        try:
            ctx = Context(pristine=world.store, store=student_store, world=world,
                          me=pick_employee(world.store, CHAPTER_ROLES[chapter]), files=files, chapter=chapter)
            result = evaluate(request["question"], ctx, answer)
        finally:
            student_store.close()
        return {"ok": result.ok, "hint": result.hint, "details": result.details[:5]}

    def close(self) -> None:
        for world, _files in self._worlds.values():
            world.store.close()
        self._tmp.cleanup()


def main() -> int:
    r = Referee()
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                verdict = r.grade(json.loads(line))
            except Exception as exc:  # noqa: BLE001 - reported to the notebook, not swallowed
                verdict = {"ok": False, "error": True,
                           "hint": f"评分程序出错（referee error）：{type(exc).__name__}: {exc}",
                           "details": traceback.format_exc().splitlines()[-5:]}
            print(json.dumps(verdict, ensure_ascii=False), flush=True)
    finally:
        r.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
