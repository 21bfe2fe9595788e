"""What the CRM shows on a given day, rendered from the model's truth events.

:func:`render` is a pure function of the model state and ``today``: rows whose event has not
happened yet are left out, and state fields (lifecycle, statuses, stock) are computed as of
``today``. Ids are assigned in order of appearance, so a later ``today`` keeps every earlier row
and its id and only appends rows (and changes state fields), which is what
:meth:`World.step` writes. Frames hold dictionary columns as text and dates as
``datetime64``; :mod:`simcrm.store.frames` turns them into database values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import reference
from ..store import schema
from .firm import codes
from .model import NEVER, Model, _uniform

__all__ = ["render"]

STAGES = np.array(reference.STAGES)
STAGE_P = np.array([reference.STAGE_PROBABILITY[s] for s in reference.STAGES], dtype=float)


def _ts(m: Model, sec: np.ndarray) -> np.ndarray:
    """Seconds since the founding date → ``datetime64[s]`` (NaT for NEVER)."""
    sec = np.asarray(sec, dtype=np.int64)
    out = m.start64.astype("datetime64[s]") + sec.astype("timedelta64[s]")
    return np.where(sec >= NEVER // 2, np.datetime64("NaT"), out).astype("datetime64[s]")


def _day(m: Model, day: np.ndarray) -> np.ndarray:
    day = np.asarray(day, dtype=np.int64)
    out = m.start64 + np.minimum(day, 10 ** 6).astype("timedelta64[D]")
    return np.where(day >= NEVER // 2, np.datetime64("NaT"), out).astype("datetime64[D]")


def _order_ids(key_day: np.ndarray, key_sec: np.ndarray | None = None) -> np.ndarray:
    """Positions (0-based) of rows sorted by appearance (day, seconds, sequence)."""
    n = len(key_day)
    keys = [np.arange(n)]
    if key_sec is not None:
        keys.append(key_sec)
    keys.append(key_day)
    return np.lexsort(keys)


def _take(frame: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    out = frame.iloc[order].reset_index(drop=True)
    out.insert(0, "id", np.arange(1, len(out) + 1))
    return out


def render(m: Model, today: int) -> dict[str, pd.DataFrame]:
    """All tables as of day ``today`` (days since the founding date)."""
    t: dict[str, pd.DataFrame] = {}
    firm = m.firm
    T = today

    # --- organisation ----------------------------------------------------------------------
    emp = firm.tables["employee"].copy()
    left = emp["_leave_day"].to_numpy() <= T
    emp["status"] = np.where(left, "离职", "正常")
    emp["leave_date"] = _day(m, np.where(left, emp["_leave_day"].to_numpy(), NEVER))
    emp = emp[emp["_hire_day"].to_numpy() <= T]
    t["department"] = firm.tables["department"]
    t["role"] = firm.tables["role"]
    t["role_right"] = firm.tables["role_right"]
    t["employee"] = emp[["id", "code", "name", "login", "gender", "department_id", "role_id", "role_type", "title",
                         "mobile", "email", "hire_date", "leave_date", "status"]].reset_index(drop=True)
    t["product_category"] = firm.tables["product_category"]
    t["sla_policy"] = firm.tables["sla_policy"]

    # --- customers and contacts ---------------------------------------------------------------
    c = m.cust.frame()
    vis = c["arrive"].to_numpy() <= T
    cv = c[vis]
    cust_id = np.full(len(c), -1, dtype=np.int64)
    order = _order_ids(cv["arrive"].to_numpy(), cv["arrive_sec"].to_numpy())
    cust_id[np.flatnonzero(vis)[order]] = np.arange(1, len(order) + 1)
    n_cust = len(order)

    orders = m.ev["order"].frame()
    ov = orders[orders["day"].to_numpy() <= T].copy() if len(orders) else orders
    o_order = _order_ids(ov["day"].to_numpy(), ov["sec"].to_numpy())
    ov = _take(ov, o_order)
    order_id = np.full(len(orders), -1, dtype=np.int64)
    order_id[ov.index.to_numpy()] = 0  # placeholder, set below
    # map truth sequence → rendered id
    vis_seq = np.flatnonzero(orders["day"].to_numpy() <= T)[o_order]
    order_id[vis_seq] = np.arange(1, len(vis_seq) + 1)

    lifecycle, lc_day, lost, events = _lifecycle(m, ov, cust_id, T)
    cust = pd.DataFrame({
        "id": np.arange(1, n_cust + 1),
    })
    src = cv.iloc[order].reset_index(drop=True)
    cust["code"] = codes("customer", cust["id"].to_numpy(), m.p.customers * 3)
    for col in ("name", "kind", "industry", "size", "source", "province", "city", "address", "phone", "email",
                "id_number", "credit_code"):
        cust[col] = src[col].to_numpy()
    cust["owner_id"] = src["owner"].to_numpy()
    # level: the reps' own grading, last revised half a year ago (students recompute it in ch06)
    stale = _revenue_until(m, orders, cust_id, n_cust, T - 180)
    rank = pd.Series(stale).rank(ascending=False, method="first").to_numpy()
    buyers = (stale > 0).sum()
    lvl = np.select([rank <= 0.05 * buyers, rank <= 0.2 * buyers, rank <= 0.7 * buyers], ["VIP客户", "主要客户", "普通客户"], "小客户")
    cust["level"] = np.where(stale > 0, lvl, None)
    rating, limit = _credit(m, orders, cust_id, n_cust, T)
    # credit grading is for enterprise customers who buy on account; individuals get none
    ent_c = src["ent"].to_numpy().astype(bool)
    cust["credit_rating"] = np.where(ent_c, rating, None)
    cust["credit_limit"] = np.where(ent_c, limit, np.nan)
    sat = src["_sat"].to_numpy()
    rng_r = np.random.default_rng(np.random.SeedSequence([m.seed, 7, T]).generate_state(1)[0])
    noisy = sat + rng_r.normal(0, 0.12, size=n_cust)
    cust["relationship_level"] = np.where(src["ent"].to_numpy(), np.select([noisy > 0.8, noisy > 0.62, noisy > 0.42],
                                                                            ["密切", "较好", "一般"], "较差"), None)
    first = _first_order_day(ov, cust_id, n_cust)
    # customers imported at go-live signed their first contract before it
    first = np.where(src["_established"].to_numpy(), src["_prior_first"].to_numpy(), first)
    cust["first_contract_date"] = _day(m, first)
    cust["hot"] = False
    cust["lifecycle"] = lifecycle
    cust["lifecycle_date"] = _day(m, lc_day)
    cust["lost_reason"] = lost
    cust["created_at"] = _ts(m, src["arrive"].to_numpy() * 86400 + src["arrive_sec"].to_numpy())
    cust["created_by"] = src["first_owner"].to_numpy()
    cust["deleted"] = False
    cust["merged_into"] = pd.array([pd.NA] * n_cust, dtype="Int64")

    ct = m.contacts.frame()
    cvis = cust_id[ct["cust"].to_numpy()] > 0
    ctv = ct[cvis]
    c_order = _order_ids(ctv["arrive"].to_numpy(), ctv["sec"].to_numpy())
    contact_id = np.full(len(ct), -1, dtype=np.int64)
    contact_id[np.flatnonzero(cvis)[c_order]] = np.arange(1, len(c_order) + 1)
    ctv = ctv.iloc[c_order].reset_index(drop=True)
    contact = pd.DataFrame({"id": np.arange(1, len(ctv) + 1), "customer_id": cust_id[ctv["cust"].to_numpy()]})
    for col in ("name", "gender", "title", "department", "mobile", "phone", "email", "birthday", "buying_role"):
        contact[col] = ctv[col].to_numpy()
    contact["status"] = np.where(ctv["leave"].to_numpy() <= T, "离职", np.where(ctv["rank"].to_numpy() == 0, "主联系人", "联系人"))
    contact["created_at"] = _ts(m, ctv["arrive"].to_numpy() * 86400 + ctv["sec"].to_numpy())

    # --- leads --------------------------------------------------------------------------------
    le = m.ev["lead"].frame()
    lvis = le["created"].to_numpy() <= T
    lv = le[lvis]
    l_order = _order_ids(lv["created"].to_numpy(), lv["sec"].to_numpy())
    lv = lv.iloc[l_order].reset_index(drop=True)
    lead = pd.DataFrame({"id": np.arange(1, len(lv) + 1)})
    lead["code"] = codes("lead", lead["id"].to_numpy(), len(le) * 3)
    for col in ("name", "company", "title", "mobile", "email", "province", "city", "source", "score"):
        lead[col] = lv[col].to_numpy()
    lead["owner_id"] = pd.array(np.where(lv["owner"].to_numpy() > 0, lv["owner"].to_numpy(), 0), dtype="Int64")
    lead.loc[lv["owner"].to_numpy() <= 0, "owner_id"] = pd.NA
    decided = lv["decided"].to_numpy() <= T
    conv = lv["status"].to_numpy() == "已转化"
    status = np.where(decided, lv["status"].to_numpy(), np.where(lv["follow"].to_numpy() <= T, "跟进中", "新建"))
    lead["status"] = status
    lead["invalid_reason"] = np.where(status == "无效", lv["invalid_reason"].to_numpy(), None)
    lead["created_at"] = _ts(m, lv["created"].to_numpy() * 86400 + lv["sec"].to_numpy())
    lead["converted_at"] = _ts(m, np.where(status == "已转化", lv["decided"].to_numpy() * 86400 + lv["sec"].to_numpy() + 3600, NEVER))
    cidx = lv["cust"].to_numpy()
    lead["customer_id"] = pd.array(np.where(conv & decided, cust_id[np.maximum(cidx, 0)], 0), dtype="Int64")
    lead.loc[~(conv & decided), "customer_id"] = pd.NA
    cont = lv["contact"].to_numpy()
    lead["contact_id"] = pd.array(np.where(conv & decided, contact_id[np.maximum(cont, 0)], 0), dtype="Int64")
    lead.loc[~(conv & decided), "contact_id"] = pd.NA

    # --- opportunities and their history -----------------------------------------------------
    op = m.ev["opp"].frame()
    oh = m.ev["opp_hist"].frame()
    ohv = oh[oh["day"].to_numpy() <= T]
    h_order = _order_ids(ohv["day"].to_numpy(), ohv["sec"].to_numpy())
    ohv = ohv.iloc[h_order].reset_index(drop=True)
    opvis = op["created"].to_numpy() <= T
    opv_seq = np.flatnonzero(opvis)
    p_order = _order_ids(op["created"].to_numpy()[opvis], op["sec"].to_numpy()[opvis])
    opp_id = np.full(len(op), -1, dtype=np.int64)
    opp_id[opv_seq[p_order]] = np.arange(1, len(p_order) + 1)
    opv = op.iloc[opv_seq[p_order]].reset_index(drop=True)
    # the current state of each opportunity = its last history row so far
    hist_opp = opp_id[ohv["opp"].to_numpy()]
    last = pd.Series(np.arange(len(ohv))).groupby(hist_opp).max()
    cur = ohv.iloc[last.to_numpy()]
    cur_stage = np.zeros(len(opv), dtype=np.int64)
    cur_status = np.full(len(opv), "跟踪", dtype=object)
    cur_day = np.zeros(len(opv), dtype=np.int64)
    cur_sec = np.zeros(len(opv), dtype=np.int64)
    pos = last.index.to_numpy() - 1
    cur_stage[pos] = cur["stage"].to_numpy()
    cur_status[pos] = cur["status"].to_numpy()
    cur_day[pos] = cur["day"].to_numpy()
    cur_sec[pos] = cur["sec"].to_numpy()
    opp = pd.DataFrame({"id": np.arange(1, len(opv) + 1)})
    opp["code"] = codes("opportunity", opp["id"].to_numpy(), len(op) * 3)
    cname = cust.set_index("id")["name"]
    prod_names = m.prod["name"].to_numpy()
    opp["customer_id"] = cust_id[opv["cust"].to_numpy()]
    opp["name"] = (cname.reindex(opp["customer_id"]).to_numpy().astype(object) + "-"
                   + prod_names[(opv["cust"].to_numpy() * 7 + np.arange(len(opv))) % len(prod_names)].astype(object) + "项目")
    opp["name"] = [x[:100] for x in opp["name"]]
    opp["contact_id"] = contact_id[opv["contact"].to_numpy()]
    opp["owner_id"] = opv["owner"].to_numpy()
    opp["source"] = opv["source"].to_numpy()
    opp["amount"] = opv["amount"].to_numpy().astype(float)
    opp["expected_close"] = _day(m, opv["expected"].to_numpy())
    opp["stage"] = STAGES[cur_stage]
    prob = STAGE_P[cur_stage].copy()
    # a few open deals carry a manual override (the rep's own judgement)
    override = np.where((cur_status == "跟踪") & ((opv["cust"].to_numpy() % 9) == 0),
                        np.clip(STAGE_P[cur_stage] + np.where(opv["cust"].to_numpy() % 2 == 0, 15, -5), 5, 95), np.nan)
    prob = np.where(~np.isnan(override), override, prob)
    prob = np.where(cur_status == "成功", 100.0, np.where(cur_status == "失败", 0.0, prob))
    opp["probability"] = prob
    opp["probability_override"] = override
    opp["status"] = cur_status
    opp["created_at"] = _ts(m, opv["created"].to_numpy() * 86400 + opv["sec"].to_numpy())
    closed = np.isin(cur_status, ["成功", "失败", "失效"])
    opp["closed_at"] = _ts(m, np.where(closed, cur_day * 86400 + cur_sec, NEVER))
    reasons = np.array(["价格偏高", "选择了竞争对手", "预算取消", "需求变化", "决策人更换"])
    opp["lost_reason"] = np.where(cur_status == "失败", reasons[opv["cust"].to_numpy() % len(reasons)], None)
    cust["hot"] = np.isin(cust["id"].to_numpy(), opp.loc[(cur_status == "跟踪") & (cur_stage >= 3), "customer_id"].to_numpy())
    # lead → opportunity links for converted enterprise leads
    first_opp = pd.Series(opp["id"].to_numpy()).groupby(opp["customer_id"].to_numpy()).min()
    lead["opportunity_id"] = pd.array(first_opp.reindex(lead["customer_id"].astype("float64")).to_numpy(), dtype="Int64")

    hist = pd.DataFrame({"id": np.arange(1, len(ohv) + 1), "opportunity_id": hist_opp, "stage": STAGES[ohv["stage"].to_numpy()],
                         "status": ohv["status"].to_numpy()})
    st = ohv["status"].to_numpy()
    hp = STAGE_P[ohv["stage"].to_numpy()]
    hist["probability"] = np.where(st == "成功", 100.0, np.where(st == "失败", 0.0, hp))
    hist["entered_at"] = _ts(m, ohv["day"].to_numpy() * 86400 + ohv["sec"].to_numpy())
    nxt = pd.Series(hist["entered_at"].to_numpy()).groupby(hist_opp).shift(-1)
    hist["left_at"] = nxt.to_numpy().astype("datetime64[s]")
    hist["changed_by"] = ohv["by"].to_numpy()

    # --- orders -------------------------------------------------------------------------------
    so = pd.DataFrame({"id": ov["id"].to_numpy()})
    so["code"] = codes("sales_order", so["id"].to_numpy(), max(len(orders) * 3, 10))
    so["kind"] = ov["kind"].to_numpy()
    so["customer_id"] = cust_id[ov["cust"].to_numpy()]
    so["contact_id"] = contact_id[ov["contact"].to_numpy()]
    so["owner_id"] = ov["owner"].to_numpy()
    oppv = ov["opp"].to_numpy()
    so["opportunity_id"] = pd.array(np.where(oppv >= 0, opp_id[np.maximum(oppv, 0)], 0), dtype="Int64")
    so.loc[oppv < 0, "opportunity_id"] = pd.NA
    so["order_date"] = _day(m, ov["day"].to_numpy())
    so["end_date"] = _day(m, ov["end"].to_numpy())
    so["total_amount"] = np.round(ov["total"].to_numpy(), 2)
    so["payment_terms"] = ov["terms"].to_numpy()

    lines = m.ev["line"].frame()
    plans = m.ev["plan"].frame()
    rets = m.ev["ret"].frame()
    line_vis = order_id[lines["order"].to_numpy()] > 0
    lv_ = lines[line_vis]
    l_ord = np.lexsort((np.arange(len(lv_)), order_id[lv_["order"].to_numpy()]))
    line_id = np.full(len(lines), -1, dtype=np.int64)
    line_id[np.flatnonzero(line_vis)[l_ord]] = np.arange(1, len(l_ord) + 1)
    lv_ = lv_.iloc[l_ord].reset_index(drop=True)
    o_seq = lv_["order"].to_numpy()
    ship1 = orders["ship1"].to_numpy()
    ship2 = orders["ship2"].to_numpy()
    shipped_part = np.where(lv_["part"].to_numpy() == 1, ship1[o_seq] <= T, ship2[o_seq] <= T)
    ol = pd.DataFrame({"id": np.arange(1, len(lv_) + 1), "order_id": order_id[o_seq], "product_id": lv_["product"].to_numpy(),
                       "quantity": lv_["qty"].to_numpy().astype(float), "unit_price": lv_["price"].to_numpy().astype(float),
                       "discount": lv_["discount"].to_numpy().astype(float), "tax_rate": lv_["tax"].to_numpy().astype(float),
                       "amount": lv_["amount"].to_numpy().astype(float)})
    ol["shipped_quantity"] = np.where(shipped_part, ol["quantity"], 0.0)
    ord_seq = vis_seq
    approve = orders["approve"].to_numpy()[ord_seq]
    rejected = orders["rejected"].to_numpy()[ord_seq]
    so["approval"] = np.where(approve > T, "待审", np.where(rejected, "否决", "同意"))
    n_ship_parts = np.where(ship2[ord_seq] < NEVER, 2, 1)
    s1 = ship1[ord_seq] <= T
    s2 = ship2[ord_seq] <= T
    so["shipping"] = np.where(s1 & ((n_ship_parts == 1) | s2), "全部", np.where(s1, "部分", "未出库"))
    pv = plans
    p_paid = pv["paid"].to_numpy()
    p_order_seq = pv["order"].to_numpy()
    unpaid = np.bincount(p_order_seq, weights=(p_paid > T).astype(float), minlength=len(orders))
    abort = orders["abort_day"].to_numpy()[ord_seq]
    end = orders["end"].to_numpy()[ord_seq]
    done = (so["shipping"].to_numpy() == "全部") & (unpaid[ord_seq] == 0) & ((end >= NEVER // 2) | (end <= T))
    so["status"] = np.where(rejected & (approve <= T), "意外中止", np.where(abort <= T, "意外中止", np.where(done, "结束", "执行中")))
    mgr = np.array([firm.manager_of_team.get(x, firm.boss) for x in orders["team"].to_numpy()[ord_seq]])
    big = so["total_amount"].to_numpy() > 100000
    so["approved_by"] = pd.array(np.where(big, firm.boss, mgr), dtype="Int64")
    so.loc[approve > T, "approved_by"] = pd.NA
    so["approved_at"] = _ts(m, np.where(approve > T, NEVER, approve * 86400 + 10 * 3600 + ov["sec"].to_numpy() % 3600))
    # shipments never happen for aborted-before-shipping orders
    no_ship = (abort <= ship1[ord_seq])
    so.loc[no_ship & (abort <= T), "shipping"] = "未出库"

    # quotes: one per opportunity that reached 方案制定, plus the order's own quote
    quote, qline, so_quote = _quotes(m, opp, opv, ohv, hist_opp, cur_stage, cur_status, so, ol, T)
    so["quote_id"] = so_quote

    # shipments and stock moves
    ship_rows = []
    for part, sday in ((1, ship1), (2, ship2)):
        ok = (sday[ord_seq] <= T) & ~(no_ship & (abort <= T))
        ship_rows.append(pd.DataFrame({"order_id": so["id"].to_numpy()[ok], "day": sday[ord_seq][ok], "part": part}))
    sh = pd.concat(ship_rows, ignore_index=True)
    sh = sh.iloc[np.lexsort((sh["part"].to_numpy(), sh["order_id"].to_numpy(), sh["day"].to_numpy()))].reset_index(drop=True)
    sh.insert(0, "id", np.arange(1, len(sh) + 1))
    shipment = pd.DataFrame({"id": sh["id"], "code": codes("shipment", sh["id"].to_numpy(), max(len(orders) * 6, 10)),
                             "order_id": sh["order_id"], "ship_date": _day(m, sh["day"].to_numpy()),
                             "handled_by": firm.warehouse_staff[0]})
    # shipment of each (order, part): a lookup array keyed by order id × 3 + part
    ship_key = sh["order_id"].to_numpy().astype(np.int64) * 3 + sh["part"].to_numpy().astype(np.int64)
    ol_part = lv_["part"].to_numpy()
    ol_key = ol["order_id"].to_numpy().astype(np.int64) * 3 + ol_part.astype(np.int64)
    ship_of = np.zeros(max(int(ship_key.max()) if len(ship_key) else 0, int(ol_key.max()) if len(ol_key) else 0) + 1,
                       dtype=np.int64)
    ship_of[ship_key] = sh["id"].to_numpy()
    phys = lv_["physical"].to_numpy()
    out_mask = shipped_part & phys & (ship_of[ol_key] > 0)
    out = pd.DataFrame({"product_id": ol["product_id"].to_numpy()[out_mask], "day": np.where(ol_part == 1, ship1[o_seq], ship2[o_seq])[out_mask],
                        "kind": "出库", "quantity": ol["quantity"].to_numpy()[out_mask],
                        "shipment_id": ship_of[ol_key[out_mask]].tolist(),
                        "order_line_id": ol["id"].to_numpy()[out_mask], "return_id": 0, "note": None})

    # returns
    rv = rets[(rets["day"].to_numpy() <= T) & (line_id[rets["line"].to_numpy()] > 0)] if len(rets) else rets
    if len(rv):
        r_ord = np.lexsort((np.arange(len(rv)), rv["day"].to_numpy()))
        rv = rv.iloc[r_ord].reset_index(drop=True)
        rline = line_id[rv["line"].to_numpy()]
        shipped_ok = ol["shipped_quantity"].to_numpy()[rline - 1] > 0
        rv = rv[shipped_ok].reset_index(drop=True)
        rline = rline[shipped_ok]
    else:
        rline = np.zeros(0, dtype=np.int64)
    sret = pd.DataFrame({"id": np.arange(1, len(rv) + 1)})
    sret["code"] = codes("sales_return", sret["id"].to_numpy(), max(len(rets) * 3, 10))
    sret["order_id"] = order_id[rv["order"].to_numpy()] if len(rv) else np.zeros(0, dtype=np.int64)
    sret["return_date"] = _day(m, rv["day"].to_numpy()) if len(rv) else np.zeros(0, dtype="datetime64[D]")
    sret["reason"] = rv["reason"].to_numpy() if len(rv) else np.zeros(0, dtype=object)
    sret["amount"] = rv["amount"].to_numpy().astype(float) if len(rv) else np.zeros(0)
    rl = pd.DataFrame({"id": sret["id"], "return_id": sret["id"], "order_line_id": rline,
                       "quantity": rv["qty"].to_numpy().astype(float) if len(rv) else np.zeros(0), "amount": sret["amount"]})
    phys_ret = m.prod["_service"].to_numpy()[rv["product"].to_numpy() - 1] == False if len(rv) else np.zeros(0, bool)  # noqa: E712
    back = pd.DataFrame({"product_id": rv["product"].to_numpy()[phys_ret] if len(rv) else np.zeros(0, np.int64),
                         "day": rv["day"].to_numpy()[phys_ret] if len(rv) else np.zeros(0, np.int64), "kind": "退货入库",
                         "quantity": rl["quantity"].to_numpy()[phys_ret], "shipment_id": 0,
                         "order_line_id": rline[phys_ret], "return_id": sret["id"].to_numpy()[phys_ret], "note": None})
    stock_move, stock = _stock(m, out, back, T)
    prod = m.prod.copy()
    prod["stock"] = stock
    prod["status"] = np.where(prod["_stop_day"].to_numpy() <= T, "停售", "正常")
    prod = prod[prod["_launch_day"].to_numpy() <= T]
    t["product"] = prod[["id", "code", "name", "model", "category_id", "unit", "price", "cost", "stock", "stock_lower",
                         "stock_upper", "warranty_months", "status", "launched_on"]].reset_index(drop=True)

    # payments
    pvis = order_id[p_order_seq] > 0
    pv = plans[pvis]
    pp_ord = np.lexsort((pv["instalment"].to_numpy(), order_id[pv["order"].to_numpy()]))
    pv = pv.iloc[pp_ord].reset_index(drop=True)
    plan = pd.DataFrame({"id": np.arange(1, len(pv) + 1), "order_id": order_id[pv["order"].to_numpy()],
                         "instalment": pv["instalment"].to_numpy(), "due_date": _day(m, pv["due"].to_numpy()),
                         "amount": pv["amount"].to_numpy().astype(float)})
    rej_plan = orders["rejected"].to_numpy()[pv["order"].to_numpy()]
    plan = plan[~rej_plan].reset_index(drop=True)
    pv = pv[~rej_plan].reset_index(drop=True)
    plan["id"] = np.arange(1, len(plan) + 1)
    paid_ok = (pv["paid"].to_numpy() <= T) & (orders["abort_day"].to_numpy()[pv["order"].to_numpy()] > pv["paid"].to_numpy())
    pay = pd.DataFrame({"plan_id": plan["id"].to_numpy()[paid_ok], "order_id": plan["order_id"].to_numpy()[paid_ok],
                        "day": pv["paid"].to_numpy()[paid_ok], "sec": pv["sec"].to_numpy()[paid_ok],
                        "amount": plan["amount"].to_numpy()[paid_ok]})
    pay = pay.iloc[np.lexsort((pay["plan_id"].to_numpy(), pay["sec"].to_numpy(), pay["day"].to_numpy()))].reset_index(drop=True)
    payment = pd.DataFrame({"id": np.arange(1, len(pay) + 1)})
    payment["code"] = codes("payment", payment["id"].to_numpy(), max(len(plans) * 3, 10))
    payment["order_id"] = pay["order_id"].to_numpy()
    payment["plan_id"] = pay["plan_id"].to_numpy()
    payment["paid_date"] = _day(m, pay["day"].to_numpy())
    payment["amount"] = pay["amount"].to_numpy()
    payment["method"] = np.array(["银行转账", "银行转账", "支付宝", "微信支付", "承兑汇票"])[pay["plan_id"].to_numpy() % 5]

    inv_day = orders["invoice"].to_numpy()[ord_seq]
    inv_ok = (inv_day <= T) & (so["approval"].to_numpy() == "同意") & (so["shipping"].to_numpy() != "未出库")
    inv = pd.DataFrame({"order_id": so["id"].to_numpy()[inv_ok], "day": inv_day[inv_ok], "amount": so["total_amount"].to_numpy()[inv_ok]})
    inv = inv.iloc[np.lexsort((inv["order_id"].to_numpy(), inv["day"].to_numpy()))].reset_index(drop=True)
    invoice = pd.DataFrame({"id": np.arange(1, len(inv) + 1)})
    invoice["invoice_no"] = codes("invoice", invoice["id"].to_numpy(), 10 ** 7)
    invoice["order_id"] = inv["order_id"].to_numpy()
    invoice["invoice_date"] = _day(m, inv["day"].to_numpy())
    invoice["amount"] = inv["amount"].to_numpy()
    # amounts are net of VAT (as in simcrm.crm): tax = amount × the order's amount-weighted rate
    line_tax = np.bincount(ol["order_id"].to_numpy(), weights=(ol["amount"] * ol["tax_rate"]).to_numpy(),
                           minlength=len(so) + 1)
    line_net = np.bincount(ol["order_id"].to_numpy(), weights=ol["amount"].to_numpy(), minlength=len(so) + 1)
    rate = np.divide(line_tax, line_net, out=np.zeros_like(line_tax), where=line_net > 0)
    invoice["tax_amount"] = np.round(inv["amount"].to_numpy() * rate[inv["order_id"].to_numpy()], 2)

    # --- relationship ---------------------------------------------------------------------------
    t.update(_relationship(m, T, cust_id, contact_id, order_id, opp_id, cust))

    # campaigns
    cp = m.ev["campaign"].frame()
    cvis = cp["start"].to_numpy() <= T + 30 if len(cp) else np.zeros(0, bool)
    cpv = cp[cvis].reset_index(drop=True) if len(cp) else cp
    camp_id = np.full(len(cp), -1, dtype=np.int64)
    camp_id[np.flatnonzero(cvis)] = np.arange(1, cvis.sum() + 1)
    campaign = pd.DataFrame({"id": np.arange(1, len(cpv) + 1)})
    campaign["code"] = codes("campaign", campaign["id"].to_numpy())
    for a, b in (("name", "name"), ("campaign_type", "type"), ("channel", "channel")):
        campaign[a] = cpv[b].to_numpy() if len(cpv) else np.zeros(0, object)
    campaign["owner_id"] = cpv["owner"].to_numpy() if len(cpv) else np.zeros(0, np.int64)
    campaign["start_date"] = _day(m, cpv["start"].to_numpy()) if len(cpv) else np.zeros(0, "datetime64[D]")
    campaign["end_date"] = _day(m, cpv["end"].to_numpy()) if len(cpv) else np.zeros(0, "datetime64[D]")
    campaign["cost_per_contact"] = cpv["cpc"].to_numpy().astype(float) if len(cpv) else np.zeros(0)
    campaign["budget"] = cpv["budget"].to_numpy().astype(float) if len(cpv) else np.zeros(0)
    if len(cpv):
        campaign["status"] = np.where(cpv["start"].to_numpy() > T, "计划", np.where(cpv["end"].to_numpy() >= T, "执行中", "结束"))
    else:
        campaign["status"] = np.zeros(0, object)
    campaign["control_share"] = cpv["control"].to_numpy().astype(float) if len(cpv) else np.zeros(0)
    campaign["seed"] = m.seed
    mem = m.ev["member"].frame()
    mv = mem[(camp_id[mem["campaign"].to_numpy()] > 0) & (cust_id[mem["cust"].to_numpy()] > 0)] if len(mem) else mem
    member = pd.DataFrame({"id": np.arange(1, len(mv) + 1)})
    member["campaign_id"] = camp_id[mv["campaign"].to_numpy()] if len(mv) else np.zeros(0, np.int64)
    member["customer_id"] = cust_id[mv["cust"].to_numpy()] if len(mv) else np.zeros(0, np.int64)
    member["group_name"] = mv["group"].to_numpy() if len(mv) else np.zeros(0, object)
    cday = mv["contacted"].to_numpy() if len(mv) else np.zeros(0, np.int64)
    member["contacted_at"] = _ts(m, np.where(cday <= T, cday * 86400 + (mv["sec"].to_numpy() if len(mv) else 0), NEVER))
    if len(mv):
        cs = cp.set_index(np.arange(len(cp)))
        st_, en_ = cs["start"].to_numpy()[mv["campaign"].to_numpy()], cs["end"].to_numpy()[mv["campaign"].to_numpy()]
        od = pd.DataFrame({"c": ov["cust"].to_numpy(), "d": ov["day"].to_numpy()})
        resp = np.zeros(len(mv), dtype=bool)
        key = pd.DataFrame({"c": mv["cust"].to_numpy(), "s": st_, "e": en_ + 14, "i": np.arange(len(mv))})
        jj = key.merge(od, on="c")
        hit = jj[(jj["d"] >= jj["s"]) & (jj["d"] <= jj["e"])]["i"].unique()
        resp[hit] = True
        finished = en_ + 14 <= T
        member["responded"] = pd.array(np.where(finished, resp, False), dtype="boolean")
        member.loc[~finished, "responded"] = pd.NA
    else:
        member["responded"] = pd.array([], dtype="boolean")
    t["campaign"] = campaign
    t["campaign_member"] = member

    # --- ownership ------------------------------------------------------------------------------
    tr = m.ev["transfer"].frame()
    owner_hist, final_owner = _owners(m, cust_id, src, tr, T, n_cust)
    cust["owner_id"] = final_owner
    sh_ = m.ev["share"].frame()
    if len(sh_):
        sv = sh_[(sh_["day"].to_numpy() <= T) & (cust_id[sh_["cust"].to_numpy()] > 0)]
        sv = sv.iloc[np.lexsort((cust_id[sv["cust"].to_numpy()], sv["day"].to_numpy()))]
        share = pd.DataFrame({"id": np.arange(1, len(sv) + 1), "customer_id": cust_id[sv["cust"].to_numpy()],
                              "employee_id": sv["emp"].to_numpy(), "shared_at": _ts(m, sv["day"].to_numpy() * 86400 + 10 * 3600),
                              "shared_by": sv["by"].to_numpy()})
    else:
        share = pd.DataFrame({"id": [], "customer_id": [], "employee_id": [], "shared_at": [], "shared_by": []})

    audit = _audit(m, events, cust_id, T)

    t.update({"customer": cust, "contact": contact, "lead": lead, "opportunity": opp, "opportunity_stage_history": hist,
              "quote": quote, "quote_line": qline, "sales_order": so, "order_line": ol, "shipment": shipment,
              "stock_move": stock_move, "payment_plan": plan, "payment": payment, "invoice": invoice,
              "sales_return": sret, "return_line": rl, "owner_history": owner_hist, "customer_share": share,
              "audit_log": audit, "quota": _quota(m, T, orders)})
    t["numbering_rule"] = _numbering(t)
    return t


# --- helpers ------------------------------------------------------------------------------------


def _lifecycle(m: Model, ov: pd.DataFrame, cust_id: np.ndarray, T: int):
    """Lifecycle as the CRM's rules set it, with the list of changes for the audit log.

    潜在 until the first approved order (签约), 重复购买 from the second, 失效 180 days after the
    last order, or at once when an approved contract is aborted (意外终止) or an annual contract
    expires with no renewal (合同期满未续约); an order after 失效 brings the customer back.
    """
    c = m.cust.frame()
    n = int(cust_id.max()) if len(cust_id) else 0
    days = ov["day"].to_numpy()
    ok = ~ov["rejected"].to_numpy()
    cu = cust_id[ov["cust"].to_numpy()]
    ev_c, ev_d, ev_k = [cu[ok]], [days[ok]], [np.zeros(ok.sum(), dtype=np.int64)]  # 0 = order
    ab = ov["abort_day"].to_numpy()
    am = ok & (ab <= T)
    ev_c.append(cu[am]); ev_d.append(ab[am]); ev_k.append(np.full(am.sum(), 2))  # 2 = terminated
    en = ov["end"].to_numpy()
    em = ok & (en <= T) & (ab > T)
    ev_c.append(cu[em]); ev_d.append(en[em]); ev_k.append(np.full(em.sum(), 3))  # 3 = contract end
    # customers imported at go-live with their earlier orders: 4 = import (on their last order before start)
    est = np.flatnonzero(c["_established"].to_numpy() & (cust_id > 0))
    ev_c.append(cust_id[est]); ev_d.append(c["_prior_last"].to_numpy()[est]); ev_k.append(np.full(len(est), 4))
    prior_n = np.zeros(n + 1, dtype=np.int64)
    prior_n[cust_id[est]] = c["_prior_orders"].to_numpy()[est]
    ec, ed, ek = np.concatenate(ev_c), np.concatenate(ev_d), np.concatenate(ev_k)
    o = np.lexsort((ek, ed, ec))
    ec, ed, ek = ec[o], ed[o], ek[o]
    lifecycle = np.full(n + 1, "潜在", dtype=object)
    lc_day = np.full(n + 1, NEVER, dtype=np.int64)
    lost = np.full(n + 1, None, dtype=object)
    n_orders = np.zeros(n + 1, dtype=np.int64)
    last_order = np.full(n + 1, -NEVER, dtype=np.int64)
    cause_of = np.full(n + 1, "", dtype=object)
    death = c["_death_cause"].to_numpy()
    vis = cust_id > 0
    cause_of[cust_id[vis]] = death[vis]
    changes: list[tuple[int, int, str, str]] = []
    rule_day = np.full(n + 1, NEVER, dtype=np.int64)  # day the 180-day rule last set 失效 (reason drawn below)
    # a simple event loop per customer, in numpy-friendly chunks
    bounds = np.flatnonzero(np.r_[True, ec[1:] != ec[:-1], True])
    for a, b in zip(bounds[:-1], bounds[1:]):
        k = ec[a]
        state, sday, reason = "潜在", NEVER, None
        cnt, last = 0, -NEVER
        for j in range(a, b):
            d, kind = ed[j], ek[j]
            if kind == 4:
                cnt, last = prior_n[k], d
                state, sday, reason = ("签约" if cnt == 1 else "重复购买"), 0, None
                changes.append((k, 0, "潜在", state))
                continue
            if state != "失效" and cnt > 0 and d - last > 180:
                day180 = last + 180
                changes.append((k, day180, state, "失效"))
                state, sday, reason = "失效", day180, _RULE
                rule_day[k] = day180
            if kind == 0:
                cnt += 1
                new = "签约" if cnt == 1 else "重复购买"
                if new != state and not (state == "重复购买" and new == "重复购买"):
                    if state == "失效":
                        new = "重复购买"
                    changes.append((k, d, state, new))
                    state, sday, reason = new, d, None
                last = d
            elif kind in (2, 3) and state != "失效":
                has_renewal = kind == 3 and np.any((ed[a:b] >= d - 60) & (ed[a:b] <= d) & (ek[a:b] == 0) & (np.arange(a, b) != j))
                if kind == 2 or not has_renewal:
                    changes.append((k, d, state, "失效"))
                    state, sday = "失效", d
                    reason = "意外终止" if kind == 2 else "合同期满未续约"
        if state != "失效" and cnt > 0 and T - last > 180:
            changes.append((k, last + 180, state, "失效"))
            state, sday, reason = "失效", last + 180, _RULE
            rule_day[k] = last + 180
        lifecycle[k], lc_day[k], lost[k] = state, sday, reason
        n_orders[k], last_order[k] = cnt, last
    ruled = np.flatnonzero(lost == _RULE)
    lost[ruled] = _reason180(cause_of[ruled], m.seed, ruled, rule_day[ruled])
    created = np.full(n + 1, NEVER, dtype=np.int64)
    created[cust_id[vis]] = c["arrive"].to_numpy()[vis]
    lc_day = np.where(lifecycle == "潜在", created, lc_day)
    return lifecycle[1:], lc_day[1:], lost[1:], changes


_STATED = np.array(["转向竞争对手", "价格原因", "服务不满意", "需求消失", "其他"], dtype=object)
_RULE = "<180>"  # placeholder while the lifecycle loop runs


def _reason180(cause: np.ndarray, seed: int, k: np.ndarray, day: np.ndarray) -> np.ndarray:
    """What the rep records after the exit call when the 180-day rule sets 失效 (per customer ``k``).

    About a quarter are never called (the rule's own 180天未下单); about a third of those
    called will not say (未知); the others give a reason, the true one six times in ten and
    otherwise a polite or wrong one (价格原因, 需求消失 …). A customer who has not really left
    (hidden cause empty) says 需求消失 or 其他. Fixed per customer and date (no random state).
    """
    key = np.asarray(k, dtype=np.int64) * 4099 + np.asarray(day, dtype=np.int64)
    u = _uniform(seed, key, 7)
    v = _uniform(seed, key, 8)
    cause = np.asarray(cause, dtype=object)
    known = np.isin(cause, ["转向竞争对手", "价格原因", "服务不满意", "需求消失"])
    stated = np.where(known, np.where(v < 0.6, cause, _STATED[(v * 1000).astype(np.int64) % len(_STATED)]),
                      np.where(v < 0.6, "需求消失", "其他"))
    return np.where(u < 0.25, "180天未下单", np.where(u < 0.55, "未知", stated)).astype(object)


def _revenue_until(m: Model, orders: pd.DataFrame, cust_id: np.ndarray, n: int, day: int) -> np.ndarray:
    ok = (orders["day"].to_numpy() <= day) & ~orders["rejected"].to_numpy() & (cust_id[orders["cust"].to_numpy()] > 0)
    return np.bincount(cust_id[orders["cust"].to_numpy()[ok]] - 1, weights=orders["total"].to_numpy()[ok], minlength=n)[:n]


def _credit(m: Model, orders: pd.DataFrame, cust_id: np.ndarray, n: int, T: int):
    plans = m.ev["plan"].frame()
    if len(plans) == 0:
        return np.full(n, None, dtype=object), np.full(n, np.nan)
    due = plans["due"].to_numpy()
    paid = plans["paid"].to_numpy()
    seen = due <= T
    late = np.where(paid <= T, paid - due, T - due)
    cu = cust_id[orders["cust"].to_numpy()[plans["order"].to_numpy()]]
    ok = seen & (cu > 0)
    cnt = np.bincount(cu[ok] - 1, minlength=n)[:n]
    lated = np.bincount(cu[ok] - 1, weights=(late[ok] > 7).astype(float), minlength=n)[:n]
    mean_late = np.bincount(cu[ok] - 1, weights=np.maximum(late[ok], 0), minlength=n)[:n] / np.maximum(cnt, 1)
    share = lated / np.maximum(cnt, 1)
    rating = np.select([share == 0, share < 0.2, share < 0.4, mean_late < 60], ["AAA", "AA", "A", "B"], "C")
    rating = np.where(cnt > 0, rating, None)
    rev = _revenue_until(m, orders, cust_id, n, T)
    base = np.select([rating == "AAA", rating == "AA", rating == "A", rating == "B"], [0.5, 0.4, 0.3, 0.15], 0.0)
    limit = np.where(cnt > 0, np.round(rev * base / 3, -2), np.nan)
    return rating, limit


def _first_order_day(ov: pd.DataFrame, cust_id: np.ndarray, n: int) -> np.ndarray:
    out = np.full(n + 1, NEVER, dtype=np.int64)
    ok = ~ov["rejected"].to_numpy()
    np.minimum.at(out, cust_id[ov["cust"].to_numpy()[ok]], ov["day"].to_numpy()[ok])
    return out[1:]


def _quotes(m, opp, opv, ohv, hist_opp, cur_stage, cur_status, so, ol, T):
    """Quotes for opportunities that reached 方案制定 (3) and their lines."""
    reached = pd.Series(ohv["stage"].to_numpy()).groupby(hist_opp).max()
    first_at = ohv[ohv["stage"].to_numpy() == 3]
    first_day = pd.Series(first_at["day"].to_numpy()).groupby(hist_opp[ohv["stage"].to_numpy() == 3]).min()
    qopp = reached.index[reached.to_numpy() >= 3].to_numpy()
    qday = first_day.reindex(qopp).to_numpy()
    q = pd.DataFrame({"opportunity_id": qopp, "day": qday.astype(np.int64)})
    q = q.iloc[np.lexsort((q["opportunity_id"].to_numpy(), q["day"].to_numpy()))].reset_index(drop=True)
    q.insert(0, "id", np.arange(1, len(q) + 1))
    oi = q["opportunity_id"].to_numpy() - 1
    st = cur_status[oi]
    quote = pd.DataFrame({"id": q["id"], "code": codes("quote", q["id"].to_numpy(), max(len(opv) * 3, 10)),
                          "opportunity_id": q["opportunity_id"], "customer_id": opp["customer_id"].to_numpy()[oi],
                          "owner_id": opp["owner_id"].to_numpy()[oi], "quote_date": _day(m, q["day"].to_numpy()),
                          "valid_until": _day(m, q["day"].to_numpy() + 30)})
    # a quote goes out one to four days after it is drafted
    sent = q["day"].to_numpy() + 1 + q["opportunity_id"].to_numpy() % 4 <= T
    quote["status"] = np.where(st == "成功", "已转订单", np.where(np.isin(st, ["失败", "失效"]) | (q["day"].to_numpy() + 30 < T) & (st != "跟踪"),
                               "失效", np.where(sent, "已发送", "草稿")))
    # the order of a won opportunity carries its lines; others quote the expected amount
    so_opp = so["opportunity_id"].to_numpy()
    so_quote = pd.array([pd.NA] * len(so), dtype="Int64")
    qid_of_opp = pd.Series(q["id"].to_numpy(), index=q["opportunity_id"].to_numpy())
    has = ~pd.isna(so_opp)
    mapped = qid_of_opp.reindex(pd.Series(so_opp[has]).astype("float64").to_numpy())
    vals = mapped.to_numpy()
    tmp = np.full(len(so), np.nan)
    tmp[np.flatnonzero(has)] = vals
    so_quote = pd.array(np.where(np.isnan(tmp), 0, tmp).astype(np.int64), dtype="Int64")
    so_quote[np.isnan(tmp)] = pd.NA
    # quotes whose opportunity became an order carry that order's lines; others quote the
    # opportunity's amount as one line of a catalogue product
    has_order = ~np.isnan(tmp)
    quote_of_order = pd.Series(tmp[has_order].astype(np.int64), index=so["id"].to_numpy()[has_order])
    ol_q = quote_of_order.reindex(ol["order_id"].to_numpy()).to_numpy()
    mine = ~np.isnan(ol_q)
    qids = q["id"].to_numpy()
    with_lines = np.isin(qids, ol_q[mine].astype(np.int64))
    prod = m.prod
    other = qids[~with_lines]
    amt = opp["amount"].to_numpy()[oi[~with_lines]].astype(float)
    pi = (other * 13) % len(prod)
    price = prod["price"].to_numpy()[pi].astype(float)
    qty = np.maximum(1.0, np.round(amt / price))
    qline = pd.DataFrame({
        "quote_id": np.concatenate([ol_q[mine].astype(np.int64), other]),
        "product_id": np.concatenate([ol["product_id"].to_numpy()[mine], pi + 1]),
        "quantity": np.concatenate([ol["quantity"].to_numpy()[mine], qty]),
        "unit_price": np.concatenate([ol["unit_price"].to_numpy()[mine], price]),
        "discount": np.concatenate([ol["discount"].to_numpy()[mine], np.full(len(other), 0.05)]),
        "tax_rate": np.concatenate([ol["tax_rate"].to_numpy()[mine], np.full(len(other), 0.13)]),
        "amount": np.concatenate([ol["amount"].to_numpy()[mine], np.round(qty * price * 0.95, 2)]),
    })
    seq = np.concatenate([ol["id"].to_numpy()[mine], np.zeros(len(other), dtype=np.int64)])
    qline = qline.iloc[np.lexsort((seq, qline["quote_id"].to_numpy()))].reset_index(drop=True)
    amounts = np.bincount(qline["quote_id"].to_numpy(), weights=qline["amount"].to_numpy(), minlength=len(q) + 1)[1:]
    quote["total_amount"] = np.round(amounts, 2)
    qline.insert(0, "id", np.arange(1, len(qline) + 1))
    return quote, qline, so_quote


def _stock(m: Model, out: pd.DataFrame, back: pd.DataFrame, T: int):
    """Stock moves: shipments out, returns in, weekly replenishment, yearly stock-take."""
    prod = m.prod
    n_p = len(prod)
    stock = prod["stock"].to_numpy().astype(float).copy()
    lower = np.nan_to_num(prod["stock_lower"].to_numpy().astype(float))
    upper = np.nan_to_num(prod["stock_upper"].to_numpy().astype(float))
    service = prod["_service"].to_numpy()
    moves = [out.assign(_o=1), back.assign(_o=2)]
    weeks = T // 7 + 1
    wk_out = np.zeros((weeks, n_p))
    np.add.at(wk_out, (out["day"].to_numpy() // 7, out["product_id"].to_numpy() - 1), out["quantity"].to_numpy())
    wk_back = np.zeros((weeks, n_p))
    if len(back):
        np.add.at(wk_back, (back["day"].to_numpy() // 7, back["product_id"].to_numpy() - 1), back["quantity"].to_numpy())
    inb_w, inb_p, inb_q = [], [], []
    for w in range(weeks):
        after = stock - wk_out[w]
        need = (~service) & (after < lower)
        if need.any():
            q = np.ceil(upper[need] - after[need])
            inb_w.append(np.full(need.sum(), w)); inb_p.append(np.flatnonzero(need) + 1); inb_q.append(q)
            stock[need] += q
        stock += wk_back[w] - wk_out[w]
    if inb_w:
        inb = pd.DataFrame({"product_id": np.concatenate(inb_p), "day": 7 * np.concatenate(inb_w), "kind": "入库",
                            "quantity": np.concatenate(inb_q), "shipment_id": 0, "order_line_id": 0, "return_id": 0,
                            "note": "补货入库", "_o": 0})
        moves.append(inb)
    mv = pd.concat(moves, ignore_index=True)
    mv = mv.iloc[np.lexsort((mv["order_line_id"].to_numpy(), mv["product_id"].to_numpy(), mv["_o"].to_numpy(), mv["day"].to_numpy()))]
    mv = mv.reset_index(drop=True)
    sm = pd.DataFrame({"id": np.arange(1, len(mv) + 1), "product_id": mv["product_id"].to_numpy(),
                       "move_date": _day(m, mv["day"].to_numpy()), "kind": mv["kind"].to_numpy(),
                       "quantity": mv["quantity"].to_numpy().astype(float)})
    for col in ("shipment_id", "order_line_id", "return_id"):
        v = mv[col].to_numpy().astype(np.int64)
        sm[col] = pd.array(v, dtype="Int64")
        sm.loc[v <= 0, col] = pd.NA
    sm["note"] = mv["note"].to_numpy()
    return sm, np.where(service, 0.0, stock)


def _owners(m: Model, cust_id, src, tr, T, n):
    first = src["first_owner"].to_numpy()
    rows_c, rows_o, rows_f, rows_t, rows_r = [], [], [], [], []
    created = src["arrive"].to_numpy() * 86400 + src["arrive_sec"].to_numpy()
    current = first.copy()
    start = created.copy()
    if len(tr):
        tv = tr[(tr["day"].to_numpy() <= T) & (cust_id[tr["cust"].to_numpy()] > 0)]
        tv = tv.iloc[np.lexsort((cust_id[tv["cust"].to_numpy()], tv["day"].to_numpy()))]
        for cu, old, new, day in zip(cust_id[tv["cust"].to_numpy()], tv["old"], tv["new"], tv["day"]):
            k = cu - 1
            rows_c.append(cu); rows_o.append(current[k]); rows_f.append(start[k]); rows_t.append(day * 86400 + 9 * 3600)
            rows_r.append("原负责人离职，客户移交")
            current[k] = new
            start[k] = day * 86400 + 9 * 3600
    rows_c.extend(range(1, n + 1)); rows_o.extend(current); rows_f.extend(start); rows_t.extend([NEVER] * n)
    rows_r.extend([None] * n)
    oh = pd.DataFrame({"customer_id": rows_c, "owner_id": rows_o, "f": rows_f, "t": rows_t, "reason": rows_r})
    oh = oh.iloc[np.lexsort((oh["customer_id"].to_numpy(), oh["f"].to_numpy()))].reset_index(drop=True)
    out = pd.DataFrame({"id": np.arange(1, len(oh) + 1), "customer_id": oh["customer_id"].to_numpy().astype(np.int64),
                        "owner_id": oh["owner_id"].to_numpy().astype(np.int64), "from_date": _ts(m, oh["f"].to_numpy()),
                        "to_date": _ts(m, oh["t"].to_numpy()), "reason": oh["reason"].to_numpy()})
    return out, current


def _audit(m: Model, changes, cust_id, T):
    if not changes:
        return pd.DataFrame(columns=["id", "at", "employee_id", "action", "table_name", "row_id", "field", "old_value", "new_value"])
    a = pd.DataFrame(changes, columns=["row_id", "day", "old", "new"])
    a = a[a["day"] <= T]
    a = a.iloc[np.lexsort((a["row_id"].to_numpy(), a["day"].to_numpy()))].reset_index(drop=True)
    return pd.DataFrame({"id": np.arange(1, len(a) + 1), "at": _ts(m, a["day"].to_numpy() * 86400 + 2 * 3600),
                         "employee_id": pd.array([pd.NA] * len(a), dtype="Int64"), "action": "状态变更",
                         "table_name": "customer", "row_id": a["row_id"].to_numpy().astype(np.int64), "field": "lifecycle",
                         "old_value": a["old"].to_numpy(), "new_value": a["new"].to_numpy()})


def _quota(m: Model, T: int, orders: pd.DataFrame) -> pd.DataFrame:
    rows = []
    d = m.p.start
    last = m.start64 + np.timedelta64(T, "D")
    year, q = d.year, (d.month - 1) // 3
    ly = int(str(last.astype("datetime64[Y]")))
    lq = (int(str(last.astype("datetime64[M]"))[5:7]) - 1) // 3
    while (year, q) <= (ly, lq):
        q_start = (np.datetime64(f"{year}-{3 * q + 1:02d}-01") - m.start64).astype(np.int64)
        q_end = q_start + 91
        for rep, hire, leave in zip(m.firm.reps, [m.emp_hire_day[r] for r in m.firm.reps], m.firm.rep_leave_day):
            if hire <= q_end and leave > q_start:
                base = 350000 * (1 + 0.08 * (year - m.p.start.year)) * (1 + 0.04 * ((rep * 7) % 5 - 2))
                rows.append((rep, f"{year}-Q{q + 1}", round(base, -3)))
        q += 1
        if q == 4:
            year, q = year + 1, 0
    out = pd.DataFrame(rows, columns=["employee_id", "period", "amount"])
    out.insert(0, "id", np.arange(1, len(out) + 1))
    return out


def _numbering(t: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The CRM's numbering rules (``simcrm.crm.numbering.DEFAULT_RULES``, the same entity names),
    so codes the CRM gives to records users create never collide with the world's.

    The world's own codes are ``prefix + serial`` without a date; rules with a date part give
    ``prefix + yyyymm + serial`` (a different length), so their serial starts at 1. Rules
    without a date continue after the world's rows.
    """
    from ..crm.numbering import DEFAULT_RULES

    tables = {"合同": "sales_order", "订单": "sales_order"}
    rows = []
    for entity, (prefix, fmt, width) in DEFAULT_RULES.items():
        next_value = 1
        frame = t.get(tables.get(entity, entity))
        if fmt is None and frame is not None and len(frame):
            col = "invoice_no" if entity == "invoice" else "code"
            width = max(width, len(str(frame[col].iloc[-1])) - len(prefix))
            next_value = len(frame) + 1
        rows.append((entity, prefix, fmt, width, next_value))
    out = pd.DataFrame(rows, columns=["entity", "prefix", "date_format", "width", "next_value"])
    out.insert(0, "id", np.arange(1, len(out) + 1))
    return out


def _relationship(m: Model, T, cust_id, contact_id, order_id, opp_id, cust) -> dict[str, pd.DataFrame]:
    out = {}
    # activities
    a = m.ev["activity"].frame()
    av = a[(a["day"].to_numpy() <= T) & (cust_id[a["cust"].to_numpy()] > 0)]
    av = av.iloc[_order_ids(av["day"].to_numpy(), av["sec"].to_numpy())].reset_index(drop=True)
    act = pd.DataFrame({"id": np.arange(1, len(av) + 1), "customer_id": cust_id[av["cust"].to_numpy()],
                        "contact_id": contact_id[av["contact"].to_numpy()], "employee_id": av["emp"].to_numpy(),
                        "channel": av["channel"].to_numpy(), "kind": "记录", "subject": av["subject"].to_numpy(),
                        "activity_time": _ts(m, av["day"].to_numpy() * 86400 + av["sec"].to_numpy()),
                        "outcome": av["outcome"].to_numpy(), "opportunity_id": pd.array([pd.NA] * len(av), dtype="Int64"),
                        "campaign_id": pd.array([pd.NA] * len(av), dtype="Int64")})
    # planned follow-ups of the coming fortnight show as 日程 / 待办
    fut = a[(a["day"].to_numpy() > T) & (a["day"].to_numpy() <= T + 14) & (cust_id[a["cust"].to_numpy()] > 0)]
    if len(fut):
        fut = fut.iloc[_order_ids(fut["day"].to_numpy(), fut["sec"].to_numpy())].reset_index(drop=True)
        plan = pd.DataFrame({"customer_id": cust_id[fut["cust"].to_numpy()], "contact_id": contact_id[fut["contact"].to_numpy()],
                             "employee_id": fut["emp"].to_numpy(), "channel": fut["channel"].to_numpy(),
                             "kind": np.where(fut["sec"].to_numpy() % 2 == 0, "日程", "待办"),
                             "subject": fut["subject"].to_numpy(),
                             "activity_time": _ts(m, fut["day"].to_numpy() * 86400 + fut["sec"].to_numpy()),
                             "outcome": None, "opportunity_id": pd.array([pd.NA] * len(fut), dtype="Int64"),
                             "campaign_id": pd.array([pd.NA] * len(fut), dtype="Int64")})
        plan.insert(0, "id", np.arange(len(act) + 1, len(act) + len(plan) + 1))
        act = pd.concat([act, plan], ignore_index=True)
    out["activity"] = act

    cr = m.ev["care"].frame()
    cv = cr[(cr["planned"].to_numpy() <= T + 14) & (cust_id[cr["cust"].to_numpy()] > 0)]
    cv = cv.iloc[np.lexsort((np.arange(len(cv)), cv["planned"].to_numpy()))].reset_index(drop=True)
    done = cv["done"].to_numpy() <= T
    subj = {"售后回访": "购买后回访，了解使用情况", "生日": "生日祝福", "节日": "节日问候", "关怀活动": "客户关怀活动"}
    care = pd.DataFrame({"id": np.arange(1, len(cv) + 1), "customer_id": cust_id[cv["cust"].to_numpy()],
                         "contact_id": contact_id[cv["contact"].to_numpy()], "employee_id": cv["emp"].to_numpy(),
                         "care_type": cv["type"].to_numpy(), "channel": cv["channel"].to_numpy(),
                         "subject": [subj.get(x, "客户关怀") for x in cv["type"]], "planned_date": _day(m, cv["planned"].to_numpy()),
                         "done_date": _day(m, np.where(done, cv["done"].to_numpy(), NEVER)),
                         "feedback": np.where(done & (cv["satisfaction"].to_numpy() >= 4), "客户表示满意",
                                              np.where(done & (cv["satisfaction"].to_numpy() > 0), "客户提出了一些问题", None))})
    s = cv["satisfaction"].to_numpy()
    care["satisfaction"] = pd.array(np.where(done & (s > 0), s, 0), dtype="Int64")
    care.loc[~(done & (s > 0)), "satisfaction"] = pd.NA
    care["campaign_id"] = pd.array([pd.NA] * len(cv), dtype="Int64")
    out["care"] = care

    sr = m.ev["service"].frame()
    sv = sr[(sr["day"].to_numpy() <= T) & (cust_id[sr["cust"].to_numpy()] > 0)] if len(sr) else sr
    sv = sv.iloc[_order_ids(sv["day"].to_numpy(), sv["open_sec"].to_numpy())].reset_index(drop=True)
    Ts = (T + 1) * 86400
    fr, rs, cl = sv["first_sec"].to_numpy(), sv["res_sec"].to_numpy(), sv["close_sec"].to_numpy()
    status = np.where(cl < Ts, "已关闭", np.where(rs < Ts, "已解决", np.where(fr < Ts, "处理中", "新建")))
    svc = pd.DataFrame({"id": np.arange(1, len(sv) + 1)})
    svc["code"] = codes("service_request", svc["id"].to_numpy(), max(len(sr) * 3, 10))
    svc["customer_id"] = cust_id[sv["cust"].to_numpy()]
    svc["contact_id"] = contact_id[sv["contact"].to_numpy()]
    svc["product_id"] = sv["product"].to_numpy()
    svc["order_id"] = pd.array([pd.NA] * len(sv), dtype="Int64")
    svc["assignee_id"] = sv["assignee"].to_numpy()
    svc["channel"] = sv["channel"].to_numpy()
    svc["urgency"] = sv["urgency"].to_numpy()
    svc["description"] = np.array(["设备无法开机", "打印卡纸频繁", "网络连接异常", "软件无法登录", "设备异响", "显示屏故障", "配件损坏"])[sv["product"].to_numpy() % 7]
    wm = m.prod["warranty_months"].to_numpy()[sv["product"].to_numpy() - 1]
    svc["in_warranty"] = (wm > 0) & ((sv["day"].to_numpy() % 400) < wm * 30)
    svc["opened_at"] = _ts(m, sv["open_sec"].to_numpy())
    svc["first_response_at"] = _ts(m, np.where(fr < Ts, fr, NEVER))
    svc["resolved_at"] = _ts(m, np.where(rs < Ts, rs, NEVER))
    svc["closed_at"] = _ts(m, np.where(cl < Ts, cl, NEVER))
    svc["status"] = status
    ss = sv["sat"].to_numpy()
    svc["satisfaction"] = pd.array(np.where(status == "已关闭", ss, 0), dtype="Int64")
    svc.loc[status != "已关闭", "satisfaction"] = pd.NA
    out["service_request"] = svc

    cp = m.ev["complaint"].frame()
    if len(cp) == 0:  # a small world may have no complaint yet
        cp = pd.DataFrame({**{k: np.zeros(0, dtype=np.int64) for k in ("cust", "day", "received", "outcome", "sat", "product",
                                                                       "receiver", "handler", "dept", "contact")},
                           **{k: np.zeros(0, dtype=object) for k in ("steps", "category", "urgency", "gap", "channel")}})
    cpv = cp[(cp["day"].to_numpy() <= T) & (cust_id[cp["cust"].to_numpy()] > 0)] if len(cp) else cp
    cpv = cpv.iloc[_order_ids(cpv["day"].to_numpy(), cpv["received"].to_numpy())]
    ev_rows = cpv.index.to_numpy()  # the complaint events shown, in id order
    cpv = cpv.reset_index(drop=True)
    steps = np.stack(cpv["steps"].to_numpy()) if len(cpv) else np.zeros((0, 6), dtype=np.int64)
    states = np.array(reference.state_values("complaint_status"))
    reached = (steps < Ts).sum(axis=1)
    comp = pd.DataFrame({"id": np.arange(1, len(cpv) + 1)})
    comp["code"] = codes("complaint", comp["id"].to_numpy(), max(len(cp) * 3, 10))
    comp["customer_id"] = cust_id[cpv["cust"].to_numpy()]
    comp["contact_id"] = contact_id[cpv["contact"].to_numpy()]
    comp["order_id"] = pd.array([pd.NA] * len(cpv), dtype="Int64")
    pr = cpv["product"].to_numpy()
    comp["product_id"] = pd.array(np.where(pr > 0, pr, 0), dtype="Int64")
    comp.loc[pr <= 0, "product_id"] = pd.NA
    comp["category"] = cpv["category"].to_numpy()
    comp["gap_type"] = cpv["gap"].to_numpy()
    comp["urgency"] = cpv["urgency"].to_numpy()
    comp["channel"] = cpv["channel"].to_numpy()
    comp["description"] = [f"客户投诉：{x}问题" for x in cpv["category"]]
    comp["first_receiver_id"] = cpv["receiver"].to_numpy()
    dept_ids = cpv["dept"].to_numpy()
    comp["department_id"] = pd.array(np.where(reached >= 2, dept_ids, 0), dtype="Int64")
    comp.loc[reached < 2, "department_id"] = pd.NA
    comp["handler_id"] = pd.array(np.where(reached >= 2, cpv["handler"].to_numpy(), 0), dtype="Int64")
    comp.loc[reached < 2, "handler_id"] = pd.NA
    comp["handling_notes"] = np.where(reached >= 1, "已联系客户了解情况", None)
    solution = np.where(cpv["outcome"].to_numpy() == 0, "更换/补偿并致歉", "按流程处理").astype(object)
    ruled = m.__dict__.get("policy_rows")
    if ruled:  # complaints the firm's handling policy decided: its remedy (处理方式)
        for i, r in enumerate(ev_rows.tolist()):
            if r in ruled:
                solution[i] = f"按投诉处理规则：{ruled[r][0]}"
    comp["solution"] = np.where(reached >= 3, solution, None)
    comp["customer_feedback"] = np.where(reached >= 5, np.where(cpv["sat"].to_numpy() >= 4, "对处理结果满意", "勉强接受"), None)
    comp["return_visit_confirmed"] = reached >= 5
    sat = cpv["sat"].to_numpy()
    comp["satisfaction"] = pd.array(np.where(reached >= 5, sat, 0), dtype="Int64")
    comp.loc[reached < 5, "satisfaction"] = pd.NA
    comp["status"] = states[reached]
    comp["received_at"] = _ts(m, cpv["received"].to_numpy())
    comp["closed_at"] = _ts(m, np.where(reached >= 6, steps[:, 5] if len(steps) else 0, NEVER))
    out["complaint"] = comp
    # history: one row per state reached
    ch_c, ch_s, ch_t = [comp["id"].to_numpy()], [np.zeros(len(comp), dtype=np.int64)], [cpv["received"].to_numpy()]
    for k in range(6):
        ok = steps[:, k] < Ts
        ch_c.append(comp["id"].to_numpy()[ok]); ch_s.append(np.full(ok.sum(), k + 1)); ch_t.append(steps[ok, k])
    hc, hs, ht = np.concatenate(ch_c), np.concatenate(ch_s), np.concatenate(ch_t)
    o = np.lexsort((hs, hc))
    notes = np.array(["登记投诉", "开始调查", "分派到责任部门", "提交处理方案", "方案批准，开始处理", "完成回访", "归档"])
    recv = cpv["receiver"].to_numpy()
    out["complaint_history"] = pd.DataFrame({"id": np.arange(1, len(o) + 1), "complaint_id": hc[o], "status": states[hs[o]],
                                             "at": _ts(m, ht[o]), "employee_id": recv[hc[o] - 1], "note": notes[hs[o]]})
    # return visits: for complaints that reached 已回访 and closed service requests
    rv_c = comp[reached >= 5]
    rv1 = pd.DataFrame({"customer_id": rv_c["customer_id"].to_numpy(), "complaint_id": rv_c["id"].to_numpy(),
                        "service_request_id": 0, "employee_id": cpv["receiver"].to_numpy()[reached >= 5],
                        "sec": steps[reached >= 5, 4] if len(steps) else np.zeros(0, np.int64),
                        "satisfaction": sat[reached >= 5]})
    closed_svc = svc[svc["status"] == "已关闭"]
    rv2 = pd.DataFrame({"customer_id": closed_svc["customer_id"].to_numpy(), "complaint_id": 0,
                        "service_request_id": closed_svc["id"].to_numpy(), "employee_id": closed_svc["assignee_id"].to_numpy(),
                        "sec": cl[status == "已关闭"], "satisfaction": ss[status == "已关闭"]})
    rvv = pd.concat([rv1, rv2], ignore_index=True)
    rvv = rvv.iloc[np.lexsort((rvv["service_request_id"].to_numpy(), rvv["complaint_id"].to_numpy(), rvv["sec"].to_numpy()))].reset_index(drop=True)
    visit = pd.DataFrame({"id": np.arange(1, len(rvv) + 1), "customer_id": rvv["customer_id"].to_numpy().astype(np.int64)})
    for col in ("complaint_id", "service_request_id"):
        v = rvv[col].to_numpy().astype(np.int64)
        visit[col] = pd.array(v, dtype="Int64")
        visit.loc[v <= 0, col] = pd.NA
    visit["employee_id"] = rvv["employee_id"].to_numpy().astype(np.int64)
    visit["visit_date"] = _day(m, rvv["sec"].to_numpy().astype(np.int64) // 86400)
    visit["channel"] = "电话"
    visit["satisfaction"] = rvv["satisfaction"].to_numpy().astype(np.int64)
    visit["notes"] = "回访客户，确认处理结果"
    out["return_visit"] = visit

    sv_ = m.ev["survey"].frame()
    svv = sv_[(sv_["day"].to_numpy() <= T) & (cust_id[sv_["cust"].to_numpy()] > 0)] if len(sv_) else sv_
    svv = svv.iloc[np.lexsort((cust_id[svv["cust"].to_numpy()], svv["day"].to_numpy()))].reset_index(drop=True)
    survey = pd.DataFrame({"id": np.arange(1, len(svv) + 1), "customer_id": cust_id[svv["cust"].to_numpy()],
                           "survey_date": _day(m, svv["day"].to_numpy())})
    e = np.stack(svv["exp"].to_numpy()) if len(svv) else np.zeros((0, 5))
    p = np.stack(svv["per"].to_numpy()) if len(svv) else np.zeros((0, 5))
    for k, d in enumerate(reference.SERVQUAL):
        survey[f"exp_{d['code']}"] = e[:, k]
    for k, d in enumerate(reference.SERVQUAL):
        survey[f"per_{d['code']}"] = p[:, k]
    survey["overall"] = svv["overall"].to_numpy()
    survey["would_recommend"] = svv["recommend"].to_numpy().astype(bool)
    survey["comment"] = np.where(svv["overall"].to_numpy() <= 2, "服务响应太慢", np.where(svv["overall"].to_numpy() >= 5, "很满意", None))
    out["survey"] = survey
    return out


def columns_ok(table: str, frame: pd.DataFrame) -> list[str]:
    """Schema columns missing from a rendered frame (for tests)."""
    return [c.name for c in schema.metadata.tables[table].columns if c.name not in frame.columns]
