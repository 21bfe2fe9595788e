"""Who is the student, and which world is theirs.

The identity is resolved in this order (DESIGN.md, "Labs and grading"):

1. nbgrader autograde — ``NBGRADER_EXECUTION=autograde`` and a working directory
   ``…/autograded/<student_id>/<assignment>/``: the id comes from the directory **alone**,
   whatever the notebook asks for, so a notebook cannot choose a friend's world;
2. JupyterHub — ``JUPYTERHUB_USER``;
3. an explicit id passed to :func:`resolve_student` (``start("ch04", student="2024001")``);
4. the ``SIMCRM_STUDENT`` environment variable;
5. the 学号 the student saved once (``simcrm student set``, :func:`simcrm.lab.set_student` or the
   first ``start()`` in a notebook, which asks — :mod:`simcrm.lab.firstrun`), in
   ``~/.simcrm/student.json``, or ``$SIMCRM_HOME/student.json``;
6. otherwise the default world (the one in ``datasets/``), for self-learners.

The seed comes from a course salt plus the student id, so two students get different worlds
and a teacher can change every world of a new term by changing the salt:

    >>> resolve_student("2024001", environ={}, cwd="/home/s").id
    '2024001'
    >>> s = resolve_student("friend", environ={"NBGRADER_EXECUTION": "autograde"},
    ...                     cwd="/course/autograded/2024001/ch04")
    >>> s.id, s.source
    ('2024001', 'autograde')
    >>> world_seed(None) == DEFAULT_SEED
    True
    >>> world_seed("2024001", salt="term-a") != world_seed("2024002", salt="term-a")
    True
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

__all__ = ["Student", "resolve_student", "world_seed", "DEFAULT_SEED", "DEFAULT_SALT", "student_home",
           "saved_student", "STUDENT_FILE"]

#: seed of the default world, the one written to ``datasets/``
DEFAULT_SEED = 2026
#: course salt used when neither the teacher nor the environment sets one
DEFAULT_SALT = "simcrm-course"

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.@\-]{1,64}$")


@dataclass(frozen=True)
class Student:
    """A resolved student identity.

    Attributes:
        id: the student id (学号), or ``None`` for the default world.
        source: where it came from: ``autograde``, ``jupyterhub``, ``explicit``, ``env``,
            ``saved`` (set once by the student), ``ticket`` (the teacher's world file) or ``default``.
        assignment: the assignment directory name during autograde, else ``None``.
    """

    id: str | None
    source: str
    assignment: str | None = None

    @property
    def is_default(self) -> bool:
        return self.id is None


def _check_id(value: str, field: str) -> str:
    value = str(value).strip()
    if not _ID_PATTERN.match(value):
        raise ConfigError(field=field, value=value, label="学号",
                          allowed="1–64 个字母、数字或 _ . @ -（不含空格和中文）")
    return value


#: the file in :func:`student_home` that remembers the student's 学号
STUDENT_FILE = "student.json"


def student_home(environ: Mapping[str, str] | None = None) -> Path:
    """The student's own simcrm folder: ``$SIMCRM_HOME``, else ``~/.simcrm``."""
    env = os.environ if environ is None else environ
    home = env.get("SIMCRM_HOME")
    return Path(home) if home else Path.home() / ".simcrm"


def saved_student(environ: Mapping[str, str] | None = None) -> str | None:
    """The 学号 saved by ``simcrm student set`` or the first-run question (``None`` when nothing
    is saved, or when the answer saved was "self-learner")."""
    import json

    path = student_home(environ) / STUDENT_FILE
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))["student"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(field=str(path), value=f"{type(exc).__name__}: {exc}", label="已保存的学号",
                          allowed='{"student": "学号"}；用 simcrm student set <学号> 重新设置') from exc
    if value is None:  # the self-learner's answer to the first-run question (simcrm.lab.firstrun)
        return None
    return _check_id(value, str(path))


def resolve_student(explicit: str | None = None, *, environ: Mapping[str, str] | None = None,
                    cwd: str | os.PathLike | None = None) -> Student:
    """Resolve the student's identity (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    here = Path(cwd) if cwd is not None else Path.cwd()
    if env.get("NBGRADER_EXECUTION") == "autograde":
        parts = here.parts
        if "autograded" in parts:
            i = len(parts) - 1 - parts[::-1].index("autograded")
            if i + 1 < len(parts):
                assignment = parts[i + 2] if i + 2 < len(parts) else None
                return Student(_check_id(parts[i + 1], "autograded/<student_id>"), "autograde", assignment)
        raise ConfigError(field="working directory", value=str(here), label="自动评分目录",
                          allowed="…/autograded/<学号>/<作业名>/（nbgrader autograde 的工作目录）")
    hub = env.get("JUPYTERHUB_USER")
    if hub:
        return Student(_check_id(hub, "JUPYTERHUB_USER"), "jupyterhub")
    if explicit is not None and str(explicit).strip():
        return Student(_check_id(explicit, "student"), "explicit")
    from_env = env.get("SIMCRM_STUDENT")
    if from_env:
        return Student(_check_id(from_env, "SIMCRM_STUDENT"), "env")
    saved = saved_student(env)
    if saved is not None:
        return Student(saved, "saved")
    return Student(None, "default")


def world_seed(student_id: str | None, salt: str | None = None, *, autograde: bool = False) -> int:
    """The world seed of a student: a 63-bit hash of the course salt and the id (default world: 2026).

    The salt is ``salt``, else ``$SIMCRM_COURSE_SALT``, else :data:`DEFAULT_SALT` — except during
    autograde (``autograde=True``), where a missing salt is an error rather than the public
    default: a graded course has its own salt (``simcrm course create`` makes one). 63 bits keep
    the seed a signed 64-bit integer (it is stored in the world's tables).
    """
    if student_id is None:
        return DEFAULT_SEED
    if salt is None:
        salt = os.environ.get("SIMCRM_COURSE_SALT") or None
    if salt is None:
        if autograde:
            raise ConfigError(field="SIMCRM_COURSE_SALT", value="（未设置）", label="课程盐值",
                              allowed="课程目录中 simcrm_course.json 的 salt（由 simcrm course create 生成），"
                                      "自动评分时不能使用公开的默认值")
        salt = DEFAULT_SALT
    digest = hashlib.sha256(f"{salt}\x00{student_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> 1
