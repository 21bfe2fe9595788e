"""销售漏斗 (sales funnel / pipeline) and forecast against quota."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import reference
from ._validate import as_datetime, as_timestamp, require_columns

__all__ = ["funnel", "forecast_vs_quota", "STAGES", "OPEN_STATUS", "WON_STATUS", "LOST_STATUS", "CLOSED_STATUSES"]

#: Opportunity stages in order (as in the CRM's stage table).
STAGES: tuple[str, ...] = ("初期沟通", "立项评估", "需求分析", "方案制定", "招投标/竞争",
                           "商务谈判", "合同签约")
OPEN_STATUS = "跟踪"
WON_STATUS = "成功"
LOST_STATUS = "失败"
#: final opportunity states: the opportunity has left the funnel on its ``closed_at`` date
CLOSED_STATUSES: tuple[str, ...] = tuple(s for s, nxt in reference.STATES["opportunity_status"]["transitions"].items()
                                         if not nxt)


def funnel(
    opportunities: pd.DataFrame,
    stage_history: pd.DataFrame | None = None,
    stages: Sequence[str] | None = None,
    as_of: Any = None,
    id_col: str = "id",
    stage_col: str = "stage",
    amount_col: str = "amount",
    probability_col: str = "probability",
    status_col: str = "status",
    created_col: str = "created_at",
    closed_col: str = "closed_at",
) -> pd.DataFrame:
    """销售漏斗分析 (per-stage pipeline, conversion, time in stage, win rate, cycle time).

    Per stage, in stage order:

    * ``count``, ``amount``: open opportunities (status 跟踪) now at that stage and their
      amount; ``weighted_amount`` = Σ amount × probability / 100 (the weighted pipeline);
    * ``reached``: opportunities that ever reached the stage — from ``stage_history`` when
      given (any entry at this stage or a later one), otherwise from the current stage (at or
      beyond it; won opportunities reached every stage);
    * ``conversion`` = reached(next stage) / reached(this stage) (NaN for the last stage);
    * ``avg_days_in_stage`` (history only) = mean over stays of (end − entered_at) in days, where
      a stay ends at its ``left_at``; without one, at the opportunity's close date when it is
      closed (成功, 失败, 失效: ``closed_at``), otherwise at ``as_of`` (still there). A history
      row that records the closing itself (its ``status`` is a closed one, or it was entered on
      or after the close date) is not a stay and is left out.

    Overall figures go to ``result.attrs``: ``win_rate`` = won / (won + lost) among closed
    opportunities (成功 / (成功 + 失败)); ``cycle_days`` = mean days from ``created_at`` to
    ``closed_at`` of won opportunities (NaN when the columns are missing).

    Args:
        opportunities: opportunity table (id, amount, stage, probability, status, …).
        stage_history: opportunity_stage_history (opportunity_id, stage, entered_at, left_at;
            ``status`` is used when present).
        stages: stage order (default :data:`STAGES`).
        as_of: end date for open stays in a stage (default: latest date in the history).
        id_col, stage_col, amount_col, probability_col, status_col, created_col, closed_col:
            column names in ``opportunities``.

    Returns:
        DataFrame ``[stage, count, amount, weighted_amount, reached, conversion,
        avg_days_in_stage]`` with ``attrs["win_rate"]`` and ``attrs["cycle_days"]``.

    Example:
        >>> opp = pd.DataFrame({"id": [1, 2, 3, 4], "amount": [100.0, 200.0, 50.0, 80.0],
        ...                     "stage": ["初期沟通", "需求分析", "合同签约", "立项评估"],
        ...                     "probability": [10, 30, 100, 0],
        ...                     "status": ["跟踪", "跟踪", "成功", "失败"]})
        >>> f = funnel(opp, stages=["初期沟通", "立项评估", "需求分析", "合同签约"])
        >>> f[["stage", "count", "weighted_amount", "reached", "conversion"]]
          stage  count  weighted_amount  reached  conversion
        0  初期沟通      1             10.0        4      0.7500
        1  立项评估      0              0.0        3      0.6667
        2  需求分析      1             60.0        2      0.5000
        3  合同签约      0              0.0        1         NaN
        >>> f.attrs["win_rate"]
        0.5
    """
    order = list(stages) if stages is not None else list(STAGES)
    require_columns(opportunities, {id_col: "any", stage_col: "any", amount_col: "numeric",
                                    probability_col: "numeric", status_col: "any"},
                    table="opportunities")
    pos = {s: i for i, s in enumerate(order)}
    opp = opportunities
    is_open = (opp[status_col] == OPEN_STATUS).to_numpy()
    is_won = (opp[status_col] == WON_STATUS).to_numpy()
    is_lost = (opp[status_col] == LOST_STATUS).to_numpy()
    stage_idx = opp[stage_col].map(pos).to_numpy(dtype="float64", na_value=np.nan)
    amount = opp[amount_col].to_numpy(dtype="float64")
    weighted = amount * opp[probability_col].to_numpy(dtype="float64") / 100
    rows = []
    for i, s in enumerate(order):
        here = is_open & (stage_idx == i)
        rows.append({"stage": s, "count": int(here.sum()), "amount": float(amount[here].sum()),
                     "weighted_amount": float(weighted[here].sum())})
    out = pd.DataFrame(rows)

    avg_days = np.full(len(order), np.nan)
    if stage_history is not None:
        require_columns(stage_history, {"opportunity_id": "any", "stage": "any",
                                        "entered_at": "datetime", "left_at": "datetime"},
                        table="stage_history")
        h_idx = stage_history["stage"].map(pos).to_numpy(dtype="float64", na_value=np.nan)
        furthest = pd.Series(h_idx).groupby(stage_history["opportunity_id"].to_numpy()).max()
        ids_max = furthest.reindex(opp[id_col].to_numpy()).to_numpy()
        best = np.fmax(ids_max, np.where(is_won, len(order) - 1, np.nan))
        best = np.fmax(best, stage_idx)
        entered = as_datetime(stage_history["entered_at"], "entered_at", "stage_history")
        left = as_datetime(stage_history["left_at"], "left_at", "stage_history")
        end = (as_timestamp(as_of, "as_of") if as_of is not None
               else max(entered.max(), left.max() if left.notna().any() else entered.max()))
        closed = opp[status_col].isin(CLOSED_STATUSES).to_numpy()
        if closed_col in opp.columns:
            close_at = as_datetime(opp[closed_col], closed_col, "opportunities").where(closed)
        else:
            close_at = pd.Series(pd.NaT, index=opp.index, dtype="datetime64[ns]")
        close_of = pd.Series(close_at.to_numpy(), index=opp[id_col].to_numpy())
        close_of = close_of[~close_of.index.duplicated()]
        h_close = pd.Series(close_of.reindex(stage_history["opportunity_id"].to_numpy()).to_numpy(),
                            index=stage_history.index)
        event = (h_close.notna() & (entered >= h_close)).to_numpy()
        if "status" in stage_history.columns:
            event = event | stage_history["status"].isin(CLOSED_STATUSES).to_numpy()
        stay_end = left.fillna(h_close).fillna(end)
        days = ((stay_end - entered).dt.total_seconds() / 86400).to_numpy()
        per_stage = pd.Series(days[~event]).groupby(h_idx[~event]).mean()
        for i in range(len(order)):
            if float(i) in per_stage.index:
                avg_days[i] = per_stage.loc[float(i)]
    else:
        best = np.where(is_won, len(order) - 1, stage_idx)
    reached = np.array([int(np.sum(best >= i)) for i in range(len(order))])
    out["reached"] = reached
    with np.errstate(divide="ignore", invalid="ignore"):
        conv = np.r_[reached[1:] / np.where(reached[:-1] > 0, reached[:-1], np.nan), np.nan]
    out["conversion"] = np.round(conv, 4)
    out["avg_days_in_stage"] = avg_days
    out["stage"] = out["stage"].astype("str")

    closed = int(is_won.sum() + is_lost.sum())
    out.attrs["win_rate"] = float(is_won.sum() / closed) if closed else float("nan")
    cycle = float("nan")
    if created_col in opp.columns and closed_col in opp.columns and is_won.any():
        c0 = as_datetime(opp[created_col], created_col, "opportunities")[is_won]
        c1 = as_datetime(opp[closed_col], closed_col, "opportunities")[is_won]
        cycle = float(((c1 - c0).dt.total_seconds() / 86400).mean())
    out.attrs["cycle_days"] = cycle
    return out


def forecast_vs_quota(
    opportunities: pd.DataFrame,
    quotas: pd.DataFrame,
    period: str,
    by: str = "owner_id",
    quota_by: str = "employee_id",
    amount_col: str = "amount",
    probability_col: str = "probability",
    status_col: str = "status",
    expected_close_col: str = "expected_close",
    closed_col: str = "closed_at",
    quota_amount_col: str = "amount",
    quota_period_col: str = "period",
) -> pd.DataFrame:
    """销售预测与指标对比 (won + weighted open pipeline against quota, per sales rep).

    For ``period`` (e.g. "2025Q3", "2025-07" or "2025"), per ``by`` value:

    * ``won`` = amount of 成功 opportunities with ``closed_at`` in the period;
    * ``weighted_pipeline`` = Σ amount × probability/100 of open (跟踪) opportunities with
      ``expected_close`` in the period;
    * ``forecast`` = won + weighted_pipeline; ``quota`` from the quota table for that period;
    * ``attainment`` = won / quota, ``forecast_attainment`` = forecast / quota, ``gap`` =
      quota − forecast.

    Example:
        >>> opp = pd.DataFrame({"owner_id": [1, 1, 2], "amount": [100.0, 200.0, 50.0],
        ...     "probability": [100, 50, 20], "status": ["成功", "跟踪", "跟踪"],
        ...     "expected_close": pd.to_datetime(["2025-07-01", "2025-08-01", "2025-09-01"]),
        ...     "closed_at": pd.to_datetime(["2025-07-03", None, None])})
        >>> q = pd.DataFrame({"employee_id": [1, 2], "period": ["2025Q3", "2025Q3"],
        ...                   "amount": [400.0, 100.0]})
        >>> forecast_vs_quota(opp, q, "2025Q3")[["owner_id", "won", "forecast", "quota", "forecast_attainment"]]
           owner_id    won  forecast  quota  forecast_attainment
        0         1  100.0     200.0  400.0                  0.5
        1         2    0.0      10.0  100.0                  0.1
    """
    require_columns(opportunities, {by: "any", amount_col: "numeric", probability_col: "numeric",
                                    status_col: "any", expected_close_col: "datetime",
                                    closed_col: "datetime"}, table="opportunities")
    require_columns(quotas, {quota_by: "any", quota_period_col: "any",
                             quota_amount_col: "numeric"}, table="quotas")
    freq = "Q" if "Q" in period else ("M" if "-" in period else "Y")
    target = pd.Period(period, freq=freq)
    opp = opportunities
    closed_p = as_datetime(opp[closed_col], closed_col).dt.to_period(freq)
    exp_p = as_datetime(opp[expected_close_col], expected_close_col).dt.to_period(freq)
    won_mask = (opp[status_col] == WON_STATUS) & (closed_p == target)
    open_mask = (opp[status_col] == OPEN_STATUS) & (exp_p == target)
    amount = opp[amount_col].astype("float64")
    won = amount.where(won_mask, 0.0).groupby(opp[by]).sum()
    pipe = (amount * opp[probability_col].astype("float64") / 100).where(open_mask, 0.0).groupby(opp[by]).sum()
    q = quotas[quotas[quota_period_col].astype("str") == str(period)]
    quota = q.groupby(quota_by)[quota_amount_col].sum()
    keys = won.index.union(pipe.index).union(quota.index).sort_values()
    out = pd.DataFrame({by: keys})
    out["won"] = won.reindex(keys).fillna(0.0).to_numpy()
    out["weighted_pipeline"] = pipe.reindex(keys).fillna(0.0).to_numpy()
    out["forecast"] = out["won"] + out["weighted_pipeline"]
    out["quota"] = quota.reindex(keys).to_numpy(dtype="float64")
    qv = out["quota"].where(out["quota"] > 0)
    out["attainment"] = out["won"] / qv
    out["forecast_attainment"] = out["forecast"] / qv
    out["gap"] = out["quota"] - out["forecast"]
    return out
