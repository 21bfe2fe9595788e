"""Sales documents (报价、合同/订单、出库、回款、开票、退货).

Quote 草稿 → 已发送 → 已转订单 | 失效. A contract/order (kind 合同 or 订单) starts 执行中 /
待审 / 未出库; only a 主管 or 老板 approves (待审 → 同意 | 否决; 否决 ends the order as
意外中止). Shipments need an approved, running order, never exceed the ordered quantity and
never drive stock negative (未出库 → 部分 → 全部). A payment plan's instalments add up to the
order total (within 0.01); payments never exceed what is outstanding; invoices (less credit
notes, 红字发票) never exceed the order total less returns; returns never exceed what was
shipped, book the goods back into stock and, on an invoiced order, reverse the excess invoiced
by credit notes.

Amounts are net of VAT (不含税金额), as revenue and profit analyses need them: line amount =
quantity × unit price × (1 − discount), rounded to cents, and a document's total is the sum
of its lines. The tax rate of each line decides the tax an invoice shows
(invoice tax = invoice amount × the lines' amount-weighted tax rate); the generated worlds
follow the same rule.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..errors import RequiredFieldError, StateTransitionError, ValidationError
from .base import CRMBase, atomic, check_transition, is_number, money

TOLERANCE = 0.01

#: 退货期限 (days, counted from the day the order line's goods last left the warehouse): the firm's
#: return policy by the product's warranty — 7 days (七天无理由退货) for products with a warranty
#: of at most 12 months, 15 days for the large equipment with a longer warranty (its installation
#: and acceptance take longer). :meth:`SalesMixin.return_period` reads it for one product.
RETURN_DAYS = 7
RETURN_DAYS_LONG_WARRANTY = 15


def line_amount(quantity: float, unit_price: float, discount: float = 0.0, tax_rate: float = 0.13) -> float:
    """The amount of one document line, net of VAT (``tax_rate`` is kept on the line for invoices).

    >>> line_amount(2, 1000, discount=0.1, tax_rate=0.13)
    1800.0
    """
    return money(quantity * unit_price * (1 - discount))


def _num(value: Any, field: str, label: str, *, low: float = 0.0, high: float | None = None,
         strict: bool = False) -> float:
    bad = not is_number(value) or value != value
    if not bad:
        bad = value <= low if strict else value < low
        bad = bad or (high is not None and value > high)
    if bad:
        allowed = f"{'大于' if strict else '不小于'} {low:g}" + (f" 且不大于 {high:g}" if high is not None else "") + " 的数字"
        raise ValidationError(field=field, value=value, label=label, allowed=allowed)
    return float(value)


class SalesMixin(CRMBase):
    # -- lines ---------------------------------------------------------------------------

    def _clean_lines(self, lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if isinstance(lines, Mapping) or not isinstance(lines, Iterable):
            raise ValidationError(field="lines", value=lines, label="明细",
                                  allowed="明细列表，如 [{'product_id': 1, 'quantity': 2}]")
        lines = list(lines)
        if not lines:
            raise RequiredFieldError(field="lines", value=lines, label="明细", allowed="至少一行产品明细")
        out = []
        for i, line in enumerate(lines, start=1):
            if not isinstance(line, Mapping):
                raise ValidationError(field=f"lines[{i}]", value=line, label="明细",
                                      allowed="字典，如 {'product_id': 1, 'quantity': 2}")
            unknown = set(line) - {"product_id", "quantity", "unit_price", "discount", "tax_rate"}
            if unknown:
                key = sorted(unknown)[0]
                raise ValidationError(field=f"lines[{i}].{key}", value=line[key], label="明细字段",
                                      allowed="product_id、quantity、unit_price、discount、tax_rate")
            if "product_id" not in line:
                raise RequiredFieldError(field=f"lines[{i}].product_id", value=None, label="产品",
                                         allowed="已存在的产品编号")
            product = self._row("product", line["product_id"], field=f"lines[{i}].product_id")
            if product["status"] != "正常":
                raise ValidationError(field=f"lines[{i}].product_id", value=line["product_id"], label="产品",
                                      allowed="状态为“正常”的产品", reason=f"产品“{product['name']}”已停售")
            qty = _num(line.get("quantity"), f"lines[{i}].quantity", "数量", strict=True)
            price = _num(line.get("unit_price", product["price"]), f"lines[{i}].unit_price", "单价")
            discount = _num(line.get("discount", 0.0), f"lines[{i}].discount", "折扣率", high=0.99)
            tax = _num(line.get("tax_rate", 0.13), f"lines[{i}].tax_rate", "税率", high=1)
            out.append({"product_id": int(product["id"]), "quantity": qty, "unit_price": money(price),
                        "discount": discount, "tax_rate": tax,
                        "amount": line_amount(qty, money(price), discount, tax)})
        return out

    # -- quotes ----------------------------------------------------------------------------

    @atomic
    def create_quote(self, customer_id: int, lines: Iterable[Mapping[str, Any]], *,
                     opportunity_id: int | None = None, quote_date: dt.date | str | None = None,
                     valid_until: dt.date | str | None = None) -> int:
        """Make a quote (草稿) with product lines; the total is computed. Returns its id.

        Args:
            customer_id: the customer.
            lines: ``[{"product_id": 1, "quantity": 2, "unit_price": 900, "discount": 0.05,
                "tax_rate": 0.13}, …]`` (price defaults to the product's list price, discount 0,
                tax 13%).
            opportunity_id: the opportunity it belongs to (same customer).

        Example:
            >>> import datetime as dt
            >>> from simcrm.store import Store
            >>> from simcrm.crm import CRM
            >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
            >>> org = crm.setup_demo_org()
            >>> pid = crm.create_product("扫码枪", crm.add_category("外设"), price=500, cost=300, stock=100)
            >>> cid = crm.create_customer("远航物流有限公司", province="上海", city="上海市", owner="rep1")
            >>> q = crm.create_quote(cid, [{"product_id": pid, "quantity": 10, "discount": 0.1}])
            >>> crm.store.get("quote", q)["total_amount"]          # 10 × 500 × (1 − 0.1), net of VAT
            4500.0
            >>> crm.send_quote(q)
            >>> order = crm.convert_quote_to_order(q, kind="合同")
            >>> crm.as_user("rep1").approve_order(order)
            Traceback (most recent call last):
            ...
            simcrm.errors.PermissionDeniedError: 角色类型（role_type）的值 '一般人员' 无权操作：员工 张伟（rep1，一般人员） 不能审批合同/订单。允许：主管、老板
            [en] permission denied '一般人员' for field 'role_type'; allowed: 主管、老板
            >>> crm.as_user("mgr1").approve_order(order)
            >>> ship = crm.ship_order(order, {crm.list("order_line")["id"][0]: 4})
            >>> crm.store.get("sales_order", order)["shipping"], crm.store.get("product", pid)["stock"]
            ('部分', 96.0)
        """
        cust = self._check_customer(customer_id, "create", module="quote")
        if opportunity_id is not None:
            opp = self._row("opportunity", opportunity_id, field="opportunity_id")
            if opp["customer_id"] != customer_id:
                raise ValidationError(field="opportunity_id", value=opportunity_id, label="销售机会",
                                      allowed=f"客户 {customer_id} 的销售机会")
        clean = self._clean_lines(lines)
        quote_date = quote_date or self.today
        with self.store.transaction():
            qid = self._insert("quote", {"code": self.next_code("quote"), "opportunity_id": opportunity_id,
                                         "customer_id": customer_id,
                                         "owner_id": self.user_id or cust["owner_id"], "quote_date": quote_date,
                                         "valid_until": valid_until, "status": "草稿",
                                         "total_amount": money(sum(x["amount"] for x in clean))})
            for line in clean:
                self._insert("quote_line", {"quote_id": qid, **line})
        return qid

    def _quote(self, quote_id: int) -> dict[str, Any]:
        return self._check_row("quote", quote_id, "update", field="quote_id")

    def _replace_lines(self, conn: Any, line_table: str, parent_field: str, parent_id: int,
                       lines: list[dict[str, Any]], extra: Mapping[str, Any] | None = None) -> float:
        """Delete a document's lines (audited 删除) and insert ``lines``; returns the new total."""
        from sqlalchemy import delete, select

        from ..store.schema import metadata

        t = metadata.tables[line_table]
        for old in conn.execute(select(t).where(t.c[parent_field] == parent_id)).mappings().all():
            self._audit(conn, "删除", line_table, old["id"], None,
                        f"产品 {old['product_id']} × {old['quantity']:g} = {old['amount']:.2f}", None)
        conn.execute(delete(t).where(t.c[parent_field] == parent_id))
        for line in lines:
            self._insert(line_table, {parent_field: parent_id, **line, **(extra or {})})
        return money(sum(x["amount"] for x in lines))

    @atomic
    def update_quote_lines(self, quote_id: int, lines: Iterable[Mapping[str, Any]]) -> None:
        """Replace the lines of a 草稿 quote (and its total). Sent or closed quotes are frozen."""
        quote = self._quote(quote_id)
        if quote["status"] != "草稿":
            raise StateTransitionError(field="status", value=quote["status"], label="报价状态", table="quote",
                                       allowed=("草稿",), reason="只有草稿状态的报价单可以修改明细")
        clean = self._clean_lines(lines)
        with self.store.transaction() as conn:
            total = self._replace_lines(conn, "quote_line", "quote_id", quote_id, clean)
            self._update("quote", quote_id, {"total_amount": total})

    @atomic
    def update_order_lines(self, order_id: int, lines: Iterable[Mapping[str, Any]]) -> None:
        """Replace the lines of an order still 待审 and 未出库, without a payment plan yet."""
        order = self._order(order_id)
        if order["approval"] != "待审" or order["shipping"] != "未出库":
            raise StateTransitionError(field="approval", value=order["approval"], label="审批状态", table="sales_order",
                                       allowed=("待审",), reason="只有待审、未出库的合同/订单可以修改明细")
        if self.store.count("payment_plan", order_id=order_id):
            raise ValidationError(field="order_id", value=order_id, label="合同/订单",
                                  allowed="尚无回款计划的合同/订单", reason="已有回款计划：改明细会使计划与总额不符")
        clean = self._clean_lines(lines)
        with self.store.transaction() as conn:
            total = self._replace_lines(conn, "order_line", "order_id", order_id, clean, {"shipped_quantity": 0.0})
            self._update("sales_order", order_id, {"total_amount": total})

    def return_period(self, product_id: int) -> int:
        """The product's 退货期限 in days (see :data:`RETURN_DAYS`): 15 when its warranty is longer
        than 12 months, else 7.

        >>> import datetime as dt
        >>> from simcrm.store import Store
        >>> from simcrm.crm import CRM
        >>> crm = CRM.system(Store(), now=dt.datetime(2025, 7, 1, 9, 0))
        >>> cat = crm.add_category("外设")
        >>> crm.return_period(crm.create_product("扫码枪", cat, price=500, cost=300, warranty_months=12))
        7
        >>> crm.return_period(crm.create_product("投影机", cat, price=9000, cost=6000, warranty_months=36))
        15
        """
        product = self._row("product", product_id, field="product_id")
        months = product["warranty_months"]
        return RETURN_DAYS_LONG_WARRANTY if months is not None and months > 12 else RETURN_DAYS

    @atomic
    def update_order(self, order_id: int, *, order_date: dt.date | str | None = None,
                     end_date: dt.date | str | None = None, payment_terms: str | None = None,
                     contact_id: int | None = None) -> None:
        """Edit a contract/order's header (签订日期, 合同到期日, 付款方式, 联系人) after it was created.

        Allowed only while the order is 待审: once approved (or rejected) the contract is frozen —
        what was approved is what is executed. Lines: :meth:`update_order_lines`.
        """
        order = self._order(order_id)
        values: dict[str, Any] = {}
        if order_date is not None:
            values["order_date"] = order_date
        if end_date is not None:
            values["end_date"] = end_date
        if payment_terms is not None:
            values["payment_terms"] = payment_terms
        if contact_id is not None:
            self._contact_of(order["customer_id"], contact_id)
            values["contact_id"] = contact_id
        if not values:
            raise RequiredFieldError(field="order_date", value=None, label="修改内容",
                                     allowed="order_date、end_date、payment_terms、contact_id 至少给一个")
        if order["approval"] != "待审":
            raise StateTransitionError(field="approval", value=order["approval"], label="审批状态", table="sales_order",
                                       allowed=("待审",), reason="合同/订单审批后即冻结，只有待审的合同/订单可以修改")
        clean = self.store.validate("sales_order", {**{k: order[k] for k in ("order_date", "end_date")}, **values},
                                    partial=True)
        start, end = clean.get("order_date"), clean.get("end_date")
        if start is not None and end is not None and pd.Timestamp(end) < pd.Timestamp(start):
            raise ValidationError(field="end_date", value=str(end_date if end_date is not None else end)[:10],
                                  label="合同到期日", allowed=f"不早于签订日期 {str(start)[:10]}")
        self._update("sales_order", order_id, values)

    @atomic
    def send_quote(self, quote_id: int) -> None:
        """草稿 → 已发送."""
        self._transition("quote", self._quote(quote_id), "quote_status", "已发送")

    @atomic
    def expire_quote(self, quote_id: int) -> None:
        """已发送 → 失效."""
        self._transition("quote", self._quote(quote_id), "quote_status", "失效")

    @atomic
    def convert_quote_to_order(self, quote_id: int, kind: str = "订单", *, order_date: dt.date | str | None = None,
                               end_date: dt.date | str | None = None, payment_terms: str | None = None,
                               contact_id: int | None = None) -> int:
        """Turn a sent quote into a contract (合同) or order (订单), copying its lines exactly.

        The quote becomes 已转订单; the new document is 执行中 / 待审 / 未出库. Returns its id.
        """
        quote = self._quote(quote_id)
        self._require("order", "create")
        check_transition("quote_status", quote["status"], "已转订单", table="quote")
        if kind not in ("合同", "订单"):
            from ..errors import UnknownValueError

            raise UnknownValueError(field="kind", value=kind, label="单据类型", allowed=("合同", "订单"))
        lines = self.store.read("quote_line", where={"quote_id": quote_id})
        with self.store.transaction():
            oid = self._new_order(quote["customer_id"], kind, lines.to_dict("records"), quote_id=quote_id,
                                  opportunity_id=quote["opportunity_id"], order_date=order_date, end_date=end_date,
                                  payment_terms=payment_terms, contact_id=contact_id, total=quote["total_amount"])
            self._transition("quote", quote, "quote_status", "已转订单")
        return oid

    # -- orders ---------------------------------------------------------------------------

    @atomic
    def create_order(self, customer_id: int, lines: Iterable[Mapping[str, Any]], kind: str = "订单", *,
                     order_date: dt.date | str | None = None, end_date: dt.date | str | None = None,
                     payment_terms: str | None = None, contact_id: int | None = None,
                     opportunity_id: int | None = None) -> int:
        """Create a contract or order directly (without a quote); returns its id."""
        self._check_customer(customer_id, "create", module="order")
        clean = self._clean_lines(lines)
        if opportunity_id is not None and self._row("opportunity", opportunity_id, field="opportunity_id")[
                "customer_id"] != customer_id:
            raise ValidationError(field="opportunity_id", value=opportunity_id, label="销售机会",
                                  allowed=f"客户 {customer_id} 的销售机会")
        with self.store.transaction():
            return self._new_order(customer_id, kind, clean, opportunity_id=opportunity_id, order_date=order_date,
                                   end_date=end_date, payment_terms=payment_terms, contact_id=contact_id,
                                   total=money(sum(x["amount"] for x in clean)))

    def _new_order(self, customer_id, kind, lines, *, total, quote_id=None, opportunity_id=None, order_date=None,
                   end_date=None, payment_terms=None, contact_id=None) -> int:
        if kind not in ("合同", "订单"):
            from ..errors import UnknownValueError

            raise UnknownValueError(field="kind", value=kind, label="单据类型", allowed=("合同", "订单"))
        cust = self._row("customer", customer_id)
        self._contact_of(customer_id, contact_id)
        oid = self._insert("sales_order", {
            "code": self.next_code(kind), "kind": kind, "customer_id": customer_id, "contact_id": contact_id,
            "owner_id": self.user_id or cust["owner_id"], "opportunity_id": opportunity_id, "quote_id": quote_id,
            "order_date": order_date or self.today, "end_date": end_date, "total_amount": money(total),
            "payment_terms": payment_terms, "status": "执行中", "approval": "待审", "shipping": "未出库"})
        for line in lines:
            self._insert("order_line", {"order_id": oid, "product_id": int(line["product_id"]),
                                        "quantity": float(line["quantity"]), "unit_price": float(line["unit_price"]),
                                        "discount": float(line["discount"]), "tax_rate": float(line["tax_rate"]),
                                        "amount": float(line["amount"]), "shipped_quantity": 0.0})
        return oid

    def _order(self, order_id: int, module: str = "order") -> dict[str, Any]:
        """The order, checked for ``module``: the order's own changes need the order module's
        update right; money (``finance``: payment plans, payments, invoices) needs the finance
        module's update right and only the right to read the order (财务专员 records the money of
        orders they do not manage)."""
        if module == "order":
            return self._check_row("sales_order", order_id, "update", field="order_id")
        row = self._check_row("sales_order", order_id, "read", field="order_id")
        self._require(module, "update")
        return row

    @atomic
    def approve_order(self, order_id: int, approve: bool = True) -> None:
        """Approve (同意) or reject (否决) a 待审 order — 主管 and 老板 only.

        Approval marks the customer 签约 (first contract date) or 重复购买; a rejected order
        ends as 意外中止.
        """
        self._require_role(("主管", "老板"), "审批合同/订单")
        order = self._order(order_id)
        new = "同意" if approve else "否决"
        check_transition("approval", order["approval"], new, field="approval", table="sales_order")
        with self.store.transaction():
            self._update("sales_order", order_id, {"approval": new, "approved_by": self.user_id,
                                                   "approved_at": self.now}, action="状态变更")
            if not approve:
                self._transition("sales_order", order, "order_status", "意外中止")
                return
            cust = self._row("customer", order["customer_id"])
            if cust["lifecycle"] in ("潜在",) or (cust["lifecycle"] == "失效" and cust["first_contract_date"] is None):
                self._update("customer", cust["id"], {"lifecycle": "签约", "lifecycle_date": order["order_date"],
                                                      "lost_reason": None,
                                                      "first_contract_date": cust["first_contract_date"]
                                                      or order["order_date"]}, action="状态变更")
            elif cust["lifecycle"] in ("签约", "失效"):
                self._update("customer", cust["id"], {"lifecycle": "重复购买", "lifecycle_date": order["order_date"],
                                                      "lost_reason": None}, action="状态变更")

    @atomic
    def finish_order(self, order_id: int) -> None:
        """执行中 → 结束."""
        self._transition("sales_order", self._order(order_id), "order_status", "结束")

    @atomic
    def abort_order(self, order_id: int) -> None:
        """执行中 → 意外中止."""
        self._transition("sales_order", self._order(order_id), "order_status", "意外中止")

    def _not_aborted(self, order: dict[str, Any], what: str) -> None:
        if order["status"] == "意外中止":
            raise StateTransitionError(field="status", value=order["status"], label="执行状态", table="sales_order",
                                       allowed=("执行中", "结束"), reason=f"已意外中止的合同/订单不能{what}")

    def _running(self, order: dict[str, Any], what: str) -> None:
        if order["approval"] != "同意":
            raise StateTransitionError(field="approval", value=order["approval"], label="审批状态",
                                       table="sales_order", allowed=("同意",), reason=f"未审批通过的合同/订单不能{what}")
        if order["status"] != "执行中":
            raise StateTransitionError(field="status", value=order["status"], label="执行状态",
                                       table="sales_order", allowed=("执行中",), reason=f"已结束的合同/订单不能{what}")

    def _order_lines(self, order_id: int) -> pd.DataFrame:
        return self.store.read("order_line", where={"order_id": order_id}).set_index("id", drop=False)

    def _line_quantities(self, order_id: int, quantities: Mapping[int, float], what: str,
                         limit: Mapping[int, float]) -> dict[int, float]:
        if not isinstance(quantities, Mapping) or not quantities:
            raise RequiredFieldError(field="quantities", value=quantities, label="数量",
                                     allowed="{订单明细编号: 数量} 的字典，至少一项")
        out = {}
        for line_id, qty in quantities.items():
            if line_id not in limit:
                raise ValidationError(field="order_line_id", value=line_id, label="订单明细",
                                      allowed=sorted(int(x) for x in limit), reason=f"不是合同/订单 {order_id} 的明细")
            q = _num(qty, "quantity", "数量", strict=True)
            if q > limit[line_id] + 1e-9:
                raise ValidationError(field="quantity", value=qty, label="数量", allowed=f"不超过 {limit[line_id]:g}",
                                      reason=f"明细 {line_id} 最多还能{what} {limit[line_id]:g}")
            out[int(line_id)] = q
        return out

    @atomic
    def ship_order(self, order_id: int, quantities: Mapping[int, float] | None = None, *,
                   ship_date: dt.date | str | None = None) -> int:
        """Ship goods of an approved order (all that remains when ``quantities`` is None).

        Args:
            order_id: the order.
            quantities: ``{order_line_id: quantity}``.
            ship_date: default today.

        Returns:
            The shipment id.
        """
        order = self._order(order_id)
        self._running(order, "出库")
        lines = self._order_lines(order_id)
        remaining = {int(i): float(q - s) for i, q, s in zip(lines["id"], lines["quantity"], lines["shipped_quantity"])}
        if quantities is None:
            quantities = {i: r for i, r in remaining.items() if r > 1e-9}
            if not quantities:
                raise StateTransitionError(field="shipping", value=order["shipping"], label="出库状态",
                                           table="sales_order", allowed=("未出库", "部分"), reason="已全部出库")
        qty = self._line_quantities(order_id, quantities, "出库", remaining)
        need: dict[int, float] = {}
        for line_id, q in qty.items():
            pid = int(lines.loc[line_id, "product_id"])
            need[pid] = need.get(pid, 0.0) + q
        for pid, q in need.items():
            stock = self._row("product", pid, field="product_id")["stock"]
            if q > stock + 1e-9:
                raise ValidationError(field="quantity", value=q, label="数量", allowed=f"不超过库存 {stock:g}",
                                      reason=f"产品 {pid} 库存不足")
        shipped_after = {i: float(lines.loc[i, "shipped_quantity"]) + qty.get(i, 0.0) for i in remaining}
        full = all(shipped_after[i] >= float(lines.loc[i, "quantity"]) - 1e-9 for i in remaining)
        new_state = "全部" if full else "部分"
        ship_date = ship_date or self.today
        with self.store.transaction():
            sid = self._insert("shipment", {"code": self.next_code("shipment"), "order_id": order_id,
                                            "ship_date": ship_date, "handled_by": self.user_id})
            for line_id, q in qty.items():
                self._update("order_line", line_id, {"shipped_quantity": shipped_after[line_id]})
                self._move_stock(int(lines.loc[line_id, "product_id"]), -q, "出库", move_date=ship_date,
                                 shipment_id=sid, order_line_id=line_id)
            if new_state != order["shipping"]:
                self._transition("sales_order", order, "shipping", new_state, field="shipping")
        return sid

    # -- money ------------------------------------------------------------------------------

    def order_balance(self, order_id: int) -> dict[str, float]:
        """Total, returned, paid, refunded, invoiced, credited and outstanding amounts of an order.

        outstanding = total − returned − paid + refunded (never below 0: a return that leaves
        the customer in credit books a refund, see :meth:`return_goods`);
        invoiced = the invoices (蓝字发票) − the credit notes (红字发票, ``credited``), never above
        total − returned.
        """
        self._check_row("sales_order", order_id, "read", field="order_id")
        return order_amounts(self.store, order_id)

    def _invoices_left(self, order_id: int) -> pd.DataFrame:
        """The order's invoices with ``left`` = amount − the credit notes already against each."""
        inv = self.store.read("invoice", where={"order_id": order_id})
        notes = self.store.read("credit_note", where={"order_id": order_id})
        done = notes.groupby("invoice_id")["amount"].sum()
        inv["left"] = (inv["amount"] - inv["id"].map(done).fillna(0.0)).round(2)
        return inv.sort_values(["invoice_date", "id"], ascending=False, kind="stable")

    def _write_credit_note(self, invoice: Mapping[str, Any], amount: float, reason: str, *,
                           return_id: int | None, credit_date: Any) -> int:
        """Insert one credit note against ``invoice`` (checked by the caller); its tax is the
        invoice's own tax rate applied to the reversed amount."""
        rate = float(invoice["tax_amount"]) / float(invoice["amount"]) if float(invoice["amount"]) else 0.0
        return self._insert("credit_note", {"code": self.next_code("credit_note"), "order_id": int(invoice["order_id"]),
                                            "invoice_id": int(invoice["id"]), "return_id": return_id,
                                            "credit_date": credit_date, "amount": money(amount),
                                            "tax_amount": money(amount * rate), "reason": reason,
                                            "created_by": self.user_id})

    @atomic
    def issue_credit_note(self, order_id: int, invoice_id: int, amount: float, reason: str, *,
                          return_id: int | None = None, credit_date: dt.date | str | None = None) -> int:
        """Issue a credit note (红字发票) reversing ``amount`` of one invoice (蓝字发票) of the order.

        A return on an invoiced order issues its credit note by itself (:meth:`return_goods`);
        this is the finance desk's own red-letter invoice: an invoice made out wrongly (wrong
        amount or title: 冲红后重开), or a return whose goods the customer also wants taken off
        an invoice. The amount is at most what is left of that invoice after its earlier credit
        notes (and, with ``return_id``, at most the return's amount not yet credited); the order's
        invoiced amount falls by ``amount``, so that much can be invoiced again. Returns its id.
        """
        order = self._order(order_id, "finance")
        self._not_aborted(order, "开红字发票")
        invoice = self._row("invoice", invoice_id, field="invoice_id")
        if int(invoice["order_id"]) != int(order_id):
            raise ValidationError(field="invoice_id", value=invoice_id, label="原蓝字发票",
                                  allowed=f"合同/订单 {order_id} 的发票",
                                  reason=f"发票 {invoice['invoice_no']} 属于合同/订单 {invoice['order_id']}")
        if reason is None or not str(reason).strip():
            raise RequiredFieldError(field="reason", value=reason, label="红冲原因",
                                     allowed="简要说明红冲原因，如“开票金额有误”")
        amount = _num(amount, "amount", "冲减金额", strict=True)
        left = self._invoices_left(order_id).set_index("id")["left"]
        room = float(left.get(int(invoice_id), 0.0))
        if amount > room + 0.005:
            raise ValidationError(field="amount", value=amount, label="冲减金额",
                                  allowed=f"大于 0 且不超过发票 {invoice['invoice_no']} 尚未冲减的金额 {room:.2f}")
        if return_id is not None:
            ret = self._row("sales_return", return_id, field="return_id")
            if int(ret["order_id"]) != int(order_id):
                raise ValidationError(field="return_id", value=return_id, label="退货单",
                                      allowed=f"合同/订单 {order_id} 的退货单",
                                      reason=f"退货单 {ret['code']} 属于合同/订单 {ret['order_id']}")
            credited = self.store.read("credit_note", where={"return_id": int(return_id)})["amount"].sum()
            open_ = money(float(ret["amount"]) - credited)
            if amount > open_ + 0.005:
                raise ValidationError(field="amount", value=amount, label="冲减金额",
                                      allowed=f"不超过退货单 {ret['code']} 尚未冲减的金额 {open_:.2f}",
                                      reason=f"该退货单已由红字发票冲减 {money(credited):.2f}")
        credit_date = credit_date or self.today
        day = self.store.validate("credit_note", {"credit_date": credit_date}, partial=True)["credit_date"]
        if pd.Timestamp(day) < pd.Timestamp(invoice["invoice_date"]):
            raise ValidationError(field="credit_date", value=str(pd.Timestamp(day).date()), label="开具日期",
                                  allowed=f"不早于原发票的开票日期 {pd.Timestamp(invoice['invoice_date']).date()}")
        with self.store.transaction():
            return self._write_credit_note(invoice, amount, str(reason).strip(), return_id=return_id,
                                           credit_date=credit_date)

    @atomic
    def add_payment_plan(self, order_id: int, instalments: Iterable[tuple[Any, float]]) -> list[int]:
        """Plan payment in instalments ``[(due_date, amount), …]`` adding up to the order total.

        Returns:
            The payment plan ids (instalments numbered 1, 2, …).
        """
        order = self._order(order_id, "finance")
        if self.store.count("payment_plan", order_id=order_id):
            from ..errors import DuplicateError

            raise DuplicateError(field="order_id", value=order_id, label="合同/订单", allowed="尚无回款计划的合同/订单",
                                 reason="该合同/订单已有回款计划")
        items = list(instalments)
        if not items:
            raise RequiredFieldError(field="instalments", value=items, label="回款计划", allowed="至少一期 (日期, 金额)")
        rows = []
        for i, item in enumerate(items, start=1):
            if not isinstance(item, (tuple, list)) or len(item) != 2:
                raise ValidationError(field=f"instalments[{i}]", value=item, label="回款计划",
                                      allowed="(计划回款日期, 金额)")
            amount = _num(item[1], f"instalments[{i}].amount", "计划金额", strict=True)
            rows.append(self.store.validate("payment_plan", {"order_id": order_id, "instalment": i,
                                                             "due_date": item[0], "amount": money(amount)}))
        total = sum(r["amount"] for r in rows)
        if abs(total - order["total_amount"]) > TOLERANCE:
            raise ValidationError(field="instalments", value=money(total), label="各期金额合计",
                                  allowed=f"等于合同/订单总金额 {order['total_amount']:.2f}（误差不超过 0.01）")
        with self.store.transaction():
            return [self._insert("payment_plan", r) for r in rows]

    @atomic
    def record_payment(self, order_id: int, amount: float, *, paid_date: dt.date | str | None = None,
                       plan_id: int | None = None, method: str | None = None) -> int:
        """Record money received for an order (partial payments allowed; never more than outstanding)."""
        order = self._order(order_id, "finance")
        if order["approval"] != "同意":
            raise StateTransitionError(field="approval", value=order["approval"], label="审批状态",
                                       table="sales_order", allowed=("同意",), reason="未审批通过的合同/订单不能回款")
        self._not_aborted(order, "回款")
        amount = _num(amount, "amount", "回款金额", strict=True)
        outstanding = self.order_balance(order_id)["outstanding"]
        if amount > outstanding + 0.005:
            raise ValidationError(field="amount", value=amount, label="回款金额", allowed=f"不超过未收金额 {outstanding:.2f}")
        if plan_id is not None and self._row("payment_plan", plan_id, field="plan_id")["order_id"] != order_id:
            raise ValidationError(field="plan_id", value=plan_id, label="回款计划", allowed=f"合同/订单 {order_id} 的回款计划")
        with self.store.transaction():
            return self._insert("payment", {"code": self.next_code("payment"), "order_id": order_id,
                                            "plan_id": plan_id, "paid_date": paid_date or self.today,
                                            "amount": money(amount), "method": method})

    @atomic
    def issue_invoice(self, order_id: int, amount: float, *, invoice_date: dt.date | str | None = None,
                      invoice_no: str | None = None) -> int:
        """Issue an invoice (蓝字发票); returns its id.

        The order's invoiced amount (invoices − credit notes) never exceeds its total less what
        was returned.
        """
        order = self._order(order_id, "finance")
        if order["approval"] != "同意":
            raise StateTransitionError(field="approval", value=order["approval"], label="审批状态",
                                       table="sales_order", allowed=("同意",), reason="未审批通过的合同/订单不能开票")
        self._not_aborted(order, "开票")
        amount = _num(amount, "amount", "开票金额", strict=True)
        balance = self.order_balance(order_id)
        room = money(balance["total"] - balance["returned"] - balance["invoiced"])
        if amount > room + 0.005:
            raise ValidationError(field="amount", value=amount, label="开票金额",
                                  allowed=f"不超过未开票金额 {room:.2f}（总额 − 退货 − 已开票净额）")
        lines = self._order_lines(order_id)
        total = lines["amount"].sum()
        tax_share = float((lines["amount"] * lines["tax_rate"]).sum() / total) if total else 0.0
        with self.store.transaction():
            return self._insert("invoice", {"invoice_no": invoice_no or self.next_code("invoice"), "order_id": order_id,
                                            "invoice_date": invoice_date or self.today, "amount": money(amount),
                                            "tax_amount": money(amount * tax_share)})

    @atomic
    def return_goods(self, order_id: int, quantities: Mapping[int, float], reason: str, *,
                     return_date: dt.date | str | None = None) -> int:
        """Take back shipped goods (``{order_line_id: quantity}``); stock goes back in. Returns the id.

        When the customer has already paid more than the order is worth after the return, a
        ``refund`` (退款记录) of the difference is booked in the same transaction, so the
        order's outstanding amount is 0, not negative.

        When more was invoiced than the order is worth after the return (the goods kept), the
        excess is reversed in the same transaction by credit notes (红字发票, ``credit_note``)
        against the order's invoices, newest invoice first, one credit note per invoice, each
        referencing the invoice it reverses and this return. Returned goods not yet invoiced
        need no credit note: they will simply not be invoiced.
        """
        self._order(order_id)
        if reason is None or not str(reason).strip():
            raise RequiredFieldError(field="reason", value=reason, label="退货原因", allowed="简要说明退货原因")
        lines = self._order_lines(order_id)
        rl = self.store.read("return_line")
        rl = rl[rl["order_line_id"].isin(lines["id"])]
        returned = rl.groupby("order_line_id")["quantity"].sum()
        limit = {int(i): float(s - returned.get(i, 0.0)) for i, s in zip(lines["id"], lines["shipped_quantity"])}
        qty = self._line_quantities(order_id, quantities, "退货", limit)
        amounts = {i: money(q / float(lines.loc[i, "quantity"]) * float(lines.loc[i, "amount"])) for i, q in qty.items()}
        return_date = return_date or self.today
        self._within_return_period(qty, lines, return_date)
        with self.store.transaction():
            rid = self._insert("sales_return", {"code": self.next_code("sales_return"), "order_id": order_id,
                                                "return_date": return_date, "reason": reason,
                                                "amount": money(sum(amounts.values()))})
            for line_id, q in qty.items():
                self._insert("return_line", {"return_id": rid, "order_line_id": line_id, "quantity": q,
                                             "amount": amounts[line_id]})
                self._move_stock(int(lines.loc[line_id, "product_id"]), q, "退货入库", move_date=return_date,
                                 order_line_id=line_id, return_id=rid)
            credit = -self.order_balance(order_id)["outstanding"]
            if credit > 0.005:  # paid more than the goods kept are worth: pay the difference back
                code = self.store.get("sales_return", rid)["code"]
                self._insert("refund", {"code": self.next_code("refund"), "order_id": order_id, "return_id": rid,
                                        "refund_date": return_date, "amount": money(credit),
                                        "reason": f"退货 {code} 后已收款超过应收金额，退还差额"})
            balance = self.order_balance(order_id)
            excess = money(balance["invoiced"] - (balance["total"] - balance["returned"]))
            if excess > 0.005:  # invoiced more than the goods kept are worth: reverse the difference
                code = self.store.get("sales_return", rid)["code"]
                for _, inv in self._invoices_left(order_id).iterrows():
                    take = money(min(excess, float(inv["left"])))
                    if take <= 0.005:
                        continue
                    day = max(pd.Timestamp(self.store.get("sales_return", rid)["return_date"]),
                              pd.Timestamp(inv["invoice_date"]))
                    self._write_credit_note(inv.to_dict(), take, f"退货 {code}：冲减发票 {inv['invoice_no']} 中退货部分",
                                            return_id=rid, credit_date=day.date())
                    excess = money(excess - take)
                    if excess <= 0.005:
                        break
        return rid

    def _within_return_period(self, qty: Mapping[int, float], lines: pd.DataFrame, return_date: Any) -> None:
        """Each returned line's goods must come back within the product's 退货期限, counted from
        the line's last shipment (and not before it)."""
        day = self.store.validate("sales_return", {"return_date": return_date}, partial=True)["return_date"]
        day = pd.Timestamp(day).normalize()
        moves = self.store.read("stock_move", where={"kind": "出库"}, columns=["order_line_id", "move_date"])
        moves = moves[moves["order_line_id"].isin(list(qty))]
        last = pd.to_datetime(moves["move_date"]).groupby(moves["order_line_id"]).max()
        for line_id in qty:
            product_id = int(lines.loc[line_id, "product_id"])
            shipped = last.get(line_id)
            if shipped is None or pd.isna(shipped):
                continue  # nothing shipped: _line_quantities has refused it already
            shipped = pd.Timestamp(shipped).normalize()
            days = self.return_period(product_id)
            deadline = shipped + pd.Timedelta(days=days)
            name = self._row("product", product_id)["name"]
            if day < shipped:
                raise ValidationError(field="return_date", value=str(day.date()), label="退货日期",
                                      allowed=f"不早于出库日期 {shipped.date()}",
                                      reason=f"明细 {line_id}（{name}）{shipped.date()} 才出库")
            if day > deadline:
                raise ValidationError(field="return_date", value=str(day.date()), label="退货日期",
                                      allowed=f"不晚于 {deadline.date()}（产品“{name}”的退货期限为出库后 {days} 天）",
                                      reason=f"明细 {line_id} 已超过退货期限，只能走售后维修或换货")

    def receivables(self) -> pd.DataFrame:
        """Payment plan instalments with what was paid against them and whether overdue.

        An instalment is overdue when its due date has passed unpaid, or it was paid late.
        Payments not tied to a plan are applied to the order's instalments in due-date order.
        """
        columns = ["plan_id", "order_id", "instalment", "due_date", "amount", "paid", "paid_date", "overdue"]
        plans = self.list("payment_plan").sort_values(["order_id", "due_date", "instalment"], kind="stable")
        pays = self.list("payment").sort_values(["order_id", "paid_date", "id"], kind="stable")
        if plans.empty:
            return pd.DataFrame(columns=columns)
        # payments fill an order's instalments in due-date order: instalment k is paid up to
        # (all paid − what instalments before k needed), and settled on the first payment date
        # at which the cumulative payments reach the cumulative plan through k
        amount = plans["amount"].to_numpy(dtype="float64")
        cum_plan = plans.groupby("order_id", sort=False)["amount"].cumsum().to_numpy()
        total = pays.groupby("order_id")["amount"].sum()
        paid_total = plans["order_id"].map(total).fillna(0.0).to_numpy()
        paid = np.clip(paid_total - (cum_plan - amount), 0.0, amount)
        settled = amount - paid <= 0.005
        pays = pays.assign(cum=pays.groupby("order_id", sort=False)["amount"].cumsum())
        need = pd.DataFrame({"order_id": plans["order_id"].to_numpy(), "need": cum_plan - 0.005,
                             "_row": np.arange(len(plans))}).sort_values("need", kind="stable")
        hit = pd.merge_asof(need, pays[["order_id", "cum", "paid_date"]].sort_values("cum", kind="stable"),
                            left_on="need", right_on="cum", by="order_id", direction="forward")
        last = hit.sort_values("_row")["paid_date"].to_numpy()
        due = pd.to_datetime(plans["due_date"]).dt.normalize().to_numpy()
        today = np.datetime64(pd.Timestamp(self.today))
        last_day = pd.to_datetime(pd.Series(last)).dt.normalize().to_numpy()
        overdue = (~settled & (due < today)) | (settled & ~pd.isna(last) & (last_day > due))
        return pd.DataFrame({
            "plan_id": plans["id"].to_numpy(), "order_id": plans["order_id"].to_numpy(),
            "instalment": plans["instalment"].to_numpy(), "due_date": plans["due_date"].to_numpy(),
            "amount": amount, "paid": np.round(paid, 2),
            "paid_date": pd.to_datetime(pd.Series(np.where(settled, last, np.datetime64("NaT")))).to_numpy(),
            "overdue": overdue.astype(bool),
        }, columns=columns)


def order_amounts(store: Any, order_id: int) -> dict[str, float]:
    """The amounts of :meth:`SalesMixin.order_balance`, read from ``store`` without a user
    (no permission check): for the lab checks, which judge a student's database as it is."""
    order = store.get("sales_order", order_id)
    sums = {t: store.read(t, where={"order_id": order_id})["amount"].sum()
            for t in ("payment", "invoice", "credit_note", "sales_return", "refund")}
    total = float(order["total_amount"])
    return {"total": total, "returned": money(sums["sales_return"]), "paid": money(sums["payment"]),
            "refunded": money(sums["refund"]), "invoiced": money(sums["invoice"] - sums["credit_note"]),
            "credited": money(sums["credit_note"]),
            "outstanding": money(total - sums["sales_return"] - sums["payment"] + sums["refund"])}
