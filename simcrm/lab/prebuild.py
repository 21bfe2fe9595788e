"""Build a student's worlds ahead, so the first ``start()`` of a lab finds them in the cache.

Generating a world takes seconds (the weekly loop of two or three simulated years); restoring
it from the world cache (:mod:`simcrm.sim.cache`) takes a fraction of a second. The first
``start()`` of a new student would pay the generation, so it is done before they need it:

* ``simcrm lab`` starts it in the background before it opens JupyterLab — while the browser
  opens and the student reads the lab's introduction, their world is being built;
* ``simcrm student set`` (a 学号, the teacher's world ticket) starts it for the new world;
* ``simcrm prebuild`` does it on demand (``--wait`` to stay until it is done), e.g. right after
  installing, or on a shared server for each student account;
* the first ``start()`` of a student's world (on JupyterHub, where no ``simcrm lab`` runs) starts
  it for the other chapters, once per world and simcrm version: the next labs open warm.

It builds the world each chapter opens for the student — exactly the one :func:`start` would
open (the ticket, the 学号 and course salt, or the default world: :func:`session.own_world`) —
and the chapter's files, through the same code as ``start()``, and keeps them in the student's
own cache (verified and private as any entry; it never writes anywhere else). The background
process runs at low priority. A ``start()`` that comes while the same world is still being
built waits for that build (the cache's build lock) rather than building it a second time.

    python -m simcrm.lab.prebuild [--student 学号] [ch01 ch04 …]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["prebuild", "start_prebuild", "after_start", "DEFAULT_CHAPTERS"]

#: the chapters built when none are named (the labs shipped with simcrm, in course order)
DEFAULT_CHAPTERS = ("ch01", "ch02", "ch03", "ch04", "ch05", "ch06", "ch07", "ch08", "ch09", "ch10")


def _chapters(chapters: Any) -> list[str]:
    from ..errors import UnknownValueError
    from .session import CHAPTER_TITLES

    names = list(DEFAULT_CHAPTERS if not chapters else chapters)
    for ch in names:
        if ch not in CHAPTER_TITLES:
            raise UnknownValueError(field="chapter", value=ch, label="章节", allowed=list(CHAPTER_TITLES))
    return names


def prebuild(chapters: Any = None, student: str | None = None, *, customers: int | None = None) -> list[str]:
    """Build the worlds (and files) of ``chapters`` for ``student`` into the cache, here and now.

    ``student``: the 学号 (default: whoever :func:`simcrm.lab.start` would resolve — the saved
    学号 or ticket, else the default world); ``customers``: the world size, as in ``start()``
    (default: each chapter's). Returns the chapters built. Does nothing (returns
    ``[]``) when the world cache is off (``SIMCRM_CACHE=0``).
    """
    from ..sim import cache
    from .identity import resolve_student
    from .session import Lab, _cleanup, own_world

    names = _chapters(chapters)
    if cache.cache_dir() is None:
        return []
    who, seed, salt, practice = own_world(resolve_student(student))
    done = []
    for ch in names:
        lab = Lab(ch, who, seed, customers=customers, salt=salt, quiet=True, practice=practice)
        lab.store.close()
        _cleanup(lab.dir)  # the cache keeps the world and the files; this session's copy goes now
        done.append(ch)
    return done


def start_prebuild(chapters: Any = None, student: str | None = None, *, log: str | os.PathLike | None = None
                   ) -> subprocess.Popen | None:
    """Start :func:`prebuild` in a background process at low priority; the process, or ``None``
    when the world cache is off or ``SIMCRM_PREBUILD=0``. It outlives the caller (``simcrm lab``
    goes on to JupyterLab)."""
    from ..sim import cache

    names = _chapters(chapters)
    if os.environ.get("SIMCRM_PREBUILD", "1").lower() in ("0", "false", "no", "off"):
        return None  # turned off (the test suite does, so that no test leaves builds running)
    d = cache.cache_dir()
    if d is None:
        return None
    cmd = [sys.executable, "-m", "simcrm.lab.prebuild", *names]
    if student is not None:
        cmd += ["--student", str(student)]
    out: Any = subprocess.DEVNULL
    if log is not None:
        Path(log).parent.mkdir(parents=True, exist_ok=True)
        out = open(log, "ab")  # noqa: SIM115 - handed to the child
    kwargs: dict[str, Any] = {"stdin": subprocess.DEVNULL, "stdout": out, "stderr": out}
    if os.name == "posix":
        kwargs["start_new_session"] = True  # not stopped by the Ctrl+C that ends JupyterLab
    try:
        return subprocess.Popen(cmd, **kwargs)
    finally:
        if out is not subprocess.DEVNULL:
            out.close()


def after_start(lab: Any) -> subprocess.Popen | None:
    """After ``start()``: build the other chapters' worlds of this student in the background,
    once per world and simcrm version (a marker in the cache folder says it was started; it goes
    with the cache's hour-old temporary files, so a later start checks again). Never during
    autograde or nbgrader's runs, for a world of another size than the chapters', or with a salt
    passed to ``start()`` (the salt is never put on a command line)."""
    from ..sim import cache

    if (lab.customers is not None or lab.salt is not None or os.environ.get("NBGRADER_EXECUTION")
            or os.environ.get("SIMCRM_REFEREE")):
        return None
    if os.environ.get("SIMCRM_PREBUILD", "1").lower() in ("0", "false", "no", "off"):
        return None
    d = cache.cache_dir()
    if d is None or not d.is_dir():
        return None
    marker = d / f".prebuild-{cache.key(f'prebuild|{lab.seed}|{lab.student.id}')}.started"
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:  # started before (or a folder we may not write)
        return None
    return start_prebuild([c for c in DEFAULT_CHAPTERS if c != lab.chapter], lab.student.id)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m simcrm.lab.prebuild", description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="章节，如 ch04（默认：全部）")
    ap.add_argument("--student", default=None, help="学号（默认：已保存的学号或世界文件，否则默认世界）")
    a = ap.parse_args(argv)
    if hasattr(os, "nice"):
        try:
            os.nice(10)  # the student's own work goes first
        except OSError:
            pass
    prebuild(a.chapters, a.student)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
