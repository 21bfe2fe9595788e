"""Audit trail (操作日志): who changed what, when, from which value to which."""

from __future__ import annotations

import pandas as pd

from ..errors import ValidationError
from ..store import schema
from .base import CRMBase


class AuditMixin(CRMBase):
    def audit(self, table: str, row_id: int | None = None) -> pd.DataFrame:
        """The audit history of one row (or a whole table), oldest first.

        Reading a record's history needs read access to that record.

        Returns:
            DataFrame ``at, employee_id, employee, action, table_name, row_id, field, old_value,
            new_value``.
        """
        if table not in schema.metadata.tables:
            raise ValidationError(field="table", value=table, label="数据表", allowed=schema.TABLES)
        if row_id is not None:
            if table in ("customer",):
                self._check_customer(row_id, "read")
            elif table not in ("audit_log",) and table in {"contact", "opportunity", "quote", "sales_order",
                                                               "service_request", "complaint", "lead"}:
                self._check_row(table, row_id, "read")
            else:
                self._require("system" if table in ("employee", "role", "department") else "customer", "read")
        elif not self.is_system:
            self._require("system", "read")
        where = {"table_name": table} if row_id is None else {"table_name": table, "row_id": int(row_id)}
        log = self.store.read("audit_log", where=where)
        names = self.store.read("employee", columns=["id", "name"]).set_index("id")["name"]
        log.insert(2, "employee", log["employee_id"].map(names).fillna("系统管理员").astype("str"))
        return log.drop(columns=["id"]).reset_index(drop=True)
