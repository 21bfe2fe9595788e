"""Star schema and OLAP operations checked against plain pandas groupby."""

import numpy as np
import pandas as pd
import pytest

from simcrm.analytics import build_star_schema, dice, drilldown, olap_cube, rollup, slice_
from simcrm.errors import ColumnError, ConfigError


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(11)
    customer = pd.DataFrame({"id": [1, 2, 3, 4], "code": ["C1", "C2", "C3", "C4"],
                             "name": ["甲", "乙", "丙", "丁"], "kind": ["企业", "个人", "企业", "企业"],
                             "industry": ["制造业", "教育", "制造业", "金融业"],
                             "province": ["浙江省", "浙江省", "江苏省", "北京市"],
                             "city": ["杭州市", "宁波市", "南京市", "北京市"],
                             "owner_id": [1, 1, 2, 2], "level": ["A", "B", "A", "C"], "lifecycle": ["签约"] * 4})
    product = pd.DataFrame({"id": [1, 2, 3], "code": ["P1", "P2", "P3"], "name": ["茶", "杯", "壶"],
                            "category_id": [1, 2, 2], "unit": ["盒", "只", "只"],
                            "price": [30.0, 20.0, 80.0], "cost": [10.0, 8.0, 50.0], "status": ["正常"] * 3})
    category = pd.DataFrame({"id": [1, 2], "name": ["饮品", "器具"], "parent_id": [None, None]})
    employee = pd.DataFrame({"id": [1, 2], "name": ["张三", "李四"], "department_id": [1, 2], "role_type": ["一般人员"] * 2})
    department = pd.DataFrame({"id": [1, 2], "name": ["销售一部", "销售二部"], "parent_id": [None, None]})
    n_orders = 12
    orders = pd.DataFrame({"id": range(1, n_orders + 1), "code": [f"O{i}" for i in range(n_orders)],
                           "customer_id": rng.integers(1, 5, n_orders), "owner_id": rng.integers(1, 3, n_orders),
                           "order_date": pd.Timestamp("2024-11-01") + pd.to_timedelta(rng.integers(0, 200, n_orders), unit="D"),
                           "total_amount": 0.0, "status": "执行中", "approval": "同意", "shipping": "全部"})
    n_lines = 30
    qty = rng.integers(1, 5, n_lines)
    prod = rng.integers(1, 4, n_lines)
    lines = pd.DataFrame({"id": range(1, n_lines + 1), "order_id": rng.integers(1, n_orders + 1, n_lines),
                          "product_id": prod, "quantity": qty, "unit_price": product.set_index("id").loc[prod, "price"].to_numpy(),
                          "discount": 0.0, "tax_rate": 0.13})
    lines["amount"] = lines["quantity"] * lines["unit_price"]
    tables = {"sales_order": orders, "order_line": lines, "customer": customer, "product": product,
              "product_category": category, "employee": employee, "department": department}
    flat = (lines.merge(orders[["id", "customer_id", "owner_id", "order_date"]], left_on="order_id", right_on="id", suffixes=("", "_o"))
            .merge(customer[["id", "province", "city", "industry"]], left_on="customer_id", right_on="id", suffixes=("", "_c"))
            .merge(product[["id", "cost", "category_id"]], left_on="product_id", right_on="id", suffixes=("", "_p"))
            .merge(category.rename(columns={"id": "category_id", "name": "category"})[["category_id", "category"]], on="category_id"))
    flat["profit"] = flat["amount"] - flat["quantity"] * flat["cost"]
    flat["year"] = flat["order_date"].dt.year
    flat["quarter"] = flat["order_date"].dt.quarter
    return build_star_schema(tables), flat, tables


def test_fact_grain_and_dims(world):
    con, flat, tables = world
    assert con.execute("SELECT count(*) FROM fact_sales").fetchone()[0] == len(tables["order_line"])
    assert con.execute("SELECT count(*) FROM dim_region").fetchone()[0] == 4
    assert con.execute("SELECT sum(profit) FROM fact_sales").fetchone()[0] == pytest.approx(flat["profit"].sum())


def test_rollup_matches_pandas(world):
    con, flat, _ = world
    out = rollup(con, {"amount": "sum", "profit": "sum"}, ["province", "city"])
    detail = out.dropna(subset=["city"]).set_index(["province", "city"])
    expected = flat.groupby(["province", "city"])[["amount", "profit"]].sum()
    pd.testing.assert_frame_equal(detail.sort_index(), expected.sort_index(), check_dtype=False)
    sub = out[out["city"].isna() & out["province"].notna()].set_index("province")["amount"]
    pd.testing.assert_series_equal(sub.sort_index(), flat.groupby("province")["amount"].sum().sort_index(),
                                   check_dtype=False, check_names=False)
    grand = out[out["province"].isna()]["amount"].iloc[0]
    assert grand == pytest.approx(flat["amount"].sum())


def test_drilldown_slice_dice(world):
    con, flat, _ = world
    d = drilldown(con, "amount", ["year", "quarter"], where={"year": 2025}).set_index(["year", "quarter"])["amount"]
    e = flat[flat.year == 2025].groupby(["year", "quarter"])["amount"].sum()
    np.testing.assert_allclose(d.to_numpy(), e.to_numpy())
    s = slice_(con, "profit", ["category"], {"year": 2025}).set_index("category")["profit"]
    e = flat[flat.year == 2025].groupby("category")["profit"].sum()
    np.testing.assert_allclose(s.sort_index().to_numpy(), e.sort_index().to_numpy())
    dc = dice(con, {"quantity": "sum"}, ["industry"], {"province": ["浙江省", "江苏省"], "category": ["器具"]})
    e = flat[flat.province.isin(["浙江省", "江苏省"]) & (flat.category == "器具")].groupby("industry")["quantity"].sum()
    np.testing.assert_allclose(dc.set_index("industry")["quantity"].sort_index().to_numpy(), e.sort_index().to_numpy())


def test_cube_counts_and_totals(world):
    con, flat, _ = world
    cube = olap_cube(con, ["province", "category"], "amount")
    n_cells = flat.groupby(["province", "category"]).ngroups
    assert len(cube) == n_cells + flat.province.nunique() + flat.category.nunique() + 1
    by_cat = cube[cube.province.isna() & cube.category.notna()].set_index("category")["amount"]
    np.testing.assert_allclose(by_cat.sort_index().to_numpy(), flat.groupby("category")["amount"].sum().sort_index().to_numpy())


def test_bad_input(world):
    con, _, tables = world
    with pytest.raises(ColumnError) as info:
        rollup(con, "amount", ["planet"])
    assert info.value.field == "planet"
    with pytest.raises(ConfigError):
        slice_(con, "amount", ["year"], {"year": [2024, 2025]})
    bad = dict(tables)
    bad["customer"] = tables["customer"].drop(columns="province")
    with pytest.raises(ColumnError) as info:
        build_star_schema(bad)
    assert info.value.field == "province"
    missing = {k: v for k, v in tables.items() if k != "department"}
    with pytest.raises(ColumnError):
        build_star_schema(missing)


def test_region_level_comes_from_the_real_province_table(world):
    con = world[0] if isinstance(world, tuple) else world["con"] if isinstance(world, dict) else world
    got = dict(con.execute("SELECT province, region FROM dim_region").fetchall())
    # 浙江、江苏 belong to 华东 and 北京 to 华北 in the conventional seven regions
    assert got == {"浙江省": "华东", "江苏省": "华东", "北京市": "华北"}
