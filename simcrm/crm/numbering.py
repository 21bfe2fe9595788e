"""Numbering rules (编号规则): codes such as ``KH2025070001`` for every record that has one.

A rule is prefix + date (``strftime`` format of the CRM's today, optional) + serial number of
``width`` digits. The serial is taken inside the caller's write transaction: SQLite writers hold
the database lock from ``BEGIN IMMEDIATE``; PostgreSQL locks the rule row (``FOR UPDATE``), so
two processes never hand out the same code.
"""

from __future__ import annotations

from sqlalchemy import insert, select, update

from ..errors import ValidationError
from .base import CRMBase, atomic, tbl

#: entity → (prefix, date format, width) used when no rule has been set yet
DEFAULT_RULES: dict[str, tuple[str, str | None, int]] = {
    "customer": ("KH", "%Y%m", 4), "lead": ("XS", "%Y%m", 4), "opportunity": ("SJ", "%Y%m", 4),
    "quote": ("BJ", "%Y%m", 4), "合同": ("HT", "%Y%m", 4), "订单": ("DD", "%Y%m", 4),
    "shipment": ("CK", "%Y%m", 4), "payment": ("HK", "%Y%m", 4), "invoice": ("FP", "%Y%m", 6),
    "sales_return": ("TH", "%Y%m", 4), "refund": ("TK", "%Y%m", 4), "service_request": ("FW", "%Y%m", 4),
    "complaint": ("TS", "%Y%m", 4), "campaign": ("HD", "%Y", 3), "department": ("BM", None, 3),
    "employee": ("YG", None, 4), "product": ("CP", None, 5), "product_category": ("LB", None, 3),
}

#: rules of records added after the generated worlds' format was fixed: the worlds never fill
#: these tables, and their ``numbering_rule`` table (written from :data:`DEFAULT_RULES`) stays
#: as it was; the rule row is created on the first code taken (红字发票 ``HZ202507000001``)
LATER_RULES: dict[str, tuple[str, str | None, int]] = {
    "credit_note": ("HZ", "%Y%m", 6),
}


class NumberingMixin(CRMBase):
    @atomic
    def set_numbering_rule(self, entity: str, prefix: str, *, date_format: str | None = "%Y%m",
                           width: int = 4, next_value: int | None = None) -> int:
        """Create or change the numbering rule of ``entity`` (administrators).

        Args:
            entity: what is numbered, e.g. ``"customer"``, ``"合同"``, ``"订单"``.
            prefix: letters in front, e.g. ``"KH"``.
            date_format: ``strftime`` format inserted after the prefix (``None``: no date).
            width: digits of the serial number.
            next_value: the next serial (default: keep the current one, or 1).

        Returns:
            The rule's id.

        Example:
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> import datetime as dt
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1))
            >>> _ = crm.set_numbering_rule("customer", "C", date_format="%Y", width=3)
            >>> crm.next_code("customer"), crm.next_code("customer")
            ('C2025001', 'C2025002')
        """
        self._require("system", "update")
        if not isinstance(prefix, str) or not prefix.strip() or len(prefix) > 10:
            raise ValidationError(field="prefix", value=prefix, label="前缀", allowed="1–10 个字符")
        if date_format is not None:
            try:
                self.today.strftime(date_format)
            except (TypeError, ValueError) as exc:
                raise ValidationError(field="date_format", value=date_format, label="日期格式",
                                      allowed="strftime 格式，如 %Y%m") from exc
        t = tbl("numbering_rule")
        with self.store.transaction() as conn:
            row = conn.execute(select(t).where(t.c.entity == entity)).mappings().first()
            values = {"prefix": prefix.strip(), "date_format": date_format, "width": width}
            if next_value is not None:
                values["next_value"] = next_value
            if row is None:
                values.setdefault("next_value", 1)
                return self._insert("numbering_rule", {"entity": entity, **values})
            self._update("numbering_rule", row["id"], values)
            return int(row["id"])

    def next_code(self, entity: str) -> str:
        """Take the next code of ``entity`` (inside the caller's transaction when there is one)."""
        return self.next_codes(entity, 1)[0]

    def next_codes(self, entity: str, n: int) -> list[str]:
        """Take the next ``n`` codes of ``entity`` at once (a batch of imported rows)."""
        if n <= 0:
            return []
        t = tbl("numbering_rule")
        with self.store.transaction() as conn:
            q = select(t).where(t.c.entity == entity)
            if self.store.dialect == "postgresql":
                q = q.with_for_update()
            row = conn.execute(q).mappings().first()
            if row is None:
                prefix, fmt, width = DEFAULT_RULES.get(entity) or LATER_RULES.get(entity, (entity[:2].upper(), "%Y%m", 4))
                conn.execute(insert(t).values(entity=entity, prefix=prefix, date_format=fmt, width=width,
                                              next_value=1))
                row = conn.execute(q).mappings().first()
            serial = int(row["next_value"])
            conn.execute(update(t).where(t.c.id == row["id"]).values(next_value=serial + n))
        date_part = self.today.strftime(row["date_format"]) if row["date_format"] else ""
        return [f"{row['prefix']}{date_part}{k:0{int(row['width'])}d}" for k in range(serial, serial + n)]
