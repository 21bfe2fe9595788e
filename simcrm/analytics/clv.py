"""概率型客户终身价值 (probabilistic CLV): BG/NBD + Gamma-Gamma.

Compact maximum-likelihood fitters (scipy.optimize on log-parameters; ``gammaln``/``betaln``)
following

* Fader, Hardie & Lee (2005), "'Counting your customers' the easy way: an alternative to the
  Pareto/NBD model", *Marketing Science* 24(2) — the BG/NBD model;
* Fader & Hardie (2013), "The Gamma-Gamma model of monetary value" — spend per transaction;

with the scikit-learn conventions: ``fit()`` returns ``self``, learned values end in ``_``.
On the CDNOW sample they reproduce the published estimates (see ``tests/data/cdnow``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

# scipy (≈1.5 s to import) is loaded on the first fit, not with simcrm: every lab kernel imports
# simcrm.analytics, few of them fit a model


def _special(name: str):
    import scipy.special

    return getattr(scipy.special, name)


def betaln(*args):
    return _special("betaln")(*args)


def gammaln(*args):
    return _special("gammaln")(*args)


def hyp2f1(*args):
    return _special("hyp2f1")(*args)


class _LazyOptimize:
    def __getattr__(self, name: str):
        from scipy import optimize as _optimize

        return getattr(_optimize, name)


optimize = _LazyOptimize()

from simcrm.errors import ConfigError

from ._validate import as_datetime, as_timestamp, check_choice, require_columns

__all__ = [
    "summary_from_transactions",
    "BetaGeo",
    "GammaGamma",
    "customer_lifetime_value",
    "PERIOD_DAYS",
]

#: Length in days of one time unit for ``freq``.
PERIOD_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0, "M": 30.0}


def summary_from_transactions(
    transactions: pd.DataFrame,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str | None = "amount",
    observation_end: Any = None,
    freq: str = "W",
) -> pd.DataFrame:
    """把交易明细汇总为 BG/NBD 所需的 frequency / recency / T (RFM summary for BG/NBD).

    Transactions after ``observation_end`` (inclusive end; default = the latest date) are
    dropped; times are truncated to whole days and transactions on the same day are merged
    (amounts summed) into one *purchase day*. Per customer (unit = ``freq``: "D" day,
    "W" 7 days, "M" 30 days):

    * ``frequency`` = number of repeat purchase days = distinct purchase days − 1;
    * ``recency`` = (last purchase day − first purchase day) / unit;
    * ``T`` = (observation_end − first purchase day) / unit;
    * ``monetary_value`` = mean amount per repeat purchase day (the first day excluded),
      0 when there is no repeat (only when ``amount_col`` is given).

    Args:
        transactions: one row per transaction.
        customer_col: customer id column.
        date_col: date column.
        amount_col: amount column, or ``None`` to skip ``monetary_value``.
        observation_end: last day of the observation window (default: latest date).
        freq: "D", "W" or "M".

    Returns:
        DataFrame indexed by customer id (sorted) with ``frequency``, ``recency``, ``T`` and
        ``monetary_value``.

    Example:
        >>> tx = pd.DataFrame({"customer_id": [1, 1, 1, 2],
        ...                    "order_date": pd.to_datetime(["2025-01-01", "2025-01-08",
        ...                                                  "2025-01-08", "2025-01-15"]),
        ...                    "amount": [10.0, 5.0, 7.0, 3.0]})
        >>> summary_from_transactions(tx, observation_end="2025-01-29")  # doctest: +NORMALIZE_WHITESPACE
                     frequency  recency    T  monetary_value
        customer_id
        1                    1      1.0  4.0            12.0
        2                    0      0.0  2.0             0.0
    """
    spec = {customer_col: "any", date_col: "datetime"}
    if amount_col is not None:
        spec[amount_col] = "numeric"
    require_columns(transactions, spec, table="transactions")
    check_choice(freq, "freq", PERIOD_DAYS)
    days = as_datetime(transactions[date_col], date_col, "transactions").dt.floor("D")
    end = days.max() if observation_end is None else as_timestamp(observation_end, "observation_end").floor("D")
    keep = (days <= end).to_numpy()
    frame = pd.DataFrame({"c": transactions[customer_col].to_numpy()[keep],
                          "d": days.to_numpy()[keep]})
    frame["a"] = transactions[amount_col].to_numpy(dtype="float64")[keep] if amount_col else 0.0
    per_day = frame.groupby(["c", "d"], sort=True)["a"].sum().reset_index()
    g = per_day.groupby("c", sort=True)
    first, last = g["d"].min(), g["d"].max()
    count = g.size()
    unit = PERIOD_DAYS[freq]
    out = pd.DataFrame(
        {
            "frequency": (count - 1).astype("int64"),
            "recency": (last - first).dt.days / unit,
            "T": (end - first).dt.days / unit,
        }
    )
    if amount_col is not None:
        first_amount = g["a"].first()
        repeat = (g["a"].sum() - first_amount)
        with np.errstate(invalid="ignore", divide="ignore"):
            mv = np.where(out["frequency"] > 0, repeat / out["frequency"].clip(lower=1), 0.0)
        out["monetary_value"] = mv
    out.index.name = customer_col
    return out


def _arrays(*cols: Any) -> list[np.ndarray]:
    arrs = [np.asarray(c, dtype="float64") for c in cols]
    for name, a in zip(("frequency", "recency", "T", "monetary_value"), arrs):
        if np.isnan(a).any():
            raise ConfigError(field=name, value="NaN", allowed="无缺失的数值", reason="有缺失值")
    return arrs


class BetaGeo:
    """BG/NBD 模型 (Beta-Geometric / Negative Binomial Distribution, Fader, Hardie & Lee 2005).

    While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
    purchase they drop out with probability p ~ Beta(a, b). Fit on (frequency x, recency t_x,
    age T) per customer.

    Attributes:
        params_: dict with ``r``, ``alpha``, ``a``, ``b`` after :meth:`fit`.
        log_likelihood_: maximised total log-likelihood.

    Example:
        >>> bg = BetaGeo()
        >>> bg.fit([0, 1, 2, 0, 3, 1, 0, 5], [0, 2, 5, 0, 7, 3, 0, 9], [10] * 8)  # doctest: +ELLIPSIS
        BetaGeo(r=..., alpha=..., a=..., b=..., log_likelihood=...)
        >>> bg.probability_alive(0, 0, 10).round(3).tolist()
        [1.0]
    """

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer
        self.params_: dict[str, float] | None = None
        self.log_likelihood_: float | None = None

    def __repr__(self) -> str:
        if self.params_ is None:
            return "BetaGeo(unfitted)"
        p = self.params_
        return (f"BetaGeo(r={p['r']:.3f}, alpha={p['alpha']:.3f}, a={p['a']:.3f}, "
                f"b={p['b']:.3f}, log_likelihood={self.log_likelihood_:.2f})")

    @staticmethod
    def _loglik(params: np.ndarray, x: np.ndarray, tx: np.ndarray, T: np.ndarray,
                w: np.ndarray) -> float:
        r, alpha, a, b = params
        a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        a2 = betaln(a, b + x) - betaln(a, b)
        a3 = -(r + x) * np.log(alpha + T)
        with np.errstate(divide="ignore", invalid="ignore"):
            a4 = np.where(
                x > 0,
                np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + tx),
                -np.inf,
            )
        # FHL (2005) eq. 6: L = B(a,b+x)/B(a,b) · Γ(r+x)α^r/Γ(r)
        #                      · [(α+T)^-(r+x) + δ_{x>0} a/(b+x-1) (α+t_x)^-(r+x)]
        return float(np.sum(w * (a1 + a2 + np.logaddexp(a3, a4))))

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None,
            initial: dict[str, float] | None = None) -> BetaGeo:
        """Maximum-likelihood fit; returns ``self``.

        Args:
            frequency: repeat purchases x per customer.
            recency: time of the last purchase t_x (same unit as T).
            T: age of the customer at the end of observation.
            weights: optional count of identical customers per row.
            initial: optional start values for r, alpha, a, b (default all 1).
        """
        x, tx, T_ = _arrays(frequency, recency, T)
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype="float64")
        # merge identical customers: the likelihood only depends on (x, t_x, T)
        key = pd.DataFrame({"x": x, "tx": tx, "T": T_, "w": w}).groupby(["x", "tx", "T"])["w"].sum()
        ux = key.index.get_level_values(0).to_numpy()
        utx = key.index.get_level_values(1).to_numpy()
        uT = key.index.get_level_values(2).to_numpy()
        uw = key.to_numpy()
        start = np.log([(initial or {}).get(k, 1.0) for k in ("r", "alpha", "a", "b")])
        scale = max(float(uw.sum()), 1.0)

        def neg(logp: np.ndarray) -> float:
            p = np.exp(logp)
            pen = self.penalizer * float(np.sum(p**2))
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                val = -(self._loglik(p, ux, utx, uT, uw) - pen) / scale
            return val if np.isfinite(val) else 1e100

        res = optimize.minimize(neg, np.clip(start, -20, 20), method="Nelder-Mead",
                                options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 8000,
                                         "maxfev": 16000})
        res = optimize.minimize(neg, res.x, method="L-BFGS-B")
        r, alpha, a, b = np.exp(res.x)
        self.params_ = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        self.log_likelihood_ = self._loglik(np.exp(res.x), ux, utx, uT, uw)
        return self

    def _p(self) -> tuple[float, float, float, float]:
        if self.params_ is None:
            raise ConfigError(field="params_", value=None, allowed="先调用 fit()",
                              reason="模型尚未拟合")
        p = self.params_
        return p["r"], p["alpha"], p["a"], p["b"]

    def expected_purchases(self, t: Any) -> np.ndarray:
        """E[X(t)] for a new customer: (a+b−1)/(a−1)·[1 − (α/(α+t))^r · ₂F₁(r, b; a+b−1; t/(α+t))]."""
        r, alpha, a, b = self._p()
        t = np.asarray(t, dtype="float64")
        return (a + b - 1) / (a - 1) * (
            1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t))
        )

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any,
                                       T: Any) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: expected purchases in the next t periods (FHL 2005 eq. 10).

        E = (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]
        / (1 + δ_{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x)).
        """
        r, alpha, a, b = self._p()
        x, tx, T_ = _arrays(frequency, recency, T)
        t = np.asarray(t, dtype="float64")
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T_ + t))
        first = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T_) / (alpha + T_ + t)) ** (r + x) * hyp)
        return first / self._alive_denominator(x, tx, T_)

    def _alive_denominator(self, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
        r, alpha, a, b = self._p()
        with np.errstate(divide="ignore", invalid="ignore"):
            odds = np.where(
                x > 0,
                a / np.maximum(b + x - 1, 1e-300) * ((alpha + T) / (alpha + tx)) ** (r + x),
                0.0,
            )
        return 1.0 + odds

    def probability_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray:
        """P(alive | x, t_x, T) = 1 / (1 + δ_{x>0} · a/(b+x−1) · ((α+T)/(α+t_x))^(r+x))."""
        x, tx, T_ = _arrays(frequency, recency, T)
        return np.atleast_1d(1.0 / self._alive_denominator(x, tx, T_))


class GammaGamma:
    """Gamma-Gamma 消费金额模型 (Fader & Hardie 2013): spend per transaction.

    A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ); fit on repeat
    buyers only (frequency x > 0, mean repeat spend z̄). Per-customer likelihood:
    Γ(px+q)/(Γ(px)Γ(q)) · γ^q · x^(px) · z̄^(px−1) / (γ + x·z̄)^(px+q).

    Attributes:
        params_: dict with ``p``, ``q``, ``v`` (γ, called v as in lifetimes).
        log_likelihood_: maximised total log-likelihood.

    Example:
        >>> gg = GammaGamma().fit([1, 2, 3, 1, 4, 2], [10.0, 12.0, 8.0, 30.0, 11.0, 9.0])
        >>> round(float(gg.conditional_expected_average_profit([0], [0.0])[0]), 6) == round(
        ...     gg.params_["p"] * gg.params_["v"] / (gg.params_["q"] - 1), 6)
        True
    """

    def __init__(self, penalizer: float = 0.0) -> None:
        self.penalizer = penalizer
        self.params_: dict[str, float] | None = None
        self.log_likelihood_: float | None = None

    def __repr__(self) -> str:
        if self.params_ is None:
            return "GammaGamma(unfitted)"
        p = self.params_
        return (f"GammaGamma(p={p['p']:.3f}, q={p['q']:.3f}, v={p['v']:.3f}, "
                f"log_likelihood={self.log_likelihood_:.2f})")

    @staticmethod
    def _loglik(params: np.ndarray, x: np.ndarray, z: np.ndarray) -> float:
        p, q, v = params
        px = p * x
        return float(np.sum(
            gammaln(px + q) - gammaln(px) - gammaln(q) + q * np.log(v)
            + (px - 1) * np.log(z) + px * np.log(x) - (px + q) * np.log(v + x * z)
        ))

    def fit(self, frequency: Any, monetary_value: Any) -> GammaGamma:
        """Maximum-likelihood fit on customers with frequency > 0; returns ``self``.

        Customers with frequency 0 are ignored (they carry no repeat spend).
        """
        x, z = _arrays(frequency, monetary_value)
        keep = (x > 0) & (z > 0)
        x, z = x[keep], z[keep]
        if x.size == 0:
            raise ConfigError(field="frequency", value=0, allowed="至少一位重复购买的客户",
                              reason="没有可用于拟合的数据")
        scale = float(x.size)

        def neg(logp: np.ndarray) -> float:
            pr = np.exp(logp)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                val = -(self._loglik(pr, x, z) - self.penalizer * float(np.sum(pr**2))) / scale
            return val if np.isfinite(val) else 1e100

        res = optimize.minimize(neg, np.log([1.0, 1.0, 1.0]), method="Nelder-Mead",
                                options={"xatol": 1e-8, "fatol": 1e-12, "maxiter": 8000})
        res = optimize.minimize(neg, res.x, method="L-BFGS-B")
        p, q, v = np.exp(res.x)
        self.params_ = {"p": float(p), "q": float(q), "v": float(v)}
        self.log_likelihood_ = self._loglik(np.exp(res.x), x, z)
        return self

    def conditional_expected_average_profit(self, frequency: Any,
                                            monetary_value: Any) -> np.ndarray:
        """E[Z | p, q, γ, x, z̄] = p(γ + x·z̄)/(px + q − 1); for x = 0 the mean pγ/(q−1)."""
        if self.params_ is None:
            raise ConfigError(field="params_", value=None, allowed="先调用 fit()",
                              reason="模型尚未拟合")
        p, q, v = self.params_["p"], self.params_["q"], self.params_["v"]
        x, z = _arrays(frequency, monetary_value)
        return p * (v + x * z) / (p * x + q - 1)

    def customer_lifetime_value(self, bg: BetaGeo, frequency: Any, recency: Any, T: Any,
                                monetary_value: Any, time: int = 12,
                                discount_rate: float = 0.01, freq: str = "W",
                                margin: float = 1.0) -> np.ndarray:
        """Discounted CLV over ``time`` months; see :func:`customer_lifetime_value`."""
        return customer_lifetime_value(bg, self, frequency, recency, T, monetary_value,
                                       time=time, discount_rate=discount_rate, freq=freq,
                                       margin=margin)


def customer_lifetime_value(bg: BetaGeo, gg: GammaGamma, frequency: Any, recency: Any,
                            T: Any, monetary_value: Any, time: int = 12,
                            discount_rate: float = 0.01, freq: str = "W",
                            margin: float = 1.0) -> np.ndarray:
    """客户终身价值 (discounted CLV from BG/NBD × Gamma-Gamma).

    With months i = 1 … ``time`` of 30 days, k = 30 / (days per ``freq`` unit) units a month,
    and E[Y(t)] = :meth:`BetaGeo.conditional_expected_purchases`::

        CLV = Σ_i margin · E[Z] · (E[Y(i·k)] − E[Y((i−1)·k)]) / (1 + discount_rate)^i

    where E[Z] = :meth:`GammaGamma.conditional_expected_average_profit` (monthly discount).

    Args:
        bg: fitted :class:`BetaGeo`.
        gg: fitted :class:`GammaGamma`.
        frequency: repeat purchases per customer.
        recency: recency in ``freq`` units.
        T: age in ``freq`` units.
        monetary_value: mean repeat spend.
        time: horizon in months.
        discount_rate: monthly discount rate.
        freq: unit of recency and T ("D", "W", "M").
        margin: profit margin applied to spend.

    Returns:
        Array of CLV per customer.

    Example:
        >>> bg = BetaGeo(); bg.params_ = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
        >>> gg = GammaGamma(); gg.params_ = {"p": 6.25, "q": 3.74, "v": 15.44}
        >>> clv = customer_lifetime_value(bg, gg, [2, 0], [30.43, 0.0], [38.86, 38.86],
        ...                               [22.35, 0.0], time=12)
        >>> bool(clv[0] > clv[1] > 0)
        True
    """
    check_choice(freq, "freq", PERIOD_DAYS)
    k = 30.0 / PERIOD_DAYS[freq]
    profit = gg.conditional_expected_average_profit(frequency, monetary_value) * margin
    total = np.zeros(np.asarray(frequency, dtype="float64").shape)
    prev = bg.conditional_expected_purchases(0.0, frequency, recency, T)
    for i in range(1, int(time) + 1):
        cur = bg.conditional_expected_purchases(i * k, frequency, recency, T)
        total = total + profit * (cur - prev) / (1 + discount_rate) ** i
        prev = cur
    return total
