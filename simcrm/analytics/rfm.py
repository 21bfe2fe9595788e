"""RFM 分析 (Recency, Frequency, Monetary) and the classic eight RFM segments.

The scoring rule (one place, used by :func:`rfm` and exposed as :func:`quantile_scores`)::

    score = ceil(bins × rank_min / n)

where ``rank_min`` is the *competition* ("min") rank of the value among the n customers —
1 + the number of customers with a strictly worse value — so

* equal values always get equal scores, whatever the row order (ties are never split);
* for distinct values the scores split the customers into ``bins`` groups of equal size,
  exactly like quantile bins;
* the worst value always scores 1 (when n ≥ bins) and a tied block of worst values stays at
  1, so e.g. all one-time buyers share F = 1 instead of being pushed up by the tie.

Better means: fewer ``recency_days``; more ``frequency``; more ``monetary``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from simcrm.errors import ColumnError, ConfigError

from ._validate import as_datetime, as_timestamp, require_columns

__all__ = ["rfm", "rfm_segment", "quantile_scores", "DEFAULT_RFM_SEGMENTS"]

_DAY_NS = 86_400 * 10**9

#: Default segment names for (R high?, F high?, M high?) — the classic eight of the textbook.
DEFAULT_RFM_SEGMENTS: dict[tuple[bool, bool, bool], str] = {
    (True, True, True): "重要价值客户",
    (False, True, True): "重要保持客户",
    (True, False, True): "重要发展客户",
    (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户",
    (False, True, False): "一般保持客户",
    (True, False, False): "一般发展客户",
    (False, False, False): "一般挽留客户",
}


def _min_rank(values: np.ndarray) -> np.ndarray:
    """Competition rank (1-based, ties share the smallest rank) of ``values``, ascending."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    first = np.cumsum(counts) - counts + 1
    return first[inverse]


def quantile_scores(values: Any, bins: int = 5, higher_is_better: bool = True) -> np.ndarray:
    """Score values 1…bins by rank, ties kept together.

    ``score = ceil(bins × rank_min / n)`` where ``rank_min`` is 1 + the number of strictly
    worse values (pandas ``rank(method="min")``).

    Args:
        values: 1-d numbers (no missing values).
        bins: number of score levels, 2–9.
        higher_is_better: ``False`` for recency (fewer days is better).

    Returns:
        ``numpy`` int array of scores, 1 = worst, ``bins`` = best.

    Example:
        >>> quantile_scores([10, 20, 20, 30, 40], bins=5).tolist()
        [1, 2, 2, 4, 5]
        >>> quantile_scores([3, 1, 2], bins=3, higher_is_better=False).tolist()
        [1, 3, 2]
    """
    if not isinstance(bins, (int, np.integer)) or not 2 <= bins <= 9:
        raise ConfigError(field="bins", value=bins, allowed="2 到 9 的整数", reason="分档数不对")
    arr = np.asarray(values, dtype="float64")
    n = arr.size
    if n == 0:
        return np.zeros(0, dtype="int64")
    rank = _min_rank(arr if higher_is_better else -arr)
    # integer arithmetic: ceil(bins * rank / n) without float rounding surprises
    return (bins * rank + n - 1) // n


def rfm(
    transactions: pd.DataFrame,
    customer_col: str = "customer_id",
    date_col: str = "order_date",
    amount_col: str = "amount",
    as_of: Any = None,
    bins: int = 5,
    *,
    window_days: int | None = None,
    start: Any = None,
) -> pd.DataFrame:
    """RFM 打分：每个客户的最近购买间隔、购买次数、购买金额及 1–bins 分.

    Definitions (one row per customer who has at least one transaction):

    * ``recency_days`` = whole days from the customer's last transaction date to ``as_of``
      (``as_of`` defaults to the day after the latest transaction date), over all history;
    * ``frequency`` = number of transactions (rows) **in the period**;
    * ``monetary`` = sum of ``amount_col`` **in the period**;
    * the period: the textbook defines F and M "in a limited period" (限定的期间内). By default
      it is all history. ``window_days=N`` counts the N days before ``as_of``
      (``as_of − N days ≤ date < as_of``; with the default ``as_of`` exactly the last N days of
      data); ``start`` counts ``start ≤ date < as_of``. A customer who bought before the period
      but not in it stays in the table with ``frequency`` 0 and ``monetary`` 0 — and all those
      zeros tie, so they share the lowest F and M score whatever the row order;
    * ``r_score``, ``f_score``, ``m_score`` = ``ceil(bins × rank_min / n)`` (see
      :func:`quantile_scores`): 1 = worst … ``bins`` = best, recency scored so that fewer
      days is better; equal values always get equal scores;
    * ``rfm`` = the three digits as text, e.g. ``"535"``.

    Rows are sorted by customer id. The input frame is neither copied nor changed.

    Args:
        transactions: one row per transaction (order).
        customer_col: customer id column.
        date_col: transaction date column (datetime64, or ISO text).
        amount_col: numeric amount column.
        as_of: reference date; default = latest date + 1 day.
        bins: number of score levels (2–9).
        window_days: length of the period for F and M in days (keyword only).
        start: first day of the period for F and M (keyword only; not with ``window_days``).

    Returns:
        DataFrame with columns ``[customer_col, "recency_days", "frequency", "monetary",
        "r_score", "f_score", "m_score", "rfm"]``.

    Raises:
        ColumnError: a column is missing, has the wrong dtype, or holds missing values.

    Example:
        >>> tx = pd.DataFrame({
        ...     "customer_id": [1, 1, 2, 3, 3, 3],
        ...     "order_date": pd.to_datetime(["2025-01-01", "2025-03-01", "2025-02-01",
        ...                                   "2025-01-15", "2025-02-15", "2025-03-10"]),
        ...     "amount": [100.0, 50.0, 300.0, 20.0, 20.0, 20.0]})
        >>> rfm(tx, as_of="2025-04-01", bins=3)
           customer_id  recency_days  frequency  monetary  r_score  f_score  m_score  rfm
        0            1            31          2     150.0        2        2        2  222
        1            2            59          1     300.0        1        1        3  113
        2            3            22          3      60.0        3        3        1  331
        >>> rfm(tx, as_of="2025-04-01", bins=3, window_days=45)[["customer_id", "frequency", "monetary"]]
           customer_id  frequency  monetary
        0            1          1      50.0
        1            2          0       0.0
        2            3          2      40.0
        >>> rfm(tx.drop(columns="amount"))
        Traceback (most recent call last):
        ...
        simcrm.errors.ColumnError: transactions.amount的值 ['customer_id', 'order_date'] 列缺失或类型不对：缺少列。允许：数值类型的列（int 或 float）
        [en] missing column 'amount'; given columns: ['customer_id', 'order_date']; needed: a numeric column
    """
    require_columns(
        transactions,
        {customer_col: "any", date_col: "datetime", amount_col: "numeric"},
        table="transactions",
    )
    if not isinstance(bins, (int, np.integer)) or not 2 <= bins <= 9:
        raise ConfigError(field="bins", value=bins, allowed="2 到 9 的整数", reason="分档数不对")
    if window_days is not None and start is not None:
        raise ConfigError(field="start", value=str(start), allowed="window_days 与 start 只给一个",
                          reason="期间给了两次")
    if window_days is not None and (isinstance(window_days, bool) or not isinstance(window_days, (int, np.integer))
                                    or window_days < 1):
        raise ConfigError(field="window_days", value=window_days, allowed="正整数（天）", reason="期间长度不对")

    codes, uniques = pd.factorize(transactions[customer_col], sort=False)
    if codes.size and codes.min() < 0:
        raise ColumnError(
            field=customer_col, value="缺失值", allowed="无缺失的客户编号", reason="有缺失值",
            message_en=f"column '{customer_col}' has missing values",
        )
    n_cust = len(uniques)

    dates = as_datetime(transactions[date_col], date_col, "transactions")
    # nanosecond integers whatever the stored unit (s/ms/us/ns)
    dvals = dates.to_numpy(dtype="datetime64[ns]").view("int64")
    if dvals.size and dvals.min() == np.iinfo(np.int64).min:
        raise ColumnError(
            field=date_col, value="NaT", allowed="无缺失的日期", reason="有缺失值",
            message_en=f"column '{date_col}' has missing dates",
        )
    amounts = transactions[amount_col].to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(amounts.sum()):
        raise ColumnError(
            field=amount_col, value="NaN", allowed="无缺失的金额", reason="有缺失值",
            message_en=f"column '{amount_col}' has missing values",
        )

    frequency = np.bincount(codes, minlength=n_cust)
    monetary = np.bincount(codes, weights=amounts, minlength=n_cust)
    last = np.full(n_cust, np.iinfo(np.int64).min, dtype="int64")
    np.maximum.at(last, codes, dvals)

    if as_of is None:
        ref = (pd.Timestamp(int(dvals.max())).normalize() + pd.Timedelta(days=1)).value
    else:
        ref = as_timestamp(as_of, "as_of").as_unit("ns").value
    recency = (ref - last) // _DAY_NS
    if window_days is not None or start is not None:
        first = (ref - int(window_days) * _DAY_NS if window_days is not None
                 else as_timestamp(start, "start").as_unit("ns").value)
        if first >= ref:
            raise ConfigError(field="start", value=str(start), allowed=f"早于 as_of（{pd.Timestamp(ref).date()}）",
                              reason="期间的开始不早于分析时点")
        inside = (dvals >= first) & (dvals < ref)
        frequency = np.bincount(codes[inside], minlength=n_cust)
        monetary = np.bincount(codes[inside], weights=amounts[inside], minlength=n_cust)

    order = np.argsort(np.asarray(uniques), kind="stable") if n_cust else np.arange(0)
    recency, frequency, monetary = recency[order], frequency[order], monetary[order]

    r = quantile_scores(recency, bins, higher_is_better=False)
    f = quantile_scores(frequency, bins)
    m = quantile_scores(monetary, bins)
    labels = np.array(
        [f"{a}{b}{c}" for a in range(1, bins + 1) for b in range(1, bins + 1)
         for c in range(1, bins + 1)],
        dtype=object,
    )
    label_idx = (r - 1) * bins * bins + (f - 1) * bins + (m - 1)
    return pd.DataFrame(
        {
            customer_col: uniques.take(order) if hasattr(uniques, "take") else uniques[order],
            "recency_days": recency,
            "frequency": frequency.astype("int64"),
            "monetary": monetary,
            "r_score": r,
            "f_score": f,
            "m_score": m,
            "rfm": pd.array(labels[label_idx], dtype="str"),
        }
    )


def rfm_segment(
    rfm_df: pd.DataFrame,
    segments: dict[tuple[bool, bool, bool], str] | None = None,
    method: str = "mean",
    on: str = "score",
) -> pd.DataFrame:
    """八类 RFM 客户分群 (the classic eight segments from high/low R, F, M).

    Each of R, F, M is "high" (``True``) or "low" (``False``):

    * ``on="score"`` (default): compare ``r_score``/``f_score``/``m_score``;
      ``on="value"``: compare ``recency_days`` (high R means *fewer* days), ``frequency``,
      ``monetary``;
    * ``method="mean"`` (default): high ⇔ value > mean of that column (for recency days:
      high R ⇔ days < mean); ``method="midpoint"``: against (bins + 1) / 2 of the score scale
      (only with ``on="score"``; bins read from the largest score seen, at least 2).

    The (R, F, M) triple is mapped to a name by ``segments`` (default
    :data:`DEFAULT_RFM_SEGMENTS`: 重要价值 = 高R高F高M, 重要保持 = 低R高F高M, 重要发展 = 高R低F高M,
    重要挽留 = 低R低F高M, and the 一般… counterparts with low M). Pass your own dict to rename.

    Args:
        rfm_df: output of :func:`rfm` (or any frame with the needed columns).
        segments: mapping ``(r_high, f_high, m_high) -> name``.
        method: ``"mean"`` or ``"midpoint"``.
        on: ``"score"`` or ``"value"``.

    Returns:
        A copy of ``rfm_df`` plus ``r_high``, ``f_high``, ``m_high`` (bool) and ``segment``.

    Example:
        >>> df = pd.DataFrame({"customer_id": [1, 2, 3, 4],
        ...                    "r_score": [5, 1, 5, 1], "f_score": [5, 5, 1, 1],
        ...                    "m_score": [5, 5, 1, 1]})
        >>> rfm_segment(df)["segment"].tolist()
        ['重要价值客户', '重要保持客户', '一般发展客户', '一般挽留客户']
    """
    if on not in ("score", "value"):
        raise ConfigError(field="on", value=on, allowed=["score", "value"], reason="不在可选值中")
    if method not in ("mean", "midpoint"):
        raise ConfigError(field="method", value=method, allowed=["mean", "midpoint"],
                          reason="不在可选值中")
    cols = (["r_score", "f_score", "m_score"] if on == "score"
            else ["recency_days", "frequency", "monetary"])
    require_columns(rfm_df, dict.fromkeys(cols, "numeric"), table="rfm_df")
    mapping = dict(DEFAULT_RFM_SEGMENTS)
    if segments is not None:
        mapping.update(segments)
    out = rfm_df.copy()
    flags = []
    for i, col in enumerate(cols):
        v = rfm_df[col].to_numpy(dtype="float64")
        if method == "midpoint":
            if on != "score":
                raise ConfigError(field="method", value=method, allowed="mean（按数值比较时）",
                                  reason="midpoint 只适用于分数")
            all_scores = rfm_df[cols].to_numpy()
            ref = (max(2, int(all_scores.max()) if all_scores.size else 2) + 1) / 2
        else:
            ref = v.mean() if v.size else 0.0
        high = v < ref if (on == "value" and i == 0) else v > ref
        flags.append(high)
    out["r_high"], out["f_high"], out["m_high"] = flags
    keys = list(zip(flags[0].tolist(), flags[1].tolist(), flags[2].tolist()))
    out["segment"] = pd.array([mapping[k] for k in keys], dtype="str")
    return out
