"""Read-only view of one record, with Chinese labels, as the user may see it.

    >>> import datetime as dt
    >>> from simcrm.store import Store
    >>> from simcrm.crm import CRM
    >>> admin = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
    >>> org = admin.setup_demo_org()
    >>> view = RecordView(admin, "department", org["sales"])
    >>> view.values["name"], view.last_call
    ('销售部', "crm.list('department', where={'id': 2})")
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import pandas as pd

from ..store import schema
from ._base import Screen, _cell
from ._scope import can_read

__all__ = ["RecordView"]


class RecordView(Screen):
    """One row of ``table`` (read through ``crm.list``, so the data scope applies).

    Args:
        crm: the CRM acting as the logged-in user.
        table: the table name.
        row_id: the row's id.

    Attributes:
        values: the row as ``{field: value}`` (empty when the user may not see it).
    """

    def __init__(self, crm: Any, table: str, row_id: int):
        super().__init__()
        self.crm, self.table, self.row_id = crm, table, int(row_id)
        self.values: dict[str, Any] = {}
        self.show_call(f"crm.list({table!r}, where={{'id': {self.row_id}}})")
        frame = crm.list(table, where={"id": self.row_id}) if can_read(crm, table) else pd.DataFrame()
        label = schema.table_label(table)
        if len(frame) == 0:
            self.say(f"{label} {self.row_id} 不存在，或不在当前用户的数据范围内。", error=True)
            body = ""
        else:
            self.values = {k: (None if _missing(v) else v) for k, v in frame.iloc[0].items()}
            rows = "".join(
                f"<tr><th style='text-align:right;padding:2px 10px;color:#555'>"
                f"{html.escape(schema.column_label(table, k))}</th><td>{html.escape(_cell(v))}</td></tr>"
                for k, v in self.values.items())
            body = f"<table>{rows}</table>"
        self.widget = w.VBox([w.HTML(f"<h4>{html.escape(label)}（编号 {self.row_id}）</h4>{body}"),
                              self.status, self.code])


def _missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and pd.api.types.is_scalar(value) and pd.isna(value))
