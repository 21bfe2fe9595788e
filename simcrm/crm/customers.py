"""Customers and contacts (客户管理、联系人管理): create, edit, duplicates, merge, owners, sharing.

Field rules on top of the schema's (required fields, dictionary values, states):

* phone: a mobile number or a landline (validated by :mod:`simcrm.locales`), stored normalised;
  e-mail, ID number (with its checksum) and unified social credit code likewise;
* an individual (个人) customer needs a phone number;
* province and city must be a real pair of :func:`simcrm.reference.regions` (the short province
  name such as ``"广东"`` is accepted and stored as ``"广东省"``);
* a new customer whose normalised name, phone or e-mail matches an existing one is refused
  with :class:`~simcrm.errors.DuplicateError` listing the existing record, unless
  ``allow_duplicate=True``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import threading
import unicodedata
from functools import cache
from typing import Any, Iterable

import numpy as np
import pandas as pd
from sqlalchemy import delete, event, false, func, literal_column, or_, select, text, update

from .. import reference
from ..errors import (
    DuplicateError,
    PermissionDeniedError,
    RequiredFieldError,
    UnknownValueError,
    ValidationError,
)
from ..store import schema
from .base import TABLE_MODULE, CRMBase, atomic, check_transition, is_number, locale, refuse_nan, tbl

#: customer fields a user may set with create/update (the rest are managed by operations)
CUSTOMER_FIELDS = ("name", "kind", "industry", "size", "source", "province", "city", "address", "phone",
                   "email", "id_number", "credit_code", "level", "credit_rating", "credit_limit",
                   "relationship_level", "hot")
CONTACT_FIELDS = ("name", "gender", "title", "department", "mobile", "phone", "email", "birthday",
                  "buying_role")

_NAME_NOISE = ("股份有限公司", "有限责任公司", "有限公司", "股份", "公司")


_NAME_MARKS = re.compile(r"[\s()\[\]【】（）]")


def normalise_name(name: Any, _nfkc: Any = unicodedata.normalize, _marks: Any = _NAME_MARKS.sub) -> str:
    """The name used to spot duplicates: full-width → half-width, no legal-form words, no brackets.

    >>> normalise_name("北京 星辰科技（集团）股份有限公司")
    '北京星辰科技集团'
    >>> normalise_name("北京星辰科技(集团)有限责任公司") == normalise_name("北京星辰科技（集团）股份有限公司")
    True
    """
    if not isinstance(name, str):
        return ""
    text = _marks("", _nfkc("NFKC", name).lower())
    for word in _NAME_NOISE:
        if word in text:  # (a test is cheaper than a replace that finds nothing: 100,000 names at a time)
            text = text.replace(word, "")
    return text


def _texts(values: pd.Series) -> np.ndarray:
    """Which values are text (``isinstance(v, str)``): a string column's non-missing values."""
    if isinstance(values.dtype, pd.StringDtype):
        return values.notna().to_numpy(dtype=bool)
    return values.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)


def normalise_names(names: pd.Series) -> pd.Series:
    """:func:`normalise_name` of every value of ``names`` (a value that is not text gives ``""``)."""
    return pd.Series([normalise_name(v) for v in names.tolist()], index=names.index, dtype=object)


def _key_hash(kind: str, key: str) -> int:
    """A signed 32-bit hash of one duplicate-rule key, the same in every process."""
    digest = hashlib.blake2b(f"{kind}\x00{key}".encode("utf-8"), digest_size=4).digest()
    return int.from_bytes(digest, "big", signed=True)


def customer_keys(rows: Iterable[dict[str, Any]]) -> set[tuple[str, str]]:
    """The duplicate rule's keys ``(kind, key)`` of customer ``rows`` (normalised values): a
    company's normalised name, anyone's phone, anyone's lower-cased e-mail.

    A writer of those keys locks them (PostgreSQL advisory locks ``(ADVISORY_CUSTOMER_KEYS,
    hash)``, :meth:`Store.key_locks`), in ascending order, before its duplicate check and holds
    them to its commit: two writers of one key follow each other (the second one's check sees
    the first one's row), writers of different keys do not wait for each other. The hash is
    :func:`_key_hash` here, or the classroom database's salted one; two different keys with
    the same 32-bit hash only make their writers wait."""
    out: set[tuple[str, str]] = set()
    for r in rows:
        name, phone, email = r.get("name"), r.get("phone"), r.get("email")
        if isinstance(name, str) and (r.get("kind") or "企业") != "个人":
            out.add(("name", normalise_name(name)))
        if isinstance(phone, str) and phone:
            out.add(("phone", phone))
        if isinstance(email, str) and email:
            out.add(("email", email.lower()))
    return out


@cache
def _region_pairs() -> tuple[dict[str, str], frozenset[tuple[str, str]], dict[str, list[str]]]:
    regions = reference.regions()
    full = {}
    for p, short in zip(regions["province"], regions["province_short"]):
        full[p] = p
        full[short] = p
    pairs = frozenset(zip(regions["province"], regions["city"]))
    cities: dict[str, list[str]] = {}
    for p, c in pairs:
        cities.setdefault(p, []).append(c)
    return full, pairs, cities


def check_region(province: Any, city: Any) -> tuple[str, str]:
    """The (province, city) pair in full names, or a ValidationError naming the bad one."""
    full, pairs, cities = _region_pairs()
    if not isinstance(province, str) or province.strip() not in full:
        raise UnknownValueError(field="province", value=province, label="省份",
                                allowed=sorted(set(full.values())))
    p = full[province.strip()]
    c = city.strip() if isinstance(city, str) else city
    if isinstance(c, str) and (p, c) not in pairs and (p, c + "市") in pairs:
        c = c + "市"
    if (p, c) not in pairs:
        raise UnknownValueError(field="city", value=city, label="城市", allowed=sorted(cities[p]),
                                reason=f"不是{p}的城市")
    return p, c


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and pd.isna(v))


def normalise_phone(value: Any, *, field: str = "phone", label: str = "电话") -> str:
    """A mobile or landline number, normalised by the locale; ValidationError if neither."""
    loc = locale()
    try:
        return loc.validate_mobile(value)
    except ValidationError as mobile_error:
        digits = re.sub(r"\D", "", value) if isinstance(value, str) else ""
        if digits.startswith("1") and len(digits) <= 11 and not digits.startswith("10"):
            raise ValidationError(field=field, value=value, label=label, allowed=mobile_error.allowed,
                                  reason=mobile_error.reason) from None
        try:
            return loc.validate_landline(value)
        except ValidationError as landline_error:
            raise ValidationError(field=field, value=value, label=label,
                                  allowed=f"手机号（{mobile_error.allowed}）或固定电话（{landline_error.allowed}）",
                                  reason=landline_error.reason) from None


#: audited customer fields that change which names the duplicate rule sees
_NAME_FIELDS = ("name", "kind", "deleted")
#: statements that may change those fields or remove customers
_REWRITES = re.compile(r"\s*(DELETE\s+FROM\s+\"?customer\"?\s|UPDATE\s+\"?customer\"?\s+SET\s.*\b(name|kind|deleted)\b)",
                       re.IGNORECASE | re.DOTALL)


class _NameIndex:
    """The normalised names of the enterprise customers not deleted, kept per :class:`Store`.

    A name's duplicate rule compares :func:`normalise_name` (Python: NFKC, case, brackets,
    legal-form words), which no database index can hold, so the names are read once and then
    brought up to date (:meth:`delta`):

    * SQLite (one writer at a time: ids and audit ids are given in commit order, none is
      skipped) by indexed reads: customers with an id above the highest one seen, and customers
      whose name, kind or deleted flag the audit log shows as changed since;
    * PostgreSQL, where writers of different keys commit in any order (an id or audit id below
      the highest one seen may still appear), by the rows' transaction ids: every customer row
      written (inserted or updated) by a transaction at or after the oldest one that was still
      running when the index last read (``xmin`` ≥ that snapshot's ``xmin``). A transaction
      older than that had committed or rolled back before the read, so the read saw its rows.

    The index learns a delta only after the transaction that read it committed
    (:meth:`Store.after_commit`): a rolled-back write never lingers in it.
    """

    def __init__(self, store: Any = None) -> None:
        self.rows: dict[int, dict[str, Any]] = {}  # id -> {id, code, name}
        self.ids_by_key: dict[str, set[int]] = {}
        self.id_wm = -1  # -1: never read (or to be read again); PostgreSQL: the xid horizon
        self.audit_wm = 0
        self.generation = 0
        self.lock = threading.Lock()  # threads sharing a store: commit while another reads
        # a classroom login (row-level security): the customers this login sees change without a
        # name row in the audit log (a transfer into its scope), and reading audit_log through its
        # policy costs a second per query, so such an index reads the (small) visible set each time
        self.always_full = bool(getattr(store, "audited_by_database", False))
        if store is not None:
            # writes that leave no audit row (lab.undo deleting what an exercise created or
            # setting a name back, raw SQL through this store) make the index read all again
            event.listen(store.engine, "before_cursor_execute", self._watch)

    def _watch(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _REWRITES.match(statement):
            self.id_wm = -1
            self.generation += 1  # a view read before this statement is not learnt either

    def _put(self, rows: dict[int, dict[str, Any]], by_key: dict[str, set[int]], r: Any) -> None:
        if r.kind == "企业" and not r.deleted and isinstance(r.name, str):
            rows[int(r.id)] = {"id": int(r.id), "code": r.code, "name": r.name}
            by_key.setdefault(normalise_name(r.name), set()).add(int(r.id))

    def delta(self, conn: Any) -> "_NameDelta":
        """What changed since the index was last brought up to date (a full read the first time,
        or when the database went back behind what the index saw, e.g. a restored file)."""
        c, a = tbl("customer"), tbl("audit_log")
        cols = (c.c.id, c.c.code, c.c.name, c.c.kind, c.c.deleted)
        if not self.always_full and conn.dialect.name == "postgresql":
            return self._delta_by_xid(conn)
        if self.always_full:
            top_id = top_audit = -1  # never learnt: _NameDelta.commit keeps the index unread
        else:
            top_audit = conn.execute(select(func.max(a.c.id))).scalar() or 0
            top_id = conn.execute(select(func.max(c.c.id))).scalar() or 0
        d = _NameDelta(self, top_id, top_audit)
        if self.always_full or self.id_wm < 0 or top_id < self.id_wm or top_audit < self.audit_wm:
            d.full = True
            for r in conn.execute(select(*cols).where(c.c.kind == "企业", c.c.deleted == false())):
                self._put(d.rows, d.ids_by_key, r)
            return d
        changed = set(conn.execute(select(a.c.row_id).distinct().where(
            a.c.id > self.audit_wm, a.c.table_name == "customer", a.c.field.in_(_NAME_FIELDS))).scalars())
        cond = c.c.id > self.id_wm
        if changed:
            cond = or_(cond, c.c.id.in_(sorted(changed)))
        for r in conn.execute(select(*cols).where(cond)):
            d.changed.add(int(r.id))
            self._put(d.rows, d.ids_by_key, r)
        return d

    def _delta_by_xid(self, conn: Any) -> "_NameDelta":
        """PostgreSQL: the rows written since the horizon (64-bit xid: the oldest transaction
        running at the last read, this one included), or all rows when the index was never read,
        the database is another one or went back, or the 32-bit ``xmin`` of rows cannot be
        compared with the horizon (an xid epoch began since)."""
        c = tbl("customer")
        cols = (c.c.id, c.c.code, c.c.name, c.c.kind, c.c.deleted)
        low, high, mine = conn.execute(text(
            "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint, "
            "pg_current_xact_id_if_assigned()::text::bigint FROM pg_current_snapshot() AS s")).one()
        horizon = min(low, mine) if mine is not None else low
        d = _NameDelta(self, horizon, 0)
        wm = self.id_wm
        if wm < 0 or horizon < wm or (wm >> 32) != (high >> 32):
            d.full = True
            for r in conn.execute(select(*cols).where(c.c.kind == "企业", c.c.deleted == false())):
                self._put(d.rows, d.ids_by_key, r)
            return d
        xmin = literal_column("customer.xmin::text::bigint")
        for r in conn.execute(select(*cols).where(xmin >= (wm & 0xFFFF_FFFF))):
            d.changed.add(int(r.id))
            self._put(d.rows, d.ids_by_key, r)
        return d


class _NameDelta:
    """An index's view inside one transaction: its rows, less those changed, plus their new state."""

    def __init__(self, base: _NameIndex, top_id: int, top_audit: int):
        self.base, self.top_id, self.top_audit = base, top_id, top_audit
        self.generation = base.generation
        self.read_wm = base.id_wm
        self.full = False
        self.changed: set[int] = set()
        self.rows: dict[int, dict[str, Any]] = {}
        self.ids_by_key: dict[str, set[int]] = {}

    def find(self, key: str) -> list[dict[str, Any]]:
        ids = set(self.ids_by_key.get(key, ()))
        if self.full:
            return [self.rows[i] for i in ids]
        with self.base.lock:
            ids |= {i for i in self.base.ids_by_key.get(key, ()) if i not in self.changed}
            return [self.rows[i] if i in self.rows else self.base.rows[i] for i in ids]

    def commit(self) -> None:
        """Make this view the index's (called after the transaction that read it committed)."""
        with self.base.lock:
            self._commit()

    def _commit(self) -> None:
        base = self.base
        if base.always_full:
            return
        if base.generation != self.generation:
            return  # rewritten meanwhile: the index reads all again at the next check
        if self.full:
            base.rows, base.ids_by_key = self.rows, self.ids_by_key
        else:
            for i in self.changed:
                old = base.rows.pop(i, None)
                if old is not None:
                    ids = base.ids_by_key.get(normalise_name(old["name"]))
                    if ids is not None:
                        ids.discard(i)
            for i, r in self.rows.items():
                base.rows[i] = r
                base.ids_by_key.setdefault(normalise_name(r["name"]), set()).add(i)
        if base.id_wm != self.read_wm and base.id_wm >= 0:
            # another thread's delta was learnt since this one read: keep the older watermarks,
            # so that the next delta reads again whatever either of the two may have missed
            base.id_wm, base.audit_wm = min(base.id_wm, self.top_id), min(base.audit_wm, self.top_audit)
            return
        base.id_wm, base.audit_wm = self.top_id, self.top_audit


class _DuplicateIndex:
    """The duplicate rule's lookups for one check, or for every row of an import chunk.

    A company's name identifies it; a person's does not (同名同姓很常见): people match on phone
    or e-mail only. Names come from the store's :class:`_NameIndex`; phones and e-mails are
    looked up by indexed SQL (``customer.phone``, ``lower(customer.email)``), for a whole chunk
    in one query (:meth:`prefetch`). Rows checked earlier in the same chunk are added with
    :meth:`add` (duplicates within the file).
    """

    def __init__(self, store: Any):
        self.store = store
        index = getattr(store, "_simcrm_name_index", None)
        if index is None:
            index = store._simcrm_name_index = _NameIndex(store)
        self.base = index
        self.refresh_names()
        self.fetched_phones: dict[str, list[dict[str, Any]]] = {}
        self.fetched_emails: dict[str, list[dict[str, Any]]] = {}
        self.file_by_name: dict[str, list[dict[str, Any]]] = {}
        self.file_by_phone: dict[str, list[dict[str, Any]]] = {}
        self.file_by_email: dict[str, list[dict[str, Any]]] = {}

    def refresh_names(self) -> None:
        """Read the names again (after locking more keys: a colleague may have written one of
        them since the last read, before this transaction held its lock)."""
        self.names = self.base.delta(self.store._active.get())
        self.store.after_commit("customer_name_index", self.names.commit)

    def prefetch(self, phones: Iterable[str], emails: Iterable[str]) -> None:
        """Look up these phones and (lower-cased) e-mails in one query per 500 values."""
        phones = sorted({p for p in phones if p and p not in self.fetched_phones})
        emails = sorted({e.lower() for e in emails if e and e.lower() not in self.fetched_emails})
        c = tbl("customer")
        conn = self.store._active.get()
        if {"customer.phone", "customer.email"} & self.store.masked_by_database:
            # a classroom login that reads phones and e-mails masked: the database compares them
            # (simcrm_customer_keys: the customers in its scope with one of these values)
            for k in phones:
                self.fetched_phones[k] = []
            for k in emails:
                self.fetched_emails[k] = []
            for start in range(0, max(len(phones), len(emails)), 500):
                q = text("SELECT * FROM simcrm_customer_keys(CAST(:p AS text[]), CAST(:e AS text[]))")
                for r in conn.execute(q, {"p": phones[start:start + 500], "e": emails[start:start + 500]}).mappings():
                    self._fetched(dict(r))
            return
        for key_list, column, out in ((phones, c.c.phone, self.fetched_phones),
                                      (emails, func.lower(c.c.email), self.fetched_emails)):
            for start in range(0, len(key_list), 500):
                part = key_list[start:start + 500]
                for k in part:
                    out[k] = []
                q = select(c.c.id, c.c.code, c.c.name, c.c.kind, c.c.phone, c.c.email).where(
                    c.c.deleted == false(), column.in_(part))
                for r in conn.execute(q).mappings():
                    self._fetched(dict(r))

    def _fetched(self, r: dict[str, Any]) -> None:
        row = {**r, "id": int(r["id"])}
        if isinstance(row["phone"], str) and row["phone"] in self.fetched_phones:
            self.fetched_phones[row["phone"]].append(row)
        if isinstance(row["email"], str) and row["email"].lower() in self.fetched_emails:
            self.fetched_emails[row["email"].lower()].append(row)

    def add(self, values: dict[str, Any], row: int | None = None) -> None:
        r = {"id": None, "code": None, "name": values.get("name"), "kind": values.get("kind", "企业"),
             "phone": values.get("phone"), "email": values.get("email"), "row": row}
        if r["kind"] == "企业" and isinstance(r["name"], str):
            self.file_by_name.setdefault(normalise_name(r["name"]), []).append(r)
        if isinstance(r["phone"], str):
            self.file_by_phone.setdefault(r["phone"], []).append(r)
        if isinstance(r["email"], str):
            self.file_by_email.setdefault(r["email"].lower(), []).append(r)

    def find(self, values: dict[str, Any], exclude: Iterable[int] = ()) -> list[dict[str, Any]]:
        name = values.get("name") if values.get("name") and values.get("kind", "企业") != "个人" else None
        phone = values.get("phone") or None
        email = str(values["email"]).lower() if values.get("email") else None
        if (phone and phone not in self.fetched_phones) or (email and email not in self.fetched_emails):
            self.prefetch([phone] if phone else [], [email] if email else [])
        key = normalise_name(name) if name else None
        found: dict[Any, dict[str, Any]] = {}
        if key is not None:
            for r in self.names.find(key):
                found[r["id"]] = r
        for r in (self.fetched_phones.get(phone, []) if phone else []) + \
                (self.fetched_emails.get(email, []) if email else []):
            found[r["id"]] = r  # the fuller row (with phone and e-mail) wins
        for r in ((self.file_by_name.get(key, []) if key is not None else []) +
                  (self.file_by_phone.get(phone, []) if phone else []) +
                  (self.file_by_email.get(email, []) if email else [])):
            found[id(r)] = r
        skip = set(exclude)
        hits = [r for r in found.values() if r["id"] not in skip]
        return sorted(hits, key=lambda r: (r["id"] is None, r["id"] or 0))


class CustomersMixin(CRMBase):
    # -- validation ------------------------------------------------------------------------

    def _clean_customer(self, values: dict[str, Any], *, current: dict[str, Any] | None = None) -> dict[str, Any]:
        """Format checks and business rules of the customer fields in ``values`` (normalised)."""
        loc = locale()
        for key in values:
            if key not in CUSTOMER_FIELDS:
                raise UnknownValueError(field=key, value=values[key], label="字段名", table="customer",
                                        allowed=CUSTOMER_FIELDS, reason="不是可直接修改的客户字段")
        refuse_nan("customer", values)
        out = dict(values)
        if "hot" in out:
            hot = out["hot"]
            if isinstance(hot, (bool, np.bool_)):  # a pandas column gives numpy booleans
                out["hot"] = bool(hot)
            else:  # "yes", "False", 1 … are not flags: bool("False") would be True
                raise ValidationError(field="hot", value=hot, label="热点客户", table="customer",
                                      allowed="True 或 False（是/否）")
        if "credit_limit" in out and out["credit_limit"] is not None and not is_number(out["credit_limit"]):
            raise ValidationError(field="credit_limit", value=out["credit_limit"], label="信用额度", table="customer",
                                  allowed="不小于 0 的数字；要清空该字段请传 None")
        for key in ("phone", "email", "id_number", "credit_code", "address"):
            if key in out and _missing(out[key]):
                out[key] = None
        if out.get("phone") is not None:
            out["phone"] = normalise_phone(out["phone"])
        if out.get("email") is not None:
            out["email"] = loc.validate_email(out["email"])
        if out.get("id_number") is not None:
            out["id_number"] = loc.validate_id_number(out["id_number"])
        if out.get("credit_code") is not None:
            out["credit_code"] = loc.validate_credit_code(out["credit_code"])
        merged = {**(current or {}), **out}
        if "province" in out or "city" in out:
            for key in ("province", "city"):
                if _missing(merged.get(key)):
                    raise RequiredFieldError(field=key, value=merged.get(key), label=schema.column_label("customer", key))
            out["province"], out["city"] = check_region(merged["province"], merged["city"])
        kind = merged.get("kind")
        if kind not in reference.state_values("customer_kind"):
            raise UnknownValueError(field="kind", value=kind, label="客户类型",
                                    allowed=reference.state_values("customer_kind"))
        if kind == "个人" and _missing(merged.get("phone")):
            raise RequiredFieldError(field="phone", value=merged.get("phone"), label="电话",
                                     allowed="个人客户必须填写手机号或固定电话")
        if kind == "个人" and merged.get("credit_code"):
            raise ValidationError(field="credit_code", value=merged["credit_code"], label="统一社会信用代码",
                                  allowed="空（只有企业客户有统一社会信用代码）")
        if "name" in out and not _missing(out["name"]):
            out["name"] = unicodedata.normalize("NFKC", out["name"]).strip() if kind == "企业" else out["name"].strip()
        return out

    def _duplicates_of(self, values: dict[str, Any], exclude: Iterable[int] = ()) -> list[dict[str, Any]]:
        index = self._remember(("duplicate_index",), lambda: _DuplicateIndex(self.store))
        return index.find(values, exclude)

    def _prefetch_duplicates(self, rows: Iterable[dict[str, Any]]) -> None:
        """Lock the duplicate-rule keys of many rows about to be checked (an import chunk), all
        at once in ascending order (:func:`customer_keys`), and look up their phones and
        e-mails in one query; a value that does not validate is skipped (its row will be
        refused for it anyway)."""
        loc = locale()
        phones, emails, names = [], [], []
        for r in rows:
            for key, norm, out in (("phone", normalise_phone, phones), ("email", loc.validate_email, emails)):
                if not _missing(r.get(key)):
                    try:
                        out.append(norm(r[key]))
                    except (ValidationError, TypeError, AttributeError):
                        pass
            if isinstance(r.get("name"), str):
                names.append({"name": r["name"], "kind": r.get("kind") if isinstance(r.get("kind"), str) else None})
        self._lock_keys(names + [{"phone": p} for p in phones] + [{"email": e} for e in emails])
        index = self._remember(("duplicate_index",), lambda: _DuplicateIndex(self.store))
        index.prefetch(phones, emails)

    def _lock_keys(self, rows: list[dict[str, Any]], *, customers: Iterable[int] = (),
                   leads: Iterable[int] = ()) -> None:
        """Lock the duplicate-rule keys of ``rows`` (and the phone/e-mail keys of existing
        ``customers``, the mobile of ``leads``: :meth:`_lock_customer_key_rows`); names an
        earlier check of this transaction read before one of these keys was locked are read
        again (phones and e-mails are read per key, after its lock)."""
        if self._lock_customer_key_rows(rows, customers=customers, leads=leads):
            index = self._memo.get(("duplicate_index",)) if self._memo is not None else None
            if index is not None:
                index.refresh_names()

    def _refuse_duplicates(self, values: dict[str, Any], exclude: Iterable[int] = (), *,
                           record: tuple[str, int] | None = None, read_as: dict[str, Any] | None = None) -> None:
        """Refuse ``values`` (a customer's name, kind, phone, e-mail) with a DuplicateError when
        another customer has one of its keys.

        ``record``: ``("customer", id)`` or ``("lead", id)`` whose phone and e-mail (a lead's
        mobile, as the new customer's phone) this login reads masked: the database locks and
        compares their clear values (``simcrm_lock_keys``, ``simcrm_duplicates_of``); ``read_as``
        gives the values the error names for them (as the login reads them, masked).
        """
        # no row stands for "this name is taken": a writer locks the keys it writes (PostgreSQL;
        # SQLite writers are serialised anyway) and checks after that, so two users creating the
        # same company at once cannot both pass, and users writing other keys do not wait
        kind, rid = record if record is not None else ("", 0)
        self._lock_keys([values], customers=[rid] if kind == "customer" else (), leads=[rid] if kind == "lead" else ())
        dup = self._duplicates_of(values, exclude)
        if record is not None:
            conn = self.store._active.get()
            skip = set(exclude) | {r["id"] for r in dup}
            dup += [dict(r) for r in conn.execute(text("SELECT * FROM simcrm_duplicates_of(:t, :i)"),
                                                  {"t": kind, "i": int(rid)}).mappings() if r["id"] not in skip]
            dup.sort(key=lambda r: (r["id"] is None, r["id"] or 0))
        if not dup:
            return
        first = dup[0]
        field = ("name" if values.get("name") and values.get("kind", "企业") != "个人"
                 and normalise_name(first["name"]) == normalise_name(values["name"])
                 else first["field"] if first.get("field")
                 else "phone" if values.get("phone") and first.get("phone") == values["phone"] else "email")
        values = {**(read_as or {}), **{k: v for k, v in values.items() if v is not None}}
        # a customer outside the user's scope is not named (no lookup oracle): only that it exists
        hidden = [r for r in dup if r["id"] is not None and not self._in_scope("customer", r["id"])]
        shown = "；".join(f"{r['code']} {r['name']}（编号 {r['id']}）" if r["id"] is not None
                         else f"{r['name']}（本次导入第 {r.get('row') or '?'} 行）" for r in dup if r not in hidden)
        if hidden:
            shown = "；".join(x for x in (shown, f"{len(hidden)} 个不在你数据范围内的客户（请联系主管核实）") if x)
        raise DuplicateError(field=field, value=values.get(field), label=schema.column_label("customer", field),
                             table="customer", reason=f"已有客户：{shown}",
                             allowed="与已有客户名称、电话、邮件都不同的值；确认不是重复客户时传 allow_duplicate=True")

    # -- customers ---------------------------------------------------------------------------

    @atomic
    def create_customer(self, name: str, kind: str = "企业", *, source: str | None = None,
                        province: str | None = None, city: str | None = None, owner: int | str | None = None,
                        allow_duplicate: bool = False, lifecycle: str = "潜在", code: str | None = None,
                        **fields: Any) -> int:
        """Create a customer (企业 or 个人) owned by ``owner`` (default: the acting user).

        Args:
            name: company or person name.
            kind: 企业 or 个人.
            source: a value of the 客户来源 dictionary (default: the dictionary's default).
            province, city: a real pair, e.g. ``"广东省", "深圳市"``.
            owner: employee id or login (must be active).
            allow_duplicate: create even when a customer with the same name/phone/e-mail exists.
            **fields: other customer fields (industry, size, address, phone, email, id_number,
                credit_code, level, credit_rating, credit_limit, relationship_level, hot).

        Returns:
            The new customer's id.

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> boss = crm.setup_demo_org()["boss"]
            >>> cid = crm.create_customer("星辰科技有限公司", province="广东", city="深圳",
            ...                           phone="0755-23456789", owner=boss)
            >>> crm.store.get("customer", cid)["code"], crm.store.get("customer", cid)["province"]
            ('KH2025070001', '广东省')
            >>> crm.create_customer("星辰科技股份有限公司", province="广东", city="深圳", owner=boss)
            Traceback (most recent call last):
            ...
            simcrm.errors.DuplicateError: 客户名称（name）[customer]的值 '星辰科技股份有限公司' 与已有记录重复：已有客户：KH2025070001 星辰科技有限公司（编号 1）。允许：与已有客户名称、电话、邮件都不同的值；确认不是重复客户时传 allow_duplicate=True
            [en] duplicate value '星辰科技股份有限公司' for field 'name'; allowed: 与已有客户名称、电话、邮件都不同的值；确认不是重复客户时传 allow_duplicate=True
        """
        row = self._prepare_customer(name, kind, source=source, province=province, city=city, owner=owner,
                                     allow_duplicate=allow_duplicate, lifecycle=lifecycle, code=code, **fields)
        return self._write_customers([row])[0]

    @atomic
    def _create_customer_of_lead(self, lead: dict[str, Any], name: str, kind: str, **args: Any) -> int:
        """:meth:`create_customer` for converting ``lead`` (a row as this login reads it) whose
        mobile the login reads masked, as an individual customer's phone: the phone is checked
        and locked as a duplicate-rule key by the database (by the lead's id), and copied into
        the customer by ``simcrm_copy_lead_contact`` once the conversion is written."""
        row = self._prepare_customer(name, kind, _lead=lead, **args)
        return self._write_customers([row])[0]

    def _prepare_customer(self, name: str, kind: str = "企业", *, source: str | None = None,
                          province: str | None = None, city: str | None = None, owner: int | str | None = None,
                          allow_duplicate: bool = False, lifecycle: str = "潜在", code: str | None = None,
                          _lead: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Every check of :meth:`create_customer`; returns the row ready to write (code may be None).

        ``_lead``: the phone is the mobile of this lead, which the login reads masked
        (:meth:`_create_customer_of_lead`)."""
        self._require("customer", "create")
        owner_id = self.user_id if owner is None else self._employee_id(owner)
        if owner_id is None:
            raise RequiredFieldError(field="owner_id", value=None, label="负责人", allowed="在职员工编号或登录名")
        self._check_assignable(owner_id)
        if source is None:
            source = self.dictionary_default("source")
        values = self._clean_customer({"name": name, "kind": kind, "source": source, "province": province,
                                       "city": city, **fields},
                                      current=None if _lead is None else {"phone": _lead["mobile"]})
        if not allow_duplicate:
            self._refuse_duplicates(values, record=None if _lead is None else ("lead", int(_lead["id"])),
                                    read_as=None if _lead is None else {"phone": _lead["mobile"]})
        row = {**values, "code": code, "owner_id": owner_id, "lifecycle": lifecycle, "lifecycle_date": self.today,
               "created_at": self.now, "created_by": self.user_id, "hot": values.get("hot", False),
               "deleted": False}
        clean = self.store.validate("customer", {**row, "code": code or "KH"})
        clean["code"] = None if code is None else clean["code"]
        if self._memo is not None and ("duplicate_index",) in self._memo:
            # later rows of the same batch see this one
            self._memo[("duplicate_index",)].add(values, self._memo.get(("import_row",)))
        return clean

    def _write_customers(self, rows: list[dict[str, Any]]) -> list[int]:
        """Write rows of :meth:`_prepare_customer` (codes, owner history, audit); returns ids."""
        with self.store.transaction():
            self._lock_customer_key_rows(rows)
            fresh = [r for r in rows if r["code"] is None]
            for r, c in zip(fresh, self.next_codes("customer", len(fresh))):
                r["code"] = c
            ids = self._insert_many("customer", rows, checked=True)
            self._insert_many("owner_history", [  # values that need no check: ids just written
                {"customer_id": cid, "owner_id": r["owner_id"], "from_date": r["created_at"], "to_date": None,
                 "reason": "新建客户"} for cid, r in zip(ids, rows)], checked=True)
        return ids

    def _check_assignable(self, owner_id: int) -> None:
        """A 一般人员 assigns records only to themselves; a 主管 within their department tree."""
        if self.is_system or owner_id == self.user_id:
            return
        owners = self._scope_owner_ids()
        if owners is not None and owner_id not in owners:
            emp = self.store.get("employee", owner_id)
            from ..errors import PermissionDeniedError

            raise PermissionDeniedError(field="owner_id", value=owner_id, label="负责人",
                                        allowed="本人数据范围内的员工",
                                        reason=f"{self._who()} 不能把记录指派给 {emp['name']}（不在其数据范围内）")

    @atomic
    def update_customer(self, customer_id: int, *, allow_duplicate: bool = False, **fields: Any) -> None:
        """Change customer fields (not owner, code or lifecycle: those have their own operations).

        A new name, phone or e-mail that another customer already has is refused (as in
        :meth:`create_customer`) unless ``allow_duplicate=True``.
        """
        current = self._check_customer(customer_id, "update")
        current = {k: current[k] for k in CUSTOMER_FIELDS}
        for k in schema.dictionary_columns("customer"):
            if k in current:
                current[k] = self.store.dictionary_value(current[k])
        values = self._clean_customer(dict(fields), current=current)
        dup_keys = {k: values[k] for k in ("name", "phone", "email") if k in values and values[k] != current.get(k)}
        if values.get("kind", current.get("kind")) == "企业" and current.get("kind") != "企业":
            dup_keys["name"] = values.get("name", current.get("name"))  # an individual's name becomes a company's key
        if "kind" in values and self.store.dialect == "postgresql":
            # every key of the customer after the change (its phone and e-mail too, by id where
            # the login reads them masked) locked in one ascending call, before the check
            with self.store.transaction() as conn:
                self._lock_customer_keys(conn, customer_id, values)
        if dup_keys and not allow_duplicate:
            self._refuse_duplicates({**dup_keys, "kind": values.get("kind", current.get("kind"))}, exclude=[customer_id])
        self._update("customer", customer_id, values)

    @atomic
    def set_lifecycle(self, customer_id: int, lifecycle: str, *, reason: str | None = None,
                      date: dt.date | str | None = None) -> None:
        """Move a customer's lifecycle (潜在 → 签约 → 重复购买, any → 失效 with a 流失原因)."""
        cust = self._check_customer(customer_id, "update")
        check_transition("lifecycle", cust["lifecycle"], lifecycle, field="lifecycle", table="customer")
        values: dict[str, Any] = {"lifecycle": lifecycle, "lifecycle_date": date or self.today}
        if lifecycle == "失效":
            if reason is None:
                raise RequiredFieldError(field="lost_reason", value=None, label="流失原因",
                                         allowed=self.store.dictionary_values("lost_reason"))
            values["lost_reason"] = reason
        else:
            values["lost_reason"] = None
        self._update("customer", customer_id, values, action="状态变更")

    @atomic
    def apply_churn_rule(self, as_of: dt.date | str | None = None) -> list[int]:
        """The CRM's churn rule: a customer who used to buy and has not ordered for 180 days
        (``reference.OBSERVABLE["churned"]``) is set to 失效 with reason 180天未下单.

        Only customers the acting user may update are considered; already 失效 and never-buying
        customers are left alone. Returns the ids set to 失效 (all in one transaction).
        """
        day = pd.Timestamp(as_of or self.today).normalize()
        limit = int(reference.OBSERVABLE["churned"]["inactivity_days"])
        cust = self.customers()
        cust = cust[cust["lifecycle"].isin(["签约", "重复购买"])]
        orders = self.store.read("sales_order", columns=["customer_id", "order_date", "approval"])
        orders = orders[(orders["approval"] != "否决") & (orders["order_date"] <= day)]
        last = orders.groupby("customer_id")["order_date"].max()
        gap = (day - last.reindex(cust["id"].to_numpy())).dt.days
        due = cust["id"].to_numpy()[(gap > limit).to_numpy()]
        reason = reference.DICTIONARIES["lost_reason"]["default"]
        with self.store.transaction():
            for cid in due:
                self.set_lifecycle(int(cid), "失效", reason=reason, date=day.date())
        return [int(c) for c in due]

    def customers(self, *, labels: bool = False) -> pd.DataFrame:
        """The customers the acting user may see (not deleted), as a DataFrame."""
        return self.list("customer", labels=labels)

    @atomic
    def transfer_customer(self, customer_id: int, new_owner: int | str, *, reason: str | None = None) -> None:
        """Hand a customer to another (active) employee; the owner history keeps both periods."""
        cust = self._check_customer(customer_id, "update")
        owners = self._scope_owner_ids()
        if owners is not None and cust["owner_id"] not in owners:
            raise PermissionDeniedError(
                field="customer_id", value=customer_id, label="客户", table="customer",
                allowed="本人负责或在本人数据范围内的客户（共享来的客户不能转移）",
                reason=f"{self._who()} 只是共享得到这个客户，不能转移它的负责人；请联系负责人或其主管")
        owner_id = self._employee_id(new_owner)
        self._check_assignable(owner_id)
        if owner_id == cust["owner_id"]:
            raise ValidationError(field="owner_id", value=new_owner, label="负责人", allowed="另一位在职员工",
                                  reason="新负责人与当前负责人相同")
        t = tbl("owner_history")
        now = self.now
        with self.store.transaction() as conn:
            for hid in conn.execute(select(t.c.id).where(t.c.customer_id == customer_id, t.c.to_date.is_(None))).scalars():
                self._update("owner_history", hid, {"to_date": now})
            self._update("customer", customer_id, {"owner_id": owner_id})
            self._insert("owner_history", {"customer_id": customer_id, "owner_id": owner_id, "from_date": now,
                                           "reason": reason or "转移负责人"})

    @atomic
    def share_customer(self, customer_id: int, employee: int | str) -> int:
        """Let a colleague see and work on a customer (customer_share); returns the share id."""
        cust = self._check_customer(customer_id, "update")
        emp_id = self._employee_id(employee, field="employee_id", label="共享给")
        if emp_id == cust["owner_id"]:
            raise ValidationError(field="employee_id", value=employee, label="共享给",
                                  allowed="负责人以外的在职员工", reason="负责人本来就能看到该客户")
        if self.store.count("customer_share", customer_id=customer_id, employee_id=emp_id):
            raise DuplicateError(field="employee_id", value=employee, label="共享给",
                                 allowed="尚未共享的员工", reason="该客户已共享给此员工")
        return self._insert("customer_share", {"customer_id": customer_id, "employee_id": emp_id,
                                               "shared_at": self.now, "shared_by": self.user_id})

    @atomic
    def unshare_customer(self, customer_id: int, employee: int | str) -> None:
        """Stop sharing a customer with a colleague."""
        self._check_customer(customer_id, "update")
        emp_id = self._employee(employee, field="employee_id", label="共享给")["id"]
        t = tbl("customer_share")
        with self.store.transaction() as conn:
            sid = conn.execute(select(t.c.id).where(t.c.customer_id == customer_id, t.c.employee_id == emp_id)).scalar()
            if sid is None:
                raise ValidationError(field="employee_id", value=employee, label="共享给",
                                      allowed="已共享的员工", reason="该客户没有共享给此员工")
            conn.execute(delete(t).where(t.c.id == sid))
            self._audit(conn, "删除", "customer_share", sid, "employee_id", emp_id, None)

    @atomic
    def delete_customer(self, customer_id: int) -> None:
        """Mark a customer deleted (kept for history; needs the 删除 right)."""
        self._check_customer(customer_id, "delete")
        self._update("customer", customer_id, {"deleted": True}, action="删除")

    # -- duplicates and merge ------------------------------------------------------------------

    def duplicate_report(self, *, by: Iterable[str] = ("name", "phone", "email")) -> pd.DataFrame:
        """Groups of customers (visible to the user) that look like the same customer.

        Two customers fall in one group when their normalised names (:func:`normalise_name`),
        phones or e-mails are equal (groups are closed under "shares one of these").

        Returns:
            DataFrame with columns ``group, customer_id, code, name, phone, email, owner_id,
            matched_on`` (one row per customer in a group of two or more; ``matched_on`` lists
            the fields it shares with the group).
        """
        by = tuple(by)
        for b in by:
            if b not in ("name", "phone", "email"):
                raise UnknownValueError(field="by", value=b, label="比较字段", allowed=("name", "phone", "email"))
        # only the columns shown; keys grouped by pandas, and only the customers whose key repeats
        # go through the union-find below (a few thousand of 100,000 on a large world)
        # (the customers the user may see; a scope that holds every customer is left out of the query)
        with self._traced("list", "customer"):
            self._require(TABLE_MODULE["customer"], "read")
        c = self.store.read("customer", columns=["id", "code", "name", "phone", "email", "owner_id"],
                            condition=self.lean_read_condition("customer"), order_by="id")
        keys = {"name": normalise_names(c["name"]), "phone": c["phone"], "email": c["email"].str.lower()}
        # a classroom login reading phones or e-mails masked cannot compare them (two masks alike
        # are not the same number): those fields are left out
        by = tuple(b for b in by if f"customer.{b}" not in self.store.masked_by_database)
        ids = c["id"].astype("int64").to_numpy()
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        matched: dict[int, set[str]] = {}
        for field in by:
            key = keys[field]
            usable = _texts(key) & key.fillna("").astype(object).ne("").to_numpy(dtype=bool)
            repeated = usable & key.duplicated(keep=False).to_numpy(dtype=bool)
            if not repeated.any():
                continue
            # each repeated key's customers in row order, the keys in order of first appearance:
            # every customer joins the first customer of its key
            members = ids[repeated]
            codes = pd.factorize(key.to_numpy()[repeated])[0]
            first = members[pd.Series(np.arange(len(codes))).groupby(codes).transform("first").to_numpy()]
            order = np.argsort(codes, kind="stable")
            for m, f in zip(members[order].tolist(), first[order].tolist()):
                matched.setdefault(m, set()).add(field)
                parent[find(m)] = find(f)
        c = c[c["id"].isin(list(matched))]
        c = c.assign(root=[find(int(i)) for i in c["id"]])
        c = c.sort_values(["root", "id"])
        group_no = {r: n + 1 for n, r in enumerate(dict.fromkeys(c["root"]))}
        out = pd.DataFrame({
            "group": c["root"].map(group_no).astype("int64"),
            "customer_id": c["id"].astype("int64"), "code": c["code"], "name": c["name"], "phone": c["phone"],
            "email": c["email"], "owner_id": c["owner_id"],
            "matched_on": ["、".join(sorted(matched[int(i)])) for i in c["id"]],
        })
        return out.reset_index(drop=True)

    @atomic
    def merge_customers(self, keep_id: int, merge_ids: int | Iterable[int]) -> dict[str, int]:
        """Merge duplicate customers into ``keep_id`` without losing any related record.

        Every row that refers to a merged customer (contacts, leads, opportunities, quotes,
        orders, activities, care, service requests, complaints, return visits, surveys, campaign
        members, shares, owner history …) is moved to the kept customer; the kept customer's
        empty fields are filled from the merged ones (in the order given); merged customers
        are marked ``deleted`` with ``merged_into = keep_id``. A share or campaign membership
        that the kept customer already has is not duplicated (the unique pair is kept once,
        and the dropped row is written to the audit log). A merged 主联系人 becomes 联系人
        when the kept customer already has one.

        Returns:
            ``{table: number of rows moved}``.
        """
        merge_ids = [merge_ids] if isinstance(merge_ids, int) else list(merge_ids)
        if not merge_ids:
            raise RequiredFieldError(field="merge_ids", value=merge_ids, label="被合并客户",
                                     allowed="至少一个其他客户编号")
        keep = self._check_customer(keep_id, "update", field="keep_id")
        merged_rows = []
        for mid in merge_ids:
            if mid == keep_id or merge_ids.count(mid) > 1:
                raise ValidationError(field="merge_ids", value=mid, label="被合并客户",
                                      allowed="与保留客户不同、且不重复的客户编号")
            merged_rows.append(self._check_customer(mid, "delete", field="merge_ids"))
        refs = [(t.name, fk.parent.name) for t in schema.metadata.sorted_tables for fk in t.foreign_keys
                if fk.column.table.name == "customer" and t.name != "customer"]
        unique_pairs = {"customer_share": "employee_id", "campaign_member": "campaign_id"}
        moved: dict[str, int] = {}
        with self.store.transaction() as conn:
            has_primary = self.store.count("contact", customer_id=keep_id, status="主联系人") > 0
            for m in merged_rows:
                for table, column in refs:
                    t = tbl(table)
                    ids = list(conn.execute(select(t.c.id).where(t.c[column] == m["id"]).order_by(t.c.id)).scalars())
                    for rid in ids:
                        if table in unique_pairs:
                            other = unique_pairs[table]
                            value = conn.execute(select(t.c[other]).where(t.c.id == rid)).scalar()
                            clash = conn.execute(select(t.c.id).where(t.c[column] == keep_id, t.c[other] == value)).first()
                            if clash is not None or (table == "customer_share" and value == keep["owner_id"]):
                                conn.execute(delete(t).where(t.c.id == rid))
                                self._audit(conn, "合并", table, rid, column, m["id"], f"与客户 {keep_id} 的记录重复，删除")
                                continue
                        conn.execute(update(t).where(t.c.id == rid).values({column: keep_id}))
                        self._audit(conn, "合并", table, rid, column, m["id"], keep_id)
                        moved[table] = moved.get(table, 0) + 1
                        if table == "contact":
                            status = conn.execute(select(t.c.status).where(t.c.id == rid)).scalar()
                            if status == "主联系人" and has_primary:
                                self._update("contact", rid, {"status": "联系人"}, action="合并")
                            elif status == "主联系人":
                                has_primary = True
                fill = {}
                current = self.store.get("customer", keep_id, resolve=False)
                for k in CUSTOMER_FIELDS + ("first_contract_date",):
                    if f"customer.{k}" in self.store.masked_by_database:
                        continue  # a classroom login reads it masked: the merged record keeps it
                    if current.get(k) is None and m.get(k) is not None:
                        fill[k] = m[k]
                if fill:
                    self._update("customer", keep_id, fill, action="合并")
                self._update("customer", m["id"], {"deleted": True, "merged_into": keep_id}, action="合并")
        return moved

    # -- contacts ---------------------------------------------------------------------------

    def _clean_contact(self, values: dict[str, Any]) -> dict[str, Any]:
        loc = locale()
        refuse_nan("contact", values)
        for key in values:
            if key not in CONTACT_FIELDS:
                raise UnknownValueError(field=key, value=values[key], label="字段名", table="contact",
                                        allowed=CONTACT_FIELDS, reason="不是可直接修改的联系人字段")
        out = dict(values)
        for key in ("mobile", "phone", "email"):
            if key in out and _missing(out[key]):
                out[key] = None
        if out.get("mobile") is not None:
            out["mobile"] = loc.validate_mobile(out["mobile"])
        if out.get("phone") is not None:
            out["phone"] = normalise_phone(out["phone"], label="办公电话")
        if out.get("email") is not None:
            out["email"] = loc.validate_email(out["email"])
        if isinstance(out.get("birthday"), (str, dt.date)) and not _missing(out.get("birthday")):
            bday = self.store.validate("contact", {"birthday": out["birthday"]}, partial=True)["birthday"]
            if bday > self.today or bday.year < 1900:
                raise ValidationError(field="birthday", value=out["birthday"], label="生日",
                                      allowed=f"1900-01-01 至 {self.today.isoformat()} 之间的日期")
        return out

    @atomic
    def add_contact(self, customer_id: int, name: str, *, primary: bool | None = None, **fields: Any) -> int:
        """Add a contact person to a customer; returns the contact id.

        The first contact of a customer becomes its 主联系人 (main contact); ``primary=True``
        makes the new one the main contact and the previous one an ordinary 联系人.

        Args:
            customer_id: the customer.
            name: the person's name.
            primary: make this the main contact (default: only if the customer has none).
            **fields: gender, title, department, mobile, phone, email, birthday, buying_role.
        """
        self._check_customer(customer_id, "create", module="contact")
        values = self._clean_contact(dict(fields, name=name))
        t = tbl("contact")
        with self.store.transaction() as conn:
            current = list(conn.execute(select(t.c.id).where(t.c.customer_id == customer_id,
                                                              t.c.status == "主联系人")).scalars())
            make_primary = (not current) if primary is None else bool(primary)
            row = {**values, "customer_id": customer_id, "status": "主联系人" if make_primary else "联系人",
                   "created_at": self.now}
            self.store.validate("contact", row)
            if make_primary:
                for cid in current:
                    self._update("contact", cid, {"status": "联系人"}, action="状态变更")
            return self._insert("contact", row)

    @atomic
    def update_contact(self, contact_id: int, **fields: Any) -> None:
        """Change a contact's fields."""
        self._check_row("contact", contact_id, "update", field="contact_id")
        self._update("contact", contact_id, self._clean_contact(dict(fields)))

    @atomic
    def set_contact_status(self, contact_id: int, status: str) -> None:
        """主联系人 / 联系人 / 离职 along the contact state machine (one 主联系人 per customer)."""
        row = self._check_row("contact", contact_id, "update", field="contact_id")
        check_transition("contact_status", row["status"], status, table="contact")
        t = tbl("contact")
        with self.store.transaction() as conn:
            if status == "主联系人":
                for cid in conn.execute(select(t.c.id).where(t.c.customer_id == row["customer_id"],
                                                             t.c.status == "主联系人")).scalars():
                    self._update("contact", cid, {"status": "联系人"}, action="状态变更")
            self._update("contact", contact_id, {"status": status}, action="状态变更")

    def contacts(self, customer_id: int | None = None, *, labels: bool = False) -> pd.DataFrame:
        """Contacts the acting user may see (of one customer when given)."""
        if customer_id is not None:
            self._check_customer(customer_id, "read", module="contact")
            return self.list("contact", labels=labels, where={"customer_id": customer_id})
        return self.list("contact", labels=labels)
