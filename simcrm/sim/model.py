"""The time-stepped behaviour model: one weekly loop, vectorised across customers.

Each week every living customer may buy (individual Poisson rate, gamma-distributed across
customers: NBD-like counts), is contacted by its owner or not, may meet a product failure that
becomes a service request or a complaint, may be cared for and surveyed, and may die (stop
buying for good) with a hazard that rises with low satisfaction, open complaints, neglect and
competition. Opportunities move through the stage table with rep- and stage-specific rates.

The model writes *truth events* (with their own dates, possibly after "today": a payment due
next month, a complaint that will be archived next week) into :class:`Events`; what the CRM
shows on a given day is rendered from them by :mod:`simcrm.sim.render`. Latent traits live in
``Model.cust`` columns starting with ``_`` and are never rendered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .. import reference
from .actions import ACTIONS, LEAD_COST
from .firm import TEAM_OF_REGION, Firm, _regions
from .identities import Identities, birth_dates

__all__ = ["SimParams", "Model", "Events"]

NEVER = np.iinfo(np.int64).max // 4  # "no such day" (far future) for day arrays
N_STAGES = len(reference.STAGES)


@dataclass(frozen=True)
class SimParams:
    """Parameters of a world (with the seed and simcrm's version, they identify it).

    Attributes:
        customers: customers created between ``start`` and ``today``.
        start: founding date (the simulation starts here).
        today: the world's "today" (fixed, never the real clock).
        enterprise_share: share of enterprise customers (the rest are individuals).
        weekly_rate_enterprise: mean purchases per week of a living enterprise customer.
        weekly_rate_individual: mean purchases per week of a living individual customer.
        rate_shape: gamma shape of enterprises' purchase rates (small = heterogeneous).
        rate_shape_individual: the same for individuals (retail-like: most buy once or twice,
            a few often; about 40% of first-time buyers buy again within a year).
        established_share: share of ``customers`` who are already customers when the CRM
            goes live on ``start`` (imported with their first-order date; the firm is a going
            concern, not a start-up).
        spend_sigma: lognormal sigma of customers' spend levels (large = heavier tail).
        base_hazard: weekly death hazard of an average, satisfied, attended customer.
        unconverted_leads: leads that never become customers, per customer.
    """

    customers: int = 2000
    start: dt.date = dt.date(2023, 1, 1)
    today: dt.date = dt.date(2025, 12, 31)
    enterprise_share: float = 0.6
    weekly_rate_enterprise: float = 0.085
    weekly_rate_individual: float = 0.014
    rate_shape: float = 2.2
    rate_shape_individual: float = 0.8
    established_share: float = 0.45
    spend_sigma: float = 1.05
    base_hazard: float = 0.003
    unconverted_leads: float = 0.9

    def key(self) -> str:
        """A stable text form of the parameters (for caches and the ``World.params`` record)."""
        return ";".join(f"{k}={getattr(self, k)}" for k in self.__dataclass_fields__)


class Columns:
    """Parallel numpy arrays, one per column (the customers' state in the weekly loop).

    ``cols["name"]`` is the array itself (mutate it in place); ``cols[rows]`` with an index or
    a mask is a new :class:`Columns` of those rows whose ``index`` holds their positions.
    Pandas column access costs tens of microseconds a call; this costs nothing.
    """

    def __init__(self, data: dict[str, np.ndarray] | None = None, index: np.ndarray | None = None) -> None:
        self._c: dict[str, np.ndarray] = dict(data or {})
        n = len(next(iter(self._c.values()))) if self._c else 0
        self.index = np.arange(n) if index is None else np.asarray(index)

    def __len__(self) -> int:
        return len(self.index)

    @property
    def columns(self) -> list[str]:
        return list(self._c)

    def __contains__(self, key: str) -> bool:
        return key in self._c

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._c[key]
        return Columns({k: v[key] for k, v in self._c.items()}, self.index[key])

    def __setitem__(self, key: str, value: Any) -> None:
        value = np.asarray(value)
        if value.dtype.kind == "U":
            value = value.astype(object)
        if value.ndim == 0:
            value = np.full(len(self), value)
        self._c[key] = value

    def append(self, data: dict[str, Any]) -> None:
        """Append rows (same columns); string arrays are kept as ``object``."""
        data = {k: (np.asarray(v).astype(object) if np.asarray(v).dtype.kind == "U" else np.asarray(v))
                for k, v in data.items()}
        n = len(next(iter(data.values())))
        if not self._c:
            self._c = data
        else:
            self._c = {k: np.concatenate([self._c[k], data[k]]) for k in self._c}
        self.index = np.arange(len(self.index) + n)

    def frame(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The columns as a DataFrame (index = positions)."""
        keys = self.columns if columns is None else columns
        return pd.DataFrame({k: self._c[k] for k in keys}, index=self.index)


class Events:
    """Append-only columns of one kind of truth event; ``frame()`` concatenates them."""

    def __init__(self) -> None:
        self._parts: list[dict[str, np.ndarray]] = []
        self._frame: pd.DataFrame | None = None
        self.n = 0

    def add(self, **cols: Any) -> np.ndarray:
        """Append rows; returns their 0-based sequence numbers."""
        n = len(next(iter(cols.values())))
        seq = np.arange(self.n, self.n + n)
        if n:
            self._parts.append({k: np.asarray(v) for k, v in cols.items()})
            self.n += n
            self._frame = None
        return seq

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            if not self._parts:
                self._frame = pd.DataFrame()
            else:
                keys = list(self._parts[0])
                cols, joined = {}, {}
                for k in keys:
                    arr = joined[k] = np.concatenate([p[k] for p in self._parts])
                    if arr.ndim == 2:
                        rows = np.empty(len(arr), dtype=object)
                        rows[:] = list(arr)
                        arr = rows
                    cols[k] = arr
                self._frame = pd.DataFrame(cols)
                self._parts = [joined]  # the joined columns (2-D ones as they were) for the next add
        return self._frame


#: fixed choices of the weekly loop as arrays (built once, not per call; same draws)
_URGENCY = np.array(["非常紧急", "紧急", "一般"])
_URGENCY_P_SERVICE = np.array([0.12, 0.33, 0.55])
_URGENCY_P_COMPLAINT = np.array([0.15, 0.4, 0.45])
_SERVICE_CHANNELS = np.array(["电话", "微信", "网站", "邮件"])
_SERVICE_CHANNELS_P = np.array([0.5, 0.3, 0.12, 0.08])
_COMPLAINT_CHANNELS = np.array(["电话", "微信", "邮件", "面谈"])
_COMPLAINT_CHANNELS_P = np.array([0.55, 0.25, 0.12, 0.08])

#: scales how often an unhappy customer complains (tuned so about 1 in 27 dissatisfied customers does)
COMPLAINT_PROPENSITY = 0.8


def _p(w: Any) -> np.ndarray:
    """Weights → probabilities."""
    w = np.asarray(w, dtype=float)
    return w / w.sum()


#: cumulative probabilities of the weighted draws, by the bytes of their probabilities
_CDFS: dict[bytes, np.ndarray] = {}


def _pick(rng: np.random.Generator, n: Any, p: Any) -> np.ndarray:
    """Indices ``0 … len(p) - 1`` drawn with probabilities ``p``: the same numbers as
    ``rng.choice(len(p), size=n, p=p)`` (which draws ``rng.random(n)`` and looks them up in
    ``cumsum(p) / cumsum(p)[-1]``), without its checks of ``p`` on every call (tens of
    microseconds, thousands of calls per world): ``p`` is checked once, when first seen.
    """
    p = np.asarray(p, dtype=np.float64)
    key = p.tobytes()
    cdf = _CDFS.get(key)
    if cdf is None:
        if p.ndim != 1 or not len(p) or (p < 0).any() or not np.isfinite(p).all() or abs(p.sum() - 1) > 1e-8:
            raise ValueError(f"probabilities must be non-negative and sum to 1, got {p.tolist()}")
        if len(_CDFS) > 512:
            _CDFS.clear()
        cdf = p.cumsum()
        cdf /= cdf[-1]
        _CDFS[key] = cdf
    return cdf.searchsorted(rng.random(n), side="right")


def _uniform(seed: int, idx: np.ndarray, salt: int) -> np.ndarray:
    """A fixed uniform number per (seed, customer, salt): the same in every run and step."""
    x = (np.asarray(idx, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64((seed * 7919 + salt * 104729) & 0xFFFFFFFFFFFFFFFF)) \
        & np.uint64(0xFFFFFFFFFFFF)
    x ^= x >> np.uint64(17)
    x = (x * np.uint64(0xBF58476D1CE4E5B9)) & np.uint64(0xFFFFFFFFFFFF)
    x ^= x >> np.uint64(29)
    return (x & np.uint64(0xFFFFFF)).astype(np.float64) / float(0x1000000)


def _spawn(seed: int, names: list[str]) -> dict[str, np.random.Generator]:
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.Generator(np.random.PCG64(c)) for n, c in zip(names, children)}


SUBSYSTEMS = ["firm", "customers", "contacts", "leads", "buy", "opps", "orders", "activity", "care",
              "service", "complaints", "survey", "churn", "campaign", "arrivals", "render"]


class Model:
    """The simulation state: customers with latent traits, open opportunities, scheduled effects.

    Args:
        seed: the world's seed (the one entry point of randomness).
        params: the world's parameters.
        ids: locale identities.
        firm: the firm built from the same seed.
        rngs: per-subsystem generators spawned from the seed.
    """

    def __init__(self, seed: int, params: SimParams, ids: Identities, firm: Firm,
                 rngs: dict[str, np.random.Generator]):
        self.seed = seed
        self.p = params
        self.ids = ids
        self.firm = firm
        self.rng = rngs
        self.start64 = np.datetime64(params.start, "D")
        self.horizon = (params.today - params.start).days
        self.week = 0  # next week to simulate
        self.regions = _regions()
        self.prod = firm.tables["product"]
        #: product columns as arrays (the loop reads them every week)
        self.P = {k: self.prod[k].to_numpy() for k in self.prod.columns}
        emp = firm.tables["employee"]
        #: how weak the firm is on each SERVQUAL dimension (0 sound … 1 clearly weak), by code
        self.W = {d["code"]: float(w) for d, w in zip(reference.SERVQUAL, firm.weakness)}
        self.rep_skill = np.exp(rngs["opps"].normal(0, 0.35, size=len(firm.reps)))
        self.rep_diligence = np.clip(rngs["activity"].normal(1.0, 0.35, size=len(firm.reps)), 0.3, 2.0)
        self.emp_leave_day = dict(zip(emp["id"], emp["_leave_day"]))
        self.emp_hire_day = dict(zip(emp["id"], emp["_hire_day"]))
        self.cust = Columns()
        self.contacts = Columns()
        self.ev: dict[str, Events] = {k: Events() for k in (
            "lead", "opp_hist", "opp", "order", "activity", "care", "service", "complaint", "survey",
            "campaign", "member", "transfer", "share", "line", "plan", "ret")}
        self.effects: dict[int, list[tuple[str, np.ndarray, np.ndarray]]] = {}
        # open opportunities (parallel arrays)
        self.o = {k: np.zeros(0, dtype=np.int64) for k in ("id", "cust", "owner", "stage", "status", "age", "idle")}
        self.o["amount"] = np.zeros(0)
        n_old = int(round(params.customers * params.established_share))
        self._arrivals(n_old, np.zeros(n_old, dtype=np.int64), established=True)
        self._arrivals(params.customers - n_old, np.sort(self._arrival_days(params.customers - n_old)))
        self._campaign_plan()

    def __getstate__(self) -> dict[str, Any]:
        # derived caches are rebuilt on demand; they stay out of the pickled state (cache.py)
        return {k: v for k, v in self.__dict__.items() if k not in ("_bday_cache", "_region_cache", "_weeks11", "_staff_days", "_order_p", "_fail_p")}

    # -- arrivals -----------------------------------------------------------------------------

    def _arrival_days(self, n: int) -> np.ndarray:
        u = self.rng["customers"].random(n)
        return np.floor(self.horizon * u ** 0.9).astype(np.int64)

    def _arrivals(self, n: int, days: np.ndarray, established: bool = False) -> None:
        """Create ``n`` customers arriving on ``days`` (sorted), with contacts and leads.

        ``established``: customers the firm already had before ``start`` (imported when the
        CRM went live): they have bought before (first and last order before ``start``) and
        come without a lead.
        """
        if n == 0:
            return
        rng = self.rng["customers"]
        p = self.p
        first = len(self.cust)
        idx = np.arange(first, first + n)
        ent = rng.random(n) < p.enterprise_share
        reg = self.regions
        w = reg["weight"].to_numpy()
        ri = rng.choice(len(reg), size=n, p=w / w.sum())
        region = reg["region"].to_numpy()[ri]
        team = np.array([TEAM_OF_REGION.get(r, "华东") for r in region])
        owner = np.zeros(n, dtype=np.int64)
        for t in ("华东", "华北", "华南"):
            m = team == t
            reps = self.firm.reps[self.firm.rep_team == t]
            if m.any():
                pick = reps[rng.integers(0, len(reps), size=m.sum())]
                owner[m] = self._active_rep(pick, days[m], t)
        value = rng.normal(0, 1, size=n)
        spend = np.where(ent, np.exp(np.log(9000) + p.spend_sigma * value),
                         np.exp(np.log(700) + 0.8 * p.spend_sigma * value))
        mean_rate = np.where(ent, p.weekly_rate_enterprise, p.weekly_rate_individual)
        shape = np.where(ent, p.rate_shape, p.rate_shape_individual)
        lam = rng.gamma(shape, 1.0, size=n) / shape * mean_rate
        lam *= np.exp(0.15 * value)  # valuable customers also buy a little more often
        sat0 = np.clip(rng.normal(0.66, 0.16, size=n), 0.02, 0.98)
        industries = np.array(reference.DICTIONARIES["industry"]["values"])
        ind_w = np.array([18, 14, 12, 4, 5, 7, 6, 6, 7, 6, 4, 2, 3, 4, 2], dtype=float)
        sizes = np.array(reference.DICTIONARIES["customer_size"]["values"])
        src_ent = {"电话来访": 6, "客户介绍": 10, "独立开发": 18, "媒体宣传": 4, "促销活动": 3, "老客户": 4,
                   "代理商": 8, "合作伙伴": 8, "公开招标": 7, "互联网": 12, "展会": 12, "其他": 2}
        src_ind = {"电话来访": 8, "客户介绍": 12, "独立开发": 2, "媒体宣传": 10, "促销活动": 16, "老客户": 6,
                   "代理商": 2, "合作伙伴": 1, "公开招标": 0, "互联网": 36, "展会": 5, "其他": 2}
        srcs = np.array(list(src_ent))
        se = np.array(list(src_ent.values()), float)
        si = np.array(list(src_ind.values()), float)
        source = np.where(ent, srcs[rng.choice(len(srcs), size=n, p=se / se.sum())],
                          srcs[rng.choice(len(srcs), size=n, p=si / si.sum())])
        # referred customers are a little more loyal, promotion-driven ones less
        loyalty = rng.normal(0, 1, size=n) + np.where(source == "客户介绍", 0.5, 0) - np.where(source == "促销活动", 0.4, 0)
        industry = np.where(ent, industries[rng.choice(len(industries), size=n, p=ind_w / ind_w.sum())], None)
        size_i = np.clip(np.round(1.6 + 0.6 * value + rng.normal(0, 0.8, size=n)), 0, 4).astype(int)
        size = np.where(ent, sizes[size_i], None)
        city_short = np.array([c.removesuffix("市").removesuffix("地区").removesuffix("自治州") for c in reg["city"].to_numpy()[ri]])
        gender = rng.integers(0, 2, size=n)
        person = self.ids.person_names(rng, gender)
        company = self.ids.company_names(rng, city_short, industry)
        # company names are unique per world (a real registry would refuse a duplicate)
        seen = set(self.cust["name"]) if len(self.cust) else set()
        for k in range(n):
            if ent[k]:
                name = company[k]
                j = 2
                while name in seen:
                    name = company[k].replace("有限公司", f"{'分公司' if j == 2 else '第' + str(j) + '分公司'}") if "有限公司" in company[k] else f"{company[k]}{j}"
                    j += 1
                    if j > 9:
                        name = f"{company[k]}（{j}）"
                company[k] = name
                seen.add(name)
        name = np.where(ent, company, person)
        city_code = reg["city_code"].to_numpy()[ri].astype(np.int64)
        area = reg["area_code"].to_numpy()[ri]
        birth = birth_dates(rng, n, dt.date(1962, 1, 1), dt.date(2003, 12, 31))
        idn = self.ids.id_numbers(rng, birth, gender, city_code)
        mob = self.ids.mobiles(rng, n)
        land = self.ids.landlines(rng, area)
        email = self.ids.emails(rng, n)
        credit_code = self.ids.credit_codes(rng, city_code)
        streets = np.array(["人民路", "建设路", "解放路", "中山路", "新华路", "和平路", "长江路", "文化路", "科技路", "工业大道"])
        addr = (reg["province"].to_numpy()[ri].astype(object) + reg["city"].to_numpy()[ri].astype(object)
                + streets[rng.integers(0, len(streets), size=n)].astype(object)
                + rng.integers(1, 999, size=n).astype(str).astype(object) + "号")
        frame = {
            "idx": idx, "arrive": days, "ent": ent, "kind": np.where(ent, "企业", "个人"),
            "name": name, "industry": industry, "size": size, "source": source,
            "province": reg["province"].to_numpy()[ri], "city": reg["city"].to_numpy()[ri], "region": region,
            "address": addr,
            "phone": np.where(ent & (rng.random(n) < 0.8), land, mob),
            "email": np.where(ent, None, email),
            "id_number": np.where(~ent & (rng.random(n) < 0.55), idn, None),
            "credit_code": np.where(ent, credit_code, None),
            "owner": owner, "first_owner": owner, "team": team,
            "arrive_sec": rng.integers(9 * 3600, 18 * 3600, size=n),
            # latent traits: never rendered
            "_value": value, "_spend": spend, "_lam": lam, "_sat0": sat0, "_sat": sat0.copy(),
            "_loyalty": loyalty, "_price_sens": rng.random(n), "_credit_risk": rng.beta(1.3, 6, size=n),
            "_alive": np.ones(n, dtype=bool), "_death_day": np.full(n, NEVER), "_death_cause": np.full(n, "", dtype=object),
            "_open_complaints": np.zeros(n, dtype=np.int64), "_last_contact": days.copy(),
            "_n_orders": np.zeros(n, dtype=np.int64), "_last_order": np.full(n, -NEVER),
            "_has_open_opp": np.zeros(n, dtype=bool), "_retention_until": np.full(n, -1),
            "_recovered_until": np.full(n, -1), "_promo_until": np.full(n, -1),
            "_promo_boost": np.ones(n), "_contract_end": np.full(n, NEVER),
            "_push_until": np.full(n, -1), "_push_lin": np.zeros(n),
            "_terms": np.where(ent, rng.choice(["款到发货", "月结30天", "月结60天", "分期付款", "货到付款"], size=n,
                                                 p=[0.25, 0.35, 0.15, 0.15, 0.10]),
                               rng.choice(["款到发货", "货到付款"], size=n, p=[0.8, 0.2])),
            # individuals mostly register when they buy; some firms start with a trial order
            "_first_buy_delay": np.where(ent, np.where(rng.random(n) < 0.35, rng.integers(3, 28, size=n), NEVER),
                                         np.where(rng.random(n) < 0.72, rng.integers(0, 7, size=n), NEVER)),
            "primary_contact": np.zeros(n, dtype=np.int64), "n_contacts": np.zeros(n, dtype=np.int64),
            "_established": np.full(n, established), "_prior_orders": np.zeros(n, dtype=np.int64),
            "_prior_first": np.full(n, NEVER), "_prior_last": np.full(n, NEVER),
        }
        if established:
            # bought before the CRM went live: how often and when last, from their own rhythm
            prior = 1 + rng.poisson(np.clip(lam * 52 * 1.5, 0, 30))
            last = -np.minimum(rng.exponential(3.5 / np.maximum(lam, 0.004), size=n).astype(np.int64) + 1, 170)
            first = last - np.where(prior > 1, rng.integers(60, 1100, size=n), 0)
            frame["_prior_orders"], frame["_prior_first"], frame["_prior_last"] = prior, first, last
            frame["_n_orders"], frame["_last_order"] = prior.copy(), last.copy()
            frame["_first_buy_delay"] = np.full(n, NEVER)
            frame["arrive_sec"] = rng.integers(9 * 3600, 18 * 3600, size=n)
        self.cust.append(frame)
        self._contacts_for(self.cust[idx])
        frame = self.cust[idx]
        if not established:
            self._leads_for(frame)
        self._shares_for(frame)

    def _active_rep(self, reps: np.ndarray, days: np.ndarray, team: str) -> np.ndarray:
        """Replace reps who have left (or not yet joined) on ``days`` by an active one of the team."""
        team_reps = self.firm.reps[self.firm.rep_team == team]
        out = reps.copy()
        for k in range(len(out)):
            d = days[k]
            if not (self.emp_hire_day[out[k]] <= d < self.emp_leave_day[out[k]]):
                ok = [r for r in team_reps if self.emp_hire_day[r] <= d < self.emp_leave_day[r]]
                out[k] = ok[int(d) % len(ok)]
        return out

    def _contacts_for(self, c: Columns) -> None:
        rng = self.rng["contacts"]
        ent = c["ent"]
        n_c = np.where(ent, 1 + rng.poisson(1.6, size=len(c)), 1)
        n_c = np.minimum(n_c, 6)
        cust_idx = np.repeat(c["idx"], n_c)
        m = len(cust_idx)
        rank = np.arange(m) - np.repeat(np.cumsum(n_c) - n_c, n_c)
        is_ent = np.repeat(ent, n_c)
        gender = rng.integers(0, 2, size=m)
        name = self.ids.person_names(rng, gender)
        # an individual customer's contact is the person
        ind_rows = ~is_ent
        cust_name = np.repeat(c["name"], n_c)
        name[ind_rows] = cust_name[ind_rows]
        titles = np.array(reference.DICTIONARIES["contact_title"]["values"])
        roles = np.array(reference.DICTIONARIES["buying_role"]["values"])
        title = titles[rng.integers(0, len(titles), size=m)]
        title = np.where(rank == 0, np.where(rng.random(m) < 0.5, "总经理", "采购经理"), title)
        role = np.where(rank == 0, "决策者", roles[rng.integers(0, len(roles), size=m)])
        depts = np.array(["采购部", "行政部", "技术部", "财务部", "总经办", "IT部", "市场部"])
        arrive = np.repeat(c["arrive"], n_c)
        leave = np.where((rank > 0) & (rng.random(m) < 0.12), arrive + rng.integers(60, 900, size=m), NEVER)
        domains = np.char.add(np.char.add("mail", np.repeat(c["idx"], n_c).astype(str)), ".cn")
        email_ent = self.ids.emails(rng, m, domains=domains)
        email_ind = self.ids.emails(rng, m)
        area = self.regions.set_index("city")["area_code"]
        office = self.ids.landlines(rng, area.reindex(np.repeat(c["city"], n_c)).to_numpy())
        frame = {
            "cust": cust_idx, "rank": rank, "name": name, "gender": np.where(gender == 0, "男", "女"),
            "title": np.where(is_ent, title, None), "department": np.where(is_ent, depts[rng.integers(0, len(depts), size=m)], None),
            "mobile": self.ids.mobiles(rng, m), "phone": np.where(is_ent & (rng.random(m) < 0.6), office, None),
            "email": np.where(is_ent, email_ent, np.where(rng.random(m) < 0.7, email_ind, None)),
            "birthday": np.where(rng.random(m) < np.where(is_ent, 0.55, 0.9),
                                 birth_dates(rng, m, dt.date(1962, 1, 1), dt.date(2001, 12, 31)),
                                 np.datetime64("NaT")),
            "buying_role": np.where(is_ent, role, None), "arrive": arrive, "leave": leave,
            "sec": np.repeat(c["arrive_sec"], n_c) + 60 * rank,
        }
        # individuals' customer records show the person's mobile / e-mail too
        self.contacts.append(frame)
        first_of = np.cumsum(n_c) - n_c + (len(self.contacts) - m)
        ind_c = ~ent
        self.cust["phone"][c.index[ind_c]] = self.contacts["mobile"][first_of[ind_c]]
        self.cust["email"][c.index[ind_c]] = self.contacts["email"][first_of[ind_c]]
        self.cust["primary_contact"][c.index] = first_of
        self.cust["n_contacts"][c.index] = n_c

    def _leads_for(self, c: Columns) -> None:
        """Leads converted into these customers, plus leads that come to nothing."""
        rng = self.rng["leads"]
        n = len(c)
        via_lead = rng.random(n) < np.where(c["ent"], 0.75, 0.45)
        conv = c[via_lead]
        k = len(conv)
        created = np.maximum(conv["arrive"] - rng.integers(0, 30, size=k), 7 * self.week)
        pc = self.contacts["cust"]
        prim = conv["primary_contact"]
        self.ev["lead"].add(
            created=created, follow=np.minimum(created + rng.integers(1, 8, size=k), conv["arrive"]),
            decided=conv["arrive"], status=np.full(k, "已转化", dtype=object),
            cust=conv["idx"], contact=prim, name=self.contacts["name"][prim],
            company=np.where(conv["ent"], conv["name"], None), title=np.where(conv["ent"], "采购经理", None),
            mobile=self.contacts["mobile"][prim], email=self.contacts["email"][prim],
            province=conv["province"], city=conv["city"], source=conv["source"],
            owner=conv["owner"], score=np.clip(rng.normal(72, 12, size=k), 30, 100).astype(int),
            invalid_reason=np.full(k, None, dtype=object), sec=conv["arrive_sec"] - 3600,
        )
        del pc
        # leads that do not convert, arriving over the same period
        m = rng.poisson(self.p.unconverted_leads * n)
        if m == 0:
            return
        lo, hi = int(c["arrive"].min()), int(c["arrive"].max()) + 1
        created = np.sort(rng.integers(lo, max(hi, lo + 1), size=m))
        reg = self.regions
        w = reg["weight"].to_numpy()
        ri = rng.choice(len(reg), size=m, p=w / w.sum())
        ent = rng.random(m) < 0.55
        gender = rng.integers(0, 2, size=m)
        city_short = np.array([x.removesuffix("市") for x in reg["city"].to_numpy()[ri]])
        industries = np.array(reference.DICTIONARIES["industry"]["values"])
        comp = self.ids.company_names(rng, city_short, industries[rng.integers(0, len(industries), size=m)])
        srcs = np.array(reference.DICTIONARIES["source"]["values"])
        sw = np.array([8, 6, 10, 8, 12, 2, 6, 4, 3, 26, 13, 2], float)
        src = srcs[rng.choice(len(srcs), size=m, p=sw / sw.sum())]
        reasons = np.array(reference.DICTIONARIES["lead_invalid_reason"]["values"])
        outcome_day = created + rng.integers(5, 60, size=m)
        team = np.array([TEAM_OF_REGION.get(r, "华东") for r in reg["region"].to_numpy()[ri]])
        owner = np.zeros(m, dtype=np.int64)
        for t in ("华东", "华北", "华南"):
            mm = team == t
            reps = self.firm.reps[self.firm.rep_team == t]
            if mm.any():
                owner[mm] = self._active_rep(reps[rng.integers(0, len(reps), size=mm.sum())], created[mm], t)
        # some leads are never followed up (owner missing) — a data-quality finding for ch04
        owner = np.where(rng.random(m) < 0.06, -1, owner)
        self.ev["lead"].add(
            created=created, follow=np.where(rng.random(m) < 0.8, created + rng.integers(1, 10, size=m), NEVER),
            decided=np.where(rng.random(m) < 0.85, outcome_day, NEVER),
            status=np.full(m, "无效", dtype=object), cust=np.full(m, -1), contact=np.full(m, -1),
            name=self.ids.person_names(rng, gender), company=np.where(ent, comp, None),
            title=np.where(ent, np.array(["采购经理", "行政主管", "总经理", "IT主管"])[rng.integers(0, 4, size=m)], None),
            mobile=np.where(rng.random(m) < 0.9, self.ids.mobiles(rng, m), None),
            email=np.where(rng.random(m) < 0.5, self.ids.emails(rng, m), None),
            province=reg["province"].to_numpy()[ri], city=reg["city"].to_numpy()[ri], source=src, owner=owner,
            score=np.clip(rng.normal(45, 15, size=m), 0, 100).astype(int),
            invalid_reason=reasons[rng.choice(len(reasons), size=m, p=[0.08, 0.42, 0.12, 0.22, 0.06, 0.10])],
            sec=rng.integers(9 * 3600, 18 * 3600, size=m),
        )

    def _shares_for(self, c: Columns) -> None:
        rng = self.rng["customers"]
        big = c[c["ent"] & (c["_value"] > 1.2)]
        pick = big[rng.random(len(big)) < 0.5]
        if len(pick):
            mgr = np.array([self.firm.manager_of_team[t] for t in pick["team"]])
            self.ev["share"].add(cust=pick["idx"], emp=mgr, day=pick["arrive"] + 1,
                                 by=pick["owner"])

    # -- campaigns ------------------------------------------------------------------------------

    def _campaign_plan(self) -> None:
        """Campaigns of the firm's plan: Double Eleven promotions, Spring Festival care, retention
        drives with a fair half-and-half control group twice a year, and the yearly acquisition
        spending on leads (fairs, media, agents …) whose budget is what the year's leads cost."""
        self.campaign_specs = []
        y0, y1 = self.p.start.year, self.p.today.year + 3
        for y in range(y0, y1 + 1):
            d11 = (dt.date(y, 11, 1) - self.p.start).days
            if d11 > 0:
                self.campaign_specs.append(dict(name=f"{y}年双十一促销", type="促销", channel="短信", start=d11,
                                                end=d11 + 14, target="individual", cpc=0.5, effect="promo", control=0.2))
            try:
                sf = (reference.spring_festival(y) - self.p.start).days
            except KeyError:
                sf = None
            if sf is not None and sf - 14 > 0:
                self.campaign_specs.append(dict(name=f"{y}年春节客户关怀（节日礼品）", type="关怀", channel="其他",
                                                start=sf - 14, end=sf - 1, target="valuable",
                                                cpc=ACTIONS["节日礼品"]["cost"], effect="节日礼品", control=0.2))
            for month, act in ((3, "折扣优惠"), (9, "电话回访")):
                d = (dt.date(y, month, 1) - self.p.start).days
                if d > 60:
                    self.campaign_specs.append(dict(name=f"{y}年{month}月沉睡客户挽留（{act}）", type="挽留",
                                                    channel=ACTIONS[act]["channel"], start=d, end=d + 30,
                                                    target="dormant", cpc=ACTIONS[act]["cost"], effect=act, control=0.5))
            d9 = (dt.date(y, 9, 10) - self.p.start).days
            if d9 > 0 and y == y0 + 1:
                self.campaign_specs.append(dict(name=f"{y}年新品推广（会议设备）", type="新品推广", channel="邮件",
                                                start=d9, end=d9 + 21, target="enterprise", cpc=5.0, effect="promo",
                                                control=0.2))
            ya, yb = (dt.date(y, 1, 1) - self.p.start).days, (dt.date(y + 1, 1, 1) - self.p.start).days
            if ya >= 0:
                for name, kind, channel, sources in (("展会获客", "展会", "活动", ("展会",)),
                                                     ("线上与渠道获客", "促销", "网站", tuple(s for s in LEAD_COST if s != "展会"))):
                    self.campaign_specs.append(dict(name=f"{y}年{name}", type=kind, channel=channel, start=ya + 2,
                                                    end=yb - 1, target="acquisition", cpc=0.0, effect="acquisition",
                                                    control=0.0, sources=sources, year=(ya, yb)))
        self.campaign_specs.sort(key=lambda s: s["start"])

    def _run_campaigns(self, d0: int, d1: int, alive: np.ndarray) -> None:
        rng = self.rng["campaign"]
        c = self.cust
        for k, spec in enumerate(self.campaign_specs):
            if not (d0 <= spec["start"] < d1):
                continue
            arrived = c["arrive"] < spec["start"]
            bought = c["_n_orders"] > 0
            recency = spec["start"] - c["_last_order"]
            if spec["target"] == "individual":
                elig = arrived & ~c["ent"] & bought & (recency < 400)
            elif spec["target"] == "enterprise":
                elig = arrived & c["ent"] & bought & (recency < 365)
            elif spec["target"] == "valuable":
                elig = arrived & bought & (c["_spend"] * np.maximum(c["_n_orders"], 1)
                                           > np.quantile(c["_spend"] * c["_n_orders"], 0.8))
            elif spec["target"] == "dormant":
                elig = arrived & bought & (recency > 75) & (recency < 270)
            else:
                elig = np.zeros(len(c), dtype=bool)
            members = np.flatnonzero(elig)
            if spec["target"] == "acquisition":
                le = self.ev["lead"].frame()
                ya, yb = spec["year"]
                inyear = (le["created"].to_numpy() >= ya) & (le["created"].to_numpy() < yb) & le["source"].isin(spec["sources"]).to_numpy()
                budget = float(sum(LEAD_COST[x] for x in le["source"].to_numpy()[inyear]))
                self.ev["campaign"].add(
                    spec=np.array([k]), name=np.array([spec["name"]], dtype=object), type=np.array([spec["type"]], dtype=object),
                    channel=np.array([spec["channel"]], dtype=object), start=np.array([spec["start"]]),
                    end=np.array([spec["end"]]), cpc=np.array([0.0]), budget=np.array([round(budget, -2)]),
                    owner=np.array([self.firm.marketing_staff[0]]), n=np.array([0]), control=np.array([0.0]))
                continue
            if len(members) == 0:
                continue
            control = rng.random(len(members)) < spec["control"]
            cid = self.ev["campaign"].add(
                spec=np.array([k]), name=np.array([spec["name"]], dtype=object), type=np.array([spec["type"]], dtype=object),
                channel=np.array([spec["channel"]], dtype=object), start=np.array([spec["start"]]),
                end=np.array([spec["end"]]), cpc=np.array([spec["cpc"]]),
                budget=np.array([round(spec["cpc"] * len(members) * 1.1, -1)]),
                owner=np.array([self.firm.marketing_staff[0]]), n=np.array([len(members)]),
                control=np.array([spec["control"]]))[0]
            contact_day = spec["start"] + rng.integers(0, max(1, (spec["end"] - spec["start"]) // 2), size=len(members))
            self.ev["member"].add(campaign=np.full(len(members), cid), cust=members,
                                  group=np.where(control, "对照组", "目标组"),
                                  contacted=np.where(control, NEVER, contact_day),
                                  sec=rng.integers(9 * 3600, 18 * 3600, size=len(members)))
            target = members[~control]
            if spec["effect"] == "promo":
                c["_promo_until"][target] = spec["end"]
                c["_promo_boost"][target] = 2.0
            else:
                self.apply_action(target, contact_day[~control], spec["effect"])

    # -- care and retention actions --------------------------------------------------------------

    def response_type(self, cust: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Hidden response of customers to a care or retention action on ``day``.

        0 本来就留 (sure thing), 1 可挽回 (persuadable), 2 必然流失 (lost cause), 3 反感打扰 (sleeping dog);
        see :mod:`simcrm.sim.actions`. Derived from latent state only (never rendered).
        """
        c = self.cust
        alive = c["_alive"][cust]
        since = day - c["_death_day"][cust]
        recent = ~alive & (since < 240) & (c["_death_cause"][cust] != "意外终止") & (c["_death_cause"][cust] != "转向竞争对手")
        sat = c["_sat"][cust]
        comp = self._competition(int(np.median(day)) if len(day) else 0, c["region"][cust]) * c["_price_sens"][cust]
        lost = (~alive & ~recent) | (c["_open_complaints"][cust] > 0) | (comp > 0.45) | (sat < 0.3)
        sleeping = alive & (c["_loyalty"][cust] > 1.3) & ~lost
        sure = alive & (sat > 0.74) & ~lost & ~sleeping
        return np.select([lost, sleeping, sure], [2, 3, 0], 1)

    def apply_action(self, cust: np.ndarray, day: np.ndarray, action: str) -> None:
        """Apply a menu action (:data:`simcrm.sim.actions.ACTIONS`) to customers on ``day``.

        Deterministic: the effect depends on the customer's hidden response type and, for a
        customer who stopped buying, on a fixed per-customer number (common random numbers).
        """
        cust = np.asarray(cust, dtype=np.int64)
        if len(cust) == 0:
            return
        day = np.broadcast_to(np.asarray(day, dtype=np.int64), cust.shape)
        s = float(ACTIONS[action]["strength"])
        c = self.cust
        kind = self.response_type(cust, day)
        pers = kind == 1
        dead = ~c["_alive"][cust]
        u = _uniform(self.seed, cust, 101)
        back = pers & dead & (u < 0.5 * s)
        who = cust[back]
        c["_alive"][who] = True
        c["_death_day"][who] = NEVER
        c["_death_cause"][who] = ""
        saved = cust[pers & (~dead | back)]
        sd = day[pers & (~dead | back)]
        c["_push_until"][saved] = np.maximum(c["_push_until"][saved], sd + 180)
        c["_push_lin"][saved] = np.minimum(c["_push_lin"][saved], -1.6 * s)
        c["_promo_until"][saved] = np.maximum(c["_promo_until"][saved], sd + 60)
        c["_promo_boost"][saved] = np.maximum(c["_promo_boost"][saved], 1 + 2.0 * s)
        self._schedule(sd, "dsat", saved, np.full(len(saved), 0.05 * s))
        dog = cust[kind == 3]
        c["_push_until"][dog] = np.maximum(c["_push_until"][dog], day[kind == 3] + 180)
        c["_push_lin"][dog] = np.maximum(c["_push_lin"][dog], 0.9)
        self._schedule(day[kind == 3], "dsat", dog, np.full(len(dog), -0.05))

    # -- complaints the CRM user handles -------------------------------------------------------

    #: a complaint resolved within this many days of its date, with satisfaction ≥ 4, is fast and satisfying
    RECOVERY_DAYS = 7

    def take_over_complaints(self, rows: np.ndarray, today: int) -> np.ndarray:
        """The CRM user took complaints ``rows`` (0-based complaint events) into their hands ``today``.

        The model's own handling stops where the CRM shows it today (the later steps are never
        rendered, so a step does not overwrite what the user records), and its effects on the
        customer that were still to come (the close of the complaint, the harm of a complaint
        left open) are cancelled: from now on the complaint is open for the customer until the
        user resolves it (:meth:`resolve_complaints`). Returns, per row, whether the complaint
        was still open for the customer (the model had not closed it). No random draw.
        """
        rows = np.asarray(rows, dtype=np.int64)
        ev = self.ev["complaint"]
        f = ev.frame()
        if len(rows) == 0:
            return np.zeros(0, dtype=bool)
        steps = np.stack(f["steps"].to_numpy()[rows]).astype(np.int64)
        cust = f["cust"].to_numpy()[rows]
        outcome = f["outcome"].to_numpy()[rows]
        day = f["day"].to_numpy()[rows]
        close_day = np.where(outcome < 2, steps[:, 4] // 86400, NEVER)
        pending = (close_day // 7) >= self.week  # the model's close is still to come
        still_open = (outcome == 2) | pending
        cut = pending & (outcome < 2)
        self._schedule(close_day[cut], "dopen", cust[cut], np.ones(cut.sum()))
        self._schedule(close_day[cut], "dsat", cust[cut], np.where(outcome[cut] == 0, -0.16, 0.02))
        harm = (outcome == 2) & (((day + 45) // 7) >= self.week)
        self._schedule(day[harm] + 45, "dsat", cust[harm], np.full(harm.sum(), 0.12))
        frozen = np.where(steps < (today + 1) * 86400, steps, NEVER)
        all_steps = np.stack(f["steps"].to_numpy()).astype(np.int64)
        all_steps[rows] = frozen
        col = np.empty(len(f), dtype=object)
        col[:] = list(all_steps)
        f["steps"] = col
        ev._parts = [{k: (all_steps if k == "steps" else p) for k, p in ev._parts[0].items()}]  # frame() left one part
        ev._frame = f
        return still_open

    def resolve_complaints(self, rows: np.ndarray, resolved: np.ndarray, satisfaction: np.ndarray,
                           still_open: np.ndarray) -> None:
        """The CRM user resolved complaints ``rows`` on days ``resolved`` with ``satisfaction`` (1–5).

        For a complaint still open for the customer, the same events as the model's own
        handling: the complaint is no longer open; fast (within :data:`RECOVERY_DAYS` of the
        complaint) and satisfying (≥ 4) restores satisfaction and binds the customer for a year
        (service recovery); slow or unsatisfying leaves them barely less unhappy. How much that
        keeps a customer depends on their hidden traits (loyalty, price sensitivity, the
        competition). No random draw.
        """
        rows = np.asarray(rows, dtype=np.int64)
        m = np.asarray(still_open, dtype=bool)
        if not m.any():
            return
        f = self.ev["complaint"].frame()
        cust = f["cust"].to_numpy()[rows][m]
        day = f["day"].to_numpy()[rows][m]
        resolved = np.asarray(resolved, dtype=np.int64)[m]
        fine = ((resolved - day) <= self.RECOVERY_DAYS) & (np.asarray(satisfaction)[m] >= 4)
        when = np.maximum(resolved, 7 * self.week)  # a week already simulated takes it at the next
        self._schedule(when, "dopen", cust, -np.ones(len(cust)))
        self._schedule(when, "dsat", cust, np.where(fine, 0.16, -0.02))
        self._schedule(when[fine], "recover", cust[fine], when[fine] + 365)

    # -- the firm's complaint-handling policy (投诉处理规则, set in the CRM) ----------------------------

    #: the return visit's satisfaction by the policy's remedy (处理方式) when resolved within
    #: RECOVERY_DAYS; each of the waits in :data:`SLOW_DAYS` passed costs a point (the same
    #: remedy pleases less after weeks of waiting)
    REMEDY_SATISFACTION = {"致歉说明": 2, "维修或更换": 4, "更换并补偿": 5}
    SLOW_DAYS = (RECOVERY_DAYS, 30)

    @classmethod
    def policy_satisfaction(cls, remedy: str, resolve_days: int) -> int:
        """The satisfaction (1–5) a complaint resolved by ``remedy`` in ``resolve_days`` gets."""
        s = cls.REMEDY_SATISFACTION[remedy] - sum(int(resolve_days) > d for d in cls.SLOW_DAYS)
        return int(min(max(s, 1), 5))

    def set_complaint_policy(self, rules: dict[str, tuple[int, int, str, int]] | None, from_day: int) -> None:
        """The firm handles the complaints received after ``from_day`` by ``rules`` (``None``: no policy).

        ``rules``: complaint category → (response days, resolution days, remedy, handler's
        employee id or -1 for the desk's usual one). A ruled complaint is first answered
        (调查中) response days after receipt, return-visited (已回访) exactly resolution days after
        it, with the satisfaction of :meth:`policy_satisfaction`, and archived the day after;
        fast and satisfying (within :data:`RECOVERY_DAYS`, ≥ 4) it acts on the customer like the
        model's own fast and satisfying handling, otherwise like a slow one. Complaints the model
        had already drawn for the coming days are handled again by the rules (their pending
        effects replaced; the ones the model already settled in a simulated week stay), and
        the complaints drawn from now on are handled by them as they arise. No random draw.
        """
        if not rules:
            self.__dict__.pop("complaint_policy", None)
            return
        self.complaint_policy = {"from": int(from_day), "rules": dict(rules)}
        f = self.ev["complaint"].frame()
        if not len(f):
            return
        day = f["day"].to_numpy()
        cat = f["category"].to_numpy()
        outcome = f["outcome"].to_numpy().copy()
        steps = np.stack(f["steps"].to_numpy()).astype(np.int64)
        cust = f["cust"].to_numpy()
        known = self.__dict__.setdefault("policy_rows", {})  # ev row → (remedy, day its effects were scheduled for)
        eff_old = np.where(outcome < 2, steps[:, 4] // 86400, day + 45)
        for r, (_, d) in known.items():
            eff_old[r] = d
        ruled = self._policy_rows(day, cat) & ((eff_old // 7) >= self.week)
        rows = np.flatnonzero(ruled)
        if not len(rows):
            return
        o, e, c = outcome[rows], eff_old[rows], cust[rows]
        done = o < 2
        self._unschedule(e[done], "dopen", c[done], -np.ones(done.sum()))
        self._unschedule(e[done], "dsat", c[done], np.where(o[done] == 0, 0.16, -0.02))
        fine = o == 0
        self._unschedule(e[fine], "recover", c[fine], e[fine] + 365)
        self._unschedule(e[~done], "dsat", c[~done], np.full((~done).sum(), -0.12))
        new_o, new_steps, new_sat, new_h = self._policy_handling(
            np.ones(len(rows), dtype=bool), cat[rows], f["received"].to_numpy()[rows],
            o, steps[rows], f["sat"].to_numpy()[rows], f["handler"].to_numpy()[rows])
        eff = np.maximum(new_steps[:, 4] // 86400, 7 * self.week)
        ok = new_o == 0
        self._schedule(eff, "dopen", c, -np.ones(len(c)))
        self._schedule(eff, "dsat", c, np.where(ok, 0.16, -0.02))
        self._schedule(eff[ok], "recover", c[ok], eff[ok] + 365)
        all_steps = steps
        all_steps[rows] = new_steps
        cols = {"outcome": outcome, "sat": f["sat"].to_numpy().copy(), "handler": f["handler"].to_numpy().copy()}
        cols["outcome"][rows], cols["sat"][rows], cols["handler"][rows] = new_o, new_sat, new_h
        ev = self.ev["complaint"]
        col = np.empty(len(f), dtype=object)
        col[:] = list(all_steps)
        f["steps"] = col
        for k, v in cols.items():
            f[k] = v
        ev._parts = [{k: (all_steps if k == "steps" else cols.get(k, p)) for k, p in ev._parts[0].items()}]
        ev._frame = f
        self._policy_remember(rows, cat[rows], eff)

    def surge_complaints(self, from_day: int, factor: float) -> None:
        """From ``from_day`` on, unhappy customers complain ``factor`` times as readily.

        A service failure of the firm's own making (a faulty batch from a new supplier, a new
        logistics partner …): failures and service requests after ``from_day`` escalate to
        complaints more often, the same draws deciding (no extra random number). Without it,
        :data:`COMPLAINT_PROPENSITY` alone (tuned so that about 1 in 27 dissatisfied customers
        complains).
        """
        self.surge = (int(from_day), float(factor))

    def _propensity(self, day: np.ndarray) -> Any:
        """The complaint propensity on ``day`` (a scalar unless a surge is set)."""
        surge = self.__dict__.get("surge")
        if surge is None:
            return COMPLAINT_PROPENSITY
        return COMPLAINT_PROPENSITY * np.where(np.asarray(day) > surge[0], surge[1], 1.0)

    def _policy_rows(self, day: np.ndarray, category: np.ndarray) -> np.ndarray:
        """Which complaints (days, categories) the policy in force decides."""
        pol = self.__dict__.get("complaint_policy")
        if pol is None:
            return np.zeros(len(day), dtype=bool)
        return (np.asarray(day) > pol["from"]) & np.isin(np.asarray(category, dtype=object), list(pol["rules"]))

    def _policy_handling(self, ruled: np.ndarray, category: np.ndarray, start_sec: np.ndarray, outcome: np.ndarray,
                         steps: np.ndarray, sat: np.ndarray, handler: np.ndarray) -> tuple[np.ndarray, ...]:
        """``outcome, steps, sat, handler`` with the ruled rows handled as the policy says."""
        rules = self.complaint_policy["rules"]
        outcome, steps, sat, handler = (np.array(outcome, copy=True), np.array(steps, dtype=np.int64, copy=True),
                                        np.array(sat, copy=True), np.array(handler, copy=True))
        category = np.asarray(category, dtype=object)
        for name in sorted(set(category[ruled])):
            m = ruled & (category == name)
            resp, res, remedy, who = rules[name]
            t0 = np.asarray(start_sec)[m].astype(np.int64)
            t_resp = t0 + int(resp) * 86400 + 1800  # answered half an hour into the response day
            t_visit = t0 + int(res) * 86400  # the return visit exactly ``res`` days after receipt
            mids = t_resp[:, None] + (t_visit - t_resp)[:, None] * np.array([1, 2, 3])[None, :] // 4
            steps[m] = np.column_stack([t_resp, mids, t_visit, t_visit + 86400])
            s = self.policy_satisfaction(remedy, res)
            sat[m] = s
            outcome[m] = 0 if (int(res) <= self.RECOVERY_DAYS and s >= 4) else 1
            if int(who) >= 0:
                handler[m] = int(who)
        return outcome, steps, sat, handler

    def _policy_remember(self, rows: np.ndarray, category: np.ndarray, eff: np.ndarray) -> None:
        """Note the ev rows the policy handled: their remedy (shown as the 处理方案) and effect day."""
        rules = self.complaint_policy["rules"]
        known = self.__dict__.setdefault("policy_rows", {})
        for r, c, d in zip(np.asarray(rows).tolist(), category, np.asarray(eff).tolist()):
            known[int(r)] = (rules[c][2], int(d))

    def _unschedule(self, day: np.ndarray, kind: str, cust: np.ndarray, value: np.ndarray) -> None:
        """Take back effects scheduled with :meth:`_schedule` (one matching entry each)."""
        for d, c, v in zip(np.asarray(day).tolist(), np.asarray(cust).tolist(), np.asarray(value).tolist()):
            items = self.effects.get(int(d) // 7)
            for j, (k, cs, vs) in enumerate(items or []):
                if k != kind:
                    continue
                hit = np.flatnonzero((cs == c) & (vs == v))
                if len(hit):
                    keep = np.ones(len(cs), dtype=bool)
                    keep[hit[0]] = False
                    items[j] = (k, cs[keep], vs[keep])
                    break

    # -- scheduled effects ---------------------------------------------------------------------

    def _schedule(self, day: Any, kind: str, cust: np.ndarray, value: np.ndarray) -> None:
        if len(cust) == 0:
            return
        day = np.asarray(day)
        if day.shape != np.shape(cust):  # one day for all (np.broadcast_to costs more than the rest)
            day = np.broadcast_to(day, np.shape(cust))
        wk = day // 7
        cust, value = np.asarray(cust), np.asarray(value)
        w0 = wk[0]
        if len(wk) == 1 or (wk == w0).all():  # the usual case: one week
            if w0 < NEVER // 7:
                self.effects.setdefault(int(w0), []).append((kind, cust.copy(), value.copy()))
            return
        o = np.argsort(wk, kind="stable")  # by week, in the given order within a week
        ws = wk[o]
        cut = np.flatnonzero(np.concatenate(([True], ws[1:] != ws[:-1], [True])))
        for a, b in zip(cut[:-1], cut[1:]):
            w = ws[a]
            if w >= NEVER // 7:
                continue
            self.effects.setdefault(int(w), []).append((kind, cust[o[a:b]], value[o[a:b]]))

    def _apply_effects(self, w: int) -> None:
        items = self.effects.pop(w, [])
        c = self.cust
        sat = c["_sat"].copy()
        opn = c["_open_complaints"].copy()
        alive = c["_alive"].copy()
        death = c["_death_day"].copy()
        cause = c["_death_cause"].copy()
        rec = c["_recovered_until"]
        for kind, cust, val in items:
            if kind == "dsat":
                np.add.at(sat, cust, val)
            elif kind == "dopen":
                np.add.at(opn, cust, val.astype(np.int64))
            elif kind == "recover":
                rec[cust] = np.maximum(rec[cust], val.astype(np.int64))
                # the recovery paradox: a complaint put right brings the customer back to buy
                # (the replacement, the goodwill order) within the next three months
                pu, pb = c["_promo_until"], c["_promo_boost"]
                pb[cust] = np.where(pu[cust] >= 7 * w, np.maximum(pb[cust], 1.8), 1.8)
                pu[cust] = np.maximum(pu[cust], 7 * w + 90)
            elif kind == "death":
                m = alive[cust]
                alive[cust[m]] = False
                death[cust[m]] = 7 * w
                cause[cust[m]] = "意外终止"
        c["_sat"] = np.clip(sat, 0.0, 1.0)
        c["_open_complaints"] = np.maximum(opn, 0)
        c["_alive"] = alive
        c["_death_day"] = death
        c["_death_cause"] = cause

    # -- the weekly loop -------------------------------------------------------------------------

    def run_until(self, day: int, progress: Any = None) -> None:
        """Simulate whole weeks until the week containing ``day`` is done."""
        last = day // 7
        weeks = range(self.week, last + 1)
        it = weeks
        if progress is not None:
            it = progress(weeks)
        for w in it:
            self._week(w)
        self.week = max(self.week, last + 1)

    def _season(self, d0: int) -> tuple[float, float]:
        date = self.p.start + dt.timedelta(days=d0)
        try:
            sf = (reference.spring_festival(date.year) - self.p.start).days
        except KeyError:
            sf = -10 ** 6
        m = 1.0
        if sf - 10 <= d0 <= sf + 10:
            m = 0.25
        elif sf - 17 <= d0 <= sf + 17:
            m = 0.7
        ind = m
        d11 = (dt.date(date.year, 11, 11) - self.p.start).days
        if d11 - 6 <= d0 <= d11:
            ind *= 4.0
        elif d11 - 13 <= d0 <= d11 + 7:
            ind *= 1.6
        if date.month == 12 and date.day >= 10:
            m *= 1.25  # year-end budgets of enterprises
        return m, ind

    def _week(self, w: int) -> None:
        d0 = 7 * w
        d1 = d0 + 7
        if d0 > self.horizon:
            self._continue_arrivals(d0, d1)
        self._apply_effects(w)
        c = self.cust
        arrived = c["arrive"] < d1
        alive = c["_alive"]
        act = np.flatnonzero(arrived & alive)
        self._run_campaigns(d0, d1, alive)
        # owners who leave hand their customers to an active colleague of the team
        self._transfers(d0, d1)
        m_ent, m_ind = self._season(d0)
        ent = c["ent"]
        lam = c["_lam"]
        boost = np.where(c["_promo_until"] >= d0, c["_promo_boost"], 1.0)
        sat = c["_sat"]
        rate = lam[act] * np.where(ent[act], m_ent, m_ind) * boost[act] * (0.25 + 1.25 * sat[act])
        rb = self.rng["buy"]
        k = rb.poisson(rate)
        n_orders = c["_n_orders"]
        # first purchases of individuals who registered when buying
        fb = c["_first_buy_delay"]
        arr = c["arrive"]
        first_now = (n_orders[act] == 0) & (arr[act] + fb[act] >= d0) & (arr[act] + fb[act] < d1)
        # first purchases follow the season too: in a slow week they wait for the next one
        wait = first_now & ~ent[act] & (rb.random(len(act)) > min(m_ind, 1.0))
        fb[act[wait]] += 7
        first_now = first_now & ~wait
        k = np.where(first_now, np.maximum(k, 1), k)
        # no purchase before arrival
        buyers = act[k > 0]
        counts = k[k > 0]
        trial = first_now[k > 0]
        # enterprise customers without an order (or big repeat deals) go through an opportunity
        has_opp = c["_has_open_opp"]
        new_ent_arrivals = np.flatnonzero(ent & (arr >= d0) & (arr < d1) & alive & ~c["_established"])
        via_opp = ent[buyers] & ((n_orders[buyers] == 0) | (rb.random(len(buyers)) < 0.22)) & ~has_opp[buyers] & ~trial
        opp_cust = np.concatenate([new_ent_arrivals, buyers[via_opp]])
        opp_cust = np.unique(opp_cust)
        opp_cust = opp_cust[~has_opp[opp_cust]]
        direct = ~via_opp & ~(ent[buyers] & (n_orders[buyers] == 0) & ~trial)
        ob = np.repeat(buyers[direct], counts[direct])
        day = np.maximum(d0 + rb.integers(0, 7, size=len(ob)), arr[ob])
        self._orders(ob, day, np.full(len(ob), -1), kind="订单")
        self._new_opps(opp_cust, np.maximum(arr[opp_cust], d0 + rb.integers(0, 7, size=len(opp_cust))))
        self._advance_opps(d0)
        self._renewals(d0, d1)
        self._activities(act, d0)
        self._care_week(act, d0, d1)
        self._surveys(act, d0)
        self._hazard(act, d0)

    def _continue_arrivals(self, d0: int, d1: int) -> None:
        """Past the original ``today`` customers keep arriving at the recent rate."""
        rate = self.p.customers / max(self.horizon, 1) * 7 * 1.2
        k = self.rng["arrivals"].poisson(rate)
        days = np.sort(self.rng["arrivals"].integers(d0, d1, size=k))
        self._arrivals(k, days)

    def _transfers(self, d0: int, d1: int) -> None:
        c = self.cust
        owner = c["owner"].copy()
        for rep, leave in zip(self.firm.reps, self.firm.rep_leave_day):
            if d0 <= leave < d1:
                mine = np.flatnonzero(owner == rep)
                if len(mine) == 0:
                    continue
                team = self.firm.rep_team[self.firm.reps == rep][0]
                ok = [r for r in self.firm.reps[self.firm.rep_team == team]
                      if self.emp_hire_day[r] <= leave < self.emp_leave_day[r] and r != rep]
                new = np.array(ok)[np.arange(len(mine)) % len(ok)]
                owner[mine] = new
                self.ev["transfer"].add(cust=mine, old=np.full(len(mine), rep), new=new, day=np.full(len(mine), leave))
                # their open opportunities move too
                om = self.o["owner"] == rep
                self.o["owner"][om] = new[np.searchsorted(mine, self.o["cust"][om]).clip(0, len(mine) - 1)]
        c["owner"] = owner

    # -- opportunities --------------------------------------------------------------------------

    def _new_opps(self, cust: np.ndarray, day: np.ndarray) -> None:
        if len(cust) == 0:
            return
        rng = self.rng["opps"]
        c = self.cust
        base = self.ev["opp"].n
        amount = np.round(c["_spend"][cust] * np.exp(rng.normal(0.6, 0.4, size=len(cust))), -2)
        ids = self.ev["opp"].add(cust=cust, owner=c["owner"][cust], created=day, amount=np.maximum(amount, 1000),
                                 sec=rng.integers(9 * 3600, 18 * 3600, size=len(cust)),
                                 expected=day + rng.integers(30, 150, size=len(cust)),
                                 contact=c["primary_contact"][cust],
                                 source=c["source"][cust])
        del base
        self.ev["opp_hist"].add(opp=ids, stage=np.zeros(len(ids), dtype=np.int64), status=np.full(len(ids), "跟踪", dtype=object),
                                day=day, sec=rng.integers(9 * 3600, 18 * 3600, size=len(ids)),
                                by=c["owner"][cust])
        for key, val in (("id", ids), ("cust", cust), ("owner", c["owner"][cust]),
                         ("stage", np.zeros(len(ids), dtype=np.int64)), ("status", np.zeros(len(ids), dtype=np.int64)),
                         ("age", np.zeros(len(ids), dtype=np.int64)), ("idle", np.zeros(len(ids), dtype=np.int64)),
                         ("amount", amount)):
            self.o[key] = np.concatenate([self.o[key], val])
        c["_has_open_opp"][cust] = True

    #: weekly chance to advance / to be lost at each stage (an average rep, satisfaction 0.66).
    #: Tuned on purpose so the real chance of winning once a stage is reached runs about
    #: 25/29/35/42/52/65/80 % against the CRM's table 10/20/30/50/60/80/90 %: reps enter a
    #: deal only once it is qualified (early stages are won more often than the table says) and
    #: are over-optimistic in the last stages (ch08 calibrates the table from history).
    _ADV = np.array([0.54, 0.48, 0.43, 0.38, 0.35, 0.42, 0.64])
    _LOSE = np.array([0.078, 0.089, 0.078, 0.082, 0.115, 0.105, 0.215])

    def _advance_opps(self, d0: int) -> None:
        o = self.o
        if len(o["id"]) == 0:
            return
        rng = self.rng["opps"]
        n = len(o["id"])
        skill = self.rep_skill[np.searchsorted(self.firm.reps, o["owner"])]
        sat = self.cust["_sat"][o["cust"]]
        alive = self.cust["_alive"][o["cust"]]
        u = rng.random(n)
        tracking = (o["status"] == 0) & (o["age"] > 0)
        p_adv = self._ADV[o["stage"]] * skill
        p_lose = self._LOSE[o["stage"]] / skill * (1.6 - sat) + np.where(alive, 0, 0.3)
        p_hold = 0.015
        p_back = 0.02 * (o["stage"] > 1)
        day = d0 + rng.integers(0, 7, size=n)
        sec = rng.integers(9 * 3600, 18 * 3600, size=n)
        advance = tracking & (u < p_adv)
        lose = tracking & ~advance & (u < p_adv + p_lose)
        hold = tracking & ~advance & ~lose & (u < p_adv + p_lose + p_hold)
        back = tracking & ~advance & ~lose & ~hold & (u < p_adv + p_lose + p_hold + p_back)
        held = (o["status"] == 1) & (o["age"] > 0)
        resume = held & (u < 0.12)
        o["age"] += 1
        expire = (tracking | held) & ~advance & ~lose & (o["age"] > 40)
        won = advance & (o["stage"] == N_STAGES - 1)
        step_up = advance & ~won
        new_stage = o["stage"] + step_up - back
        events = []
        for mask, status, stage in ((step_up, "跟踪", new_stage), (back, "跟踪", new_stage), (won, "成功", o["stage"]),
                                    (lose & ~expire, "失败", o["stage"]), (hold & ~expire, "搁置", o["stage"]),
                                    (resume & ~expire, "跟踪", o["stage"]), (expire & ~won & ~lose, "失效", o["stage"])):
            if mask.any():
                events.append((np.flatnonzero(mask), status, stage[mask]))
        for where, status, stage in events:
            self.ev["opp_hist"].add(opp=o["id"][where], stage=stage, status=np.full(len(where), status, dtype=object),
                                    day=day[where], sec=sec[where], by=o["owner"][where])
        o["stage"] = new_stage
        o["status"] = np.where(hold & ~expire, 1, np.where(resume, 0, o["status"]))
        if won.any():
            wi = np.flatnonzero(won)
            self._orders(o["cust"][wi], day[wi] + 1, o["id"][wi], kind="合同", amount=o["amount"][wi])
        closed = won | lose | expire
        if closed.any():
            self.cust["_has_open_opp"][o["cust"][closed]] = False
            keep = ~closed
            for key in o:
                o[key] = o[key][keep]

    # -- orders -------------------------------------------------------------------------------------

    def _orders(self, cust: np.ndarray, day: np.ndarray, opp: np.ndarray, kind: str,
                amount: np.ndarray | None = None) -> None:
        if len(cust) == 0:
            return
        rng = self.rng["orders"]
        c = self.cust
        n = len(cust)
        order_by = np.lexsort((cust, day))
        cust, day, opp = cust[order_by], day[order_by], opp[order_by]
        if amount is not None:
            amount = amount[order_by]
        target = c["_spend"][cust] * np.exp(rng.normal(0, 0.35, size=n))
        if amount is not None:
            target = amount * np.exp(rng.normal(0, 0.1, size=n))
        ent = c["ent"][cust]
        sat = c["_sat"][cust]
        annual = (kind == "合同") & (rng.random(n) < 0.45)
        end = np.where(annual, day + 365, NEVER)
        abort = (rng.random(n) < 0.012 * (1 + 4 * (1 - sat))) & (kind == "合同")
        rejected = rng.random(n) < 0.012
        abort_day = np.where(abort & ~rejected, day + rng.integers(10, 60, size=n), NEVER)
        seq = self.ev["order"].add(
            cust=cust, day=day, sec=rng.integers(9 * 3600, 18 * 3600, size=n), opp=opp,
            kind=np.full(n, kind, dtype=object),
            ent=ent, target=target, owner=c["owner"][cust], contact=c["primary_contact"][cust],
            terms=c["_terms"][cust], end=end, abort_day=abort_day, rejected=rejected,
            credit_risk=c["_credit_risk"][cust], price_sens=c["_price_sens"][cust],
            alive_sat=sat, team=c["team"][cust],
        )
        self._order_details(seq, cust, day, target, ent, rejected, c["_terms"][cust],
                            c["_credit_risk"][cust], c["_price_sens"][cust], kind)
        no = c["_n_orders"].copy()
        np.add.at(no, cust, (~rejected).astype(np.int64))
        c["_n_orders"] = no
        last = c["_last_order"].copy()
        np.maximum.at(last, cust[~rejected], day[~rejected])
        c["_last_order"] = last
        ce = c["_contract_end"].copy()
        ce[cust[annual & ~rejected & (abort_day >= NEVER)]] = end[annual & ~rejected & (abort_day >= NEVER)]
        c["_contract_end"] = ce
        # an aborted contract ends the relationship
        self._schedule(abort_day[abort_day < NEVER], "death", cust[abort_day < NEVER], np.ones((abort_day < NEVER).sum()))
        # after-sales follow-up care (售后回访), done or not
        self._after_sales(cust, day, ent)
        self._failures(cust, day, ent, rejected)

    def _order_details(self, seq, cust, day, target, ent, rejected, terms, risk, price_sens, kind) -> None:
        """Lines, approval, shipments, payment plan and payments, invoice and returns of new orders."""
        rng = self.rng["orders"]
        n = len(seq)
        prod = self.P
        price = prod["price"]
        n_lines = np.minimum(1 + rng.poisson(np.where(ent, 1.0, 0.35)), 5)
        o = np.repeat(np.arange(n), n_lines)
        m = len(o)
        probs = self.__dict__.get("_order_p")
        if probs is None:  # the catalogue's weights do not change: normalised once
            w_ent = np.where(prod["_b2c"] > 1.2, 0.3, 1.0)
            w_ind = prod["_b2c"]
            probs = self._order_p = (w_ent / w_ent.sum(), w_ind / w_ind.sum())
        pe = _pick(rng, m, probs[0])
        pi = _pick(rng, m, probs[1])
        ent_o = ent[o]
        pidx = np.where(ent_o, pe, pi)
        # products not on sale that day are replaced by the next one in the catalogue
        lday = day[o]
        for _ in range(3):
            bad = (lday >= prod["_stop_day"][pidx]) | (lday < prod["_launch_day"][pidx])
            pidx = np.where(bad, (pidx + 1) % len(price), pidx)
        weeks11 = self.__dict__.get("_weeks11")
        if weeks11 is None:  # by week: True for the week of 11.11 and the week before (a lookup, not np.isin)
            d11 = np.array([(dt.date(y, 11, 11) - self.p.start).days for y in range(self.p.start.year, self.p.today.year + 8)])
            w11 = np.concatenate([d11 // 7, d11 // 7 - 1])
            w11 = w11[w11 >= 0]
            weeks11 = self._weeks11 = np.zeros(int(w11.max(initial=0)) + 2, dtype=bool)
            weeks11[w11] = True
        near11 = weeks11[np.clip(lday // 7, -1, len(weeks11) - 1)]  # the last entry is False
        disc = np.where(ent_o, np.clip(np.round(rng.normal(0.03 + 0.12 * price_sens[o], 0.03), 2), 0, 0.3),
                        np.where(near11, 0.15, np.where(rng.random(m) < 0.3, 0.05, 0.0)))
        unit = price[pidx]
        per_line = target[o] / n_lines[o]
        qty = np.clip(np.round(per_line / (unit * (1 - disc)) * rng.uniform(0.7, 1.3, size=m)), 1, np.where(ent_o, 800, 6))
        amount = np.round(qty * unit * (1 - disc), 2)
        tax = np.where(prod["_service"][pidx], 0.06, 0.13)
        partial = (n_lines > 1) & (rng.random(n) < 0.25)
        first_line = np.concatenate(([0], np.cumsum(n_lines)[:-1]))
        part = np.where(partial[o] & (np.arange(m) - first_line[o] > 0), 2, 1)
        lseq = self.ev["line"].add(order=seq[o], product=pidx + 1, qty=qty, price=unit, discount=disc, tax=tax,
                                   amount=amount, part=part, cost=prod["cost"][pidx] * qty,
                                   physical=~prod["_service"][pidx])
        total = np.bincount(o, weights=amount, minlength=n)
        approve = day + rng.integers(0, 3, size=n)
        ship1 = np.where(rejected, NEVER, approve + rng.integers(1, 6, size=n))
        ship2 = np.where(partial & ~rejected, ship1 + rng.integers(3, 25, size=n), NEVER)
        ship_last = np.where(partial, ship2, ship1)
        inst = np.where(terms == "分期付款", 3, 1)
        po = np.repeat(np.arange(n), inst)
        k = np.arange(len(po)) - np.repeat(np.cumsum(inst) - inst, inst)
        base_due = np.where(terms == "款到发货", day, np.where(terms == "货到付款", ship1, np.where(
            terms == "月结60天", day + 60, day + 30)))  # 月结30天 and any other term: 30 days
        due = np.where(rejected[po], NEVER, base_due[po] + 30 * k)
        share = np.round(total[po] / inst[po], 2)
        last_k = k == inst[po] - 1
        share = np.where(last_k, np.round(total[po] - share * (inst[po] - 1), 2), share)
        r = risk[po]
        late = rng.random(len(po)) < np.clip(2.2 * r, 0, 0.95)
        late_days = np.where(late, 1 + rng.exponential(8 + 120 * r), 0).astype(np.int64)
        never = rng.random(len(po)) < 0.25 * r ** 2
        paid = np.where(never | rejected[po], NEVER, np.maximum(due + late_days, day[po]))
        # 款到发货: the warehouse ships only once the money is in (never, if it never comes)
        prepaid = terms == "款到发货"
        first_paid = np.full(n, NEVER, dtype=np.int64)
        np.minimum.at(first_paid, po[k == 0], paid[k == 0])
        wait = np.where(first_paid >= NEVER, NEVER, first_paid + rng.integers(1, 3, size=n))
        ship1 = np.where(prepaid & ~rejected, np.maximum(ship1, wait), ship1)
        ship2 = np.where(prepaid & partial & ~rejected,
                         np.where(ship1 >= NEVER, NEVER, np.maximum(ship2, ship1 + 3)), ship2)
        ship_last = np.where(partial, ship2, ship1)
        self.ev["plan"].add(order=seq[po], instalment=k + 1, due=due, amount=share, paid=paid,
                            sec=rng.integers(9 * 3600, 18 * 3600, size=len(po)))
        invoice = np.where(rejected | (~ent & (rng.random(n) < 0.4)), NEVER, np.where(ent, ship1, ship1 + rng.integers(0, 10, size=n)))
        # returns: a few orders send a line back
        ret = (~rejected) & (rng.random(n) < np.where(ent, 0.025, 0.045) * (1 + 1.2 * self.W["tangibles"]))
        ri = np.flatnonzero(ret)
        if len(ri):
            line = first_line[ri] + (rng.random(len(ri)) * n_lines[ri]).astype(np.int64)
            rq = np.maximum(1, np.floor(qty[line] * rng.uniform(0.1, 1.0, size=len(ri))))
            reasons = np.array(["质量问题", "型号不符", "运输损坏", "客户不再需要", "发错货"])
            self.ev["ret"].add(order=seq[ri], line=lseq[line], day=ship_last[ri] + rng.integers(2, 25, size=len(ri)),
                               qty=rq, amount=np.round(rq * unit[line] * (1 - disc[line]), 2), product=pidx[line] + 1,
                               reason=reasons[_pick(rng, len(ri), _p([1, 1, 1 + 4 * self.W["tangibles"], 1, 1]))])
            self._schedule(ship_last[ri] + 5, "dsat", cust[ri], np.full(len(ri), -0.03))
        self._order_extra = dict(total=total, approve=approve, ship1=ship1, ship2=ship2, invoice=invoice)
        self.ev["order"]._parts[-1].update(total=total, approve=approve, ship1=ship1, ship2=ship2, invoice=invoice)

    def _renewals(self, d0: int, d1: int) -> None:
        """Living customers renew annual contracts about a month before they expire."""
        c = self.cust
        end = c["_contract_end"]
        due = np.flatnonzero((end - 30 >= d0) & (end - 30 < d1) & c["_alive"])
        if len(due):
            renew = due[self.rng["orders"].random(len(due)) < 0.92]
            c["_contract_end"][due] = NEVER
            self._orders(renew, end[renew] - 30 + self.rng["orders"].integers(0, 20, size=len(renew)),
                         np.full(len(renew), -1), kind="合同")

    def _after_sales(self, cust: np.ndarray, day: np.ndarray, ent: np.ndarray) -> None:
        rng = self.rng["care"]
        pick = rng.random(len(cust)) < np.where(ent, 0.5, 0.25)
        cu, d = cust[pick], day[pick] + 7
        owner = self.cust["owner"][cu]
        dil = self.rep_diligence[np.searchsorted(self.firm.reps, owner)]
        done = rng.random(len(cu)) < np.clip(0.6 * dil * (1 - 0.6 * self.W["empathy"]), 0.05, 0.95)
        done_day = np.where(done, d + rng.integers(0, 4, size=len(cu)), NEVER)
        fb = np.clip(np.round(1 + 4 * self.cust["_sat"][cu] + rng.normal(0, 0.6, size=len(cu))), 1, 5)
        self.ev["care"].add(cust=cu, contact=self.cust["primary_contact"][cu], emp=owner,
                            type=np.full(len(cu), "售后回访", dtype=object), channel=np.full(len(cu), "电话", dtype=object),
                            planned=d, done=done_day, satisfaction=np.where(done, fb, 0).astype(np.int64), campaign=np.full(len(cu), -1))
        self._schedule(done_day[done], "dsat", cu[done], np.full(done.sum(), 0.04))
        self.cust["_last_contact"][cu[done]] = np.maximum(self.cust["_last_contact"][cu[done]], done_day[done])

    def _failures(self, cust: np.ndarray, day: np.ndarray, ent: np.ndarray, rejected: np.ndarray) -> None:
        """Product and service failures: service requests, some escalating to complaints."""
        rng = self.rng["service"]
        n = len(cust)
        sat = self.cust["_sat"][cust]
        W = self.W
        p_fail = np.where(ent, 0.13, 0.06) * (1 + 1.6 * W["reliability"]) * np.where(rejected, 0, 1)
        fail = rng.random(n) < p_fail
        # (a draw of size 0 takes nothing from the generator: skipping it changes no later number)
        if fail.any():
            fc, fd = cust[fail], day[fail] + np.minimum(rng.exponential(70, size=fail.sum()).astype(np.int64) + 3, 700)
            prod_p = self.__dict__.get("_fail_p")
            if prod_p is None:
                P = self.P
                prod_w = np.where(P["_service"], 0, P["_quality"] * (1 + P["_b2c"]))
                prod_p = self._fail_p = prod_w / prod_w.sum()
            self._service_requests(fc, fd, _pick(rng, len(fc), prod_p))
        # complaints about delivery, price and staff
        other = rng.random(n) < 0.0035 * (1.5 - sat) ** 2 * self._propensity(day) * np.where(rejected, 0, 1)
        if other.any():
            cats = np.array(["交付物流", "价格收费", "服务态度", "人员行为", "其他"])[_pick(rng, other.sum(), _p(
                [0.3 + 1.6 * W["tangibles"], 0.2, 0.2 + 1.4 * W["empathy"], 0.1 + 1.2 * W["assurance"], 0.1]))]
            self._complaints(cust[other], day[other] + rng.integers(2, 30, size=other.sum()), np.full(other.sum(), -1), cats)

    def _service_requests(self, fc: np.ndarray, fd: np.ndarray, prod_i: np.ndarray, redo: bool = True) -> None:
        """Service requests of customers ``fc`` on days ``fd`` about products ``prod_i`` (0-based)."""
        rng = self.rng["service"]
        W = self.W
        m = len(fc)
        if m == 0:
            return
        urgency = _URGENCY[_pick(rng, m, _URGENCY_P_SERVICE)]
        very, urgent = urgency == "非常紧急", urgency == "紧急"
        sla_first = np.where(very, 1.0, np.where(urgent, 4.0, 24.0))
        sla_res = np.where(very, 8.0, np.where(urgent, 48.0, 120.0))
        good = rng.random(m) < 0.8 - 0.45 * W["responsiveness"]
        first_h = np.where(good, sla_first * rng.uniform(0.1, 0.9, size=m), sla_first * rng.uniform(1.1, 6, size=m))
        res_h = np.where(good, sla_res * rng.uniform(0.2, 0.9, size=m), sla_res * rng.uniform(1.2, 8, size=m))
        never = rng.random(m) < 0.03
        open_sec = fd * 86400 + rng.integers(8 * 3600, 20 * 3600, size=m)
        first_s = open_sec + (first_h * 3600).astype(np.int64)
        # routine requests logged at the weekend wait for Monday morning
        weekday = (self.p.start.weekday() + fd) % 7
        wait = np.where((urgency == "一般") & (weekday >= 5), (7 - weekday) * 86400 + 9 * 3600
                        - (open_sec - fd * 86400) + rng.integers(0, 3 * 3600, size=m), 0)
        first_s = first_s + np.maximum(wait, 0)
        # a few requests are never picked up: they stay 新建 (an SLA finding for ch09)
        lost = rng.random(m) < 0.02
        first_s = np.where(lost, NEVER, first_s)
        never = never | lost
        good = good & ~lost
        res_s = np.where(never, NEVER, first_s + (res_h * 3600).astype(np.int64))
        close_s = np.where(never | (rng.random(m) < 0.1), NEVER, res_s + rng.integers(1, 5, size=m) * 86400)
        ssat = np.clip(np.round(np.where(good, 4.3, 2.4) - 0.6 * W["assurance"] + rng.normal(0, 0.8, size=m)),
                       1, 5).astype(np.int64)
        staff = self._service_staff_at(fd)
        self.ev["service"].add(cust=fc, day=fd, open_sec=open_sec, first_sec=first_s, res_sec=res_s, close_sec=close_s,
                               product=prod_i + 1, urgency=urgency, assignee=staff, good=good, sat=ssat,
                               contact=self.cust["primary_contact"][fc],
                               channel=_SERVICE_CHANNELS[_pick(rng, m, _SERVICE_CHANNELS_P)])
        self._schedule(fd, "dsat", fc, np.where(good, 0.01, -0.07) - 0.03 * W["assurance"])
        # escalation to a complaint is rare: most unhappy customers say nothing (about 1 in 27
        # complain); more likely after bad service and for unhappy customers
        esc = rng.random(m) < (np.where(good, 0.004, 0.03) + 0.03 * (1 - self.cust["_sat"][fc]) ** 2) * self._propensity(fd)
        if esc.any():  # (draws of size 0 take nothing from the generator)
            self._complaints(fc[esc], fd[esc] + rng.integers(0, 10, size=esc.sum()), prod_i[esc] + 1,
                             np.where(rng.random(esc.sum()) < 0.7 - 0.45 * W["responsiveness"], "产品质量", "售后维修"))
        if redo:
            # unskilled staff (weak 安全性): a fix does not hold and the customer calls again
            again = rng.random(m) < 0.04 + 0.3 * W["assurance"]
            if again.any():
                back = np.minimum(res_s[again], (fd[again] + 30) * 86400) // 86400 + rng.integers(3, 20, size=again.sum())
                self._service_requests(fc[again], back, prod_i[again], redo=False)

    def _service_staff_at(self, day: np.ndarray) -> np.ndarray:
        """The desk agent who takes each request or complaint: the agents employed that day, in turn."""
        staff = self.firm.service_staff
        day = np.asarray(day)
        if not len(day):
            return np.zeros(0, dtype=np.int64)
        cached = self.__dict__.get("_staff_days")
        if cached is None:  # the agents' hire and leave days do not change: built once
            cached = self._staff_days = (np.array([self.emp_hire_day[s] for s in staff]),
                                         np.array([self.emp_leave_day[s] for s in staff]))
        hire, leave = cached
        ud, inv = np.unique(day, return_inverse=True)
        ok = (hire[None, :] <= ud[:, None]) & (ud[:, None] < leave[None, :])  # agents employed on each day
        n_ok = ok.sum(axis=1)
        turn = (np.arange(len(day)) + ud[inv]) % np.maximum(n_ok[inv], 1)  # the turn-th agent employed that day
        pick = np.argmax(np.cumsum(ok, axis=1)[inv] > turn[:, None], axis=1)
        return staff[pick].astype(np.int64)

    #: the satisfaction gap (客户不满意的原因) a complaint handler records for each category;
    #: 产品质量 complaints are 感受差距 unless the product was sold on a promise (促销差距)
    GAP_OF_CATEGORY = {"产品质量": "感受差距", "售后维修": "程序差距", "交付物流": "程序差距", "价格收费": "促销差距",
                       "服务态度": "行为差距", "人员行为": "行为差距", "其他": "理解差距"}

    def _complaints(self, cust: np.ndarray, day: np.ndarray, product: np.ndarray, category: np.ndarray,
                    repeat: int = 2) -> None:
        m = len(cust)
        if m == 0:
            return
        rng = self.rng["complaints"]
        receiver = self._service_staff_at(day)
        # handling: fast and satisfying, slow, or left open (a weak service desk leaves more open)
        u = rng.random(m)
        fast = 0.6 - 0.3 * self.W["responsiveness"]
        outcome = np.where(u < fast, 0, np.where(u < 0.8 - 0.1 * self.W["responsiveness"], 1, 2))
        start_sec = day * 86400 + rng.integers(8 * 3600, 20 * 3600, size=m)
        # days spent before 调查中, 已分派, 方案待批, 处理中, 已回访, 已归档: a fast complaint moves
        # through in a few days; a slow one waits at each step (investigation with the supplier,
        # the manager's approval, a spare part …) and now and then stalls for months
        slow = rng.lognormal(np.log([6.0, 2.0, 5.0, 8.0, 5.0, 6.0]), 0.9, size=(m, 6))
        stall = (rng.random((m, 6)) < 0.05 * (1 + self.W["responsiveness"])) * rng.exponential(90, size=(m, 6))
        durations = (np.where(outcome[:, None] == 0, rng.uniform(0.2, 1.5, size=(m, 6)), slow + stall)
                     * 86400).astype(np.int64)
        steps = start_sec[:, None] + np.cumsum(durations, axis=1)  # times of 调查中 … 已归档
        # open: reached steps [0, stuck_at): nobody investigates, the plan waits for approval, the
        # fix is promised but not carried out …; and a handled complaint whose record the handler
        # never archived stays at 已回访
        stuck_at = _pick(rng, m, [0.1, 0.25, 0.15, 0.15, 0.25, 0.1])
        unarchived = rng.random(m) < 0.08
        reached = np.arange(6)[None, :] < np.where(outcome == 2, stuck_at, np.where(unarchived, 5, 6))[:, None]
        steps = np.where(reached, steps, NEVER)
        sat = np.where(outcome == 0, np.array([4, 5])[_pick(rng, m, [0.45, 0.55])],
                       np.where(outcome == 1, np.array([2, 3, 4])[_pick(rng, m, [0.35, 0.45, 0.2])],
                                rng.choice([1, 2], size=m)))
        urgency = _URGENCY[_pick(rng, m, _URGENCY_P_COMPLAINT)]
        depts = {"产品质量": 9, "售后维修": 7, "交付物流": 9, "价格收费": 2, "服务态度": 7, "人员行为": 1, "其他": 7}
        dept = np.array([depts.get(x, 7) for x in category])
        handler = np.where(rng.random(m) < 0.5, receiver, self.firm.service_staff[0])
        gap = np.where((category == "产品质量") & (rng.random(m) < 0.3), "促销差距",
                       np.array([self.GAP_OF_CATEGORY.get(x, "理解差距") for x in category], dtype=object)).astype(object)
        channel = _COMPLAINT_CHANNELS[_pick(rng, m, _COMPLAINT_CHANNELS_P)]
        # for the customer the matter ends with the return visit (archiving is the desk's business)
        close_day = (start_sec + durations[:, :5].sum(axis=1)) // 86400
        ruled = self._policy_rows(day, category)
        if ruled.any():  # the firm's complaint-handling policy decides these (no draw: same stream)
            outcome, steps, sat, handler = self._policy_handling(ruled, category, start_sec, outcome, steps, sat, handler)
            close_day = np.where(ruled, steps[:, 4] // 86400, close_day)
        seq = self.ev["complaint"].add(cust=cust, day=day, received=start_sec, steps=list(steps), outcome=outcome,
                                       sat=sat, product=product, category=category.astype(object), urgency=urgency,
                                       receiver=receiver, handler=handler, dept=dept, gap=gap,
                                       contact=self.cust["primary_contact"][cust], channel=channel)
        if ruled.any():
            self._policy_remember(seq[ruled], np.asarray(category, dtype=object)[ruled], close_day[ruled])
        self._schedule(day, "dsat", cust, np.full(m, -0.08))
        self._schedule(day, "dopen", cust, np.ones(m))
        done = outcome < 2
        self._schedule(close_day[done], "dopen", cust[done], -np.ones(done.sum()))
        self._schedule(close_day[done], "dsat", cust[done], np.where(outcome[done] == 0, 0.16, -0.02))
        # service recovery: a complaint handled fast and well binds the customer for a year
        fine = outcome == 0
        self._schedule(close_day[fine], "recover", cust[fine], close_day[fine] + 365)
        # complaints left open keep hurting
        self._schedule(day[~done] + 45, "dsat", cust[~done], np.full((~done).sum(), -0.12))
        if repeat:
            # a customer whose complaint drags on or ends badly complains again (催办, the same
            # problem again): more complaint records, not more complaining customers
            again = rng.random(m) < np.where(outcome == 2, 0.7, np.where(outcome == 1, np.where(sat <= 2, 0.6, 0.3), 0.05))
            self._complaints(cust[again], day[again] + rng.integers(10, 60, size=again.sum()), product[again],
                             np.asarray(category)[again], repeat=repeat - 1)

    # -- contact, care, surveys, churn -------------------------------------------------------------

    _CHANNELS_ENT = (["电话", "面谈", "邮件", "微信", "信函", "活动", "短信"], [0.36, 0.2, 0.16, 0.18, 0.02, 0.04, 0.04])
    _CHANNELS_IND = (["电话", "微信", "短信", "邮件", "网站", "活动"], [0.25, 0.4, 0.2, 0.05, 0.07, 0.03])

    def _activities(self, act: np.ndarray, d0: int) -> None:
        rng = self.rng["activity"]
        c = self.cust
        owner = c["owner"][act]
        dil = self.rep_diligence[np.searchsorted(self.firm.reps, owner)]
        ent = c["ent"][act]
        val = c["_value"][act]
        rate = dil * np.where(ent, 0.13, 0.035) * np.exp(0.3 * val) + 0.25 * c["_has_open_opp"][act]
        k = rng.poisson(rate)
        who = np.repeat(act, k)
        if len(who) == 0:
            return
        m = len(who)
        day = d0 + rng.integers(0, 7, size=m)
        e = c["ent"][who]
        ch = np.where(e, np.array(self._CHANNELS_ENT[0])[_pick(rng, m, self._CHANNELS_ENT[1])],
                      np.array(self._CHANNELS_IND[0])[_pick(rng, m, self._CHANNELS_IND[1])])
        ncont = c["n_contacts"][who]
        contact = c["primary_contact"][who] + (rng.random(m) * ncont).astype(np.int64)
        subjects = np.array(["客户回访", "需求沟通", "产品介绍", "报价跟进", "使用培训", "续约洽谈", "节日问候", "催款提醒", "新品推荐"])
        outcomes = np.array(["客户有兴趣，约定下次联系", "客户暂无需求", "已发送资料", "客户表示满意", "需要进一步报价", "未接通，稍后再联系"])
        self.ev["activity"].add(cust=who, contact=contact, emp=c["owner"][who], channel=ch, day=day,
                                sec=rng.integers(9 * 3600, 18 * 3600, size=m),
                                subject=subjects[rng.integers(0, len(subjects), size=m)],
                                outcome=outcomes[rng.integers(0, len(outcomes), size=m)])
        last = c["_last_contact"].copy()
        np.maximum.at(last, who, day)
        c["_last_contact"] = last
        # attention nudges satisfaction up a little
        sat = c["_sat"].copy()
        np.add.at(sat, who, 0.004)
        c["_sat"] = np.clip(sat, 0, 1)

    def _care_week(self, act: np.ndarray, d0: int, d1: int) -> None:
        """Birthday care for contacts of valuable customers and individuals."""
        rng = self.rng["care"]
        ct = self.contacts
        b = ct["birthday"]
        cached = getattr(self, "_bday_cache", None)
        if cached is None or cached[0] is not b:  # contacts changed: recompute once
            cached = (b, ~np.isnat(b), (b.astype("datetime64[D]") - b.astype("datetime64[Y]").astype("datetime64[D]")))
            self._bday_cache = cached
        _, valid, md = cached
        start = self.start64 + np.timedelta64(d0, "D")
        year = start.astype("datetime64[Y]")
        # birthday this year (Feb 29 moves to Feb 28)
        bd = (year.astype("datetime64[D]") + md)
        bday = (bd - self.start64).astype("timedelta64[D]").astype(np.int64)
        alive_c = np.zeros(len(self.cust), dtype=bool)
        alive_c[act] = True
        sel = np.flatnonzero(valid & (bday >= d0) & (bday < d1) & alive_c[ct["cust"]] & (ct["leave"] > d0))
        if len(sel) == 0:
            return
        cu = ct["cust"][sel]
        important = (self.cust["_spend"][cu] > 6000) | ~self.cust["ent"][cu]
        sel, cu = sel[important], cu[important]
        planned = rng.random(len(sel)) < 0.6
        sel, cu = sel[planned], cu[planned]
        owner = self.cust["owner"][cu]
        dil = self.rep_diligence[np.searchsorted(self.firm.reps, owner)]
        done = rng.random(len(sel)) < np.clip(0.7 * dil * (1 - 0.6 * self.W["empathy"]), 0.05, 0.98)
        day = bday[sel]
        self.ev["care"].add(cust=cu, contact=sel, emp=owner, type=np.full(len(sel), "生日", dtype=object),
                            channel=rng.choice(["短信", "微信", "电话"], size=len(sel)), planned=day,
                            done=np.where(done, day, NEVER), satisfaction=np.zeros(len(sel), dtype=np.int64),
                            campaign=np.full(len(sel), -1))
        self._schedule(day[done], "dsat", cu[done], np.full(done.sum(), 0.02))

    def _surveys(self, act: np.ndarray, d0: int) -> None:
        rng = self.rng["survey"]
        c = self.cust
        bought = c["_n_orders"][act] > 0
        pick = act[bought & (rng.random(len(act)) < 0.011)]
        m = len(pick)
        if m == 0:
            return
        sat = c["_sat"][pick]
        overall = np.clip(np.round(0.7 + 4.6 * sat + rng.normal(0, 0.45, size=m)), 1, 5).astype(np.int64)
        exp_ = np.clip(rng.normal(5.6, 0.6, size=(m, 5)), 1, 7)
        weak = np.array([self.W[d["code"]] for d in reference.SERVQUAL])
        per = np.clip(exp_ - (0.75 - sat)[:, None] * rng.uniform(2.5, 5, size=(m, 5)) - 1.3 * weak[None, :]
                      + 0.25 + rng.normal(0, 0.4, size=(m, 5)), 1, 7)
        self.ev["survey"].add(cust=pick, day=d0 + rng.integers(0, 7, size=m), overall=overall,
                              exp=list(np.round(exp_, 1)), per=list(np.round(per, 1)),
                              recommend=overall >= 4)

    def _hazard(self, act: np.ndarray, d0: int) -> None:
        rng = self.rng["churn"]
        c = self.cust
        sat = c["_sat"][act]
        # satisfaction mean-reverts to the customer's own level
        sat0 = c["_sat0"][act]
        sat = np.clip(sat + 0.04 * (sat0 - sat) + rng.normal(0, 0.01, size=len(act)), 0, 1)
        s_all = c["_sat"].copy()
        s_all[act] = sat
        c["_sat"] = s_all
        opn = np.minimum(c["_open_complaints"][act], 2)
        neglect = (d0 - c["_last_contact"][act]) > 120
        bought = c["_n_orders"][act] > 0
        ps = c["_price_sens"][act]
        comp = self._competition(d0, c["region"][act], act)
        pushed = np.where(c["_push_until"][act] >= d0, c["_push_lin"][act], 0.0)
        recovered = c["_recovered_until"][act] >= d0
        # an unresolved complaint is the strongest signal; a well-handled one binds (recovery)
        lin = (8.0 * (0.62 - sat) + 1.9 * (opn > 0) + 0.4 * (opn > 1) + 0.7 * neglect + 1.3 * ps * comp
               - 0.35 * c["_loyalty"][act] + pushed - 1.0 * recovered)
        h = self.p.base_hazard * np.exp(lin) * np.where(bought, 1.0, 0.6)
        die = rng.random(len(act)) < np.minimum(h, 0.5)
        if die.any():
            who = act[die]
            c["_alive"][who] = False
            c["_death_day"][who] = d0 + rng.integers(0, 7, size=len(who))
            cause = np.where(opn[die] > 0, "服务不满意", np.where(ps[die] * comp[die] > 0.4, "转向竞争对手",
                             np.where(sat[die] < 0.4, "服务不满意", np.where(ps[die] > 0.7, "价格原因", "需求消失"))))
            c["_death_cause"][who] = cause

    def _competition(self, d0: int, region: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
        """A competitor opens in 华南 and 西南 in the second year and in 华东 in the third.

        With ``idx`` (``region`` is then ``cust["region"][idx]``) the masks come from a cache
        of the whole customer column, computed once per change of the column.
        """
        y = d0 / 365.0
        out = np.zeros(len(region))
        if idx is not None:
            full = self.cust["region"]
            cached = getattr(self, "_region_cache", None)
            if cached is None or cached[0] is not full:
                cached = (full, (full == "华南") | (full == "西南"), full == "华东")
                self._region_cache = cached
            south, east = cached[1][idx], cached[2][idx]
        else:
            south, east = (region == "华南") | (region == "西南"), region == "华东"
        out[south] = 1.0 if y > 1.3 else 0.0
        out[east] = 0.8 if y > 2.4 else 0.0
        return out
