"""产品目录 (product catalogue): category tree, products, stock alerts highlighted.

The products listed are those of the chosen category and its sub-categories; rows whose
stock is outside its limits (``crm.stock_alerts()``) are highlighted in red, and the alerts
are listed on their own under the table.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import pandas as pd

from ._base import Screen, frame_html
from .admin import tree_html

__all__ = ["ProductCatalogue"]


class ProductCatalogue(Screen):
    """Category tree, products of a category, stock alerts.

    Attributes:
        category: drop-down of categories (``None``: all); ``products``: the products shown;
        ``alerts``: ``crm.stock_alerts()``.
    """

    def __init__(self, crm: Any):
        super().__init__()
        self.crm = crm
        self.tree = w.HTML()
        self.category = w.Dropdown(description="类别")
        self.category.observe(self.guard(lambda _c: self._show()), names="value")
        self.table_html = w.HTML()
        self.alerts_html = w.HTML()
        self.widget = w.VBox([w.HTML("<h4>产品目录</h4>"),
                              w.HBox([w.VBox([w.HTML("<b>产品类别</b>"), self.tree],
                                             layout=w.Layout(width="260px")),
                                      w.VBox([self.category, self.table_html])]),
                              w.HTML("<b>库存预警</b>"), self.alerts_html, self.status, self.code])
        self.refresh()

    def refresh(self) -> None:
        """Re-read categories, products and alerts."""
        store = self.crm.store
        self.categories = store.read("product_category")
        self.all_products = self.crm.products()
        self.alerts = self.crm.stock_alerts()
        self.show_call("crm.products()\ncrm.stock_alerts()")
        counts = self.all_products.groupby("category_id").size()
        self.tree.value = tree_html(self.categories,
                                    extra={int(i): f"{int(counts.get(i, 0))} 个产品" for i in self.categories["id"]})
        self.category.options = [("（全部）", None)] + [(n, int(i)) for i, n in
                                                      zip(self.categories["id"], self.categories["name"])]
        alert = self.alerts.rename(columns={"code": "产品编码", "name": "产品名称", "stock": "库存",
                                            "stock_lower": "库存下限", "stock_upper": "库存上限", "alert": "预警"})
        self.alerts_html.value = frame_html(alert.drop(columns=["id"]), highlight=[True] * len(alert),
                                            empty="（库存都在上下限之内）")
        self._show()

    def _subtree(self, root: int) -> set[int]:
        out, todo = set(), [root]
        while todo:
            x = todo.pop()
            out.add(x)
            todo += [int(i) for i in self.categories.loc[self.categories["parent_id"] == x, "id"]]
        return out

    def _show(self) -> None:
        p = self.all_products
        if self.category.value is not None:
            p = p[p["category_id"].isin(self._subtree(int(self.category.value)))]
        self.products = p.reset_index(drop=True)
        alerting = set(self.alerts["id"])
        shown = pd.DataFrame({"产品编码": p["code"], "产品名称": p["name"], "型号": p["model"], "单位": p["unit"],
                              "单价": p["price"], "成本": p["cost"], "库存": p["stock"], "下限": p["stock_lower"],
                              "上限": p["stock_upper"], "状态": p["status"]})
        self.table_html.value = frame_html(shown, highlight=p["id"].isin(alerting))
