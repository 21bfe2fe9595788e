"""The command line's error handling, shared by every ``simcrm`` command group.

:class:`Group` is the click group class of ``simcrm`` and of its sub-groups (``simcrm
classroom``): a :class:`~simcrm.errors.SimCRMError` reaching the command line becomes one
Chinese line and exit code 1 (:class:`Failed`), click's own English usage errors one Chinese line
and exit code 2 (:class:`Misuse`). It lives apart from :mod:`simcrm.cli` so that modules
registered in the CLI can use it without importing :mod:`simcrm.cli` back (a circular import).
"""

from __future__ import annotations

import click

from .errors import SimCRMError

__all__ = ["Failed", "Misuse", "Group"]


class Misuse(click.ClickException):
    """A wrong command line: one Chinese line naming the option and what is allowed; exit 2."""

    exit_code = 2

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"错误：{self.message}", err=True)


class Failed(click.ClickException):
    """A :class:`SimCRMError` reaching the command line: its message on one line; exit 1."""

    def show(self, file=None) -> None:  # noqa: ANN001 - click's signature
        click.echo(f"错误：{self.message}", err=True)


_TYPE_ZH = {"integer": "整数", "float": "数字", "boolean": "是或否", "path": "路径", "directory": "文件夹",
            "file": "文件"}


def _misuse_of(exc: click.UsageError) -> Misuse:
    """Click's own (English) usage errors, said in Chinese on one line."""
    ctx = exc.ctx
    usage = f"simcrm {ctx.info_name} -h" if ctx is not None and ctx.parent is not None else "simcrm -h"
    if isinstance(exc, click.NoSuchOption):
        return Misuse(f"没有选项 {exc.option_name}；可用的选项见 {usage}")
    if isinstance(exc, click.MissingParameter):
        name = exc.param.opts[0] if exc.param is not None and getattr(exc.param, "opts", None) else "参数"
        return Misuse(f"缺少 {name}；见 {usage}")
    if isinstance(exc, click.BadParameter):
        name = exc.param.opts[0] if exc.param is not None and getattr(exc.param, "opts", None) else "参数"
        kind = getattr(getattr(exc.param, "type", None), "name", "")
        allowed = _TYPE_ZH.get(kind, kind or "见帮助")
        return Misuse(f"{name} 的值无效：应为{allowed}（见 {usage}）")
    if "No such command" in exc.message:
        return Misuse(f"没有这个命令：{exc.message.split('No such command', 1)[1].strip(' .')}；可用的命令见 simcrm -h")
    if "Got unexpected extra argument" in exc.message:
        return Misuse(f"多余的参数：{exc.message.split('argument', 1)[1].strip(' ()s')}；见 {usage}")
    return Misuse(f"命令用法不对（{exc.message}）；见 {usage}")


class Group(click.Group):
    """A click group whose errors are one Chinese line (see the module)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SimCRMError as exc:
            raise Failed(exc.short()) from exc
        except Misuse:
            raise
        except click.UsageError as exc:
            raise _misuse_of(exc) from exc


_Group = Group  # the name simcrm.cli has always used
