"""Graded questions: each names how its reference answer is computed on the student's world.

A chapter module (``simcrm/lab/chapters/chNN.py``) registers its questions with
:func:`calculation`, :func:`judgement` or :func:`operation`. A question's reference function
receives a :class:`Context` — the student's own world, untouched (``ctx.pristine``) and as the
student left it (``ctx.store``) — so the expected answer is always recomputed on that world,
never copied from one run.

    >>> @calculation("demo.count", points=5, what="客户数")
    ... def _count(ctx):
    ...     return len(ctx.pristine.read("customer"))
    >>> QUESTIONS["demo.count"].points, QUESTIONS["demo.count"].kind
    (5, 'calculation')
    >>> _ = QUESTIONS.pop("demo.count")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import UnknownValueError
from .checks import CheckResult, compare

__all__ = ["Question", "Context", "QUESTIONS", "calculation", "judgement", "operation", "get_question",
           "evaluate"]


@dataclass
class Context:
    """What a reference computation may look at.

    Attributes:
        pristine: the student's world exactly as generated (a read-only view by convention).
        store: the student's world as it is now (after their operations).
        world: the :class:`~simcrm.sim.World` (for files derived from it), or ``None``.
        me: the employee row the student acts as (``dict``), or ``None``.
        files: chapter files built for this world (``{name: path}``).
        chapter: the chapter key, e.g. ``"ch04"``.
    """

    pristine: Any
    store: Any
    world: Any = None
    me: dict[str, Any] | None = None
    files: dict[str, Any] = field(default_factory=dict)
    chapter: str = ""
    #: values computed with :meth:`once`; the referee keeps one context per chapter for a whole
    #: session and empties this whenever the student's database may have changed
    cache: dict[str, Any] = field(default_factory=dict)
    #: values computed with ``once(..., pristine=True)``: they depend on the world as generated
    #: only, so they are kept for the context's life whatever the student does
    kept: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, build: Callable[[], Any], *, pristine: bool = False) -> Any:
        """Compute ``build()`` once per context (reference answers share expensive parts).

        What is handed out is a copy (tables, arrays, containers): a caller that changes what it
        got cannot change what a later question gets from the same context.

        ``pristine=True``: ``build`` looks only at the world as generated (``pristine``,
        ``world``, ``files``, ``me``), never at the student's database, so its value outlives
        their changes. While it runs ``store`` refuses every use, so a build that does read the
        student's database fails (and is not kept) instead of being kept stale.
        """
        cache = self.kept if pristine else self.cache
        if key not in cache:
            if pristine:
                store, self.store = self.store, _NoStudentStore(key)
                try:
                    value = build()
                finally:
                    self.store = store
            else:
                value = build()
            cache[key] = value
        return _fresh(cache[key])


def _fresh(value: Any) -> Any:
    """A kept value as handed out: tables, arrays and plain containers copied (containers
    deeply); anything else (a number, a date, a replayed store …) as it is."""
    import numpy as np
    import pandas as pd

    if isinstance(value, (pd.DataFrame, pd.Series, pd.Index, np.ndarray)):
        return value.copy()
    if type(value) is dict:
        return {k: _fresh(v) for k, v in value.items()}
    if type(value) is list:
        return [_fresh(v) for v in value]
    if type(value) is tuple:
        return tuple(_fresh(v) for v in value)
    if type(value) is set:
        return set(value)
    return value


class _NoStudentStore:
    """The student's database as a ``once(..., pristine=True)`` build sees it: not at all."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"{self._key}: declared pristine-only (once(..., pristine=True)) but uses the "
                           f"student's database (store.{name})")


@dataclass
class Question:
    """One graded exercise."""

    key: str
    kind: str
    points: float
    func: Callable[..., Any]
    compare_kwargs: dict[str, Any] = field(default_factory=dict)
    diagnose: Callable[[Context, Any, Any], str | None] | None = None
    #: ``figures(ctx)`` → numbers the referee keeps in its record for the teacher (e.g. the ch10
    #: retention league), whatever the answer; ``None`` when there is nothing to keep
    figures: Callable[[Context], dict[str, float] | None] | None = None


QUESTIONS: dict[str, Question] = {}


def _register(key: str, kind: str, points: float, func: Callable[..., Any], /, **kwargs: Any) -> Callable[..., Any]:
    diagnose = kwargs.pop("diagnose", None)
    figures = kwargs.pop("figures", None)
    QUESTIONS[key] = Question(key, kind, points, func, kwargs, diagnose, figures)
    return func


def calculation(key: str, /, *, points: float, diagnose: Callable | None = None, figures: Callable | None = None,
                **compare_kwargs: Any):
    """Register a calculation: ``func(ctx)`` returns the reference answer to compare with."""
    return lambda func: _register(key, "calculation", points, func, diagnose=diagnose, figures=figures,
                                  **compare_kwargs)


def judgement(key: str, /, *, points: float, diagnose: Callable | None = None, **compare_kwargs: Any):
    """Register a judgement: ``func(ctx)`` returns the key (the right choice or classification)."""
    return lambda func: _register(key, "judgement", points, func, diagnose=diagnose, **compare_kwargs)


def operation(key: str, /, *, points: float, figures: Callable | None = None):
    """Register an operation: ``func(ctx, answer)`` inspects the student's database and
    returns a :class:`~simcrm.lab.checks.CheckResult`."""
    return lambda func: _register(key, "operation", points, func, figures=figures)


def get_question(key: str) -> Question:
    """The registered question ``key`` (importing its chapter module on first use)."""
    chapter = key.split(".", 1)[0]
    if key not in QUESTIONS:
        try:
            importlib.import_module(f"simcrm.lab.chapters.{chapter}")
        except ModuleNotFoundError:
            pass
    if key not in QUESTIONS:
        known = sorted(k for k in QUESTIONS if k.startswith(chapter + "."))
        raise UnknownValueError(field="question", value=key, label="题号", allowed=known or "本章的题号")
    return QUESTIONS[key]


def evaluate(key: str, ctx: Context, answer: Any) -> CheckResult:
    """Grade ``answer`` to question ``key`` on the world in ``ctx``."""
    q = get_question(key)
    if q.kind == "operation":
        result = q.func(ctx, answer)
        return result if isinstance(result, CheckResult) else CheckResult(bool(result), "" if result else "操作结果不对。")
    expected = q.func(ctx)
    result = compare(answer, expected, **q.compare_kwargs)
    if not result.ok and q.diagnose is not None:
        specific = q.diagnose(ctx, answer, expected)
        if specific:
            result = CheckResult(False, specific, result.details)
    return result
