"""报价 → 订单 → 出库 → 回款 → 开票: one quote's way to money, one button per step.

Each button calls the CRM operation of that step and the screen then shows the new state of
the quote and its order (status, approval, shipping) and the order balance
(``crm.order_balance``): 发送报价 ``send_quote``, 转为合同/订单 ``convert_quote_to_order``,
审批同意 / 否决 ``approve_order`` (主管 and 老板 only), 出库 ``ship_order``, 回款计划
``add_payment_plan``, 回款 ``record_payment``, 开票 ``issue_invoice``, 结束 ``finish_order``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import ipywidgets as w
import pandas as pd

from ._base import Screen, api_call, frame_html

__all__ = ["OrderFlow", "parse_instalments"]

#: quotes offered by the picker (the newest ones; a dropdown of 100,000 quotes helps no one)
_MAX_QUOTES = 300


def parse_instalments(text: str) -> list[tuple[str, float]]:
    """``"2025-07-31:5000, 2025-08-31:5000"`` → ``[("2025-07-31", 5000.0), ("2025-08-31", 5000.0)]``.

        >>> parse_instalments("2025-07-31:5000；2025-08-31: 5000.5")
        [('2025-07-31', 5000.0), ('2025-08-31', 5000.5)]
    """
    out = []
    for part in text.replace("；", ";").replace("，", ",").replace(";", ",").split(","):
        if not part.strip():
            continue
        due, _, amount = part.partition(":")
        out.append((due.strip(), float(amount.strip().replace(" ", "") or "nan")))
    return out


class OrderFlow(Screen):
    """Quote → contract/order → shipment → payment plan → payments → invoice.

    Attributes:
        quote_picker: the newest ``max_quotes`` quotes the user may see (and the one asked
            for); ``order_id``: the order made from the selected one.
        send_button, convert_button, approve_button, reject_button, ship_button, plan_button,
        pay_button, invoice_button, finish_button: the steps; ``kind``, ``instalments``,
        ``amount``: their inputs. ``state``: the quote and order state shown.
    """

    def __init__(self, crm: Any, *, quote_id: int | None = None, max_quotes: int = _MAX_QUOTES):
        super().__init__()
        self.crm = crm
        self.max_quotes = int(max_quotes)
        self.order_id: int | None = None
        self.quote_picker = w.Dropdown(description="报价单", layout=w.Layout(width="460px"))
        self.state_html = w.HTML()
        self.kind = w.Dropdown(options=["订单", "合同"], description="类型")
        self.instalments = w.Text(description="回款计划", placeholder="到期日:金额, 到期日:金额",
                                  layout=w.Layout(width="460px"))
        self.amount = w.Text(description="金额", layout=w.Layout(width="200px"))
        b = lambda text, style="": w.Button(description=text, button_style=style)  # noqa: E731
        self.send_button, self.convert_button = b("发送报价"), b("转为合同/订单", "primary")
        self.approve_button, self.reject_button = b("审批同意", "success"), b("审批否决", "danger")
        self.ship_button, self.plan_button = b("全部出库"), b("保存回款计划")
        self.pay_button, self.invoice_button, self.finish_button = b("登记回款", "success"), b("开具发票"), b("订单结束")
        self.send_button.on_click(self.guard(lambda _b: self.step("send_quote", self.quote_id)))
        self.convert_button.on_click(self.guard(lambda _b: self.convert()))
        self.approve_button.on_click(self.guard(lambda _b: self.step("approve_order", self.order_id)))
        self.reject_button.on_click(self.guard(lambda _b: self.step("approve_order", self.order_id, approve=False)))
        self.ship_button.on_click(self.guard(lambda _b: self.step("ship_order", self.order_id)))
        self.plan_button.on_click(self.guard(lambda _b: self.plan()))
        self.pay_button.on_click(self.guard(lambda _b: self.step("record_payment", self.order_id, self._amount())))
        self.invoice_button.on_click(self.guard(lambda _b: self.step("issue_invoice", self.order_id, self._amount())))
        self.finish_button.on_click(self.guard(lambda _b: self.step("finish_order", self.order_id)))
        self.quote_picker.observe(self.guard(lambda _c: self.show_state()), names="value")
        self.widget = w.VBox([
            w.HTML("<h4>报价 → 订单 → 回款</h4>"), self.quote_picker, self.state_html,
            w.HBox([self.send_button, self.kind, self.convert_button]),
            w.HBox([self.approve_button, self.reject_button, self.ship_button]),
            w.HBox([self.instalments, self.plan_button]),
            w.HBox([self.amount, self.pay_button, self.invoice_button, self.finish_button]),
            self.status, self.code])
        self.refresh(quote_id)

    @property
    def quote_id(self) -> int | None:
        return None if self.quote_picker.value is None else int(self.quote_picker.value)

    def refresh(self, select: int | None = None) -> None:
        """Re-read the quotes (keeping the selection) and show the state.

        The picker lists the newest :attr:`max_quotes` quotes the user may see (one query with
        ``ORDER BY id DESC LIMIT``, and the customers' names of those only), plus the selected
        one if it is older.
        """
        keep = select if select is not None else self.quote_picker.value
        quotes = self.crm.list("quote", order_by="id", descending=True, limit=self.max_quotes)
        if keep is not None and int(keep) not in set(int(i) for i in quotes["id"]):
            older = self.crm.list("quote", where={"id": int(keep)})
            quotes = pd.concat([quotes, older], ignore_index=True) if len(older) else quotes
        ids = sorted(set(int(i) for i in quotes["customer_id"].dropna()))
        names = (self.crm.store.read("customer", columns=["id", "name"], where={"id": ids}).set_index("id")["name"]
                 if ids else pd.Series(dtype="str"))
        self.quote_picker.options = [(f"{r.code} [{r.status}] {names.get(r.customer_id, '')} ¥{r.total_amount:,.2f}",
                                      int(r.id)) for r in quotes.sort_values("id", ascending=False).itertuples()]
        if keep in set(quotes["id"]):
            self.quote_picker.value = keep
        elif self.quote_picker.options:
            self.quote_picker.value = self.quote_picker.options[0][1]
        self.show_state()

    def show_state(self) -> None:
        """Show the quote, its order and the order's balance."""
        qid = self.quote_id
        if qid is None:
            self.state_html.value = "（没有可见的报价单）"
            return
        quote = self.crm.list("quote", where={"id": qid}).iloc[0]
        orders = self.crm.list("sales_order", where={"quote_id": qid})
        self.order_id = int(orders["id"].iloc[0]) if len(orders) else None
        parts = [f"报价单 {quote['code']}：<b>{quote['status']}</b>，金额 ¥{quote['total_amount']:,.2f}"]
        if self.order_id is not None:
            o = orders.iloc[0]
            bal = self.crm.order_balance(self.order_id)
            parts.append(f"{o['kind']} {o['code']}：状态 <b>{o['status']}</b> · 审批 <b>{o['approval']}</b> · "
                         f"出库 <b>{o['shipping']}</b>")
            parts.append("余额：" + "，".join(f"{k} ¥{v:,.2f}" for k, v in _balance_zh(bal).items()))
            plans = self.crm.list("payment_plan", where={"order_id": self.order_id})
            if len(plans):
                parts.append(frame_html(plans[["instalment", "due_date", "amount"]].rename(
                    columns={"instalment": "期次", "due_date": "到期日", "amount": "金额"})))
            if not self.instalments.value:
                total = float(o["total_amount"])
                first = round(total / 2, 2)
                today = self.crm.today
                self.instalments.value = (f"{today + dt.timedelta(days=30)}:{first:.2f}, "
                                          f"{today + dt.timedelta(days=60)}:{total - first:.2f}")
        self.state = {"quote": quote["status"], **({} if self.order_id is None else {
            "order": orders.iloc[0]["status"], "approval": orders.iloc[0]["approval"],
            "shipping": orders.iloc[0]["shipping"]})}
        self.state_html.value = "<br>".join(parts)

    def _amount(self) -> float | None:
        try:
            return float(self.amount.value.replace(",", ""))
        except ValueError:
            return None

    def step(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run one step (a CRM operation on the quote or its order) and show the new state."""
        if any(a is None for a in args[:1]):
            self.say("请先选择报价单，并先将其转为合同/订单。", error=True)
            return None
        result = self.run(api_call(method, *args, **kwargs),
                          lambda: getattr(self.crm, method)(*args, **kwargs), "已完成。")
        self.refresh()
        return result

    def convert(self) -> Any:
        """转为合同/订单 (``crm.convert_quote_to_order``)."""
        return self.step("convert_quote_to_order", self.quote_id, self.kind.value)

    def plan(self) -> Any:
        """Save the payment plan typed in :attr:`instalments` (``crm.add_payment_plan``)."""
        try:
            instalments = parse_instalments(self.instalments.value)
        except ValueError:
            self.say("回款计划格式应为“到期日:金额, 到期日:金额”，如 2025-07-31:5000, 2025-08-31:5000", error=True)
            return None
        return self.step("add_payment_plan", self.order_id, instalments)


def _balance_zh(balance: dict[str, float]) -> dict[str, float]:
    names = {"total": "总额", "returned": "退货", "paid": "已回款", "invoiced": "已开票",
             "credited": "红字冲减", "refunded": "已退款", "outstanding": "未回款"}
    return {names.get(k, k): v for k, v in balance.items() if not pd.isna(v)}
