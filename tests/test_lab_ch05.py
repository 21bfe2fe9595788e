"""ch05 lab: reference functions against hand-worked computations, the export check and hints."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from pathlib import Path

import pytest

from simcrm import generate
from simcrm.crm import CRM
from simcrm.lab.chapters import ch05
from simcrm.lab.questions import Context, evaluate, get_question
from simcrm.locales import get_locale
from simcrm.store import Store


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    path = tmp_path_factory.mktemp("ch05") / "world.sqlite"
    w = generate(seed=77, customers=200, db=str(path))
    ch05.prepare_world(w)
    return w


def _me(store):
    from simcrm.lab.session import pick_employee

    return pick_employee(store, "主管")


@pytest.fixture()
def ctx(world, tmp_path):
    """A context whose student store is a fresh copy of the world (operations stay local)."""
    from simcrm.lab.session import _copy_sqlite

    copy = tmp_path / "student.sqlite"
    _copy_sqlite(Path(world.store.engine.url.database), copy)
    student = Store(copy, create=False)
    yield Context(pristine=world.store, store=student, world=world, me=_me(world.store), chapter="ch05")
    student.close()


def test_prepare_world_makes_dirt_mostly_in_one_group(world):
    zh = get_locale()
    contact = world.store.read("contact")
    bad = contact["mobile"].isna() | contact["mobile"].astype(str).str.strip().eq("") | ~zh.mobile_valid(contact["mobile"])
    assert bad.sum() > 0
    by = ch05._quality_by_department(Context(pristine=world.store, store=world.store, world=world))
    dirty = world.store.read("department").set_index("id").loc[ch05.dirty_department(world.store, world.seed), "name"]
    assert by.sort_values("bad_rate").iloc[-1]["department"] == dirty


def test_quality_matches_hand_count(ctx):
    zh = get_locale()
    c = ctx.pristine.read("contact")
    rows = c.to_dict("records")

    def missing(v):
        return v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == ""

    mobile_missing = sum(missing(r["mobile"]) for r in rows)
    mobile_invalid = sum(not missing(r["mobile"]) and not bool(zh.mobile_valid(pd.Series([r["mobile"]]))[0]) for r in rows)
    seen, dups = set(), 0
    for r in rows:
        k = (r["customer_id"], r["name"], str(r["mobile"]))
        dups += k in seen
        seen.add(k)
    q = ch05._quality_dict(ctx)
    assert q["rows"] == len(rows)
    assert q["mobile_missing"] == mobile_missing
    assert q["mobile_invalid"] == mobile_invalid
    assert q["duplicate_contacts"] == dups


def test_quality_hints(ctx):
    q = get_question("ch05.quality")
    expected = q.func(ctx)
    c = ctx.pristine.read("contact")
    na_only = dict(expected, mobile_missing=int(c["mobile"].isna().sum()))
    if na_only["mobile_missing"] != expected["mobile_missing"]:
        assert "空字符串" in evaluate("ch05.quality", ctx, na_only).hint
    keep_false = dict(expected, duplicate_contacts=int(c.duplicated(["customer_id", "name", "mobile"], keep=False).sum()))
    assert "keep" in evaluate("ch05.quality", ctx, keep_false).hint
    assert evaluate("ch05.quality", ctx, expected).ok


def test_archive_by_hand(ctx):
    arch = ch05._archive(ctx)
    assert len(arch) == ch05.ARCHIVE_TOP
    orders = ctx.pristine.read("sales_order")
    today = pd.Timestamp(ctx.world.today)
    ok = orders[(orders["approval"] == "同意") & (orders["order_date"] <= today)]
    first = arch.iloc[0]
    mine = ok[ok["customer_id"] == first["customer_id"]]
    assert first["orders"] == len(mine)
    assert first["sales"] == pytest.approx(mine["total_amount"].sum(), abs=0.01)
    assert first["sales"] == pytest.approx(max(ok.groupby("customer_id")["total_amount"].sum()), abs=0.01)
    pays = ctx.pristine.read("payment")
    paid = pays[pays["order_id"].isin(orders.loc[orders["customer_id"] == first["customer_id"], "id"])]["amount"].sum()
    assert first["paid"] == pytest.approx(paid, abs=0.01)
    # counting every order (not only approved) is named in the hint when it changes the top 10
    wrong = arch.copy()
    wrong["paid"] = wrong["sales"]
    if not np.allclose(arch["paid"], arch["sales"]):
        assert "回款" in evaluate("ch05.archive", ctx, wrong).hint


def test_masks_match_rules(ctx):
    m = ch05._masked(ctx)
    cust = ctx.pristine.read("customer").set_index("id")
    row = m[m["id_number"] != ""].iloc[0]
    raw = cust.loc[row["id"], "id_number"]
    assert row["id_number"] == raw[:6] + "********" + raw[-4:]
    raw_phone = cust.loc[row["id"], "phone"]
    assert row["phone"] == raw_phone[:3] + "****" + raw_phone[-4:]
    wrong = m.copy()
    present = wrong["id_number"] != ""
    wrong.loc[present, "id_number"] = wrong.loc[present, "id_number"].str[:3] + "***" + wrong.loc[present, "id_number"].str[6:]
    assert "前 6 位" in evaluate("ch05.masked", ctx, wrong).hint
    nan_version = m.replace("", np.nan)
    assert "空字符串" in evaluate("ch05.masked", ctx, nan_version).hint


def test_aging_and_credit_by_hand(ctx):
    """A small hand-worked order checks the FIFO rules the references rely on."""
    plans = pd.DataFrame({"order_id": [1, 1, 1], "customer_id": [9, 9, 9],
                          "due_date": pd.to_datetime(["2025-09-01", "2025-10-01", "2025-12-01"]),
                          "amount": [100.0, 100.0, 100.0]})
    pays = pd.DataFrame({"order_id": [1, 1], "paid_date": pd.to_datetime(["2025-09-11", "2025-11-01"]),
                         "amount": [100.0, 50.0]})
    from simcrm.analytics import credit_behaviour, receivables_aging

    aging = receivables_aging(plans, pays, as_of="2025-12-31")
    # instalment 2: 50 unpaid, 91 days overdue; instalment 3: 100 unpaid, 30 days overdue
    assert aging.loc[0, ">90"] == 50 and aging.loc[0, "0-30"] == 100
    cb = credit_behaviour(plans, pays, as_of="2025-12-31")
    # days late: 10, 91, 30 → mean 43.67; all three overdue → D
    assert cb.loc[0, "avg_days_late"] == pytest.approx((10 + 91 + 30) / 3)
    assert cb.loc[0, "grade"] == "D"
    ref = ch05._aging(ctx)
    assert (ref["total_overdue"] >= 0.01).all()
    assert np.allclose(ref[["0-30", "31-60", "61-90", ">90"]].sum(axis=1), ref["total_overdue"], atol=0.02)


def test_credit_hint_on_overdue_only_average(ctx):
    expected = get_question("ch05.credit").func(ctx)
    wrong = expected.copy()
    wrong["avg_days_late"] = wrong["avg_days_late"] * 2 + 1
    assert "按时付清" in evaluate("ch05.credit", ctx, wrong).hint
    assert evaluate("ch05.credit", ctx, expected).ok
    lower = get_question("ch05.lower_limit").func(ctx)
    grades = expected.set_index("customer_id")["grade"]
    rating = ctx.pristine.read("customer").set_index("id")["credit_rating"]
    assert all(grades[c] in ("C", "D") and rating[c] in ("AAA", "AA", "A") for c in lower)


def test_statistics_independent(ctx):
    region = get_question("ch05.region").func(ctx)
    cust = ctx.pristine.read("customer")
    assert region.set_index("province")["count"].to_dict() == cust["province"].value_counts().to_dict()
    contrib = get_question("ch05.contribution").func(ctx)
    assert contrib["share"].sum() == pytest.approx(1.0)
    assert contrib["cum_share"].iloc[-1] == pytest.approx(1.0)
    g = get_question("ch05.growth").func(ctx)
    a = g["amount"].to_numpy()
    assert g["growth_rate"].iloc[1] == pytest.approx((a[1] - a[0]) / a[0]) if a[0] else True


def test_export_check(ctx):
    res = evaluate("ch05.export", ctx, None)
    assert not res.ok and "还没有导出" in res.hint
    now = dt.datetime.combine(ctx.world.today, dt.time(9))
    CRM.system(ctx.store, now=now).export_customers(purpose=ch05.EXPORT_PURPOSE)
    assert "lab.admin" in evaluate("ch05.export", ctx, None).hint
    me = CRM(ctx.store, user=ctx.me["login"], now=now)
    me.export_customers(purpose="随便看看")
    assert "用途" in evaluate("ch05.export", ctx, None).hint
    me.export_customers(purpose=ch05.EXPORT_PURPOSE)
    assert evaluate("ch05.export", ctx, None).ok


def test_judgements_and_hints(ctx):
    assert evaluate("ch05.info_types", ctx, dict(ch05.INFO_TYPE_KEY)).ok
    wrong = dict(ch05.INFO_TYPE_KEY, **{"complaint.category": "行为信息"})
    assert "主动表达" in evaluate("ch05.info_types", ctx, wrong).hint
    assert evaluate("ch05.kind_fields", ctx, dict(ch05.KIND_FIELD_KEY)).ok
    assert not evaluate("ch05.analysis_kinds", ctx, {"S1": "A", "S2": "C", "S3": "B", "S4": "D"}).ok
