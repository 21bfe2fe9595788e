"""A small hand-made CRM world built only through simcrm.crm operations (shared by tests/test_crm_*)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from simcrm.crm import CRM

NOW = dt.datetime(2025, 7, 1, 9, 0)
VALID_ID = "11010519491231002X"
VALID_CREDIT_CODE = "91350100M000100Y43"


class Clock:
    """A simulated clock the tests can move forward."""

    def __init__(self, start: dt.datetime = NOW):
        self.value = start

    def __call__(self) -> dt.datetime:
        return self.value

    def advance(self, **kwargs) -> None:
        self.value += dt.timedelta(**kwargs)


def small_world(store, clock: Clock | None = None) -> SimpleNamespace:
    """Org (boss, mgr1 over rep1/rep2 in 销售一组, rep3 in 销售二组), products, customers and
    one of each kind of related record. Returns the ids and the CRMs acting as each person."""
    clock = clock or Clock()
    admin = CRM.system(store, now=clock)
    w = SimpleNamespace(store=store, clock=clock, admin=admin, **admin.setup_demo_org())
    for login in ("boss", "mgr1", "rep1", "rep2", "rep3"):
        setattr(w, f"as_{login}", admin.as_user(login))
    w.category = admin.add_category("办公设备")
    w.printer = admin.create_product("激光打印机 P1", w.category, price=2000, cost=1200, unit="台", stock=50,
                                     stock_lower=5, stock_upper=200, warranty_months=12)
    w.toner = admin.create_product("硒鼓 T1", w.category, price=300, cost=120, unit="个", stock=100)
    rep1, rep2, rep3 = w.as_rep1, w.as_rep2, w.as_rep3
    w.c1 = rep1.create_customer("北京星辰科技有限公司", province="北京", city="北京市", phone="010-62345678",
                                email="info@xingchen.cn", industry="信息技术服务", credit_code=VALID_CREDIT_CODE)
    w.c2 = rep1.create_customer("王小明", "个人", province="广东", city="深圳市", phone="13812341234",
                                id_number=VALID_ID, address="南山区科技园 1 号")
    w.c3 = rep2.create_customer("上海远航物流有限公司", province="上海", city="上海市", phone="021-52345678")
    w.c4 = rep3.create_customer("杭州西湖茶业有限公司", province="浙江", city="杭州市", email="tea@xihu.cn")
    w.k1 = rep1.add_contact(w.c1, "李娜", mobile="13912345678", email="lina@xingchen.cn", title="采购经理",
                            birthday="1985-03-08")
    w.k2 = rep1.add_contact(w.c1, "赵强", mobile="13700001111")
    w.k3 = rep2.add_contact(w.c3, "周杰", mobile="13600002222")
    w.lead = rep1.create_lead("孙丽", company="南京金陵电子有限公司", mobile="15912345678", province="江苏",
                              city="南京市")
    w.o1 = rep1.create_opportunity(w.c1, "办公设备更新", amount=100000, contact_id=w.k1)
    w.o3 = rep2.create_opportunity(w.c3, "仓库打印方案", amount=30000)
    w.q1 = rep1.create_quote(w.c1, [{"product_id": w.printer, "quantity": 10, "discount": 0.05},
                                    {"product_id": w.toner, "quantity": 20}], opportunity_id=w.o1)
    rep1.send_quote(w.q1)
    w.order1 = rep1.convert_quote_to_order(w.q1, kind="合同", contact_id=w.k1)
    w.as_mgr1.approve_order(w.order1)
    w.lines1 = list(store.read("order_line", where={"order_id": w.order1})["id"])
    w.ship1 = rep1.ship_order(w.order1, {w.lines1[0]: 4})
    total = store.get("sales_order", w.order1)["total_amount"]
    w.plan1 = rep1.add_payment_plan(w.order1, [("2025-07-31", round(total / 2, 2)),
                                               ("2025-08-31", round(total - round(total / 2, 2), 2))])
    w.pay1 = rep1.record_payment(w.order1, 5000, plan_id=w.plan1[0])
    w.inv1 = rep1.issue_invoice(w.order1, 5000)
    w.act1 = rep1.log_activity(w.c1, "电话沟通需求", channel="电话", contact_id=w.k1, opportunity_id=w.o1)
    w.care1 = rep1.plan_care(w.c1, "生日", "生日祝福", "2026-03-08", contact_id=w.k1)
    w.sr1 = rep1.open_service_request(w.c1, "打印机卡纸", urgency="紧急", product_id=w.printer, order_id=w.order1)
    w.cp1 = rep1.record_complaint(w.c1, "送货延迟三天", category="交付物流", urgency="紧急")
    w.camp = admin.create_campaign("夏季促销", "促销", cost_per_contact=10, budget=1000)
    # records in closed or special states, for the bad-input suite
    w.as_rep1.advance_complaint(w.cp1, "调查中", note="联系物流公司")
    w.rep4 = admin.hire("吴离", "rep4", w.team1, w.role_rep)
    admin.leave(w.rep4)
    w.c5 = rep3.create_customer("杭州西湖茶业公司", province="浙江", city="杭州市", allow_duplicate=True)
    admin.merge_customers(w.c4, [w.c5])
    w.o_won = rep1.create_opportunity(w.c1, "打印耗材年度框架", amount=20000)
    rep1.win_opportunity(w.o_won)
    w.old_product = admin.create_product("喷墨打印机 旧款", w.category, price=800, cost=500)
    admin.discontinue_product(w.old_product)
    w.q2 = rep1.create_quote(w.c1, [{"product_id": w.toner, "quantity": 1}])
    w.q3 = rep1.create_quote(w.c1, [{"product_id": w.toner, "quantity": 2}])
    rep1.send_quote(w.q3)
    w.order_pending = rep1.create_order(w.c1, [{"product_id": w.toner, "quantity": 5}])
    w.order_big = rep2.create_order(w.c3, [{"product_id": w.toner, "quantity": 500}])
    w.as_mgr1.approve_order(w.order_big)
    w.order_rejected = rep2.create_order(w.c3, [{"product_id": w.toner, "quantity": 1}])
    w.as_mgr1.approve_order(w.order_rejected, approve=False)
    w.camp_small = admin.create_campaign("小额试点", "关怀", cost_per_contact=10, budget=15)
    return w

