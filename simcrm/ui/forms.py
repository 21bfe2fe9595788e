"""Record forms whose 保存 goes through the matching :mod:`simcrm.crm` operation.

:data:`OPERATIONS` says, for each entity a user creates from a form, which CRM operation does
the write, which fields are its positional arguments and which form fields map to which
keyword. The form checks each field first (messages next to the field, nothing written);
the operation then applies the CRM's own rules (formats, regions, data scope, duplicates) in
one transaction, and its error is shown next to the field it names. The shown API call is
the operation call, ready to paste into a graded cell.

    >>> import datetime as dt
    >>> from simcrm.store import Store
    >>> from simcrm.crm import CRM
    >>> admin = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
    >>> form = entity_form(admin, "department")
    >>> form.set(name="市场部")
    >>> form.save()
    1
    >>> form.last_call
    "crm.add_department('市场部')"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import pandas as pd

from ..store import schema
from ._base import api_call
from ._scope import can_read
from .form import RecordForm

__all__ = ["OPERATIONS", "Operation", "entity_form", "visible_choices"]


class Operation(NamedTuple):
    """How a form's values become a CRM call."""

    method: str
    positional: tuple[str, ...]
    fields: tuple[str, ...]
    rename: dict[str, str] = {}


OPERATIONS: dict[str, Operation] = {
    "customer": Operation("create_customer", ("name",), (
        "name", "kind", "industry", "size", "source", "province", "city", "address", "phone", "email",
        "id_number", "credit_code", "level", "credit_rating", "relationship_level", "hot")),
    "contact": Operation("add_contact", ("customer_id", "name"), (
        "customer_id", "name", "gender", "title", "department", "mobile", "phone", "email", "birthday",
        "buying_role")),
    "lead": Operation("create_lead", ("name",), (
        "name", "company", "title", "mobile", "email", "province", "city", "source", "score")),
    "opportunity": Operation("create_opportunity", ("customer_id", "name"), (
        "customer_id", "name", "contact_id", "amount", "stage", "expected_close", "source")),
    "activity": Operation("log_activity", ("customer_id", "subject"), (
        "customer_id", "subject", "contact_id", "channel", "kind", "activity_time", "outcome", "opportunity_id"),
        {"activity_time": "at"}),
    "care": Operation("plan_care", ("customer_id", "care_type", "subject", "planned_date"), (
        "customer_id", "contact_id", "care_type", "subject", "planned_date", "channel")),
    "service_request": Operation("open_service_request", ("customer_id", "description"), (
        "customer_id", "contact_id", "description", "urgency", "product_id", "order_id", "channel")),
    "complaint": Operation("record_complaint", ("customer_id", "description"), (
        "customer_id", "contact_id", "description", "category", "urgency", "channel", "order_id", "product_id")),
    "department": Operation("add_department", ("name",), ("name", "parent_id"), {"parent_id": "parent"}),
    "product_category": Operation("add_category", ("name",), ("name", "parent_id"), {"parent_id": "parent"}),
    "product": Operation("create_product", ("name", "category_id"), (
        "name", "category_id", "model", "unit", "price", "cost", "stock", "stock_lower", "stock_upper",
        "warranty_months")),
    "employee": Operation("hire", ("name", "login", "department_id", "role_id"), (
        "name", "login", "department_id", "role_id", "hire_date", "gender", "title", "mobile", "email")),
    "campaign": Operation("create_campaign", ("name", "campaign_type"), (
        "name", "campaign_type", "channel", "start_date", "end_date", "cost_per_contact", "budget")),
}

_NAME_COLUMN = ("name", "subject", "code", "value")
_MAX_CHOICES = 500


def visible_choices(crm: Any, table: str) -> list[tuple[str, int]] | None:
    """Drop-down options ``("名称（id）", id)`` of the rows of ``table`` the user may see.

    ``None`` when there are too many to list (the form then offers a text box for the id).
    """
    if not can_read(crm, table):
        return []
    if crm.store.count(table) > 20 * _MAX_CHOICES:
        return None
    frame = crm.list(table)
    if len(frame) > _MAX_CHOICES:
        return None
    name = next((c for c in _NAME_COLUMN if c in frame.columns), "id")
    return [(f"{n}（{i}）", int(i)) for i, n in zip(frame["id"], frame[name])]


def entity_form(crm: Any, table: str, *, values: dict[str, Any] | None = None, on_saved=None,
                fields: Sequence[str] | None = None) -> RecordForm:
    """A :class:`RecordForm` for ``table`` that saves through the CRM operation of :data:`OPERATIONS`.

    Args:
        crm: the CRM acting as the logged-in user.
        table: one of the keys of :data:`OPERATIONS`.
        values: initial values.
        on_saved: called with the new id after a successful save.
        fields: a subset of the operation's fields to show (its positional fields are always shown).
    """
    if table not in OPERATIONS:
        raise ValueError(f"没有“{table}”的录入表单；可选：{', '.join(OPERATIONS)}")
    op = OPERATIONS[table]
    shown = list(op.fields) if fields is None else [f for f in op.fields if f in fields or f in op.positional]
    t = schema.metadata.tables[table]
    choices: dict[str, list[tuple[str, int]]] = {}
    for name in shown:
        for fk in t.c[name].foreign_keys:
            target = fk.column.table.name
            if target in ("customer", "contact", "opportunity", "sales_order", "product", "department",
                          "role", "product_category"):
                options = visible_choices(crm, target)
                if options is not None:
                    choices[name] = options

    def split(vals: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        vals = {k: _plain(v) for k, v in vals.items() if not _is_default(t.c[k], v)}
        args = [vals.pop(p, None) for p in op.positional]
        kwargs = {op.rename.get(k, k): v for k, v in vals.items()}
        return args, kwargs

    def saver(vals: dict[str, Any]) -> Any:
        args, kwargs = split(vals)
        return getattr(crm, op.method)(*args, **kwargs)

    def call_text(vals: dict[str, Any]) -> str:
        args, kwargs = split(vals)
        return api_call(op.method, *args, **kwargs)

    return RecordForm(crm.store, table, fields=shown, values=values, saver=saver, call_text=call_text,
                      on_saved=on_saved, choices=choices, required=op.positional,
                      title="新建" + schema.table_label(table))


def _is_default(column: Any, value: Any) -> bool:
    """An unticked flag left at its default is not worth passing (``hot=False``)."""
    default = column.default.arg if column.default is not None and not callable(column.default.arg) else None
    return isinstance(value, bool) and value == bool(default)


def _plain(value: Any) -> Any:
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value
