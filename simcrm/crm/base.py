"""The core every CRM module builds on: acting user, clock, rights, data scope, audited writes.

Not student-facing: students use :class:`simcrm.crm.CRM`. Every operation of every mixin
follows the same three steps: resolve and check the inputs (ids, rights, data scope, formats,
business rules), then write, writing ``audit_log`` rows for what changed. An operation that
writes is decorated with :func:`atomic`: all three steps run in ONE write transaction, so two
users at once can never both pass the same check (SQLite: ``BEGIN IMMEDIATE`` serialises
writers; PostgreSQL: :meth:`CRMBase._row` locks the rows it reads with ``FOR NO KEY UPDATE``, a
concurrent writer of the same row waits and then sees the committed state). Any error inside
the transaction rolls everything back; a transaction that lost a race is run again
(:meth:`simcrm.store.Store.atomic`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import numbers
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import (Column, DateTime, Integer, MetaData, String, Table, Text, and_, case, exists, false, func, insert,
                        not_, or_, select, true)
from sqlalchemy.exc import DBAPIError

from .. import reference
from ..errors import (
    NotFoundError,
    PermissionDeniedError,
    RequiredFieldError,
    SimCRMError,
    StateTransitionError,
    ValidationError,
)
from ..store import Store, schema
from ..store.store import ADVISORY_CUSTOMER_KEYS

#: the module of :data:`simcrm.reference.MODULES` that governs each table
TABLE_MODULE: dict[str, str] = {
    "dictionary": "system", "numbering_rule": "system", "department": "system", "role": "system",
    "role_right": "system", "employee": "system", "audit_log": "system", "export_log": "system",
    "product_category": "product", "product": "product", "stock_move": "product",
    "customer": "customer", "customer_share": "customer", "owner_history": "customer",
    "contact": "contact", "lead": "lead",
    "opportunity": "opportunity", "opportunity_stage_history": "opportunity", "quota": "opportunity",
    "quote": "quote", "quote_line": "quote",
    "sales_order": "order", "order_line": "order", "shipment": "order", "sales_return": "order",
    "return_line": "order",
    "payment_plan": "finance", "payment": "finance", "invoice": "finance", "refund": "finance",
    "credit_note": "finance",
    "activity": "activity", "care": "care",
    "sla_policy": "service", "service_request": "service", "return_visit": "service",
    "complaint": "complaint", "complaint_history": "complaint", "survey": "complaint",
    "complaint_policy": "complaint",
    "campaign": "campaign", "campaign_member": "campaign",
}

#: how a row of a table reaches its customer, for data-scope filtering: (column, parent table)
PARENT: dict[str, tuple[str, str]] = {
    "customer_share": ("customer_id", "customer"), "owner_history": ("customer_id", "customer"),
    "contact": ("customer_id", "customer"), "opportunity": ("customer_id", "customer"),
    "opportunity_stage_history": ("opportunity_id", "opportunity"),
    "quote": ("customer_id", "customer"), "quote_line": ("quote_id", "quote"),
    "sales_order": ("customer_id", "customer"), "order_line": ("order_id", "sales_order"),
    "shipment": ("order_id", "sales_order"), "payment_plan": ("order_id", "sales_order"),
    "payment": ("order_id", "sales_order"), "invoice": ("order_id", "sales_order"),
    "sales_return": ("order_id", "sales_order"), "return_line": ("return_id", "sales_return"),
    "refund": ("order_id", "sales_order"), "credit_note": ("order_id", "sales_order"),
    "activity": ("customer_id", "customer"), "care": ("customer_id", "customer"),
    "service_request": ("customer_id", "customer"), "complaint": ("customer_id", "customer"),
    "complaint_history": ("complaint_id", "complaint"), "return_visit": ("customer_id", "customer"),
    "survey": ("customer_id", "customer"), "campaign_member": ("customer_id", "customer"),
}

#: tables whose rows have a data scope (the customer, leads and every record of a customer)
_SCOPED = frozenset({"customer", "lead", *PARENT})

ACTIONS = {"create": "新建", "read": "查看", "update": "修改", "delete": "删除"}


#: who acted as whom (``as_user``, ``CRM.system``) and which attempts were refused. Kept in the
#: same database beside the world's tables but not one of them (created on first use): worlds,
#: datasets and snapshots are unchanged by it. Refused attempts cannot go to ``audit_log``: they
#: happen inside a transaction that is rolled back, so they are written after it, in their own.
ACCESS_LOG = Table(
    "access_log", MetaData(),
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("employee_id", Integer),            # who (None: the built-in system administrator)
    Column("acting_as", Integer),              # as whom (切换用户)
    Column("action", String(10), nullable=False),  # 切换用户 / 系统管理员 / 拒绝
    Column("operation", String(60)),
    Column("table_name", String(40)),
    Column("row_id", Integer),
    Column("detail", Text),
)


#: marks the memo of :meth:`CRMBase._remembering` (reads only), not that of a write batch
_READS = "_reads"

#: customer fields the duplicate rule compares (or that decide whether it looks at a row)
_CUSTOMER_KEYS = frozenset({"name", "kind", "phone", "email", "deleted"})


def atomic(method: Callable) -> Callable:
    """Run a CRM operation — its reads, checks, writes and audit rows — as one transaction.

    See :meth:`simcrm.store.Store.atomic` (joins an outer transaction; retries lost races).
    A refused attempt (:class:`PermissionDeniedError`) is written to :data:`ACCESS_LOG` after
    the transaction was rolled back.
    """

    @functools.wraps(method)
    def run(self, *args: Any, **kwargs: Any) -> Any:
        outer = self.store.in_write()
        try:
            return self.store.atomic(method, self, *args, **kwargs)
        except PermissionDeniedError as exc:
            if not outer:
                self._trace("拒绝", method.__name__, exc)
            raise

    return run


def tbl(name: str):
    return schema.metadata.tables[name]


def money(x: float) -> float:
    """Round an amount of yuan to cents (amounts are stored as floats)."""
    return float(round(float(x) + 0.0, 2))


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return str(value)


class CRMBase:
    """Shared state and helpers of :class:`~simcrm.crm.CRM` (see there for the public API)."""

    store: Store
    #: lookups remembered while a batch (an import chunk) runs in one transaction, else None
    _memo: dict[Any, Any] | None = None

    def __init__(self, store: Store, user: int | str | None = None, *,
                 now: Callable[[], dt.datetime] | dt.datetime | dt.date | None = None,
                 _system: bool = False):
        self.store = store
        if now is None:
            self._now: Callable[[], dt.datetime] = dt.datetime.now
        elif callable(now):
            self._now = now
        else:
            fixed = now if isinstance(now, dt.datetime) else dt.datetime(now.year, now.month, now.day, 9, 0)
            self._now = lambda: fixed
        self.is_system = _system
        self.user_id: int | None = None
        self._user: dict[str, Any] | None = None
        if not _system:
            if user is None:
                raise RequiredFieldError(field="user", value=None, label="当前用户",
                                         allowed="员工编号或登录名；系统初始化请用 CRM.system(store)")
            emp = self._employee(user, field="user", label="当前用户")
            if emp["status"] != "正常":
                raise PermissionDeniedError(
                    field="user", value=user, label="当前用户", allowed="在职（正常）员工",
                    reason=f"员工 {emp['name']}（{emp['login']}）已于 {emp['leave_date']} 离职，不能再操作 CRM")
            self.user_id = int(emp["id"])
            self._user = emp

    # -- identity and clock ----------------------------------------------------------------

    @classmethod
    def system(cls, store: Store, *, now=None):
        """A CRM acting as the built-in system administrator (setup and simulation).

        It bypasses module rights and data scope, never validation. Each call is recorded in
        :data:`ACCESS_LOG` (action 系统管理员, with the operating-system login and process).
        """
        crm = cls(store, None, now=now, _system=True)
        import getpass

        try:
            who = getpass.getuser()
        except Exception:  # noqa: BLE001 - no login name on this system
            who = "?"
        crm._trace("系统管理员", "CRM.system", detail=f"操作系统用户 {who}，进程 {os.getpid()}")
        return crm

    def as_user(self, user: int | str):
        """The same CRM (same store and clock) acting as another employee.

        Recorded in :data:`ACCESS_LOG` (action 切换用户: who switched, to whom).
        """
        crm = type(self)(self.store, user, now=self._now)
        self._trace("切换用户", "as_user", acting_as=crm.user_id, detail=f"{self._who()} → {crm._who()}")
        return crm

    def _trace(self, action: str, operation: str | None = None, error: Any = None, *, acting_as: int | None = None,
               detail: str | None = None) -> None:
        """Write one :data:`ACCESS_LOG` row in its own transaction (inside a write: in that one)."""
        values = {"at": self.now, "employee_id": self.user_id, "acting_as": acting_as, "action": action,
                  "operation": operation, "table_name": getattr(error, "table", None), "row_id": None,
                  "detail": detail if error is None else str(error).split("\n")[0][:500]}
        if error is not None and isinstance(getattr(error, "value", None), int) \
                and not isinstance(error.value, bool) and error.field != "module":
            values["row_id"] = int(error.value)
        try:
            if self.store.in_write():
                conn = self.store._active.get()
                ACCESS_LOG.create(conn, checkfirst=True)
                conn.execute(insert(ACCESS_LOG).values(**values))
                return
            with self.store.engine.begin() as conn:
                ACCESS_LOG.create(conn, checkfirst=True)
                conn.execute(insert(ACCESS_LOG).values(**values))
        except DBAPIError:  # a read-only world or a role without the right: the error itself stands
            pass

    @contextlib.contextmanager
    def _traced(self, operation: str, table: str | None = None, row_id: Any = None) -> Iterator[None]:
        """Record a refusal raised by the checks of a read (outside any write transaction)."""
        try:
            yield
        except PermissionDeniedError as exc:
            if not self.store.in_write():
                self._trace("拒绝", operation, exc)
            raise

    def access_log(self) -> pd.DataFrame:
        """Who acted as whom and every refused attempt (needs the 系统管理 read right)."""
        with self._traced("access_log"):
            self._require("system", "read")
        with self.store._reader() as conn:
            if not conn.dialect.has_table(conn, "access_log"):
                return pd.DataFrame(columns=[c.name for c in ACCESS_LOG.columns])
            rows = conn.execute(select(ACCESS_LOG).order_by(ACCESS_LOG.c.id)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=[c.name for c in ACCESS_LOG.columns])

    @property
    def now(self) -> dt.datetime:
        """The moment the CRM treats as "now" (the simulated clock when one was given)."""
        return self._now()

    @property
    def today(self) -> dt.date:
        """The date the CRM treats as today."""
        value = self._now()
        return value.date() if isinstance(value, dt.datetime) else value

    @property
    def user(self) -> dict[str, Any] | None:
        """The acting employee's row (``None`` for the system administrator)."""
        return dict(self._user) if self._user else None

    def _who(self) -> str:
        if self.is_system:
            return "系统管理员"
        u = self._user
        return f"员工 {u['name']}（{u['login']}，{u['role_type']}）"

    def __repr__(self) -> str:
        return f"CRM({self.store!r}, user={'system' if self.is_system else self._user['login']!r})"

    # -- lookups ---------------------------------------------------------------------------

    def _employee(self, ref: int | str, *, field: str = "employee", label: str = "员工",
                  active: bool = False) -> dict[str, Any]:
        """An employee by id or login; ``active=True`` refuses employees who have left."""
        t = tbl("employee")
        if isinstance(ref, bool) or ref is None or not isinstance(ref, (int, str)):
            raise NotFoundError(field=field, value=ref, label=label, allowed="员工编号（整数）或登录名")
        def look() -> Any:
            with self.store._reader() as conn:
                q = select(t).where(t.c.id == ref) if isinstance(ref, int) else select(t).where(t.c.login == ref)
                return conn.execute(q).mappings().first()

        row = self._remember(("employee", type(ref).__name__, ref), look)
        if row is None:
            raise NotFoundError(field=field, value=ref, label=label, allowed="已存在的员工编号或登录名")
        if active and row["status"] != "正常":
            raise ValidationError(field=field, value=ref, label=label, allowed="在职（正常）员工",
                                  reason=f"{row['name']} 已离职，不能再被指派")
        return dict(row)

    def _employee_id(self, ref, *, field="owner_id", label="负责人", active=True) -> int:
        return int(self._employee(ref, field=field, label=label, active=active)["id"])

    def _contact_of(self, customer_id: int, contact_id: int | None) -> None:
        """Refuse a contact that is not one of ``customer_id``'s (``None``: no contact, fine)."""
        if contact_id is not None and self._row("contact", contact_id, field="contact_id")["customer_id"] != customer_id:
            raise ValidationError(field="contact_id", value=contact_id, label="联系人", allowed=f"客户 {customer_id} 的联系人")

    def _row(self, table: str, row_id: Any, *, field: str | None = None, resolve: bool = False) -> dict[str, Any]:
        """A row by id; unknown ids and deleted customers are :class:`NotFoundError`."""
        label = f"{schema.table_label(table)}编号"
        field = field or f"{table}_id"
        if isinstance(row_id, bool) or not isinstance(row_id, (int,)) and not _is_int_like(row_id):
            raise NotFoundError(field=field, value=row_id, label=label, allowed=f"已存在的{label}（整数）")
        t = tbl(table)
        with self.store._reader() as conn:
            # inside a write: locked until commit (PostgreSQL), so the checks made on this row
            # still hold when the operation writes
            row = conn.execute(self.store.locked(select(t).where(t.c.id == int(row_id)))).mappings().first()
        if row is None:
            raise NotFoundError(field=field, value=row_id, label=label, allowed=f"已存在的{label}")
        out = dict(row)
        if table == "customer" and out["deleted"]:
            merged = f"，已合并到客户 {out['merged_into']}" if out["merged_into"] else ""
            raise NotFoundError(field=field, value=row_id, label=label, allowed=f"未删除的{label}",
                                reason=f"该客户已删除{merged}")
        if resolve:
            for name in schema.dictionary_columns(table):
                out[name] = self.store.dictionary_value(out[name])
        return out

    # -- rights and data scope -----------------------------------------------------------------

    def _role(self) -> dict[str, Any] | None:
        if self.is_system:
            return None
        return dict(self._remember(("role",), lambda: self.store.get("role", self._user["role_id"])))

    def _rights(self, module: str) -> dict[str, bool]:
        if self.is_system:
            return {a: True for a in ACTIONS}
        t = tbl("role_right")

        def look() -> Any:
            with self.store._reader() as conn:
                return conn.execute(select(t).where(t.c.role_id == self._user["role_id"], t.c.module == module)
                                    ).mappings().first()

        row = self._remember(("rights", module), look)
        if row is None:
            return {a: False for a in ACTIONS}
        return {a: bool(row[f"can_{a}"]) for a in ACTIONS}

    def can(self, module: str, action: str = "read") -> bool:
        """Whether the acting user's role grants ``action`` (create/read/update/delete) on ``module``."""
        return self._rights(module).get(action, False)

    def _require(self, module: str, action: str) -> None:
        if module not in reference.MODULES:
            raise ValidationError(field="module", value=module, label="模块", allowed=list(reference.MODULES))
        if not self.can(module, action):
            raise PermissionDeniedError(
                field="module", value=module, label="模块",
                allowed=f"角色在“{reference.MODULES[module]}”模块有“{ACTIONS[action]}”权限的员工",
                reason=f"{self._who()} 的角色没有“{reference.MODULES[module]}”模块的“{ACTIONS[action]}”权限")

    def _require_role(self, types: Iterable[str], what: str) -> None:
        if self.is_system:
            return
        types = tuple(types)
        if self._user["role_type"] not in types:
            raise PermissionDeniedError(field="role_type", value=self._user["role_type"], label="角色类型",
                                        allowed=types, reason=f"{self._who()} 不能{what}")

    def _scope_owner_ids(self) -> set[int] | None:
        """Employees whose records the acting user may see (``None``: everyone)."""
        if self.is_system:
            return None
        return self._remember(("scope_owners",), self._scope_owner_ids_now)

    def _scope_owner_ids_now(self) -> set[int] | None:
        scope = self._role()["data_scope"]
        if scope == "全部":
            return None
        if scope == "本人":
            return {self.user_id}
        depts = self._department_subtree(self._user["department_id"])
        emp = self.store.read("employee", columns=["id", "department_id"])
        return set(int(i) for i in emp.loc[emp["department_id"].isin(depts), "id"]) | {self.user_id}

    def _department_subtree(self, dept_id: int) -> set[int]:
        d = self.store.read("department", columns=["id", "parent_id"])
        children: dict[int, list[int]] = {}
        for i, p in zip(d["id"], d["parent_id"]):
            if not pd.isna(p):
                children.setdefault(int(p), []).append(int(i))
        out, todo = set(), [int(dept_id)]
        while todo:
            x = todo.pop()
            if x not in out:
                out.add(x)
                todo.extend(children.get(x, []))
        return out

    # The data-scope rule, ONE SQL condition (read by every list, screen, check and KPI):
    #   customer: owner in the user's scope (本人 / 本部门 subtree), or shared with the user;
    #   lead: owner in scope, or not assigned yet;
    #   a customer's records (contacts, orders, payments …): their parent row is in scope
    #   (PARENT, up to the customer);  other tables: no row-level scope (module rights only).

    def scope_condition(self, table: str) -> Any:
        """The SQL condition selecting the rows of ``table`` inside the user's data scope.

        ``None`` means every row (the system administrator, the data scope 全部, and tables
        without a row-level scope). Deleted (merged) customers are not excluded here; see
        :meth:`read_condition`. The same rule is enforced by PostgreSQL row-level security in a
        classroom world (:mod:`simcrm.store.pg_security`).
        """
        if table not in schema.metadata.tables:
            raise ValidationError(field="table", value=table, label="数据表", allowed=schema.TABLES)
        if self.is_system:
            return None
        owners = self._scope_owner_ids()
        if owners is None:
            return None
        return _scope_sql(table, sorted(owners), int(self.user_id))

    def read_condition(self, table: str, *, include_deleted: bool = False) -> Any:
        """:meth:`scope_condition` plus, for customers, "not deleted" (what :meth:`list` shows)."""
        cond = self.scope_condition(table)
        if table == "customer" and not (include_deleted and self.is_system):
            alive = tbl("customer").c.deleted == false()
            return alive if cond is None else and_(cond, alive)
        return cond

    def lean_read_condition(self, table: str) -> Any:
        """:meth:`read_condition`, without the data scope when it holds every customer of the
        world now (:meth:`sees_every_customer`) and ``table`` is the customers or a customer's
        records (:data:`PARENT` up to the customer): the same rows, and the database need not
        join them up to the customer. For aggregate reads (the dashboard, the funnel)."""
        cond = self.read_condition(table)
        if cond is None:
            return None
        name = table
        while name in PARENT:
            name = PARENT[name][1]
        if name != "customer" or not self.sees_every_customer():
            return cond
        return tbl("customer").c.deleted == false() if table == "customer" else None

    def _in_scope(self, table: str, row_id: int) -> bool:
        """Whether row ``row_id`` of ``table`` is inside the data scope (one ``EXISTS`` query)."""
        cond = self.scope_condition(table)
        if cond is None:
            return True
        t = tbl(table)
        with self.store._reader() as conn:
            return bool(conn.execute(select(exists().where(t.c.id == int(row_id), cond))).scalar())

    def _visible_customer_ids(self) -> set[int] | None:
        return self._visible_ids("customer")

    def _visible_ids(self, table: str) -> set[int] | None:
        """Ids of ``table`` rows inside the acting user's data scope (``None``: all rows).

        Prefer :meth:`scope_condition` in a query; this reads every id in scope.
        """
        cond = self.scope_condition(table)
        if cond is None:
            return None
        t = tbl(table)
        with self.store._reader() as conn:
            return set(int(i) for i in conn.execute(select(t.c.id).where(cond)).scalars())

    def _check_customer(self, customer_id: Any, action: str = "update", *, field: str = "customer_id",
                        module: str | None = None) -> dict[str, Any]:
        """The customer row, after checking rights on ``module`` and the data scope."""
        self._require(module or "customer", action if module is None else action)
        row = self._row("customer", customer_id, field=field)
        if not self._in_scope("customer", row["id"]):
            # neither the name nor the owner of a customer outside the scope is told
            raise PermissionDeniedError(
                field=field, value=customer_id, label="客户", table="customer",
                allowed="本人负责、共享给本人或在本人数据范围内的客户",
                reason=f"{self._who()} 不能{ACTIONS[action]}这个客户，它不在其数据范围（{self._role()['data_scope']}）内")
        return row

    def _check_row(self, table: str, row_id: Any, action: str = "update", *, field: str | None = None) -> dict[str, Any]:
        """A row of a customer-related table after checking module rights and data scope."""
        self._require(TABLE_MODULE[table], action)
        row = self._row(table, row_id, field=field)
        if not self._in_scope(table, row["id"]):
            raise PermissionDeniedError(
                field=field or f"{table}_id", value=row_id, label=schema.table_label(table),
                allowed="本人数据范围内的记录",
                reason=f"{self._who()} 不能{ACTIONS[action]}这条{schema.table_label(table)}：它所属的客户"
                       f"不在其数据范围（{self._role()['data_scope']}）内")
        if table != "customer" and row.get("customer_id") is not None:
            cust = tbl("customer")
            with self.store._reader() as conn:
                deleted = conn.execute(select(cust.c.deleted).where(cust.c.id == row["customer_id"])).scalar()
            if deleted:
                raise NotFoundError(field=field or f"{table}_id", value=row_id, label=schema.table_label(table),
                                    allowed="属于未删除客户的记录", reason="所属客户已删除（已合并）")
        return row

    # -- reading -------------------------------------------------------------------------------

    def list(self, table: str, *, labels: bool = False, where: Mapping[str, Any] | None = None,
             include_deleted: bool = False, order_by: str | Iterable[str] | None = None,
             descending: bool = False, limit: int | None = None, offset: int = 0,
             columns: Iterable[str] | None = None) -> pd.DataFrame:
        """Rows of ``table`` that the acting user may see, as a DataFrame.

        Filtering, sorting and paging run in the database (one ``SELECT`` with bound
        parameters and the data-scope condition of :meth:`scope_condition`), never on a
        whole table in Python.

        Args:
            table: a table name of :mod:`simcrm.store.schema`.
            labels: Chinese column labels instead of field names.
            where: ``{column: value}`` equality filters; a list, tuple or set of values means
                "one of these" (``IN``).
            include_deleted: also deleted (merged) customers (system administrator only).
            order_by: column(s) to sort by (default: ``id``); ``descending`` reverses them.
            limit, offset: at most ``limit`` rows, after skipping ``offset`` (pagination).
            columns: only these columns (default: all).
        """
        if table not in schema.metadata.tables:
            raise ValidationError(field="table", value=table, label="数据表", allowed=schema.TABLES)
        with self._traced("list", table):
            self._require(TABLE_MODULE[table], "read")
        frame = self.store.read(table, where=where, condition=self.read_condition(table, include_deleted=include_deleted),
                                order_by=order_by, descending=descending, limit=limit, offset=offset,
                                columns=None if columns is None else list(columns))
        frame = self._mask_read(table, frame)
        if labels:
            frame = frame.rename(columns=schema.labels(table))
        return frame

    def count(self, table: str, *, where: Mapping[str, Any] | None = None) -> int:
        """How many rows :meth:`list` would return (one ``SELECT COUNT(*)``, see :meth:`count_from`)."""
        if table not in schema.metadata.tables:
            raise ValidationError(field="table", value=table, label="数据表", allowed=schema.TABLES)
        with self._traced("count", table):
            self._require(TABLE_MODULE[table], "read")
        frm, cond = self.count_from(table)
        t = tbl(table)
        self.store._check_columns(t, where or {})
        q = self.store._filtered(select(func.count()).select_from(frm), t, where, cond)
        with self.store._reader() as conn:
            return int(conn.execute(q).scalar_one())

    def count_from(self, table: str) -> tuple[Any, Any]:
        """``(FROM clause, condition)`` to count the rows of ``table`` that :meth:`list` shows.

        For a record of a customer (:data:`PARENT`) seen by a user with a data scope, the FROM
        clause joins the table up its parent chain to the customer (each join is many-to-one:
        every row is counted once) and the condition is the customer's scope: the database can
        then count from the user's customers through the ``customer_id`` / ``order_id`` indexes,
        instead of testing every row with the correlated ``EXISTS`` of :meth:`read_condition`
        (one primary-key lookup per parent, per row: 1.6 s for a manager's 620,000 payments).
        Otherwise: the table itself and :meth:`read_condition`. When the user's scope holds
        every customer there is (:meth:`sees_every_customer`, e.g. a manager whose department
        owns them all), a customer's records need no condition: the table itself and ``None``.
        """
        cond = self.read_condition(table)
        if cond is None or table not in PARENT:
            return tbl(table), cond
        frm, child, name = tbl(table), tbl(table), table
        while name in PARENT:
            column, parent = PARENT[name]
            p = tbl(parent)
            frm = frm.join(p, p.c.id == child.c[column])
            child, name = p, parent
        if name == "customer" and self.sees_every_customer():
            return tbl(table), None
        return frm, self.scope_condition(name)

    def sees_every_customer(self) -> bool:
        """Whether the user's data scope holds every customer of the world now (deleted ones
        included): then the scope of a customer's records selects every row, and a read may
        leave it out. Asked of the database at each call (one pass over the customers at most;
        it stops at the first customer outside the scope), once inside :meth:`_remembering`."""
        scope = self.scope_condition("customer")
        if scope is None:
            return True
        c = tbl("customer")

        def now() -> bool:
            with self.store._reader() as conn:
                return conn.execute(select(c.c.id).where(not_(func.coalesce(scope, false()))).limit(1)).first() is None

        if self._memo is None or not self._memo.get(_READS):
            return now()  # inside a write batch too: its own writes may hand customers on
        return bool(self._remember(("every_customer",), now))

    def _mask_read(self, table: str, frame: pd.DataFrame) -> pd.DataFrame:
        """Hook for reads of tables whose values the role sees masked (see :mod:`.audit`)."""
        return frame

    # -- batches ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """Remember rights, scope, employees, defaults and checked ids while the block runs.

        For many rows checked and written inside ONE write transaction (an import chunk): what
        these lookups read cannot change before the transaction ends on SQLite (writers are
        serialised) and hardly on PostgreSQL, where the database constraints stay the last
        line of defence. Nothing is remembered past the block.
        """
        if self._memo is not None:
            yield
            return
        self._memo = {}
        try:
            with self.store.lookup_cache():
                yield
        finally:
            self._memo = None

    @contextlib.contextmanager
    def _remembering(self) -> Iterator[None]:
        """Remember the user's rights and scope lookups (:meth:`_remember`) while the block runs:
        for the several reads of one screen opening (the dashboard), which need not ask the
        database the same question each time. Nothing is remembered past the block."""
        if self._memo is not None:
            yield
            return
        self._memo = {_READS: True}
        try:
            yield
        finally:
            self._memo = None

    def _remember(self, key: Any, compute: Callable[[], Any]) -> Any:
        if self._memo is None:
            return compute()
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    # -- audited writes --------------------------------------------------------------------------

    def _audit(self, conn, action: str, table: str, row_id: int | None, field: str | None = None,
               old: Any = None, new: Any = None) -> None:
        if self.store.audited_by_database:  # a classroom world: the database's triggers audit
            return
        conn.execute(insert(tbl("audit_log")).values(
            at=self.now, employee_id=self.user_id, action=action, table_name=table, row_id=row_id,
            field=field, old_value=_text(old), new_value=_text(new)))

    def _insert(self, table: str, values: Mapping[str, Any]) -> int:
        """Validate and insert one row, with a 新建 audit row; returns its id."""
        with self.store.transaction() as conn:
            row_id = int(self.store.insert(table, dict(values)))
            self._audit(conn, "新建", table, row_id, None, None, _summary(table, values))
        return row_id

    def _insert_many(self, table: str, rows: list[dict[str, Any]], *, checked: bool = False) -> list[int]:
        """Insert rows in one statement, with one 新建 audit row each; returns their ids.

        ``checked=True``: the rows come from :meth:`Store.validate` already (database values);
        only their unique keys are checked again, together.
        """
        if not rows:
            return []
        with self.store.transaction() as conn:
            if checked:
                self.store._check_unique(table, rows, conn)
            ids = self.store.insert(table, rows if len(rows) > 1 else rows[0], validate=not checked)
            ids = ids if isinstance(ids, list) else [ids]
            now = self.now
            if self.store.audited_by_database:
                return ids
            conn.execute(insert(tbl("audit_log")), [
                {"at": now, "employee_id": self.user_id, "action": "新建", "table_name": table, "row_id": i,
                 "field": None, "old_value": None, "new_value": _text(_summary(table, r))}
                for i, r in zip(ids, rows)])
        return ids

    def _update(self, table: str, row_id: int, values: Mapping[str, Any], *, action: str = "修改") -> dict[str, Any]:
        """Validate and update one row, one audit row per changed field; returns the old values."""
        with self.store.transaction() as conn:
            if table == "customer" and not _CUSTOMER_KEYS.isdisjoint(values):
                self._lock_customer_keys(conn, row_id, values)
            old = self.store.update(table, row_id, dict(values))
            new = self.store.get(table, row_id, resolve=False)
            dict_cols = schema.dictionary_columns(table)
            for field, before in old.items():
                after = new[field]
                if _text(before) == _text(after):
                    continue
                if field in dict_cols:
                    before, after = self.store.dictionary_value(before), self.store.dictionary_value(after)
                self._audit(conn, "状态变更" if action == "状态变更" or field == "status" else action,
                            table, row_id, field, before, after)
        return old

    def _lock_customer_keys(self, conn: Any, row_id: int, values: Mapping[str, Any]) -> None:
        """Lock the duplicate-rule keys customer ``row_id`` has after ``values`` are written
        (PostgreSQL: :func:`simcrm.crm.customers.customer_keys`; a writer of a key waits for
        another writer of that key, whose duplicate check may be running, and for no one else).

        A customer brought back (``deleted`` from true to false) brings all its keys back into
        play: after locking them, they are checked again (:meth:`_refuse_duplicates`), on SQLite
        too. A phone or e-mail the login reads masked is locked and compared by the database
        (its clear value, by the customer's id)."""
        row = dict(values)
        # a new kind or deleted flag may bring every key of the row into play; else only the
        # keys written (a company name needs the kind)
        wanted = (("name", "kind", "phone", "email", "deleted") if {"kind", "deleted"} & set(values)
                  else ("kind",) if "name" in values else ())
        missing = [k for k in wanted if k not in row]
        c = tbl("customer")
        masked: list[str] = []
        have: Mapping[str, Any] = {}
        back = False
        if "deleted" in values and not values["deleted"]:
            back = bool(conn.execute(select(c.c.deleted).where(c.c.id == int(row_id))).scalar())
        if self.store.dialect != "postgresql" and not back:
            return
        if missing:
            have = conn.execute(
                select(*(c.c[k] for k in missing)).where(c.c.id == int(row_id))).mappings().first() or {}
            # a classroom login reading a phone or e-mail masked has no clear key to lock for it:
            # the database locks (and compares) the customer's own
            masked = [k for k in have if f"customer.{k}" in self.store.masked_by_database]
            row.update({k: v for k, v in have.items() if k not in masked})
        if row.get("deleted"):
            return
        record = ("customer", int(row_id)) if masked else None
        if back:  # locks its keys, then checks them
            self._refuse_duplicates({k: row.get(k) for k in ("name", "kind", "phone", "email") if k not in masked},
                                    exclude=[int(row_id)], record=record, read_as={k: have[k] for k in masked})
        else:
            self._lock_customer_key_rows([row], customers=[int(row_id)] if masked else ())

    def _lock_customer_key_rows(self, rows: list[dict[str, Any]], *, customers: Any = (), leads: Any = ()) -> int:
        """Lock the duplicate rule's keys of customer ``rows`` (normalised values), plus the
        phone/e-mail keys of existing ``customers`` and the mobile of ``leads`` whose values
        this login reads masked (a classroom world locks those by id, in the database:
        :meth:`Store.key_locks`); returns how many locks were newly taken."""
        from .customers import _key_hash, customer_keys

        return self.store.key_locks(ADVISORY_CUSTOMER_KEYS, customer_keys(rows), customers=customers, leads=leads,
                                    hash_pair=_key_hash)

    def _transition(self, table: str, row: Mapping[str, Any], machine: str, new: str, *,
                    field: str = "status", extra: Mapping[str, Any] | None = None) -> None:
        """Move ``row``'s state ``field`` to ``new`` if the state machine lists the change."""
        current = row[field]
        check_transition(machine, current, new, field=field, table=table)
        self._update(table, row["id"], {field: new, **(extra or {})}, action="状态变更")


def _scope_sql(table: str, owners: list[int], user_id: int, t: Any = None) -> Any:
    """The data-scope condition on ``table`` (or its alias ``t``) for a user seeing the records
    of ``owners``: a related row is in scope when its parent row is (a correlated ``EXISTS``
    up the :data:`PARENT` chain to the customer, one primary-key lookup per level)."""
    t = tbl(table) if t is None else t
    if table == "customer":
        share = tbl("customer_share")
        shared = select(share.c.customer_id).where(share.c.employee_id == user_id)
        return or_(t.c.owner_id.in_(owners), t.c.id.in_(shared))
    if table == "lead":
        return or_(t.c.owner_id.is_(None), t.c.owner_id.in_(owners))
    if table == "audit_log":
        # history of a scoped record only with the record; other tables' history as it is
        # (one test of the row's table picks its one subquery, as pg_security's policy)
        arms = []
        for name in sorted(_SCOPED):
            target = tbl(name)
            arms.append((t.c.table_name == name,
                         t.c.row_id.in_(select(target.c.id).where(_scope_sql(name, owners, user_id, target)))))
        return case(*arms, else_=true())
    if table not in PARENT:
        return None
    column, parent = PARENT[table]
    p = tbl(parent).alias(f"scope_{parent}")
    # EXISTS (SELECT id …), not SELECT *: in a classroom world a login may read only the key
    # columns of a parent outside its modules (pg_security.key_columns)
    return select(p.c.id).where(p.c.id == t.c[column], _scope_sql(parent, owners, user_id, p)).exists()


def check_transition(machine: str, current: str, new: str, *, field: str = "status", table: str | None = None) -> None:
    """Raise :class:`StateTransitionError` unless ``current → new`` is listed for ``machine``."""
    values = reference.state_values(machine)
    label = reference.STATES[machine]["label"]
    if new not in values:
        raise StateTransitionError(field=field, value=new, label=label, table=table, allowed=values,
                                   reason="不是已知的状态")
    if not reference.is_transition_allowed(machine, current, new):
        allowed = reference.allowed_transitions(machine, current)
        raise StateTransitionError(
            field=field, value=new, label=label, table=table,
            allowed=allowed or f"（“{current}”是终态，不能再变更）",
            reason=f"当前状态为“{current}”，不能变为“{new}”")


@functools.cache
def locale():
    """The locale validators and masks of simcrm's firm (zh_CN), from :mod:`simcrm.locales`."""
    from ..locales import get_locale

    return get_locale("zh_CN")


def is_number(value: Any) -> bool:
    """A finite real number: ``int``, ``float`` or a NumPy/pandas scalar (what a student computes
    with pandas), not a bool, NaN or infinity."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or type(value).__name__ == "bool_":
        return False
    try:
        return math.isfinite(value)
    except (TypeError, OverflowError):  # pragma: no cover - exotic Real types
        return False


def is_integer(value: Any) -> bool:
    """A whole number given as ``int`` or a NumPy integer (not a bool)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and type(value).__name__ != "bool_"


def refuse_nan(table: str, values: Mapping[str, Any]) -> None:
    """NaN given for a field is refused, not silently stored as empty (``None`` clears a field)."""
    for key, value in values.items():
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and value != value:
            raise ValidationError(field=key, value=value, label=schema.column_label(table, key) if key in tbl(table).c
                                  else None, table=table, reason="NaN（缺失值）不是数字",
                                  allowed="数字；要清空该字段请传 None")


def _is_int_like(value: Any) -> bool:
    try:
        import numpy as np

        return isinstance(value, np.integer)
    except ImportError:  # pragma: no cover
        return False


def _summary(table: str, values: Mapping[str, Any]) -> str:
    for key in ("code", "name", "subject", "invoice_no", "value"):
        if values.get(key):
            return str(values[key])
    return schema.table_label(table)


__all__ = ["ACCESS_LOG", "CRMBase", "atomic", "check_transition", "is_integer", "is_number", "refuse_nan", "money", "TABLE_MODULE", "PARENT", "SimCRMError"]
