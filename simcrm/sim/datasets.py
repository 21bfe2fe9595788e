"""The course's committed data sets: the default world as CSV, its data dictionary, ch04's lead file.

``python -m simcrm.sim.datasets datasets/`` regenerates every file of ``datasets/``; a test
regenerates them into a temporary folder and fails when a committed file differs by a byte.

* one CSV per table of the default world (UTF-8 with BOM so that Excel shows the Chinese,
  LF line endings, dictionary fields as text, floats with ``%.12g``);
* ``data_dictionary.csv``: every table and column with its label, type, rules and links;
* ``README.md``: what the files are (Chinese first, then English);
* ``ch04_expo_leads.csv``: a dirty lead-import file for the ch04 lab (:func:`expo_leads`).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Date, DateTime, Float, Integer, String, Text

from .. import reference
from ..store import schema
from .identities import get_identities

__all__ = ["write_datasets", "data_dictionary", "expo_leads"]

CSV = dict(index=False, encoding="utf-8-sig", lineterminator="\n", float_format="%.12g")
EXPO_COLUMNS = ["name", "company", "title", "mobile", "email", "province", "city", "source"]


def _type(c) -> str:
    t = c.type
    if isinstance(t, Boolean):
        return "布尔 boolean"
    if isinstance(t, DateTime):
        return "日期时间 datetime"
    if isinstance(t, Date):
        return "日期 date"
    if "dictionary" in c.info:
        return "字典 dictionary"
    if isinstance(t, Integer):
        return "整数 integer"
    if isinstance(t, Float):
        return "数值 number"
    if isinstance(t, (String, Text)):
        n = getattr(t, "length", None)
        return f"文本 text({n})" if n else "文本 text"
    return str(t)


def data_dictionary() -> pd.DataFrame:
    """Every table and column of the schema with label, type, required, allowed values and links."""
    rows = []
    for name in schema.TABLES:
        t = schema.metadata.tables[name]
        for c in t.columns:
            info = c.info
            allowed, desc = "", []
            if "dictionary" in info:
                allowed = f"字典 {info['dictionary']}：" + "、".join(reference.DICTIONARIES[info["dictionary"]]["values"])
            elif "states" in info:
                allowed = "、".join(reference.state_values(info["states"]))
            rng = [f">= {info['min']}" if "min" in info else "", f"<= {info['max']}" if "max" in info else ""]
            if any(rng):
                allowed = (allowed + " " + " ".join(x for x in rng if x)).strip()
            if c.primary_key:
                desc.append("主键 primary key")
            for fk in c.foreign_keys:
                if fk.column.table.name != "dictionary":
                    desc.append(f"→ {fk.column.table.name}.{fk.column.name}（{schema.table_label(fk.column.table.name)}）")
            if c.unique:
                desc.append("唯一 unique")
            if "sensitive" in info:
                desc.append(f"敏感 sensitive: {info['sensitive']}")
            rows.append({"table": name, "table_label": schema.table_label(name), "column": c.name,
                         "column_label": info.get("label", c.name), "type": _type(c),
                         "required": "是" if (not c.nullable and not c.primary_key) or c.primary_key else "否",
                         "allowed": allowed, "description": "；".join(desc)})
    return pd.DataFrame(rows)




def _fullwidth(s: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if 0x21 <= ord(ch) <= 0x7E else ch for ch in s)


def expo_leads(world, seed: int = 4, n: int = 90) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A dirty lead list collected at a trade fair, for ch04's import lab.

    Rows are clean new leads, duplicates of existing customers (same company after
    normalisation, same mobile or same e-mail, written differently), duplicates within the
    file, typos, rows missing a required field, invalid mobiles or e-mails and unknown
    sources. Deterministic for a world and ``seed``.

    Returns:
        ``(leads, truth)``: the file's rows with the ``lead`` table's Chinese labels as
        headers, and for graders one row per lead row: ``row`` (1-based data row), ``kind``
        and ``customer_id`` (the existing customer it duplicates) or ``duplicate_of`` (the
        earlier row of the file).
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(world.seed), 404, int(seed)]))
    ids = get_identities(world.locale)  # the model's own (stateless); unpickling the model for it costs more than the list
    cust = world.table("customer")
    contact = world.table("contact")
    ent = cust[cust["kind"] == "企业"].reset_index(drop=True)
    prim = contact[contact["status"] == "主联系人"].drop_duplicates("customer_id").set_index("customer_id")
    reg = reference.regions()
    titles = ["采购经理", "行政主管", "总经理", "IT主管", "办公室主任", "财务经理"]
    kinds = (["new"] * 30 + ["dup_company"] * 10 + ["dup_mobile"] * 8 + ["dup_email"] * 6 + ["dup_in_file"] * 8
             + ["typo"] * 6 + ["missing"] * 8 + ["bad_mobile"] * 6 + ["bad_email"] * 5 + ["bad_source"] * 3)
    kinds = [kinds[i] for i in rng.permutation(len(kinds))][:n]
    while len(kinds) < n:
        kinds.append("new")
    rows, truth = [], []

    def fresh() -> dict[str, Any]:
        r = reg.iloc[int(rng.integers(0, len(reg)))]
        g = rng.integers(0, 2, size=1)
        city_short = np.array([str(r["city"]).removesuffix("市")])
        comp = ids.company_names(rng, city_short, np.array(["信息技术服务"], dtype=object))[0]
        return {"name": str(ids.person_names(rng, g)[0]), "company": str(comp), "title": titles[int(rng.integers(0, len(titles)))],
                "mobile": str(ids.mobiles(rng, 1)[0]), "email": str(ids.emails(rng, 1)[0]),
                "province": str(r["province"]), "city": str(r["city"]), "source": "展会"}

    used_cust: set[int] = set()

    def a_customer() -> pd.Series:
        while True:
            c = ent.iloc[int(rng.integers(0, len(ent)))]
            if int(c["id"]) not in used_cust and int(c["id"]) in prim.index:
                used_cust.add(int(c["id"]))
                return c

    for i, kind in enumerate(kinds):
        r = fresh()
        t = {"row": i + 1, "kind": kind, "customer_id": pd.NA, "duplicate_of": pd.NA}
        if kind.startswith("dup_") and kind != "dup_in_file":
            c = a_customer()
            p = prim.loc[int(c["id"])]
            t["customer_id"] = int(c["id"])
            r.update(province=c["province"], city=c["city"])
            if kind == "dup_company":
                name = str(c["name"])
                variants = [name.replace("有限公司", "有限责任公司"), name.replace("有限公司", "（有限公司）"),
                            _fullwidth(name) if re.search(r"[A-Za-z0-9]", name) else name + " ",
                            " ".join(name[k:k + 2] for k in range(0, len(name), 2))]
                r["company"] = variants[int(rng.integers(0, len(variants)))]
            elif kind == "dup_mobile":
                r.update(name=str(p["name"]), mobile=str(p["mobile"]))
                r["company"] = str(c["name"])[:2] + str(r["company"])[2:]
            else:
                if pd.isna(p["email"]):
                    t["kind"] = kind = "dup_company"
                    r["company"] = str(c["name"]).replace("有限公司", "有限责任公司")
                else:
                    r.update(name=str(p["name"]), email=str(p["email"]).upper() if rng.random() < 0.5 else str(p["email"]))
        elif kind == "dup_in_file":
            earlier = [k for k, tt in enumerate(truth) if tt["kind"] == "new"]
            if earlier:
                k = earlier[int(rng.integers(0, len(earlier)))]
                r = dict(rows[k])
                r["company"] = str(r["company"]).replace("有限公司", "（有限公司）") if rng.random() < 0.5 else r["company"]
                r["mobile"] = r["mobile"] if rng.random() < 0.7 else r["mobile"][:3] + " " + r["mobile"][3:7] + " " + r["mobile"][7:]
                t["duplicate_of"] = k + 1
            else:
                t["kind"] = "new"
        elif kind == "typo":
            field = ["province", "city", "name"][int(rng.integers(0, 3))]
            if field == "province":
                r["province"] = r["province"].removesuffix("省").removesuffix("市") or r["province"]
            elif field == "city":
                r["city"] = r["city"].removesuffix("市") + "巿"  # 巿 (fú) looks like 市
            else:
                r["name"] = r["name"] + " "
            t["field"] = field
        elif kind == "missing":
            field = ["name", "mobile", "company"][int(rng.integers(0, 3))]
            r[field] = ""
            t["field"] = field
        elif kind == "bad_mobile":
            m = r["mobile"]
            r["mobile"] = [m[:10], m + "8", "0" + m[1:], m[:3] + "-" + m[3:7] + "-" + m[7:] + "9"][int(rng.integers(0, 4))]
        elif kind == "bad_email":
            e = r["email"]
            r["email"] = [e.replace("@", ""), e.replace("@", "@@"), e.split("@")[0] + "@qq", e.replace(".com", ",com")][int(rng.integers(0, 4))]
        elif kind == "bad_source":
            r["source"] = ["广交会", "朋友推荐", "抖音"][int(rng.integers(0, 3))]
        rows.append(r)
        truth.append(t)
    labels = schema.labels("lead")
    frame = pd.DataFrame(rows, columns=EXPO_COLUMNS).rename(columns={c: labels[c] for c in EXPO_COLUMNS})
    truth_frame = pd.DataFrame(truth, columns=["row", "kind", "customer_id", "duplicate_of", "field"])
    return frame, truth_frame


def _readme(world, sizes: dict[str, int]) -> str:
    obs = reference.OBSERVABLE
    lines = [
        "# 课程数据集（默认模拟世界）",
        "",
        "本目录由程序生成，请勿手工修改。重新生成：`python -m simcrm.sim.datasets datasets/`（测试会逐字节比对）。",
        "",
        f"- 随机种子：{world.seed}；客户数：{world.params.customers}；开始日期：{world.params.start}；“今天”：{world.today}",
        f"- 模拟企业：{world.firm['name']}（{world.firm['city']}）",
        "- 每张表一个 CSV 文件（UTF-8 带 BOM，可直接用 Excel 打开；字典字段为文字；换行为 LF）。",
        "- `data_dictionary.csv`：每张表、每个字段的中文名、类型、是否必填、取值范围（字典或状态）和说明。",
        "- `ch04_expo_leads.csv`：第 4 章实训用的展会线索导入文件，故意包含重复、错别字、缺失和非法数据。",
        "",
        "## 可观测的定义",
        "",
    ]
    for k, v in obs.items():
        lines.append(f"- **{v.get('label', k)}**（`{k}`）：{v.get('definition', '')}")
    lines += ["", "## 表与行数", "", "| 表 | 中文名 | 行数 |", "| --- | --- | ---: |"]
    for name, n in sizes.items():
        lines.append(f"| `{name}` | {schema.table_label(name)} | {n} |")
    lines += [
        "",
        "---",
        "",
        "# Course data sets (the default simulated world)",
        "",
        "Generated files: do not edit by hand. Regenerate with `python -m simcrm.sim.datasets datasets/`; a test",
        "compares every file byte for byte.",
        "",
        f"- seed {world.seed}, {world.params.customers} customers, from {world.params.start} to \"today\" {world.today};",
        "- one CSV per table (UTF-8 with BOM, dictionary fields as text, LF line endings);",
        "- `data_dictionary.csv`: every table and column with label, type, required, allowed values and links;",
        "- `ch04_expo_leads.csv`: the dirty lead-import file of the ch04 lab (duplicates, typos, missing and",
        "  invalid values, unknown sources).",
        "",
        "## Observable definitions",
        "",
    ]
    for k, v in obs.items():
        lines.append(f"- **{k}**: {v.get('definition_en', '')}")
    return "\n".join(lines) + "\n"


def write_datasets(out_dir: Any, seed: int = 2026, customers: int = 2000) -> list[Path]:
    """Write the canonical default world's files into ``out_dir``; returns the paths written."""
    from .world import generate

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    world = generate(seed=seed, customers=customers)
    written, sizes = [], {}
    for name in schema.TABLES:
        frame = world.table(name)
        sizes[name] = len(frame)
        path = out / f"{name}.csv"
        frame.to_csv(path, **CSV)
        written.append(path)
    path = out / "data_dictionary.csv"
    data_dictionary().to_csv(path, **CSV)
    written.append(path)
    leads, _truth = expo_leads(world)
    path = out / "ch04_expo_leads.csv"
    leads.to_csv(path, **CSV)
    written.append(path)
    path = out / "README.md"
    path.write_text(_readme(world, sizes), encoding="utf-8", newline="\n")
    written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - command line
    target = sys.argv[1] if len(sys.argv) > 1 else "datasets"
    for p in write_datasets(target):
        print(os.fspath(p))
