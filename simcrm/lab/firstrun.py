"""The first run of a lab asks for the 学号 once, inside the notebook.

A course student working on their own computer must be in their own world, and nothing outside
the notebook should be needed for that. So the first ``start()`` in a Jupyter kernel that can
take input asks:

    请输入学号（自学者直接按回车）：

* a 学号 is saved as ``simcrm student set`` would save it (``~/.simcrm/student.json``, or
  ``$SIMCRM_HOME``) and shown in the banner of this and every later lab;
* an empty answer means a self-learner: that answer is remembered too (``{"student": null}``),
  so a self-learner is not asked again and keeps the default world;
* a 学号 that is not valid is explained in Chinese and asked again (three tries, then the
  default world for this session only, and the next ``start()`` asks again).

It never asks — and so never waits — when:

* the identity is already known: autograde, JupyterHub, ``start(student=…)``, ``SIMCRM_STUDENT``,
  an answer saved before (either kind), or a teacher's world file (``simcrm_world.json``);
* the notebook is executed by a program: nbgrader (``NBGRADER_EXECUTION``), simcrm's grading
  referee (``SIMCRM_REFEREE``), nbval/nbclient/papermill (their kernels do not allow input,
  which is checked before asking, and ``StdinNotImplementedError`` is caught besides), plain
  Python or a terminal IPython (no notebook to ask in: use ``simcrm student set``);
* ``start(..., quiet=True)`` (a quiet start prints nothing, and asks nothing);
* ``SIMCRM_ASK_STUDENT=0`` is set (a teacher's or a CI machine's switch).

To change the answer later: ``set_student("新学号")`` in a notebook (``from simcrm.lab import
set_student``) or ``simcrm student set 新学号`` in a terminal; ``forget_student()`` /
``simcrm student forget`` removes it, so the next lab asks again.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping

from ..errors import ConfigError
from .identity import STUDENT_FILE, resolve_student, student_home

__all__ = ["ASK_ENV", "PROMPT", "CHANGE_HINT", "should_ask", "ask_once", "remember_self_learner",
           "forget_student", "answered_before"]

#: ``SIMCRM_ASK_STUDENT=0`` (or false/no/off) turns the first-run question off
ASK_ENV = "SIMCRM_ASK_STUDENT"
#: what the student is asked (a Jupyter input box below the cell)
PROMPT = "请输入学号（自学者直接按回车）："
#: how to change the answer later (in the question, the banner, the README)
CHANGE_HINT = ('更改学号：在笔记本中运行 from simcrm.lab import set_student; set_student("新学号")，'
               "或在终端运行 simcrm student set 新学号")
_TRIES = 3


def answered_before(environ: Mapping[str, str] | None = None) -> bool:
    """Whether a 学号 or the self-learner answer is saved (``student.json`` exists)."""
    return (student_home(environ) / STUDENT_FILE).is_file()


def _switched_off(env: Mapping[str, str]) -> bool:
    return env.get(ASK_ENV, "1").strip().lower() in ("0", "false", "no", "off")


def _kernel_takes_input() -> bool:
    """True inside a Jupyter kernel whose current request allows input (a person at a notebook).

    nbclient (nbval, nbgrader, papermill) sends ``allow_stdin=False``; a terminal IPython or a
    plain Python has no kernel (and may have no one at the keyboard)."""
    if "ipykernel" not in sys.modules:  # not a kernel (and IPython is not imported for nothing)
        return False
    from IPython import get_ipython

    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    return bool(kernel is not None and getattr(kernel, "_allow_stdin", False))


def should_ask(*, quiet: bool = False, environ: Mapping[str, str] | None = None,
               interactive: bool | None = None) -> bool:
    """Whether ``start()`` asks for the 学号 now (see the module docstring for when it does not)."""
    env = os.environ if environ is None else environ
    if quiet or _switched_off(env):
        return False
    if env.get("NBGRADER_EXECUTION") or env.get("SIMCRM_REFEREE"):
        return False
    if answered_before(env):
        return False
    try:
        if resolve_student(None, environ=env).source != "default":
            return False
    except ConfigError:
        return False  # a broken identity is start()'s to report, not a reason to ask
    from .session import world_ticket

    try:
        if world_ticket() is not None:
            return False
    except ConfigError:
        return False
    return _kernel_takes_input() if interactive is None else interactive


def remember_self_learner(*, quiet: bool = False) -> None:
    """Remember that this user is a self-learner (the default world; not asked again)."""
    from .session import _write_atomic

    home = student_home()
    home.mkdir(parents=True, exist_ok=True)
    _write_atomic(home / STUDENT_FILE, json.dumps({"student": None}, ensure_ascii=False))
    if not quiet:
        print(f"已记住：自学模式（默认世界，{home / STUDENT_FILE}），以后不再询问。\n{CHANGE_HINT}。")


def forget_student(*, quiet: bool = False) -> None:
    """Forget the saved 学号 (or self-learner answer) and the installed world file: the next
    ``start()`` in a notebook asks again. Same as ``simcrm student forget``."""
    from .session import TICKET_NAME

    home = student_home()
    gone = [p for p in (home / STUDENT_FILE, home / TICKET_NAME) if p.is_file()]
    for path in gone:
        path.unlink()
    if not quiet:
        print("已删除：" + "、".join(str(p) for p in gone) + "。下一个实训的 start() 会重新询问学号。" if gone
              else f"{home} 中没有保存的学号。")


def _cannot_ask(exc: BaseException) -> bool:
    """The errors of an ``input()`` nobody can answer (no stdin, closed stdin)."""
    if isinstance(exc, (EOFError, OSError)):
        return True
    try:
        from IPython.core.error import StdinNotImplementedError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, StdinNotImplementedError)


def ask_once(*, quiet: bool = False, ask: Callable[[str], str] | None = None,
             interactive: bool | None = None) -> bool:
    """Ask for the 学号 when :func:`should_ask` says so, and remember the answer.

    ``ask`` is the input function (``input``; tests pass their own). Returns whether an answer
    was saved. Never raises for an unanswerable ``input()``: the lab goes on in the default
    world, nothing is saved, and a later ``start()`` may ask again.
    """
    if not should_ask(quiet=quiet, interactive=interactive):
        return False
    from .session import set_student

    ask = input if ask is None else ask
    print("第一次在这台电脑上做 simcrm 实训。课程学生请在下面的输入框中输入学号：以后每个实训都会打开"
          "你自己的模拟企业（只问这一次）。自学者直接按回车，使用默认世界。\n" + CHANGE_HINT + "。")
    for _ in range(_TRIES):
        try:
            answer = ask(PROMPT)
        except Exception as exc:  # noqa: BLE001 - only the "nobody can answer" kinds are swallowed
            if _cannot_ask(exc):
                return False
            raise
        answer = (answer or "").strip()
        try:
            if not answer:
                remember_self_learner()
            else:
                set_student(answer)
            return True
        except ConfigError as exc:
            print(f"✘ {exc.message_zh}")
        except OSError as exc:
            print(f"✘ 无法保存到 {student_home()}（{exc.strerror or exc}）：这次使用默认世界。"
                  "可设置环境变量 SIMCRM_HOME 为你有写权限的文件夹。")
            return False
    print(f"{_TRIES} 次输入都不是有效的学号：这次使用默认世界，下一个 start() 会再问。")
    return False
