"""A user's data scope as a SQL condition, for the screens (list views page in the database).

The rule itself belongs to the CRM: :meth:`simcrm.crm.CRM.read_condition` (the data scope of
:meth:`~simcrm.crm.CRM.scope_condition`, and for customers "not deleted", as ``crm.list``
shows them). This module only adapts it to a screen that may have no CRM (a bare store).
"""

from __future__ import annotations

from typing import Any

from ..crm.base import TABLE_MODULE

__all__ = ["scope_condition", "can_read"]


def scope_condition(crm: Any, table: str) -> Any:
    """The SQL condition selecting the rows of ``table`` that ``crm``'s user may see (``None``: all).

    Deleted (merged) customers are always left out, as ``crm.list`` does.
    """
    if crm is None:
        return None
    return crm.read_condition(table)


def can_read(crm: Any, table: str) -> bool:
    """Whether ``crm``'s role has the read right on the module of ``table``."""
    return crm is None or crm.is_system or crm.can(TABLE_MODULE[table], "read")
