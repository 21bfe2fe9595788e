"""The hidden grader's other half: ``python -m simcrm.lab.referee`` (JSON request on stdin).

It runs in a fresh Python process, so the notebook's kernel cannot alter it. It resolves the
student's identity itself — during nbgrader autograde from the working directory alone —,
builds that student's world afresh from its seed, computes the reference answer and compares
it with the answer the notebook handed over. It prints one JSON line:
``{"ok": bool, "hint": str, "details": [...]}``.
"""

from __future__ import annotations

import json
import pickle
import sys
import tempfile
from pathlib import Path


def referee(request: dict) -> dict:
    from ..store import Store
    from .identity import resolve_student, world_seed
    from .questions import Context, evaluate
    from .session import _chapter_module, build_world, pick_employee, CHAPTER_ROLES

    explicit = request.get("student") if request.get("source") in ("explicit",) else None
    who = resolve_student(explicit)
    seed = world_seed(who.id, request.get("salt"))
    chapter = request["chapter"]
    with open(request["answer"], "rb") as fh:
        answer = pickle.load(fh)
    with tempfile.TemporaryDirectory(prefix="simcrm-referee-") as tmp:
        world = build_world(seed, chapter, Path(tmp), request.get("customers"))
        module = _chapter_module(chapter)
        files = {}
        builder = getattr(module, "build_files", None)
        if builder is not None:
            files = builder(world, Path(tmp))
        student_store = Store(request["store"], create=False)
        try:
            ctx = Context(pristine=world.store, store=student_store, world=world,
                          me=pick_employee(world.store, CHAPTER_ROLES[chapter]), files=files, chapter=chapter)
            result = evaluate(request["question"], ctx, answer)
        finally:
            student_store.close()
            world.store.close()
    return {"ok": result.ok, "hint": result.hint, "details": result.details[:5]}


def main() -> int:
    request = json.loads(sys.stdin.read())
    verdict = referee(request)
    print(json.dumps(verdict, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
