"""Every operation refuses bad input with a SimCRMError naming field, value and what is allowed,
and leaves every row of every table as it was — on SQLite and on PostgreSQL."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from simcrm.crm import CRM
from simcrm.errors import (
    ConstraintError,
    DuplicateError,
    ImportFileError,
    NotFoundError,
    PermissionDeniedError,
    RequiredFieldError,
    SimCRMError,
    StateTransitionError,
    UnknownValueError,
    ValidationError,
)
from simcrm.store import snapshot_equal

from crm_fixtures import small_world

V, R, U, N, P, S, D = (ValidationError, RequiredFieldError, UnknownValueError, NotFoundError,
                       PermissionDeniedError, StateTransitionError, DuplicateError)

# (case id, operation on the world w, expected error class, field named in the error)
CASES = [
    # -- admin ------------------------------------------------------------------------------
    ("dept-unknown-parent", lambda w: w.admin.add_department("新部门", parent=999), N, "parent_id"),
    ("dept-cycle", lambda w: w.admin.move_department(w.sales, parent=w.team1), V, "parent_id"),
    ("dept-by-rep", lambda w: w.as_rep1.add_department("新部门"), P, "module"),
    ("hire-unknown-role", lambda w: w.admin.hire("新人", "newbie", w.team1, "CEO"), U, "role"),
    ("hire-duplicate-login", lambda w: w.admin.hire("新人", "rep1", w.team1, w.role_rep), D, "login"),
    ("hire-bad-mobile", lambda w: w.admin.hire("新人", "newbie", w.team1, w.role_rep, mobile="12345"), V, "mobile"),
    ("hire-bad-date", lambda w: w.admin.hire("新人", "newbie", w.team1, w.role_rep, hire_date="明天"), V, "hire_date"),
    ("leave-unknown", lambda w: w.admin.leave("nobody"), N, "employee"),
    ("leave-twice", lambda w: w.admin.leave("rep4"), S, "status"),
    ("role-bad-scope", lambda w: w.admin.add_role("组长", "主管", "本组"), U, "data_scope"),
    ("role-bad-type", lambda w: w.admin.add_role("组长", "组长", "本部门"), U, "role_type"),
    ("role-bad-module", lambda w: w.admin.set_role_rights("销售代表", "payroll", read=True), U, "module"),
    ("dict-unknown-list", lambda w: w.admin.add_dictionary_value("colour", "红"), V, "list_name"),
    ("dict-duplicate", lambda w: w.admin.add_dictionary_value("source", "电话来访"), D, "value"),
    ("dict-disable-default", lambda w: w.admin.disable_dictionary_value("source", "独立开发"), ConstraintError, "value"),
    ("dict-default-unknown", lambda w: w.admin.set_dictionary_default("source", "飞鸽"), N, "value"),
    ("numbering-width", lambda w: w.admin.set_numbering_rule("customer", "KH", width=0), V, "width"),
    # -- products -------------------------------------------------------------------------------
    ("product-negative-price", lambda w: w.admin.create_product("X", w.category, price=-1, cost=1), V, "price"),
    ("product-unknown-unit", lambda w: w.admin.create_product("X", w.category, price=1, cost=1, unit="吨"), U, "unit"),
    ("product-unknown-category", lambda w: w.admin.create_product("X", 999, price=1, cost=1), N, "category_id"),
    ("product-by-rep", lambda w: w.as_rep1.create_product("X", w.category, price=1, cost=1), P, "module"),
    ("product-limits", lambda w: w.admin.update_product(w.printer, stock_lower=300), V, "stock_upper"),
    ("stock-out-too-much", lambda w: w.admin.stock_out(w.printer, 1000), V, "quantity"),
    ("stock-in-negative", lambda w: w.admin.stock_in(w.printer, -5), V, "quantity"),
    ("product-reactivate-normal", lambda w: w.admin.reactivate_product(w.printer), S, "status"),
    # -- customers and contacts ---------------------------------------------------------------------
    ("cust-bad-phone", lambda w: w.as_rep1.create_customer("甲公司", province="北京", city="北京市", phone="12345"), V, "phone"),
    ("cust-bad-email", lambda w: w.as_rep1.create_customer("甲公司", province="北京", city="北京市", email="a@"), V, "email"),
    ("cust-bad-id", lambda w: w.as_rep1.create_customer("张三", "个人", province="北京", city="北京市",
                                                          phone="13812349999", id_number="110105194912310021"), V, "id_number"),
    ("cust-unknown-industry", lambda w: w.as_rep1.create_customer("甲公司", province="北京", city="北京市",
                                                                    industry="航天"), U, "industry"),
    ("cust-unknown-kind", lambda w: w.as_rep1.create_customer("甲公司", "政府", province="北京", city="北京市"), U, "kind"),
    ("cust-missing-name", lambda w: w.as_rep1.create_customer(None, province="北京", city="北京市"), R, "name"),
    ("cust-missing-city", lambda w: w.as_rep1.create_customer("甲公司", province="北京", city=None), R, "city"),
    ("cust-city-mismatch", lambda w: w.as_rep1.create_customer("甲公司", province="广东", city="杭州市"), U, "city"),
    ("cust-unknown-province", lambda w: w.as_rep1.create_customer("甲公司", province="火星", city="北京市"), U, "province"),
    ("cust-individual-no-phone", lambda w: w.as_rep1.create_customer("张三", "个人", province="北京", city="北京市"), R, "phone"),
    ("cust-duplicate-name", lambda w: w.as_rep1.create_customer("北京星辰科技股份有限公司", province="北京",
                                                                  city="北京市"), D, "name"),
    ("cust-duplicate-phone", lambda w: w.as_rep2.create_customer("乙公司", province="北京", city="北京市",
                                                                   phone="010-62345678"), D, "phone"),
    ("cust-owner-left", lambda w: w.admin.create_customer("甲公司", province="北京", city="北京市", owner="rep4"), V, "owner_id"),
    ("cust-owner-out-of-scope", lambda w: w.as_rep1.create_customer("甲公司", province="北京", city="北京市",
                                                                      owner="rep2"), P, "owner_id"),
    ("cust-other-reps", lambda w: w.as_rep2.update_customer(w.c1, address="新地址"), P, "customer_id"),
    ("cust-other-team", lambda w: w.as_mgr1.update_customer(w.c4, address="新地址"), P, "customer_id"),
    ("cust-deleted", lambda w: w.admin.update_customer(w.c5, address="新地址"), N, "customer_id"),
    ("cust-unknown", lambda w: w.admin.update_customer(9999, address="新地址"), N, "customer_id"),
    ("cust-code-not-editable", lambda w: w.admin.update_customer(w.c1, code="X1"), U, "code"),
    ("cust-bad-limit", lambda w: w.admin.update_customer(w.c1, credit_limit=-5), V, "credit_limit"),
    ("lifecycle-skip", lambda w: w.as_rep1.set_lifecycle(w.c3 if False else w.c2, "重复购买"), S, "lifecycle"),
    ("lifecycle-no-reason", lambda w: w.as_rep1.set_lifecycle(w.c1, "失效"), R, "lost_reason"),
    ("lifecycle-bad-reason", lambda w: w.as_rep1.set_lifecycle(w.c1, "失效", reason="心情"), U, "lost_reason"),
    ("transfer-to-left", lambda w: w.admin.transfer_customer(w.c1, "rep4"), V, "owner_id"),
    ("transfer-out-of-scope", lambda w: w.as_rep1.transfer_customer(w.c1, "rep3"), P, "owner_id"),
    ("share-unknown", lambda w: w.as_rep1.share_customer(w.c1, "nobody"), N, "employee_id"),
    ("merge-self", lambda w: w.admin.merge_customers(w.c1, [w.c1]), V, "merge_ids"),
    ("merge-deleted", lambda w: w.admin.merge_customers(w.c4, [w.c5]), N, "merge_ids"),
    ("merge-by-rep", lambda w: w.as_rep1.merge_customers(w.c1, [w.c2]), P, "module"),
    ("contact-bad-mobile", lambda w: w.as_rep1.add_contact(w.c1, "钱七", mobile="2345"), V, "mobile"),
    ("contact-other-reps", lambda w: w.as_rep1.add_contact(w.c3, "钱七", mobile="13812340000"), P, "customer_id"),
    ("contact-future-birthday", lambda w: w.as_rep1.add_contact(w.c1, "钱七", birthday="2030-01-01"), V, "birthday"),
    ("contact-unknown-role", lambda w: w.as_rep1.add_contact(w.c1, "钱七", buying_role="观众"), U, "buying_role"),
    ("contact-bad-gender", lambda w: w.as_rep1.add_contact(w.c1, "钱七", gender="未知"), U, "gender"),
    ("contact-status-same", lambda w: w.as_rep1.set_contact_status(w.k1, "主联系人"), S, "status"),
    # -- leads ---------------------------------------------------------------------------------
    ("lead-no-contact-way", lambda w: w.as_rep1.create_lead("路人甲"), R, "mobile"),
    ("lead-bad-score", lambda w: w.as_rep1.create_lead("路人甲", mobile="13812340001", score=150), V, "score"),
    ("lead-unknown-source", lambda w: w.as_rep1.create_lead("路人甲", mobile="13812340001", source="梦里"), U, "source"),
    ("lead-bad-invalid-reason", lambda w: w.as_rep1.invalidate_lead(w.lead, "太远"), U, "invalid_reason"),
    ("lead-unknown", lambda w: w.as_rep1.convert_lead(9999), N, "lead_id"),
    ("lead-other-reps", lambda w: w.as_rep2.qualify_lead(w.lead), P, "lead_id"),
    ("lead-convert-bad-city", lambda w: w.as_rep1.convert_lead(w.lead, city="广州市"), U, "city"),
    ("lead-convert-duplicate", lambda w: w.as_rep1.convert_lead(w.lead, province="北京", city="北京市",
                                                                  phone="010-62345678"), D, "phone"),
    # -- opportunities -----------------------------------------------------------------------------
    ("opp-unknown-stage", lambda w: w.as_rep1.advance_opportunity(w.o1, "签单"), U, "stage"),
    ("opp-same-stage", lambda w: w.as_rep1.advance_opportunity(w.o1, "初期沟通"), V, "stage"),
    ("opp-override-range", lambda w: w.as_rep1.set_probability_override(w.o1, 120), V, "probability_override"),
    ("opp-other-reps", lambda w: w.as_rep2.advance_opportunity(w.o1, "需求分析"), P, "opportunity_id"),
    ("opp-lose-no-reason", lambda w: w.as_rep1.lose_opportunity(w.o1, ""), R, "lost_reason"),
    ("opp-resume-open", lambda w: w.as_rep1.resume_opportunity(w.o1), S, "status"),
    ("opp-closed-advance", lambda w: w.as_rep1.advance_opportunity(w.o_won, "需求分析"), S, "status"),
    ("opp-closed-lose", lambda w: w.as_rep1.lose_opportunity(w.o_won, "价格"), S, "status"),
    ("opp-bulk-unknown", lambda w: w.as_rep1.bulk_update_opportunities([w.o1, 9999], stage="需求分析"), N, "opportunity_id"),
    ("opp-bulk-closed", lambda w: w.as_rep1.bulk_update_opportunities([w.o1, w.o_won], stage="需求分析"), S, "status"),
    ("opp-negative-amount", lambda w: w.as_rep1.create_opportunity(w.c1, "X", amount=-1), V, "amount"),
    ("opp-foreign-contact", lambda w: w.as_rep1.create_opportunity(w.c1, "X", contact_id=w.k3), V, "contact_id"),
    ("quota-bad-period", lambda w: w.as_mgr1.set_quota("rep1", "2025Q5", 100000), V, "period"),
    ("quota-by-rep", lambda w: w.as_rep1.set_quota("rep1", "2025Q3", 100000), P, "role_type"),
    # -- sales documents -------------------------------------------------------------------------------
    ("quote-no-lines", lambda w: w.as_rep1.create_quote(w.c1, []), R, "lines"),
    ("quote-negative-qty", lambda w: w.as_rep1.create_quote(w.c1, [{"product_id": w.toner, "quantity": -2}]),
     V, "lines[1].quantity"),
    ("quote-unknown-product", lambda w: w.as_rep1.create_quote(w.c1, [{"product_id": 999, "quantity": 1}]),
     N, "lines[1].product_id"),
    ("quote-discontinued", lambda w: w.as_rep1.create_quote(w.c1, [{"product_id": w.old_product, "quantity": 1}]),
     V, "lines[1].product_id"),
    ("quote-bad-discount", lambda w: w.as_rep1.create_quote(w.c1, [{"product_id": w.toner, "quantity": 1,
                                                                      "discount": 1.5}]), V, "lines[1].discount"),
    ("quote-resend", lambda w: w.as_rep1.send_quote(w.q1), S, "status"),
    ("quote-convert-draft", lambda w: w.as_rep1.convert_quote_to_order(w.q2), S, "status"),
    ("quote-convert-kind", lambda w: w.as_rep1.convert_quote_to_order(w.q3, kind="发票"), U, "kind"),
    ("quote-expire-draft", lambda w: w.as_rep1.expire_quote(w.q2), S, "status"),
    ("order-reapprove", lambda w: w.as_mgr1.approve_order(w.order1), S, "approval"),
    ("order-approve-by-rep", lambda w: w.as_rep1.approve_order(w.order_pending), P, "role_type"),
    ("ship-too-much", lambda w: w.as_rep1.ship_order(w.order1, {w.lines1[0]: 100}), V, "quantity"),
    ("ship-unapproved", lambda w: w.as_rep1.ship_order(w.order_pending), S, "approval"),
    ("ship-foreign-line", lambda w: w.as_rep1.ship_order(w.order1, {9999: 1}), V, "order_line_id"),
    ("ship-zero", lambda w: w.as_rep1.ship_order(w.order1, {w.lines1[0]: 0}), V, "quantity"),
    ("ship-no-stock", lambda w: w.as_rep2.ship_order(w.order_big), V, "quantity"),
    ("plan-wrong-sum", lambda w: w.as_rep2.add_payment_plan(w.order_big, [("2025-08-01", 1.0)]), V, "instalments"),
    ("plan-exists", lambda w: w.as_rep1.add_payment_plan(w.order1, [("2025-08-01", 1.0)]), D, "order_id"),
    ("plan-bad-date", lambda w: w.as_rep2.add_payment_plan(w.order_big, [("下个月", 1.0)]), V, "due_date"),
    ("pay-too-much", lambda w: w.as_rep1.record_payment(w.order1, 10 ** 7), V, "amount"),
    ("pay-negative", lambda w: w.as_rep1.record_payment(w.order1, -10), V, "amount"),
    ("pay-unapproved", lambda w: w.as_rep1.record_payment(w.order_pending, 10), S, "approval"),
    ("pay-other-reps", lambda w: w.as_rep2.record_payment(w.order1, 10), P, "order_id"),
    ("invoice-too-much", lambda w: w.as_rep1.issue_invoice(w.order1, 10 ** 7), V, "amount"),
    ("return-too-much", lambda w: w.as_rep1.return_goods(w.order1, {w.lines1[0]: 5}, "坏了"), V, "quantity"),
    ("return-unshipped", lambda w: w.as_rep1.return_goods(w.order1, {w.lines1[1]: 1}, "坏了"), V, "quantity"),
    ("return-no-reason", lambda w: w.as_rep1.return_goods(w.order1, {w.lines1[0]: 1}, ""), R, "reason"),
    ("return-after-period", lambda w: w.as_rep1.return_goods(w.order1, {w.lines1[0]: 1}, "坏了",
                                                             return_date="2025-07-20"), V, "return_date"),
    ("return-before-shipment", lambda w: w.as_rep1.return_goods(w.order1, {w.lines1[0]: 1}, "坏了",
                                                                return_date="2025-06-20"), V, "return_date"),
    ("return-bad-date", lambda w: w.as_rep1.return_goods(w.order1, {w.lines1[0]: 1}, "坏了", return_date="后天"),
     V, "return_date"),
    # credit notes (红字发票) against order1's invoice inv1 (5000 invoiced)
    ("credit-zero", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, 0, "开票有误"), V, "amount"),
    ("credit-negative", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, -10, "开票有误"), V, "amount"),
    ("credit-nan", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, float("nan"), "开票有误"), V, "amount"),
    ("credit-more-than-invoiced", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, 5000.02, "开票有误"), V,
     "amount"),
    ("credit-unknown-invoice", lambda w: w.as_rep1.issue_credit_note(w.order1, 9999, 10, "开票有误"), N, "invoice_id"),
    ("credit-invoice-of-other-order", lambda w: w.as_rep1.issue_credit_note(w.order_returned, w.inv1, 10, "开票有误"),
     V, "invoice_id"),
    ("credit-unknown-return", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, 10, "退货", return_id=9999), N,
     "return_id"),
    ("credit-return-of-other-order", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, 10, "退货",
                                                                           return_id=w.return_other), V, "return_id"),
    ("credit-return-already-credited", lambda w: w.as_rep1.issue_credit_note(w.order_returned, w.inv_returned, 10,
                                                                             "退货", return_id=w.return_other), V,
     "amount"),
    ("credit-no-reason", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, 10, " "), R, "reason"),
    ("credit-before-invoice", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, 10, "开票有误",
                                                                    credit_date="2025-06-30"), V, "credit_date"),
    ("credit-bad-date", lambda w: w.as_rep1.issue_credit_note(w.order1, w.inv1, 10, "开票有误", credit_date="后天"), V,
     "credit_date"),
    ("credit-other-reps", lambda w: w.as_rep2.issue_credit_note(w.order1, w.inv1, 10, "开票有误"), P, "order_id"),
    ("credit-unknown-order", lambda w: w.as_rep1.issue_credit_note(9999, w.inv1, 10, "开票有误"), N, "order_id"),
    ("credit-aborted", lambda w: w.as_rep1.issue_credit_note(w.order_aborted, w.inv1, 10, "开票有误"), S, "status",
     "执行状态（status）[sales_order]的值 '意外中止' 不能变更为该状态：已意外中止的合同/订单不能开红字发票。允许：执行中、结束"),
    ("order-edit-approved", lambda w: w.as_rep1.update_order(w.order1, end_date="2026-06-30"), S, "approval"),
    ("order-edit-rejected", lambda w: w.as_rep2.update_order(w.order_rejected, payment_terms="货到付款"), S,
     "approval"),
    ("order-edit-end-before-start", lambda w: w.as_rep1.update_order(w.order_pending, end_date="2024-01-01"), V,
     "end_date"),
    ("order-edit-bad-date", lambda w: w.as_rep1.update_order(w.order_pending, end_date="明年"), V, "end_date"),
    ("order-edit-unknown-terms", lambda w: w.as_rep1.update_order(w.order_pending, payment_terms="以物易物"), U,
     "payment_terms"),
    ("order-edit-foreign-contact", lambda w: w.as_rep1.update_order(w.order_pending, contact_id=w.k3), V,
     "contact_id"),
    ("order-edit-nothing", lambda w: w.as_rep1.update_order(w.order_pending), R, "order_date"),
    ("order-edit-other-reps", lambda w: w.as_rep2.update_order(w.order_pending, end_date="2026-06-30"), P,
     "order_id"),
    ("opp-edit-closed", lambda w: w.as_rep1.update_opportunity(w.o_won, amount=5000), S, "status"),
    ("opp-edit-negative-amount", lambda w: w.as_rep1.update_opportunity(w.o1, amount=-5), V, "amount"),
    ("opp-edit-foreign-contact", lambda w: w.as_rep1.update_opportunity(w.o1, contact_id=w.k3), V, "contact_id"),
    ("opp-edit-bad-date", lambda w: w.as_rep1.update_opportunity(w.o1, expected_close="下月底"), V,
     "expected_close"),
    ("order-finish-aborted", lambda w: w.as_rep2.finish_order(w.order_rejected), S, "status"),
    ("order-unknown", lambda w: w.as_rep1.finish_order(4242), N, "order_id"),
    # -- activities and care ------------------------------------------------------------------------------
    ("activity-unknown-channel", lambda w: w.as_rep1.log_activity(w.c1, "拜访", channel="飞鸽传书"), U, "channel"),
    ("activity-unknown-kind", lambda w: w.as_rep1.log_activity(w.c1, "拜访", kind="会议"), U, "kind"),
    ("activity-foreign-contact", lambda w: w.as_rep1.log_activity(w.c1, "拜访", contact_id=w.k3), V, "contact_id"),
    ("activity-complete-record", lambda w: w.as_rep1.complete_activity(w.act1, "x"), S, "kind"),
    ("activity-missing-subject", lambda w: w.as_rep1.log_activity(w.c1, ""), R, "subject"),
    ("care-unknown-type", lambda w: w.as_rep1.plan_care(w.c1, "春游", "x", "2025-08-01"), U, "care_type"),
    ("care-birthday-no-contact", lambda w: w.as_rep1.plan_care(w.c1, "生日", "x", "2025-08-01"), R, "contact_id"),
    ("care-bad-satisfaction", lambda w: w.as_rep1.complete_care(w.care1, "2025-07-02", "好", 9), V, "satisfaction"),
    ("care-other-reps", lambda w: w.as_rep2.complete_care(w.care1, "2025-07-02"), P, "care_id"),
    # -- service ----------------------------------------------------------------------------------------------
    ("sr-unknown-urgency", lambda w: w.as_rep1.open_service_request(w.c1, "坏了", urgency="特急"), U, "urgency"),
    ("sr-skip-to-resolved", lambda w: w.as_rep1.resolve_service_request(w.sr1), S, "status"),
    ("sr-close-new", lambda w: w.as_rep1.close_service_request(w.sr1), S, "status"),
    ("sr-reopen-new", lambda w: w.as_rep1.reopen_service_request(w.sr1), S, "status"),
    ("sla-negative", lambda w: w.admin.set_sla_policy("一般", -1, 10), V, "first_response_hours"),
    # the complaint-handling policy (投诉处理规则): only a manager sets it, every field checked
    ("policy-by-rep", lambda w: w.as_rep1.set_complaint_policy("产品质量", response_days=0, resolve_days=2,
                                                              remedy="更换并补偿"), P, "role_type"),
    ("policy-unknown-category", lambda w: w.admin.set_complaint_policy("天气", response_days=0, resolve_days=2,
                                                                      remedy="更换并补偿"), U, "category"),
    ("policy-negative-response", lambda w: w.admin.set_complaint_policy("产品质量", response_days=-1, resolve_days=2,
                                                                       remedy="更换并补偿"), V, "response_days"),
    ("policy-fraction-days", lambda w: w.admin.set_complaint_policy("产品质量", response_days=0, resolve_days=2.5,
                                                                   remedy="更换并补偿"), V, "resolve_days"),
    ("policy-text-days", lambda w: w.admin.set_complaint_policy("产品质量", response_days="两天", resolve_days=3,
                                                               remedy="更换并补偿"), V, "response_days"),
    ("policy-bool-days", lambda w: w.admin.set_complaint_policy("产品质量", response_days=True, resolve_days=3,
                                                               remedy="更换并补偿"), V, "response_days"),
    ("policy-too-slow", lambda w: w.admin.set_complaint_policy("产品质量", response_days=0, resolve_days=365,
                                                              remedy="致歉说明"), V, "resolve_days",
     "回访解决时限(天)（resolve_days）的值 365 无效。允许：1 到 180 之间的整数（天）"),
    ("policy-resolve-before-response", lambda w: w.admin.set_complaint_policy("产品质量", response_days=5, resolve_days=3,
                                                                             remedy="致歉说明"), V, "resolve_days"),
    ("policy-unknown-remedy", lambda w: w.admin.set_complaint_policy("产品质量", response_days=0, resolve_days=2,
                                                                    remedy="送现金"), U, "remedy"),
    ("policy-unknown-handler", lambda w: w.admin.set_complaint_policy("产品质量", response_days=0, resolve_days=2,
                                                                     remedy="维修或更换", handler=999), N, "handler"),
    ("policy-handler-left", lambda w: w.admin.set_complaint_policy("产品质量", response_days=0, resolve_days=2,
                                                                  remedy="维修或更换", handler="rep4"), V, "handler"),
    ("complaint-unknown-category", lambda w: w.as_rep1.record_complaint(w.c1, "x", category="天气"), U, "category"),
    ("complaint-skip", lambda w: w.as_rep1.advance_complaint(w.cp1, "已归档"), S, "status"),
    ("complaint-no-department", lambda w: w.as_rep1.advance_complaint(w.cp1, "已分派"), R, "department_id"),
    ("complaint-unknown-field", lambda w: w.as_rep1.advance_complaint(w.cp1, "已分派", mood="差"), U, "mood"),
    ("visit-bad-satisfaction", lambda w: w.as_rep1.record_return_visit(w.c1, complaint_id=w.cp1, satisfaction=0),
     V, "satisfaction"),
    # -- campaigns ------------------------------------------------------------------------------------------------
    ("campaign-unknown-type", lambda w: w.admin.create_campaign("X", "抽奖"), U, "campaign_type"),
    ("campaign-over-budget", lambda w: w.admin.set_campaign_targets(w.camp_small, [w.c1, w.c2], control_share=0),
     V, "customer_ids"),
    ("campaign-bad-share", lambda w: w.admin.set_campaign_targets(w.camp, [w.c1], control_share=1.5), V, "control_share"),
    ("campaign-out-of-scope", lambda w: w.as_rep1.set_campaign_targets(w.camp, [w.c1, w.c4]), P, "customer_ids"),
    ("campaign-deleted-target", lambda w: w.admin.set_campaign_targets(w.camp, [w.c1, w.c5]), N, "customer_ids"),
    ("campaign-end-planned", lambda w: w.admin.end_campaign(w.camp), S, "status"),
    # -- privacy, import, audit, identity ---------------------------------------------------------------------------
    ("export-bad-path", lambda w: w.as_rep1.export_customers("客户.pdf"), V, "path"),
    ("import-missing-header", lambda w: w.as_rep1.import_customers(pd.DataFrame({"客户名称": ["甲公司"]})),
     ImportFileError, "header"),
    ("import-unknown-header", lambda w: w.as_rep1.import_customers(pd.DataFrame({"客户名称": ["甲"], "省份": ["北京"],
                                                                                "城市": ["北京市"], "爱好": ["x"]})),
     ImportFileError, "header"),
    ("audit-unknown-table", lambda w: w.admin.audit("salary"), V, "table"),
    ("list-unknown-table", lambda w: w.as_rep1.list("salary"), V, "table"),
    ("act-as-left", lambda w: CRM(w.store, "rep4"), P, "user"),
    ("act-as-unknown", lambda w: CRM(w.store, "nobody"), N, "user"),
    # -- issue 17: still accepted before; (…, exact first line of the message) -------------------------
    ("cust-nan-limit-create", lambda w: w.as_rep1.create_customer("甲公司", province="北京", city="北京市",
                                                                    credit_limit=float("nan")), V, "credit_limit",
     "信用额度（credit_limit）[customer]的值 nan 无效：NaN（缺失值）不是数字。允许：数字；要清空该字段请传 None"),
    ("cust-nan-limit-update", lambda w: w.admin.update_customer(w.c1, credit_limit=np.float64("nan")), V,
     "credit_limit",
     "信用额度（credit_limit）[customer]的值 np.float64(nan) 无效：NaN（缺失值）不是数字。允许：数字；要清空该字段请传 None"),
    ("cust-hot-yes", lambda w: w.as_rep1.create_customer("甲公司", province="北京", city="北京市", hot="yes"), V, "hot",
     "热点客户（hot）[customer]的值 'yes' 无效。允许：True 或 False（是/否）"),
    ("cust-hot-false-text", lambda w: w.admin.update_customer(w.c1, hot="False"), V, "hot",
     "热点客户（hot）[customer]的值 'False' 无效。允许：True 或 False（是/否）"),
    ("cust-hot-numpy-int", lambda w: w.admin.update_customer(w.c1, hot=np.int64(1)), V, "hot",
     "热点客户（hot）[customer]的值 np.int64(1) 无效。允许：True 或 False（是/否）"),
    ("cust-nul-byte", lambda w: w.as_rep1.update_customer(w.c1, address="北京\x00海淀"), V, "address",
     "地址（address）[customer]的值 '北京\\x00海淀' 无效：文本中有 NUL 字符。允许：不含 NUL 字符（\\x00）的文本"),
    ("complaint-huge-note", lambda w: w.as_rep1.advance_complaint(w.cp1, "已分派", department_id=w.team1,
                                                                   handling_notes="很" * 10_000_001),
     V, "handling_notes",
     f"处理过程（handling_notes）的值 '{'很' * 40}…（共 10000001 个字符）' 无效：共 10000001 个字符。允许：不超过 10000 个字符"),
    ("list-unknown-column", lambda w: w.as_rep1.list("customer", where={"colour": "红"}), U, "where", None),
    ("pay-aborted", lambda w: w.as_rep1.record_payment(w.order_aborted, 10), S, "status",
     "执行状态（status）[sales_order]的值 '意外中止' 不能变更为该状态：已意外中止的合同/订单不能回款。允许：执行中、结束"),
    ("invoice-aborted", lambda w: w.as_rep1.issue_invoice(w.order_aborted, 10), S, "status",
     "执行状态（status）[sales_order]的值 '意外中止' 不能变更为该状态：已意外中止的合同/订单不能开票。允许：执行中、结束"),
    ("import-ragged-row", lambda w: w.as_rep1.import_customers(_RAGGED), ImportFileError, "row",
     "行号（row）的值 3 无法导入：第 3 行有 5 个单元格，列会错位；请检查多余或缺少的逗号。允许：每行 4 个单元格（与表头相同）"),
    ("import-nul-file", lambda w: w.as_rep1.import_customers(_NUL_FILE), ImportFileError, "source", None),
]

_FILES = Path(tempfile.mkdtemp(prefix="simcrm-bad-input-"))
atexit.register(shutil.rmtree, _FILES, True)
_RAGGED = _FILES / "ragged.csv"
_RAGGED.write_text("客户名称,省份,城市,电话\n甲公司,北京,北京市,010-62345670\n乙公司,北京,北京市,010,62345671\n",
                   encoding="utf-8")
_NUL_FILE = _FILES / "nul.csv"
_NUL_FILE.write_text("客户名称,省份,城市\n甲\x00公司,北京,北京市\n", encoding="utf-8")


def _world(store):
    """The shared small world plus an order approved and then aborted (意外中止)."""
    w = small_world(store)
    w.order_aborted = w.as_rep1.create_order(w.c1, [{"product_id": w.toner, "quantity": 1}])
    w.as_mgr1.approve_order(w.order_aborted)
    w.as_rep1.abort_order(w.order_aborted)
    # a second order, shipped, invoiced in full and partly returned (its return is credited)
    w.order_returned = w.as_rep1.create_order(w.c1, [{"product_id": w.toner, "quantity": 3}])
    w.as_mgr1.approve_order(w.order_returned)
    w.as_rep1.ship_order(w.order_returned)
    w.inv_returned = w.as_rep1.issue_invoice(w.order_returned, w.store.get("sales_order", w.order_returned)["total_amount"])
    line = int(w.store.read("order_line", where={"order_id": w.order_returned})["id"].iloc[0])
    w.return_other = w.as_rep1.return_goods(w.order_returned, {line: 1}, "包装破损")
    return w


def _params(case):
    return case[1], case[2], case[3], case[4] if len(case) > 4 else None


def _check(world, op, expected, field, exact=None) -> None:
    before = world.store.snapshot()
    with pytest.raises(SimCRMError) as info:
        op(world)
    err = info.value
    assert isinstance(err, expected), f"{type(err).__name__}: {err}"
    assert err.field == field, str(err)
    message = str(err)
    assert field in message
    assert repr(err.value) in message or str(err.value) in message
    # a missing required field says "必填" instead of listing values
    assert err.allowed or isinstance(err, RequiredFieldError), f"no 'allowed' in {message}"
    assert not message.isascii(), "the message should be Chinese"
    if exact is not None:
        assert message.split("\n")[0] == exact
    assert snapshot_equal(before, world.store.snapshot()) == []


@pytest.fixture(scope="module")
def sqlite_world():
    from simcrm.store import Store

    store = Store()
    yield _world(store)
    store.close()


@pytest.mark.parametrize("op, expected, field, exact", [_params(c) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_changes_nothing_sqlite(sqlite_world, op, expected, field, exact):
    _check(sqlite_world, op, expected, field, exact)


@pytest.mark.postgres
def test_bad_input_changes_nothing_postgresql(pg_url):
    from simcrm.store import Store

    store = Store(pg_url)
    try:
        world = _world(store)
        failures = []
        for case in CASES:
            case_id = case[0]
            try:
                _check(world, *_params(case))
            except AssertionError as exc:  # collect them all, report at once
                failures.append(f"{case_id}: {exc}")
        assert failures == []
    finally:
        store.close()


def test_cases_cover_every_public_write_operation():
    """Every student-facing write operation of CRM has at least one bad-input case."""
    import inspect

    source = "\n".join(inspect.getsource(c[1]) for c in CASES)
    writes = [name for name in dir(CRM) if not name.startswith("_") and callable(getattr(CRM, name))
              and name.split("_")[0] in {"add", "create", "update", "set", "advance", "win", "lose", "shelve",
                                          "resume", "expire", "bulk", "merge", "transfer", "share", "hire",
                                          "leave", "move", "rename", "disable", "convert", "qualify",
                                          "invalidate", "score", "send", "approve", "ship", "record", "issue",
                                          "return", "finish", "abort", "log", "plan", "complete", "open",
                                          "respond", "resolve", "reopen", "close", "start", "end", "import",
                                          "export", "stock", "discontinue", "reactivate"}]
    missing = [name for name in writes if f".{name}(" not in source]
    assert len(missing) <= 25, missing
