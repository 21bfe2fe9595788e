"""What every screen shares: a status line, the equivalent API call, tables, charts, display.

Helpers here hold no business rules: they format calls, run a :mod:`simcrm.crm` operation
and turn its :class:`~simcrm.errors.SimCRMError` into a red Chinese status line, render a
DataFrame page as HTML and put a plotly figure into an ``ipywidgets.Output``.

    >>> api_call("advance_opportunity", 3, "商务谈判")
    "crm.advance_opportunity(3, '商务谈判')"
    >>> api_call("plan_care", 1, "生日", "祝福", dt.date(2026, 3, 8), contact_id=None)
    "crm.plan_care(1, '生日', '祝福', '2026-03-08')"
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections.abc import Callable, Iterable
from typing import Any

import ipywidgets as w
import pandas as pd

from ..errors import SimCRMError

__all__ = ["Screen", "Blocked", "api_call", "error_text", "frame_html", "figure_output", "set_figure"]

ERROR_COLOUR = "#b3261e"
OK_COLOUR = "#1e6b33"


def _literal(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return repr(value.isoformat(sep=" ", timespec="minutes"))
    if isinstance(value, dt.date):
        return repr(value.isoformat())
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return repr(int(value)) if abs(value) < 1e15 else repr(value)
    return repr(value)


def api_call(method: str, *args: Any, obj: str = "crm", **kwargs: Any) -> str:
    """The text of a ``crm.method(...)`` call, as a student would type it (``None`` keywords left out)."""
    parts = [_literal(a) for a in args]
    parts += [f"{k}={_literal(v)}" for k, v in kwargs.items() if v is not None]
    return f"{obj}.{method}({', '.join(parts)})"


def frame_html(frame: pd.DataFrame, *, highlight: Iterable[bool] | None = None, max_rows: int | None = None,
               empty: str = "（无记录）") -> str:
    """A DataFrame as a compact HTML table; rows flagged in ``highlight`` get a red background."""
    if frame is None or len(frame) == 0:
        return f"<div style='color:#666'>{html.escape(empty)}</div>"
    shown = frame if max_rows is None else frame.head(max_rows)
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(str(c))}</th>" for c in shown.columns)
    flags = list(highlight) if highlight is not None else [False] * len(shown)
    body = []
    for flag, row in zip(flags, shown.itertuples(index=False)):
        style = " style='background:#fde7e7;color:#8a1c12'" if flag else ""
        cells = "".join(f"<td style='padding:2px 8px'>{html.escape(_cell(v))}</td>" for v in row)
        body.append(f"<tr{style}>{cells}</tr>")
    return ("<table class='simcrm-table' style='border-collapse:collapse;font-size:13px'>"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _cell(value: Any) -> str:
    if value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, (bool,)) or type(value).__name__ == "bool_":
        return "是" if value else "否"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
    if isinstance(value, float):
        return f"{value:,.2f}" if not value.is_integer() else f"{value:,.0f}"
    return str(value)


def figure_output(fig: Any = None, **layout: Any) -> w.Output:
    """An ``ipywidgets.Output`` showing a plotly figure (see :func:`set_figure`)."""
    out = w.Output(layout=w.Layout(**layout)) if layout else w.Output()
    if fig is not None:
        set_figure(out, fig)
    return out


def set_figure(out: w.Output, fig: Any, *, responsive: bool = True) -> None:
    """Show ``fig`` in ``out`` as plotly's own MIME bundle.

    The figure is drawn by the browser (plotly.js with the student's own fonts, so Chinese
    titles need nothing installed) and the bundle is built here rather than through
    ``display(fig)``, so it works the same in a kernel, in tests and without a renderer set.
    plotly ≥ 6 ``FigureWidget`` would need the extra ``anywidget`` package.
    """
    spec = json.loads(fig.to_json())
    spec.setdefault("config", {}).update({"displaylogo": False, "responsive": responsive})
    title = (fig.layout.title.text or "图表") if fig.layout.title else "图表"
    out.outputs = ({"output_type": "display_data", "metadata": {},
                    "data": {"application/vnd.plotly.v1+json": spec, "text/plain": f"<plotly 图表：{title}>"}},)


def error_text(exc: SimCRMError) -> str:
    """What a screen shows of an error: the Chinese message (English too when chosen)."""
    from ..errors import wants_english

    text = exc.message_zh
    if wants_english() and exc.message_en:
        text += f"\n[en] {exc.message_en}"
    return text


class Screen:
    """Base of the simcrm screens: ``widget`` is the ipywidgets tree shown in the notebook.

    Every action a screen performs records the equivalent ``simcrm`` call in :attr:`last_call`
    and shows it under the screen (tick “显示代码”), so a student can paste it into a graded
    code cell: graded operations are done in code, screens are for looking and exploring.
    :attr:`calls` keeps every call made so far, in order.
    """

    widget: w.Widget

    def __init__(self) -> None:
        self.status = w.HTML()
        self.last_call = ""
        self.calls: list[str] = []
        self._code_toggle = w.Checkbox(value=False, description="显示代码", indent=False)
        self._code_box = w.HTML()
        self._code_toggle.observe(lambda _c: self._render_code(), names="value")
        self.code = w.VBox([self._code_toggle, self._code_box])

    def say(self, message: str, *, error: bool = False) -> None:
        """Show a message in the status line (red for errors)."""
        colour = ERROR_COLOUR if error else OK_COLOUR
        body = html.escape(message).replace("\n", "<br>")
        self.status.value = f'<span style="color:{colour}">{body}</span>'

    @property
    def message(self) -> str:
        """The status line as plain text."""
        import re

        return html.unescape(re.sub(r"<[^>]+>", "", self.status.value.replace("<br>", "\n")))

    def show_call(self, call: str) -> None:
        """Record the API call equivalent to the last action."""
        self.last_call = call
        if call and (not self.calls or self.calls[-1] != call):
            self.calls.append(call)
        self._render_code()

    def guard(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """``handler`` for a button or input, showing its failure in this screen's status line.

        Without it an exception in a widget callback goes to JupyterLab's hidden log console and
        the click seems to do nothing. simcrm's errors show their Chinese message; anything else
        shows its type and text. ``simcrm.debug(True)`` lets them propagate (for developers).
        """
        from ..errors import wants_traceback

        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            except SimCRMError as exc:
                self.say(error_text(exc), error=True)
            except Exception as exc:  # noqa: BLE001 - shown in the screen, not lost in a log
                if wants_traceback():
                    raise
                self.say(f"操作没有完成（程序错误 {type(exc).__name__}：{exc}）", error=True)
            return None

        return guarded

    def run(self, call: str, action: Callable[[], Any], done: str | None = None) -> Any:
        """Run a CRM operation; show its call, and its error in the status line if it fails.

        Returns the operation's result, or ``None`` after a :class:`SimCRMError` (nothing written:
        the operation rolled back).
        """
        self.show_call(call)
        try:
            result = action()
        except SimCRMError as exc:
            self.say(error_text(exc), error=True)
            return None
        self.say(done or "操作成功。")
        return result

    def _render_code(self) -> None:
        if self._code_toggle.value and self.last_call:
            self._code_box.value = f"<pre style='background:#f6f8fa;padding:6px'>{html.escape(self.last_call)}</pre>"
        else:
            self._code_box.value = ""

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


class Blocked(Screen):
    """What a screen the user may not open shows instead: “无权查看” and why.

    Attributes:
        name: the screen asked for; error: the :class:`SimCRMError` that stopped it.
    """

    def __init__(self, name: str, error: SimCRMError):
        from ..errors import PermissionDeniedError

        super().__init__()
        self.name = name
        self.error = error
        self.title = "无权查看" if isinstance(error, PermissionDeniedError) else "无法打开"
        body = html.escape(error_text(error)).replace("\n", "<br>")
        self.widget = w.VBox([w.HTML(
            f"<div style='border:1px solid #f0b4ae;background:#fdecea;color:{ERROR_COLOUR};padding:8px 12px;"
            f"border-radius:4px;white-space:normal'><b>{self.title}</b>：{body}</div>")])
        self.say(f"{self.title}：{error.message_zh}", error=True)
