"""Admin rules that protect a re-run cell from doubling its effect."""

from __future__ import annotations

import pytest

from simcrm.crm import CRM
from simcrm.errors import DuplicateError
from simcrm.store import snapshot_equal


def test_sibling_departments_may_not_share_a_name(store):
    crm = CRM.system(store)
    hq = crm.add_department("总经理办公室")
    crm.add_department("销售部", parent=hq)
    before = store.snapshot()
    with pytest.raises(DuplicateError) as info:
        crm.add_department("销售部", parent=hq)
    assert info.value.field == "name" and "销售部" in str(info.value)
    assert snapshot_equal(before, store.snapshot()) == []
    other = crm.add_department("研发中心")
    assert crm.add_department("销售部", parent=other)  # same name elsewhere is fine
