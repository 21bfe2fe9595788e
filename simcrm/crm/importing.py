"""Bulk import (批量导入) of customers and leads from CSV / Excel files or DataFrames.

Headers may be the schema's Chinese labels (``客户名称``) or the field names (``name``); an
unknown header or a missing required one is an :class:`~simcrm.errors.ImportFileError`
naming it. Every data row is checked with the same rules as a single create; rejected rows are explained
in the report. Rows are checked and written in chunks of :data:`IMPORT_CHUNK`, each chunk in
one transaction (the checks inside it, so they still hold when the rows are written), so a
colleague's edit waits for one chunk, not for the whole import; a crash keeps the chunks
already written. A chunk's good rows are written together (a bad one never leaves half of
itself behind).

Row numbers in the report are those a spreadsheet shows: the header is row 1, the first data
row is row 2 (also for a DataFrame, whose n-th row is reported as row n + 2).
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd
from sqlalchemy.exc import IntegrityError

from ..errors import ImportFileError, SimCRMError
from ..store import schema
from .base import CRMBase

CUSTOMER_COLUMNS = ("name", "kind", "industry", "size", "source", "province", "city", "address", "phone", "email",
                    "id_number", "credit_code", "level", "credit_rating", "credit_limit", "relationship_level", "owner")
LEAD_COLUMNS = ("name", "company", "title", "mobile", "email", "province", "city", "source", "score", "owner")
REPORT_COLUMNS = ["row", "accepted", "id", "field", "value", "reason"]
_OWNER_LABELS = ("负责人", "owner_id", "负责人登录名")


def _read(source: Any) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source.copy()
    if not isinstance(source, (str, os.PathLike)):
        raise ImportFileError(field="source", value=source, label="导入文件", allowed="CSV/Excel 文件路径或 DataFrame")
    path = Path(source)
    if not path.exists():
        raise ImportFileError(field="source", value=str(source), label="导入文件", allowed="已存在的文件",
                              reason="文件不存在")
    suffix = path.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm"):
            return pd.read_excel(path, dtype=str, keep_default_na=False)
        if suffix in (".csv", ".txt"):
            for encoding in ("utf-8-sig", "gb18030"):
                try:
                    text = path.read_text(encoding=encoding)
                except UnicodeDecodeError:
                    continue
                return _csv_frame(text, str(source))
    except (ValueError, OSError) as exc:
        raise ImportFileError(field="source", value=str(source), label="导入文件", allowed="CSV（UTF-8 或 GBK）或 .xlsx 文件",
                              reason=str(exc)) from exc
    raise ImportFileError(field="source", value=str(source), label="导入文件", allowed="CSV（UTF-8 或 GBK）或 .xlsx 文件",
                          reason="无法识别的文件类型或编码")


def _csv_frame(text: str, shown: str) -> pd.DataFrame:
    """A CSV text as a frame of strings; a row with more or fewer cells than the header is an
    error naming the row (pandas would shift it into the wrong columns or pad it silently)."""
    if "\x00" in text:
        raise ImportFileError(field="source", value=shown, label="导入文件", allowed="不含 NUL 字符的文本文件",
                              reason="文件中有 NUL 字符（\\x00），可能不是 CSV 文件或已损坏")
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline="")) if r]
    except csv.Error as exc:
        raise ImportFileError(field="source", value=shown, label="导入文件", allowed="CSV（UTF-8 或 GBK）文件",
                              reason=str(exc)) from exc
    if not rows:
        raise ImportFileError(field="source", value=shown, label="导入文件", allowed="有表头行的 CSV 文件",
                              reason="文件是空的")
    header, body = rows[0], rows[1:]
    for n, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ImportFileError(field="row", value=n, label="行号", table=None,
                                  allowed=f"每行 {len(header)} 个单元格（与表头相同）",
                                  reason=f"第 {n} 行有 {len(row)} 个单元格，列会错位；请检查多余或缺少的逗号")
    return pd.DataFrame(body, columns=header, dtype="str")


def _headers(frame: pd.DataFrame, table: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> pd.DataFrame:
    by_label = {label: name for name, label in schema.labels(table).items()}
    mapping = {}
    for header in frame.columns:
        h = str(header).strip()
        if h in allowed:
            mapping[header] = h
        elif h in _OWNER_LABELS:
            mapping[header] = "owner"
        elif by_label.get(h) in allowed:
            mapping[header] = by_label[h]
        else:
            shown = [f"{schema.column_label(table, c)}（{c}）" if c != "owner" else "负责人（owner）" for c in allowed]
            raise ImportFileError(field="header", value=h, label="表头", allowed=shown, reason="不认识的列")
    frame = frame.rename(columns=mapping)
    for col in required:
        if col not in frame.columns:
            raise ImportFileError(field="header", value=f"{schema.column_label(table, col)}（{col}）", label="表头",
                                  allowed="文件必须包含这一列", reason="缺少必需的列")
    return frame


#: at most this many rows are checked and written per transaction …
IMPORT_CHUNK = 500
#: … and a chunk of at least MIN_CHUNK rows ends after this many seconds, so a colleague's
#: write waits about that long
CHUNK_SECONDS = 0.3
MIN_CHUNK = 50
#: rows whose duplicate lookups are made together (one query)
PREFETCH_ROWS = 100
#: pause between two chunks: a writer waiting for the SQLite lock gets a chance to take it. Longer
#: than SQLite's longest busy-handler sleep (100 ms), or a waiting writer can sleep through every
#: pause and starve (with 50 ms a colleague's edit waited up to 2 s during a 7 s import)
CHUNK_PAUSE = 0.11


class ImportingMixin(CRMBase):
    def _import(self, frame: pd.DataFrame, prepare: Callable[[dict[str, Any]], dict[str, Any]],
                write: Callable[[list[dict[str, Any]]], list[int]],
                prefetch: Callable[[list[dict[str, Any]]], None] | None = None) -> pd.DataFrame:
        records = []
        for n, record in enumerate(frame.to_dict("records")):
            values = {k: (None if (v is None or (isinstance(v, float) and pd.isna(v)) or
                                   (isinstance(v, str) and not v.strip())) else v)
                      for k, v in record.items()}
            records.append((n + 2, {k: (v.strip() if isinstance(v, str) else v) for k, v in values.items()}))
        report: dict[int, dict[str, Any]] = {}
        todo = records
        while todo:
            if len(todo) < len(records) and self.store.dialect == "sqlite":
                time.sleep(CHUNK_PAUSE)
            done = self.store.atomic(self._import_chunk, todo[:IMPORT_CHUNK], prepare, write, report, prefetch)
            todo = todo[done:]
        out = pd.DataFrame([report[n] for n, _ in records], columns=REPORT_COLUMNS)
        out["row"] = out["row"].astype("int64")
        out["accepted"] = out["accepted"].astype(bool)
        out["id"] = out["id"].astype("Int64")
        for c in ("field", "value", "reason"):
            out[c] = out[c].astype("str")
        return out

    def _import_chunk(self, part: list[tuple[int, dict[str, Any]]], prepare: Callable, write: Callable,
                      report: dict[int, dict[str, Any]], prefetch: Callable | None = None) -> int:
        """Check rows of ``part`` and write the good ones, in ONE transaction; returns how many.

        The checks are those of a single create, made inside the transaction that writes (so
        they hold when the rows are written); lookups are remembered for the chunk
        (:meth:`_batch`) and the good rows are written together. Should the database still
        refuse the batch, the rows are written one by one, each in a savepoint, so a bad row
        never leaves half of itself behind.
        """
        conn = self.store._active.get()
        started = time.perf_counter()
        with self._batch():
            good = []
            taken = 0
            for n, values in part:
                if prefetch is not None and taken % PREFETCH_ROWS == 0:
                    # the next rows' lookups in one query (set-based duplicate check)
                    prefetch([v for _, v in part[taken:taken + PREFETCH_ROWS]])
                taken += 1
                self._memo[("import_row",)] = n
                try:
                    good.append((n, prepare(dict(values))))
                except SimCRMError as err:
                    report[n] = _rejected(n, err)
                if taken >= MIN_CHUNK and time.perf_counter() - started > CHUNK_SECONDS:
                    break
            if not good:
                return taken
            try:
                with conn.begin_nested():
                    ids = write([dict(row) for _, row in good])
            except (SimCRMError, IntegrityError):
                ids = None
            if ids is not None:
                for (n, _), new_id in zip(good, ids):
                    report[n] = {"row": n, "accepted": True, "id": new_id, "field": None, "value": None, "reason": None}
                return taken
            for n, row in good:
                try:
                    with conn.begin_nested():
                        new_id = write([dict(row)])[0]
                    report[n] = {"row": n, "accepted": True, "id": new_id, "field": None, "value": None,
                                 "reason": None}
                except (SimCRMError, IntegrityError) as exc:
                    report[n] = _rejected(n, self.store._translate(exc) if isinstance(exc, IntegrityError) else exc)
        return taken

    def import_customers(self, source: str | os.PathLike | pd.DataFrame, *, allow_duplicate: bool = False,
                         owner: int | str | None = None) -> pd.DataFrame:
        """Import customers; returns the row-by-row report.

        Required columns: 客户名称 (name), 省份 (province), 城市 (city); optional: every other
        customer field and 负责人 (owner, employee login or id; default ``owner`` or the acting
        user). Dictionary fields take their text values (``制造业``).

        Returns:
            DataFrame ``row, accepted, id, field, value, reason``.

        Example:
            >>> import datetime as dt, pandas as pd
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = crm.setup_demo_org()
            >>> rows = pd.DataFrame({"客户名称": ["远航物流有限公司", "李雷"], "客户类型": ["企业", "个人"],
            ...                      "省份": ["上海", "广东"], "城市": ["上海市", "深圳市"], "电话": ["", "1381234"]})
            >>> report = crm.as_user("rep1").import_customers(rows)
            >>> report[["row", "accepted"]].values.tolist()
            [[2, True], [3, False]]
            >>> report.loc[1, "field"], report.loc[1, "value"]
            ('phone', '1381234')
        """
        self._require("customer", "create")
        frame = _headers(_read(source), "customer", CUSTOMER_COLUMNS, ("name", "province", "city"))
        default_owner = owner

        def create(values: dict[str, Any]) -> int:
            row_owner = values.pop("owner", None) or default_owner
            if isinstance(row_owner, str) and row_owner.isdigit():
                row_owner = int(row_owner)
            if values.get("credit_limit") is not None:
                values["credit_limit"] = _number(values["credit_limit"], "credit_limit", "信用额度")
            kind = values.pop("kind", None) or "企业"
            name = values.pop("name", None)
            return self._prepare_customer(name, kind, owner=row_owner, allow_duplicate=allow_duplicate, **values)

        return self._import(frame, create, self._write_customers,
                            None if allow_duplicate else self._prefetch_duplicates)

    def import_leads(self, source: str | os.PathLike | pd.DataFrame, *, owner: int | str | None = None) -> pd.DataFrame:
        """Import leads; returns the row-by-row report (columns as :meth:`import_customers`).

        Required column: 联系人姓名 (name); each row needs 手机 (mobile) or 电子邮件 (email).
        """
        self._require("lead", "create")
        frame = _headers(_read(source), "lead", LEAD_COLUMNS, ("name",))

        def create(values: dict[str, Any]) -> int:
            row_owner = values.pop("owner", None) or owner
            if isinstance(row_owner, str) and row_owner.isdigit():
                row_owner = int(row_owner)
            if values.get("score") is not None:
                values["score"] = _number(values["score"], "score", "线索评分", integer=True)
            name = values.pop("name", None)
            return self._prepare_lead(name, owner=row_owner, **values)

        return self._import(frame, create, self._write_leads)


def _rejected(n: int, err: SimCRMError) -> dict[str, Any]:
    return {"row": n, "accepted": False, "id": None, "field": err.field,
            "value": None if err.value is None else str(err.value), "reason": str(err).split("\n")[0]}


def _number(value: Any, field: str, label: str, *, integer: bool = False) -> float | int:
    from ..errors import ValidationError

    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        raise ValidationError(field=field, value=value, label=label, allowed="整数" if integer else "数字") from None
    if not math.isfinite(number):  # "nan", "inf", "1e400" parse as floats but are no amounts
        raise ValidationError(field=field, value=value, label=label,
                              allowed="有限的整数" if integer else "有限的数字", reason="不是有限的数")
    if integer:
        if number != int(number):
            raise ValidationError(field=field, value=value, label=label, allowed="整数")
        return int(number)
    return number
