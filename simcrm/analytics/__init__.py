"""simcrm.analytics: 客户关系管理分析 (CRM analytics).

DataFrame in (plus column names as keyword arguments), documented fixed columns out; inputs are
validated first (:class:`simcrm.errors.ColumnError` names the missing or mistyped column);
nothing here writes to a database. See ``docs/analytics.md`` for the definitions.
"""

from .rfm import DEFAULT_RFM_SEGMENTS, quantile_scores, rfm, rfm_segment

__all__ = [
    "DEFAULT_RFM_SEGMENTS",
    "quantile_scores",
    "rfm",
    "rfm_segment",
]
