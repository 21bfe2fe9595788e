"""Every operation exercise survives a second try: a wrong or partial attempt, ``lab.undo(key)``,
the right answer, and the check passes — while every other exercise's data stays as it was.

Each chapter's solution notebook is run cell by cell (hidden tests left out) in one namespace,
as a kernel would; before the answer cells of each operation exercise a wrong attempt runs
first and its check must fail. At the end every operation check of the chapter runs again:
an undo that touched another exercise's rows would make that exercise fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from simcrm.errors import SimCRMError
from simcrm.lab.checks import CheckFailed
from simcrm.lab.questions import get_question

ROOT = Path(__file__).resolve().parent.parent

#: a wrong or partial first attempt at each operation exercise (runs before its answer cells)
WRONG = {
    "ch01.care": 'lab.crm.plan_care(profile["customer_id"], "售后回访", "年度客户回访", lab.today)  # wrong date',
    "ch02.org": 'lab.crm.add_department("西南销售组")  # no parent: a top-level department',
    "ch02.handover": """
_emp, _dept = lab.table("employee"), lab.table("department")
_south = _dept[_dept["name"] == "华南销售组"].iloc[0]
_reps = _emp[(_emp["department_id"] == _south["id"]) & (_emp["status"] == "正常") & (_emp["role_type"] == "一般人员")]
_leaving = _reps.sort_values(["hire_date", "id"]).iloc[0]
_cust = lab.table("customer")
for _cid in _cust.loc[(_cust["owner_id"] == _leaving["id"]) & ~_cust["deleted"], "id"][:3]:
    lab.crm.transfer_customer(int(_cid), int(_south["manager_id"]), reason="试一试")
lab.crm.leave(int(_leaving["id"]))  # most customers not handed over
""",
    "ch02.role": 'lab.crm.add_role("大客户专员", "一般人员", "本人")  # wrong data scope',
    "ch02.basics": """
lab.crm.add_dictionary_value("source", "短视频平台")
lab.crm.disable_dictionary_value("source", "短视频平台")  # the new value, not the rarest old one
""",
    "ch03.category": 'new_cat = lab.crm.add_category("智能办公本")  # no parent',
    "ch03.products": """
ink_id = lab.crm.create_product("电子墨水办公本", new_cat, model="EN-10", unit="台", price=29.99, cost=1850,
                                stock=40, stock_lower=15, stock_upper=120, warranty_months=12)
""",
    "ch03.discontinue": "lab.crm.discontinue_product(ink_id)  # the new product, not the slowest seller",
    "ch03.restock": 'lab.crm.stock_in(int(reorder["product_id"].iloc[0]), 1.0, note="补货")',
    "ch04.new_customer": """
cid = lab.crm.create_customer("星河数据科技有限公司", kind="企业", industry="信息技术服务", source="展会",
                              province="浙江省", city="杭州市", phone="0571-88886666")  # contact forgotten
""",
    "ch04.new_person": """
lab.crm.create_customer("林晓", kind="个人", source="展会", province="浙江省", city="宁波市", phone="13800571234")
""",
    "ch04.import": 'lab.crm.import_leads(leads, owner=lab.me["id"])  # duplicates imported too',
    "ch04.convert": """
_imp = lab.new_rows("lead")
for _lid in _imp.loc[~_imp["title"].isin(["总经理", "采购经理"]), "id"][:2]:
    lab.crm.qualify_lead(int(_lid))
    lab.crm.convert_lead(int(_lid), amount=50000)
""",
    "ch04.share": """
_emp = lab.table("employee")
_mgr = _emp[(_emp["department_id"] == lab.me["department_id"]) & (_emp["role_type"] == "主管") & (_emp["status"] == "正常")]
_mine = lab.table("customer").query("owner_id == @lab.me['id'] and not deleted").sort_values("id")
lab.crm.share_customer(int(_mine["id"].iloc[-1]), int(_mgr["id"].iloc[0]))
""",
    "ch05.export": 'lab.crm.export_customers(purpose="看看")',
}

_CHECK = re.compile(r'lab\.check\("([^"]+)"')
_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


def _cells(chapter: str) -> list[str]:
    path = next((ROOT / "solutions").glob(f"{chapter}_*/{chapter}_*.ipynb"))
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [_HIDDEN.sub("", "".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "code"]


def _run(code: str, ns: dict) -> None:
    exec(compile(code, "<cell>", "exec"), ns)  # noqa: S102 - the course's own solution cells


@pytest.mark.parametrize("chapter", ["ch01", "ch02", "ch03", "ch04", "ch05"])
def test_every_operation_exercise_survives_a_second_try(chapter, capsys):
    cells = _cells(chapter)
    operations = [k for c in cells for k in _CHECK.findall(c) if get_question(k).kind == "operation"]
    assert operations and set(operations) <= set(WRONG), operations
    from IPython.display import display

    ns: dict = {"display": display}  # what a kernel provides
    _run(cells[0].replace(f'start("{chapter}")', f'start("{chapter}", student="undo_{chapter}", quiet=True)'), ns)
    lab = ns["lab"]
    pending: list[str] = []  # answer cells since the last check
    tried: list[str] = []
    for cell in cells[1:]:
        keys = _CHECK.findall(cell)
        if not keys:
            pending.append(cell)
            continue
        key = keys[0]
        if get_question(key).kind == "operation":
            # the wrong attempt, its failing check, the undo
            before = {t: lab.table(t) for t in ("customer", "lead", "product", "department", "employee")}
            _run(WRONG[key], ns)
            with pytest.raises(CheckFailed) as failed:
                lab.check(key, None)
            assert failed.value.redo and any("lab.undo" in line for line in failed.value._render_traceback_())
            capsys.readouterr()
            lab.undo(key)
            said = capsys.readouterr().out
            assert f"已撤销练习 {key}" in said or key == "ch05.export", said
            for table, frame in before.items():  # the world is as it was before the attempt
                after = lab.table(table)
                assert after["id"].tolist() == frame["id"].tolist(), (key, table)
                assert after.drop(columns=[c for c in ("next_value",) if c in after]).equals(frame), (key, table)
            tried.append(key)
        for code in pending:
            _run(code, ns)
        pending = []
        _run(cell, ns)  # the check cell: raises if the redone exercise fails
    assert tried == operations
    # no undo touched another exercise's data: every operation still passes at the end
    for key in operations:
        lab.check(key, None)


def test_a_duplicate_from_the_students_own_attempt_says_how_to_redo():
    """ch04 exercise 1.1 run twice: the duplicate error names lab.undo, not allow_duplicate=True."""
    from simcrm.lab import start
    from simcrm.lab.session import _redo_hint

    lab = start("ch04", student="undo_dup", customers=300, quiet=True)
    lab.crm.create_customer("星河数据科技有限公司", kind="企业", industry="信息技术服务", source="展会",
                            province="浙江省", city="杭州市", phone="0571-88886666")
    with pytest.raises(CheckFailed):
        lab.check("ch04.new_customer", None)
    with pytest.raises(SimCRMError) as dup:
        lab.crm.create_customer("星河数据科技有限公司", kind="企业", industry="信息技术服务", source="展会",
                                province="浙江省", city="杭州市", phone="0571-88886666")
    hint = _redo_hint(dup.value)
    assert hint and 'lab.undo("ch04.new_customer")' in hint and "不要用 allow_duplicate" in hint
    shown = "\n".join(dup.value._render_traceback_())
    assert 'lab.undo("ch04.new_customer")' in shown
    # a customer of the generated world is not the student's: no such hint
    customers = lab.table("customer")
    other = customers[customers["kind"] == "企业"].iloc[0]
    with pytest.raises(SimCRMError) as dup2:
        lab.crm.create_customer(other["name"], kind="企业", province=other["province"], city=other["city"])
    assert _redo_hint(dup2.value) is None


def test_undo_refuses_when_a_later_exercise_uses_its_rows(capsys):
    """Undoing the import after converting some of its leads would orphan the conversion."""
    from simcrm.errors import ConfigError
    from simcrm.lab import start

    lab = start("ch04", student="undo_order", customers=300, quiet=True)
    import pandas as pd

    leads = pd.read_csv(lab.files.expo_leads, dtype=str, keep_default_na=False)
    lab.crm.import_leads(leads.head(5), owner=lab.me["id"])
    with pytest.raises(CheckFailed):
        lab.check("ch04.import", None)
    lead = int(lab.new_rows("lead")["id"].iloc[0])
    lab.crm.qualify_lead(lead)
    lab.crm.convert_lead(lead, amount=50000)
    with pytest.raises(CheckFailed):
        lab.check("ch04.convert", None)
    n_leads = len(lab.table("lead"))
    with pytest.raises(ConfigError) as info:
        lab.undo("ch04.import")
    assert 'lab.undo("ch04.convert")' in str(info.value)
    assert len(lab.table("lead")) == n_leads  # nothing changed
    lab.undo("ch04.convert")
    lab.undo("ch04.import")
    assert lab.new_rows("lead").empty and lab.new_rows("customer").empty and lab.new_rows("opportunity").empty
    with pytest.raises(ConfigError):
        lab.undo("ch04.dup_rows")  # a calculation writes nothing
