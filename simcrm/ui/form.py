"""Record form for any table, generated from the schema.

Dictionary and state fields are drop-downs, dates are date pickers, small reference tables
are drop-downs of their names. Saving first checks every field and shows each problem in
Chinese next to its field; nothing is written until the whole record is valid. The write
itself is done by ``saver`` — a :mod:`simcrm.crm` operation in the real screens — so the
form holds no business rules of its own.

    >>> from simcrm.store import Store
    >>> store = Store()
    >>> form = RecordForm(store, "department")
    >>> form.set(code="D01", name="")
    >>> form.save() is None                    # name is required
    True
    >>> "必填" in form.errors["name"].value, store.count("department")
    (True, 0)
    >>> form.set(name="销售部")
    >>> form.save()
    1
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, Text, select

from ..errors import RequiredFieldError, SimCRMError
from ..store import Store, schema
from ._base import Screen

__all__ = ["RecordForm"]

_HIDDEN = {"id", "created_at", "created_by", "deleted", "merged_into"}
_SMALL_TABLE = 300


class RecordForm(Screen):
    """A form for one row of ``table``.

    Args:
        store: the store (for dictionaries, reference drop-downs and field checks).
        table: the table name.
        fields: the fields to show (default: every editable column).
        values: initial values.
        saver: ``saver(values) -> id`` performs the write (default: ``store.insert``).
        call_text: ``call_text(values) -> str``, the equivalent API call shown to the student.
        on_saved: called with the new id after a successful save.
        choices: ``{field: [(label, value), …]}`` drop-down options that replace the defaults
            (e.g. only the customers the logged-in user may see).
        required: the fields that must be filled (default: the columns that are NOT NULL
            without a default); a CRM operation form gives its required arguments, since the
            operation fills codes, owners and states itself.
    """

    def __init__(self, store: Store, table: str, *, fields: Sequence[str] | None = None,
                 values: dict[str, Any] | None = None, saver: Callable[[dict[str, Any]], Any] | None = None,
                 call_text: Callable[[dict[str, Any]], str] | None = None,
                 on_saved: Callable[[Any], Any] | None = None, title: str | None = None,
                 choices: dict[str, Sequence[tuple[str, Any]]] | None = None,
                 required: Sequence[str] | None = None):
        super().__init__()
        self._choices = dict(choices or {})
        self.required = None if required is None else set(required)
        self.store = store
        self.table = table
        self._t = schema.metadata.tables[table]
        self.fields = list(fields) if fields is not None else [c.name for c in self._t.columns if c.name not in _HIDDEN]
        self.saver = saver or (lambda vals: store.insert(table, vals))
        self.call_text = call_text or (lambda vals: f"store.insert({table!r}, {vals!r})")
        self.on_saved = on_saved
        self.inputs: dict[str, w.Widget] = {}
        self.errors: dict[str, w.HTML] = {}
        rows = []
        for name in self.fields:
            column = self._t.c[name]
            widget = self._widget_for(column)
            self.inputs[name] = widget
            self.errors[name] = w.HTML()
            # the message goes under its input and wraps there, never pushing the input sideways
            self.errors[name].layout = w.Layout(width="420px")
            star = "" if not self._is_required(column) else " <span style='color:#b3261e'>*</span>"
            label = w.HTML(f"{html.escape(column.info.get('label', name))}{star}", layout=w.Layout(width="140px"))
            rows.append(w.HBox([label, w.VBox([widget, self.errors[name]])]))
        self.save_button = w.Button(description="保存", button_style="primary", icon="save")
        self.save_button.on_click(self.guard(lambda _b: self.save()))
        heading = w.HTML(f"<h4>{html.escape(title or '新建' + schema.table_label(table))}</h4>")
        self.widget = w.VBox([heading, *rows, self.save_button, self.status, self.code])
        if values:
            self.set(**values)

    def _is_required(self, column: Any) -> bool:
        if self.required is not None:
            return column.name in self.required
        return not column.nullable and column.default is None

    def _widget_for(self, column: Any) -> w.Widget:
        info = column.info
        layout = w.Layout(width="260px")
        if column.name in self._choices:
            return w.Dropdown(options=[("", None)] + list(self._choices[column.name]), value=None, layout=layout)
        if "dictionary" in info:
            options = [("", None)] + [(v, v) for v in self.store.dictionary_values(info["dictionary"])]
            return w.Dropdown(options=options, value=None, layout=layout)
        states = schema.state_columns(self._t.name).get(column.name)
        if states:
            return w.Dropdown(options=[("", None)] + [(v, v) for v in states], value=None, layout=layout)
        for fk in column.foreign_keys:
            target = fk.column.table
            if self.store.count(target.name) <= _SMALL_TABLE:
                name_col = next((c for c in ("name", "code", "value") if c in target.c), "id")
                with self.store.engine.connect() as conn:
                    rows = conn.execute(select(target.c.id, target.c[name_col]).order_by(target.c.id)).all()
                return w.Dropdown(options=[("", None)] + [(f"{r[1]}（{r[0]}）", r[0]) for r in rows],
                                  value=None, layout=layout)
            return w.Text(placeholder=f"{schema.table_label(target.name)}编号", layout=layout)
        ctype = column.type
        if isinstance(ctype, Boolean):
            return w.Checkbox(value=bool(column.default.arg) if column.default is not None else False, indent=False)
        if isinstance(ctype, DateTime):
            return w.NaiveDatetimePicker(layout=layout)
        if isinstance(ctype, Date):
            return w.DatePicker(layout=layout)
        if isinstance(ctype, (Integer, Float)):
            return w.Text(placeholder="数字", layout=layout)
        if isinstance(ctype, Text):
            return w.Textarea(layout=layout)
        return w.Text(layout=layout)

    # -- values ------------------------------------------------------------------------------

    def set(self, **values: Any) -> None:
        """Fill fields, as a user would type them."""
        for name, value in values.items():
            widget = self.inputs[name]
            if isinstance(widget, w.Dropdown):
                widget.value = value
            elif isinstance(widget, w.Checkbox):
                widget.value = bool(value)
            elif isinstance(widget, (w.DatePicker, w.NaiveDatetimePicker)):
                widget.value = dt.date.fromisoformat(value) if isinstance(value, str) and isinstance(
                    widget, w.DatePicker) else value
            else:
                widget.value = "" if value is None else str(value)

    def values(self) -> dict[str, Any]:
        """The typed values of the fields (empty inputs are ``None``)."""
        out: dict[str, Any] = {}
        for name, widget in self.inputs.items():
            value = widget.value
            if isinstance(value, str) and isinstance(widget, (w.Text, w.Textarea)):
                value = value.strip()
                if value == "":
                    value = None
                else:
                    ctype = self._t.c[name].type
                    if isinstance(ctype, Integer) or self._t.c[name].foreign_keys:
                        value = _number(value, int)
                    elif isinstance(ctype, Float):
                        value = _number(value, float)
            out[name] = value
        return out

    # -- saving -----------------------------------------------------------------------------------

    def clear_errors(self) -> None:
        for box in self.errors.values():
            box.value = ""
        self.status.value = ""

    def _show_error(self, field: str | None, message: str) -> None:
        first = message.split("\n")[0]  # the Chinese line (the English one is for logs)
        if field in self.errors:
            self.errors[field].value = (f"<div style='color:#b3261e;white-space:normal;overflow-wrap:anywhere;"
                                        f"line-height:1.4;font-size:12px'>{html.escape(first)}</div>")
        else:
            self.say(first, error=True)

    def _format_problem(self, name: str, value: Any) -> str | None:
        """The locale's format rule for a mobile, phone, e-mail, ID or credit-code field, if any."""
        check = _FORMAT_CHECKS.get(name)
        if check is None or not isinstance(value, str):
            return None
        label = self._t.c[name].info.get("label", name)
        try:
            check(value, name, label)
        except SimCRMError as exc:
            return str(exc)
        return None

    def check(self) -> dict[str, str]:
        """Check every field; show and return ``{field: message}`` for the bad ones."""
        self.clear_errors()
        vals = self.values()
        problems: dict[str, str] = {}
        for name, value in vals.items():
            column = self._t.c[name]
            if value is None:
                if self._is_required(column):
                    problems[name] = str(RequiredFieldError(field=name, value=value, label=column.info.get("label")))
                continue
            if isinstance(value, _Bad):
                problems[name] = f"{column.info.get('label', name)}（{name}）的值 {value.text!r} 不是数字"
                continue
            try:
                self.store.validate(self.table, {name: value}, partial=True)
            except SimCRMError as exc:
                problems[name] = str(exc)
                continue
            problem = self._format_problem(name, value)
            if problem:
                problems[name] = problem
        region = self._region_problem(vals, problems)
        if region is not None:
            problems[region[0]] = region[1]
        for name, message in problems.items():
            self._show_error(name, message)
        if problems:
            self.say(f"有 {len(problems)} 个字段需要修改，记录尚未保存。", error=True)
        return problems

    def _region_problem(self, vals: dict[str, Any], problems: dict[str, str]) -> tuple[str, str] | None:
        """Whether the city belongs to the province (both filled and otherwise valid)."""
        if not {"province", "city"} <= set(vals) or vals["province"] is None or vals["city"] is None:
            return None
        if "province" in problems or "city" in problems:
            return None
        from ..crm.customers import check_region

        try:
            check_region(vals["province"], vals["city"])
        except SimCRMError as exc:
            return (exc.field if exc.field in ("province", "city") else "city"), str(exc)
        return None

    def save(self) -> Any:
        """Validate and, when every field is valid, write through ``saver``; returns the id or ``None``."""
        if self.check():
            return None
        vals = {k: v for k, v in self.values().items() if v is not None}
        try:
            new_id = self.saver(vals)
        except SimCRMError as exc:
            self._show_error(exc.field, str(exc))
            if exc.field not in self.errors:
                return None
            self.say("记录尚未保存：请按提示修改。", error=True)
            return None
        self.show_call(self.call_text(vals))
        self.say(f"已保存（编号 {new_id}）。")
        if self.on_saved is not None:
            self.on_saved(new_id)
        return new_id


def _mobile(value: str, field: str, label: str) -> Any:
    from ..crm.base import locale

    return locale().validate_mobile(value, field=field, label=label)


def _email(value: str, field: str, label: str) -> Any:
    from ..crm.base import locale

    return locale().validate_email(value, field=field, label=label)


def _phone(value: str, field: str, label: str) -> Any:
    from ..crm.customers import normalise_phone

    return normalise_phone(value, field=field, label=label)


def _id_number(value: str, field: str, label: str) -> Any:
    from ..crm.base import locale

    return locale().validate_id_number(value, field=field, label=label)


def _credit_code(value: str, field: str, label: str) -> Any:
    from ..crm.base import locale

    return locale().validate_credit_code(value, field=field, label=label)


#: format rules checked field by field before saving, so one save shows every bad field at once
#: (the CRM operation applies the same rules again when it writes)
_FORMAT_CHECKS: dict[str, Callable[[str, str, str], Any]] = {
    "mobile": _mobile, "email": _email, "phone": _phone, "id_number": _id_number, "credit_code": _credit_code,
}


class _Bad:
    def __init__(self, text: str):
        self.text = text


def _number(text: str, kind: type) -> Any:
    try:
        number = float(text.replace(",", ""))
    except ValueError:
        return _Bad(text)
    if kind is int:
        return int(number) if number.is_integer() else _Bad(text)
    return number
