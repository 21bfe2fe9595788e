"""Bulk import of customers and leads with a row-by-row report."""

from __future__ import annotations

import pandas as pd
import pytest

from simcrm.errors import ImportFileError

from crm_fixtures import small_world


@pytest.fixture
def world(store):
    return small_world(store)


def test_import_customers_csv_chinese_headers(world, tmp_path):
    w = world
    path = tmp_path / "客户.csv"
    pd.DataFrame({
        "客户名称": ["广州天河贸易有限公司", "深圳湾电子有限公司", "广州天河贸易股份有限公司", "赵六", "坏城市有限公司"],
        "客户类型": ["企业", "企业", "企业", "个人", "企业"],
        "省份": ["广东", "广东省", "广东", "北京", "广东"],
        "城市": ["广州市", "深圳市", "广州市", "北京市", "杭州市"],
        "电话": ["020-82345678", "", "", "13800001111", ""],
        "所属行业": ["批发和零售业", "制造业", "", "", "未知行业"],
    }).to_csv(path, index=False, encoding="utf-8-sig")
    before = w.store.count("customer")
    report = w.as_rep1.import_customers(path)
    assert list(report["row"]) == [2, 3, 4, 5, 6]
    assert list(report["accepted"]) == [True, True, False, True, False]
    assert report.loc[2, "field"] == "name" and "重复" in report.loc[2, "reason"]   # duplicate within the file
    assert report.loc[4, "field"] == "city"
    assert w.store.count("customer") == before + 3
    assert set(w.store.read("customer")["owner_id"].iloc[before:]) == {w.rep1}


def test_import_leads_english_headers_excel(world, tmp_path):
    w = world
    path = tmp_path / "leads.xlsx"
    pd.DataFrame({"name": ["甲", "乙", "丙"], "mobile": ["13900001111", "", "12345"], "email": ["", "", ""],
                  "score": ["80", "20", "10"], "负责人": ["rep1", "rep1", "rep1"]}).to_excel(path, index=False)
    report = w.as_rep1.import_leads(path)
    assert list(report["accepted"]) == [True, False, False]
    assert list(report["field"].iloc[1:]) == ["mobile", "mobile"]
    lead = w.store.get("lead", int(report.loc[0, "id"]))
    assert lead["score"] == 80 and lead["owner_id"] == w.rep1


def test_missing_header_writes_nothing(world):
    w = world
    before = w.store.snapshot()
    with pytest.raises(ImportFileError, match="省份"):
        w.as_rep1.import_customers(pd.DataFrame({"客户名称": ["甲公司"], "城市": ["北京市"]}))
    with pytest.raises(ImportFileError, match="文件不存在"):
        w.as_rep1.import_leads("/nonexistent/leads.csv")
    assert w.store.snapshot() == before
