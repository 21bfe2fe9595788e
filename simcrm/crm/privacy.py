"""Privacy (个人信息保护): exports of customer data masked by the exporter's role.

Which personal-data columns (:func:`simcrm.store.schema.sensitive_columns`, by masking rule)
each role type sees masked in :meth:`PrivacyMixin.export_customers`:

========  ==========================================================
老板       nothing masked
主管       ID numbers (``id_number``)
一般人员   mobile/phone, ID number, e-mail and address
========  ==========================================================

The system administrator exports like 老板. Masks come from :mod:`simcrm.locales`
(``138****1234``). Every export writes an ``export_log`` row (who, when, how many rows, which
fields were masked, purpose) and an audit row (action 导出).

A text cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return — e.g. an imported customer named ``=cmd|' /C calc'!A0``) is
written to the CSV/Excel file with a leading apostrophe (:func:`neutralise_formulas`), so
Excel and WPS show it as text instead of running it; the returned DataFrame keeps the values.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import MappingProxyType

import pandas as pd
from sqlalchemy import insert

from ..errors import ValidationError
from ..store import schema
from .base import CRMBase, locale, tbl

#: role type → masking rules applied in exports
MASKING = MappingProxyType({
    "老板": frozenset(),
    "主管": frozenset({"id_number"}),
    "一般人员": frozenset({"mobile", "id_number", "email", "address"}),
})


#: first characters that make a spreadsheet treat a cell as a formula (CSV/formula injection)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells starting like a formula get a leading apostrophe.

    >>> neutralise_formulas(pd.DataFrame({"name": ["=1+1", "星辰", "-2"], "n": [-1, 2, 3]})).values.tolist()
    [["'=1+1", -1], ['星辰', 2], ["'-2", 3]]
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype.kind in "biufcmM":  # numbers, flags and dates are never formulas
            continue
        out[column] = values.map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return out


class PrivacyMixin(CRMBase):
    def export_customers(self, path: str | os.PathLike | None = None, *, purpose: str | None = None,
                         labels: bool = False) -> pd.DataFrame:
        """Export the visible customers with personal data masked by the exporter's role.

        Args:
            path: also write the result to this ``.csv`` (UTF-8 with BOM, opens in Excel) or
                ``.xlsx`` file.
            purpose: why the data is exported (kept in the export log).
            labels: Chinese column headers.

        Returns:
            The exported DataFrame.

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = crm.setup_demo_org()
            >>> _ = crm.create_customer("李雷", "个人", province="上海", city="上海市",
            ...                         phone="13812341234", owner="rep1")
            >>> crm.as_user("rep1").export_customers(purpose="电话回访")["phone"].tolist()
            ['138****1234']
            >>> crm.as_user("boss").export_customers(purpose="年度分析")["phone"].tolist()
            ['13812341234']
        """
        self._require("customer", "read")
        frame = self.customers()
        role_type = "老板" if self.is_system else self._user["role_type"]
        rules = MASKING[role_type]
        loc = locale()
        masked = []
        for column, rule in schema.sensitive_columns("customer").items():
            if rule in rules:
                frame[column] = getattr(loc, f"mask_{rule}_series")(frame[column])
                masked.append(column)
        out = frame.drop(columns=["deleted", "merged_into"])
        if labels:
            out = out.rename(columns=schema.labels("customer"))
        with self.store.transaction() as conn:
            conn.execute(insert(tbl("export_log")).values(
                at=self.now, employee_id=self.user_id if self.user_id is not None else self._first_boss(),
                table_name="customer", row_count=len(out), masked_fields=",".join(masked) or None, purpose=purpose))
            self._audit(conn, "导出", "customer", None, ",".join(masked) or None, None, f"{len(out)} 条")
            if path is not None:
                target = Path(path)
                if target.suffix.lower() == ".csv":
                    neutralise_formulas(out).to_csv(target, index=False, encoding="utf-8-sig")
                elif target.suffix.lower() == ".xlsx":
                    neutralise_formulas(out).to_excel(target, index=False)
                else:
                    raise ValidationError(field="path", value=str(path), label="导出文件", allowed=".csv 或 .xlsx 文件")
        return out
