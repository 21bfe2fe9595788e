"""Products and stock (产品管理): category tree, products, 停售/正常, stock moves and alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from ..errors import UnknownValueError, ValidationError
from .base import CRMBase, atomic, check_transition, is_number, money, refuse_nan

PRODUCT_FIELDS = ("name", "model", "category_id", "unit", "price", "cost", "stock_lower", "stock_upper",
                  "warranty_months", "launched_on")


def _positive(value: Any, field: str, label: str) -> float:
    if not is_number(value) or not value > 0 or value != value:
        raise ValidationError(field=field, value=value, label=label, allowed="大于 0 的数字")
    return float(value)


class ProductsMixin(CRMBase):
    @atomic
    def add_category(self, name: str, parent: int | None = None, *, code: str | None = None) -> int:
        """Add a product category under ``parent``; returns its id."""
        self._require("product", "create")
        if parent is not None:
            self._row("product_category", parent, field="parent_id")
        with self.store.transaction():
            return self._insert("product_category", {"code": code or self.next_code("product_category"),
                                                     "name": name, "parent_id": parent})

    @atomic
    def create_product(self, name: str, category_id: int, *, price: float, cost: float, unit: str | None = None,
                       stock: float = 0, code: str | None = None, **fields: Any) -> int:
        """Create a product (status 正常); an opening stock is booked as a stock move 入库.

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> cat = crm.add_category("服务器")
            >>> pid = crm.create_product("机架服务器 R2", cat, price=28000, cost=19000, unit="台",
            ...                          stock=5, stock_lower=10)
            >>> crm.stock_alerts()[["name", "stock", "alert"]].values.tolist()
            [['机架服务器 R2', 5.0, '低于下限']]
            >>> crm.stock_out(pid, 6)
            Traceback (most recent call last):
            ...
            simcrm.errors.ValidationError: 数量（quantity）的值 6 无效：库存只有 5.0，出库后会变成负数。允许：不超过 5.0
            [en] invalid value 6 for field 'quantity'; allowed: 不超过 5.0
        """
        self._require("product", "create")
        self._row("product_category", category_id, field="category_id")
        values = self._clean_product(dict(fields, name=name, category_id=category_id, price=price, cost=cost,
                                          unit=unit or self.dictionary_default("product_unit")))
        if not is_number(stock) or stock < 0:
            raise ValidationError(field="stock", value=stock, label="库存数量", allowed="不小于 0 的数字")
        with self.store.transaction():
            pid = self._insert("product", {**values, "code": code or self.next_code("product"),
                                           "stock": float(stock), "status": "正常"})
            if stock:
                self._insert("stock_move", {"product_id": pid, "move_date": self.today, "kind": "入库",
                                            "quantity": float(stock), "note": "期初库存"})
        return pid

    def _clean_product(self, values: dict[str, Any], current: dict[str, Any] | None = None) -> dict[str, Any]:
        for key in values:
            if key not in PRODUCT_FIELDS:
                raise UnknownValueError(field=key, value=values[key], label="字段名", table="product",
                                        allowed=PRODUCT_FIELDS, reason="不是可直接修改的产品字段")
        refuse_nan("product", values)
        out = dict(values)
        for key in ("price", "cost"):
            if key in out and (not is_number(out[key]) or out[key] < 0):
                raise ValidationError(field=key, value=out[key], label="标准售价" if key == "price" else "成本价",
                                      allowed="不小于 0 的数字")
            if key in out:
                out[key] = money(out[key])
        merged = {**(current or {}), **out}
        lo, hi = merged.get("stock_lower"), merged.get("stock_upper")
        if lo is not None and hi is not None and not pd.isna(lo) and not pd.isna(hi) and lo > hi:
            raise ValidationError(field="stock_upper", value=hi, label="库存上限", allowed=f"不小于库存下限 {lo}")
        if "category_id" in out:
            self._row("product_category", out["category_id"], field="category_id")
        self.store.validate("product", out, partial=True)
        return out

    @atomic
    def update_product(self, product_id: int, **fields: Any) -> None:
        """Change product fields (price, cost, limits, warranty …; stock only through stock moves)."""
        self._require("product", "update")
        current = self._row("product", product_id, field="product_id")
        self._update("product", product_id, self._clean_product(fields, current))

    @atomic
    def discontinue_product(self, product_id: int) -> None:
        """停售: the product can no longer be quoted or ordered."""
        self._set_product_status(product_id, "停售")

    @atomic
    def reactivate_product(self, product_id: int) -> None:
        """Back from 停售 to 正常."""
        self._set_product_status(product_id, "正常")

    def _set_product_status(self, product_id: int, status: str) -> None:
        self._require("product", "update")
        row = self._row("product", product_id, field="product_id")
        check_transition("product_status", row["status"], status, table="product")
        self._update("product", product_id, {"status": status}, action="状态变更")

    def _move_stock(self, product_id: int, quantity: float, kind: str, *, move_date=None, note=None,
                    shipment_id=None, order_line_id=None, return_id=None) -> int:
        """Book a stock move (signed quantity); refuses stock going negative."""
        row = self._row("product", product_id, field="product_id")
        new_stock = float(row["stock"]) + float(quantity)
        if new_stock < -1e-9:
            raise ValidationError(field="quantity", value=abs(quantity) if kind != "盘点调整" else quantity,
                                  label="数量", allowed=f"不超过 {row['stock']}",
                                  reason=f"库存只有 {row['stock']}，出库后会变成负数")
        with self.store.transaction():
            self._update("product", product_id, {"stock": round(new_stock, 6)})
            return self._insert("stock_move", {"product_id": product_id, "move_date": move_date or self.today,
                                               "kind": kind, "quantity": float(quantity), "note": note,
                                               "shipment_id": shipment_id, "order_line_id": order_line_id,
                                               "return_id": return_id})

    @atomic
    def stock_in(self, product_id: int, quantity: float, *, move_date: dt.date | str | None = None,
                 note: str | None = None) -> int:
        """Receive goods into stock; returns the stock move id."""
        self._require("product", "update")
        return self._move_stock(product_id, _positive(quantity, "quantity", "数量"), "入库", move_date=move_date, note=note)

    @atomic
    def stock_out(self, product_id: int, quantity: float, *, move_date: dt.date | str | None = None,
                  note: str | None = None) -> int:
        """Take goods out of stock (not for orders: use :meth:`ship_order`); refuses negative stock."""
        self._require("product", "update")
        qty = _positive(quantity, "quantity", "数量")
        row = self._row("product", product_id, field="product_id")
        if qty > row["stock"]:
            raise ValidationError(field="quantity", value=quantity, label="数量", allowed=f"不超过 {row['stock']}",
                                  reason=f"库存只有 {row['stock']}，出库后会变成负数")
        return self._move_stock(product_id, -qty, "出库", move_date=move_date, note=note)

    @atomic
    def adjust_stock(self, product_id: int, counted: float, *, note: str | None = None) -> int | None:
        """Stock-take (盘点调整): set the stock to the counted quantity; returns the move id."""
        self._require("product", "update")
        if not is_number(counted) or counted < 0:
            raise ValidationError(field="counted", value=counted, label="盘点数量", allowed="不小于 0 的数字")
        row = self._row("product", product_id, field="product_id")
        diff = float(counted) - float(row["stock"])
        if diff == 0:
            return None
        return self._move_stock(product_id, diff, "盘点调整", note=note or "盘点")

    def stock_alerts(self) -> pd.DataFrame:
        """Products whose stock is below their lower limit or above their upper limit.

        Returns:
            DataFrame ``id, code, name, stock, stock_lower, stock_upper, alert`` with ``alert``
            低于下限 or 高于上限.
        """
        self._require("product", "read")
        p = self.store.read("product", columns=["id", "code", "name", "stock", "stock_lower", "stock_upper", "status"])
        low = p["stock_lower"].notna() & (p["stock"] < p["stock_lower"])
        high = p["stock_upper"].notna() & (p["stock"] > p["stock_upper"])
        out = p[low | high].copy()
        out["alert"] = pd.Series(["低于下限" if x else "高于上限" for x in low[low | high]], index=out.index, dtype="str")
        return out.drop(columns=["status"]).reset_index(drop=True)

    def products(self, *, labels: bool = False) -> pd.DataFrame:
        """All products as a DataFrame."""
        return self.list("product", labels=labels)



