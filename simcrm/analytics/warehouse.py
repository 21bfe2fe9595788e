"""数据仓库与 OLAP (star schema in DuckDB; roll-up, drill-down, slice, dice, cube).

:func:`build_star_schema` loads the world's DataFrames into an in-memory DuckDB (never the
CRM's database) as a star schema:

* ``fact_sales`` — order-line grain: line_id, order_id, date_key, customer_id, product_id,
  employee_id (the order owner), region_key, quantity, amount, cost (quantity × product cost),
  profit (amount − cost);
* ``dim_date`` (date_key YYYYMMDD, date, year, quarter, month), ``dim_customer`` (customer_id,
  customer_name, kind, industry, level), ``dim_product`` (product_id, product_name, category,
  unit), ``dim_employee`` (employee_id, employee_name, department), ``dim_region``
  (region_key, region (大区: 华东, 华北 …), province, city);
* the view ``sales_cube`` joins the fact with every dimension; the OLAP helpers query it, so
  any of its columns can be a level.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from simcrm.errors import ColumnError, ConfigError

from ._validate import as_datetime, require_columns

__all__ = ["build_star_schema", "rollup", "drilldown", "slice_", "dice", "olap_cube"]

_NEEDED = {
    "sales_order": {"id": "any", "customer_id": "any", "owner_id": "any", "order_date": "datetime"},
    "order_line": {"id": "any", "order_id": "any", "product_id": "any", "quantity": "numeric",
                   "amount": "numeric"},
    "customer": {"id": "any", "name": "any", "kind": "any", "industry": "any", "province": "any",
                 "city": "any", "level": "any"},
    "product": {"id": "any", "name": "any", "category_id": "any", "unit": "any", "cost": "numeric"},
    "product_category": {"id": "any", "name": "any"},
    "employee": {"id": "any", "name": "any", "department_id": "any"},
    "department": {"id": "any", "name": "any"},
}
_AGG = {"sum", "avg", "count", "min", "max"}


def build_star_schema(tables: dict[str, pd.DataFrame], con: Any = None) -> Any:
    """构建星型模型 (build the star schema; returns the DuckDB connection).

    Args:
        tables: DataFrames named sales_order, order_line, customer, product,
            product_category, employee, department (world table names and columns).
        con: an existing DuckDB connection (default: a new in-memory one).

    Example:
        >>> t = {"sales_order": pd.DataFrame({"id": [1], "customer_id": [1], "owner_id": [1],
        ...          "order_date": pd.to_datetime(["2025-03-01"])}),
        ...      "order_line": pd.DataFrame({"id": [1], "order_id": [1], "product_id": [1],
        ...          "quantity": [2], "amount": [30.0]}),
        ...      "customer": pd.DataFrame({"id": [1], "name": ["甲公司"], "kind": ["企业"],
        ...          "industry": ["制造业"], "province": ["浙江省"], "city": ["杭州市"], "level": ["A"]}),
        ...      "product": pd.DataFrame({"id": [1], "name": ["茶"], "category_id": [1],
        ...          "unit": ["盒"], "cost": [10.0]}),
        ...      "product_category": pd.DataFrame({"id": [1], "name": ["饮品"]}),
        ...      "employee": pd.DataFrame({"id": [1], "name": ["张三"], "department_id": [1]}),
        ...      "department": pd.DataFrame({"id": [1], "name": ["销售一部"]})}
        >>> con = build_star_schema(t)
        >>> con.execute("SELECT province, category, profit FROM sales_cube").fetchall()
        [('浙江省', '饮品', 10.0)]
    """
    import duckdb

    for name, spec in _NEEDED.items():
        if name not in tables:
            raise ColumnError(field=name, value=sorted(tables), allowed=sorted(_NEEDED),
                              reason="缺少表", message_en=f"missing table '{name}'")
        require_columns(tables[name], spec, table=name)
    con = con if con is not None else duckdb.connect(":memory:")
    so = tables["sales_order"].assign(
        order_date=as_datetime(tables["sales_order"]["order_date"], "order_date", "sales_order"))
    frames = {"src_" + k: v for k, v in tables.items() if k in _NEEDED}
    frames["src_sales_order"] = so
    from .. import reference

    areas = reference.regions()[["province", "region"]].drop_duplicates("province")
    frames = {**frames, "src_area": areas}
    for name, df in frames.items():
        con.register(name + "_df", df)
        con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_df")
        con.unregister(name + "_df")
    con.execute("""
        CREATE OR REPLACE TABLE dim_region AS
        SELECT row_number() OVER (ORDER BY province, city) AS region_key, a.region, c.province, c.city
        FROM (SELECT DISTINCT province, city FROM src_customer) c
        LEFT JOIN src_area a USING (province);
        CREATE OR REPLACE TABLE dim_customer AS
        SELECT id AS customer_id, name AS customer_name, kind, industry, level FROM src_customer;
        CREATE OR REPLACE TABLE dim_product AS
        SELECT p.id AS product_id, p.name AS product_name, c.name AS category, p.unit
        FROM src_product p LEFT JOIN src_product_category c ON p.category_id = c.id;
        CREATE OR REPLACE TABLE dim_employee AS
        SELECT e.id AS employee_id, e.name AS employee_name, d.name AS department
        FROM src_employee e LEFT JOIN src_department d ON e.department_id = d.id;
        CREATE OR REPLACE TABLE dim_date AS
        SELECT DISTINCT CAST(strftime(CAST(order_date AS DATE), '%Y%m%d') AS INTEGER) AS date_key,
               CAST(order_date AS DATE) AS date, year(order_date) AS year,
               quarter(order_date) AS quarter, month(order_date) AS month
        FROM src_sales_order;
        CREATE OR REPLACE TABLE fact_sales AS
        SELECT l.id AS line_id, o.id AS order_id,
               CAST(strftime(CAST(o.order_date AS DATE), '%Y%m%d') AS INTEGER) AS date_key,
               o.customer_id, l.product_id, o.owner_id AS employee_id, r.region_key,
               l.quantity, l.amount, l.quantity * p.cost AS cost, l.amount - l.quantity * p.cost AS profit
        FROM src_order_line l
        JOIN src_sales_order o ON l.order_id = o.id
        LEFT JOIN src_customer c ON o.customer_id = c.id
        LEFT JOIN dim_region r ON c.province = r.province AND c.city = r.city
        LEFT JOIN src_product p ON l.product_id = p.id;
        CREATE OR REPLACE VIEW sales_cube AS
        SELECT f.*, d.date, d.year, d.quarter, d.month, c.customer_name, c.kind, c.industry,
               c.level, p.product_name, p.category, p.unit, e.employee_name, e.department,
               r.region, r.province, r.city
        FROM fact_sales f
        LEFT JOIN dim_date d USING (date_key)
        LEFT JOIN dim_customer c USING (customer_id)
        LEFT JOIN dim_product p USING (product_id)
        LEFT JOIN dim_employee e USING (employee_id)
        LEFT JOIN dim_region r USING (region_key);
    """)
    return con


def _cube_columns(con: Any) -> list[str]:
    return [r[0] for r in con.execute("DESCRIBE sales_cube").fetchall()]


def _check_cols(con: Any, cols: Sequence[str]) -> None:
    known = _cube_columns(con)
    for c in cols:
        if c not in known:
            raise ColumnError(field=c, value=c, allowed=known, table="sales_cube",
                              reason="不是 sales_cube 的列")


def _measures_sql(con: Any, measures: Any) -> str:
    if isinstance(measures, str):
        measures = [measures]
    if not isinstance(measures, dict):
        measures = {m: "sum" for m in measures}
    _check_cols(con, list(measures))
    parts = []
    for col, agg in measures.items():
        if agg not in _AGG:
            raise ConfigError(field="measures", value=agg, allowed=sorted(_AGG), reason="聚合函数不对")
        parts.append(f'{agg}("{col}") AS "{col}"' if agg != "count" else f'count("{col}") AS "{col}"')
    return ", ".join(parts)


def _query(con: Any, measures: Any, levels: Sequence[str], group: str,
           where: dict[str, Any] | None = None) -> pd.DataFrame:
    levels = list(levels)
    _check_cols(con, levels + list(where or {}))
    sel = ", ".join(f'"{c}"' for c in levels)
    params: list[Any] = []
    conds = []
    for col, val in (where or {}).items():
        vals = list(val) if isinstance(val, (list, tuple, set)) else [val]
        conds.append(f'"{col}" IN ({", ".join("?" * len(vals))})')
        params.extend(vals)
    where_sql = f"WHERE {' AND '.join(conds)}" if conds else ""
    grp = f"GROUP BY {group}({sel})" if group else (f"GROUP BY {sel}" if levels else "")
    cols = f"{sel}, " if levels else ""
    order = f"ORDER BY {', '.join(f'{chr(34)}{c}{chr(34)} NULLS LAST' for c in levels)}" if levels else ""
    sql = f"SELECT {cols}{_measures_sql(con, measures)} FROM sales_cube {where_sql} {grp} {order}"
    return con.execute(sql, params).df()


def rollup(con: Any, measures: Any, levels: Sequence[str]) -> pd.DataFrame:
    """上卷 (roll-up): GROUP BY ROLLUP(levels) — subtotals up the hierarchy, NULL = all.

    ``measures``: a column name, a list (summed) or a dict column → sum/avg/count/min/max.

    Example:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE VIEW sales_cube AS SELECT * FROM (VALUES ('华东', '杭州', 10.0),"
        ...                 " ('华东', '上海', 5.0), ('华北', '北京', 1.0)) t(region, city, amount)")
        >>> rollup(con, "amount", ["region"]).values.tolist()
        [['华东', 15.0], ['华北', 1.0], [nan, 16.0]]
    """
    return _query(con, measures, levels, "ROLLUP")


def drilldown(con: Any, measures: Any, levels: Sequence[str],
              where: dict[str, Any] | None = None) -> pd.DataFrame:
    """下钻 (drill-down): the measures at a finer level, optionally inside one parent member.

    Example:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE VIEW sales_cube AS SELECT * FROM (VALUES ('华东', '杭州', 10.0),"
        ...                 " ('华东', '上海', 5.0)) t(region, city, amount)")
        >>> drilldown(con, "amount", ["region", "city"], where={"region": "华东"}).values.tolist()
        [['华东', '上海', 5.0], ['华东', '杭州', 10.0]]
    """
    return _query(con, measures, levels, "", where)


def slice_(con: Any, measures: Any, by: Sequence[str], where: dict[str, Any]) -> pd.DataFrame:
    """切片 (slice): fix ONE dimension to one value, aggregate by ``by``.

    Example:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE VIEW sales_cube AS SELECT * FROM (VALUES (2024, '茶', 1.0),"
        ...                 " (2025, '茶', 2.0), (2025, '杯', 3.0)) t(year, category, amount)")
        >>> slice_(con, "amount", ["category"], {"year": 2025}).values.tolist()
        [['杯', 3.0], ['茶', 2.0]]
    """
    if len(where) != 1 or isinstance(next(iter(where.values())), (list, tuple, set)):
        raise ConfigError(field="where", value=where, allowed="一个维度取一个值，如 {'year': 2025}",
                          reason="切片只固定一个维度")
    return _query(con, measures, by, "", where)


def dice(con: Any, measures: Any, by: Sequence[str], where: dict[str, Any]) -> pd.DataFrame:
    """切块 (dice): restrict several dimensions to sets of values, aggregate by ``by``.

    Example:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE VIEW sales_cube AS SELECT * FROM (VALUES (2024, '茶', 1.0),"
        ...                 " (2025, '茶', 2.0), (2025, '杯', 3.0)) t(year, category, amount)")
        >>> dice(con, "amount", ["year"], {"year": [2024, 2025], "category": ["茶"]}).values.tolist()
        [[2024.0, 1.0], [2025.0, 2.0]]
    """
    return _query(con, measures, by, "", where)


def olap_cube(con: Any, dims: Sequence[str], measure: Any) -> pd.DataFrame:
    """数据立方体 (GROUP BY CUBE(dims)): every combination of subtotals; NULL = all.

    Example:
        >>> import duckdb
        >>> con = duckdb.connect()
        >>> _ = con.execute("CREATE VIEW sales_cube AS SELECT * FROM (VALUES (2024, '茶', 1.0),"
        ...                 " (2025, '杯', 3.0)) t(year, category, amount)")
        >>> len(olap_cube(con, ["year", "category"], "amount"))  # 2 cells + 2 + 2 subtotals + total
        7
    """
    return _query(con, measure, dims, "CUBE")
