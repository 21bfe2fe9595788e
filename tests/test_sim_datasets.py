"""The committed datasets/ are exactly what the generator writes now, and fully documented."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simcrm.locales import get_locale
from simcrm.store import schema

ROOT = Path(__file__).resolve().parent.parent / "datasets"


def test_committed_datasets_match_generator(tmp_path):
    from simcrm.sim.datasets import write_datasets

    written = write_datasets(tmp_path)
    assert written
    for p in written:
        committed = ROOT / p.name
        assert committed.exists(), f"datasets/{p.name} missing: run python -m simcrm.sim.datasets datasets/"
        assert committed.read_bytes() == p.read_bytes(), (
            f"datasets/{p.name} differs from the generator: run python -m simcrm.sim.datasets datasets/")
    extra = {p.name for p in ROOT.iterdir()} - {p.name for p in written}
    assert not extra, extra


def test_data_dictionary_covers_schema():
    dd = pd.read_csv(ROOT / "data_dictionary.csv", encoding="utf-8-sig", keep_default_na=False)
    have = set(zip(dd["table"], dd["column"]))
    want = {(t, c.name) for t in schema.TABLES for c in schema.metadata.tables[t].columns}
    assert have == want
    assert (dd["column_label"] != "").all() and (dd["table_label"] != "").all()


def test_expo_leads_dirty_in_every_way():
    from simcrm.sim import generate
    from simcrm.crm import normalise_name
    from simcrm.sim.datasets import expo_leads

    w = generate(seed=11, customers=300, start="2024-01-01", today="2025-06-30")
    leads, truth = expo_leads(w, seed=1, n=90)
    assert len(leads) == 90 and list(leads.columns) == [schema.labels("lead")[c] for c in
                                                        ("name", "company", "title", "mobile", "email", "province",
                                                         "city", "source")]
    kinds = set(truth["kind"])
    assert {"new", "dup_company", "dup_mobile", "dup_in_file", "missing", "bad_mobile", "bad_email", "bad_source"} <= kinds
    cust = w.table("customer").set_index("id")
    dup = truth[truth["kind"] == "dup_company"]
    # the CRM's own duplicate rule must find every company duplicate the file hides
    for row, cid in zip(dup["row"], dup["customer_id"]):
        assert normalise_name(leads.iloc[row - 1]["公司名称"]) == normalise_name(cust.loc[cid, "name"])
    loc = get_locale("zh_CN")
    bad = truth.loc[truth["kind"] == "bad_mobile", "row"] - 1
    assert not loc.mobile_valid(leads.iloc[bad]["手机"]).any()
    again, _ = expo_leads(w, seed=1, n=90)
    pd.testing.assert_frame_equal(leads, again)
