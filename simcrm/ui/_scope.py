"""A user's data scope as a SQL condition, so list screens can page in the database.

:meth:`simcrm.crm.CRM.list` filters a whole table in pandas; a list of 50,000 orders must
instead send ``WHERE … LIMIT … OFFSET`` to the database. :func:`scope_condition` builds the
same rule as ``CRM._visible_ids`` (owner in scope, or shared with the user; related tables
through their customer; leads by owner, unassigned ones visible) as one SQLAlchemy condition.
``tests/test_ui_list.py`` checks that both give the same rows for every user and table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, false, or_, select

from ..crm.base import PARENT, TABLE_MODULE
from ..store import schema

__all__ = ["scope_condition", "can_read"]


def _t(name: str):
    return schema.metadata.tables[name]


def scope_condition(crm: Any, table: str) -> Any:
    """The SQL condition selecting the rows of ``table`` that ``crm``'s user may see (``None``: all).

    Deleted (merged) customers are always left out, as ``crm.list`` does.
    """
    t = _t(table)
    cond = _visible(crm, table)
    if table == "customer":
        alive = t.c.deleted == false()
        return alive if cond is None else and_(cond, alive)
    return cond


def _visible(crm: Any, table: str) -> Any:
    if crm is None or crm.is_system:
        return None
    owners = crm._scope_owner_ids()  # the CRM's own rule for whose records are in scope
    if owners is None:
        return None
    t = _t(table)
    if table == "customer":
        share = _t("customer_share")
        shared = select(share.c.customer_id).where(share.c.employee_id == crm.user_id)
        return or_(t.c.owner_id.in_(sorted(owners)), t.c.id.in_(shared))
    if table == "lead":
        return or_(t.c.owner_id.is_(None), t.c.owner_id.in_(sorted(owners)))
    if table == "campaign" or table not in PARENT:
        return None
    column, parent = PARENT[table]
    parent_cond = _visible(crm, parent)
    if parent_cond is None:
        return None
    p = _t(parent)
    return t.c[column].in_(select(p.c.id).where(parent_cond))


def can_read(crm: Any, table: str) -> bool:
    """Whether ``crm``'s role has the read right on the module of ``table``."""
    return crm is None or crm.is_system or crm.can(TABLE_MODULE[table], "read")
