"""simcrm.analytics: 客户关系管理分析 (CRM analytics).

DataFrame in (plus column names as keyword arguments), documented fixed columns out; inputs are
validated first (:class:`simcrm.errors.ColumnError` names the missing or mistyped column);
nothing here writes to a database. See ``docs/analytics.md`` for the definitions.
"""

from .lifecycle import LIFECYCLE_SCHEMES, STATUS_TYPES, lifecycle_stages, status_types
from .association import association_rules
from .callcenter import agents_needed, average_speed_of_answer, erlang_b, erlang_c, service_level
from .churn import (
    churn_features,
    churn_risk,
    evaluate_churn_model,
    retention_rates,
    time_split,
    train_churn_model,
    value_at_risk,
)
from .clv import PERIOD_DAYS, BetaGeo, GammaGamma, customer_lifetime_value, summary_from_transactions
from .credit import (
    BEHAVIOUR_GRADES,
    CREDIT_5C_GRADES,
    CREDIT_LIMIT_FACTORS,
    FIVE_C,
    credit_5c,
    credit_behaviour,
    credit_limit,
)
from .funnel import LOST_STATUS, OPEN_STATUS, STAGES, WON_STATUS, forecast_vs_quota, funnel
from .rfm import DEFAULT_RFM_SEGMENTS, quantile_scores, rfm, rfm_segment
from .stats import AGING_BUCKETS, contribution, data_quality, distribution, growth, receivables_aging
from .warehouse import build_star_schema, dice, drilldown, olap_cube, rollup, slice_
from .value import SERVQUAL_DIMENSIONS, clv_retention, delivered_value, satisfaction_index, servqual_gaps
from .profit import VALUE_COLUMNS, default_unit_costs, financial_value
from .segmentation import (
    CLV_QUADRANTS,
    HSBC_GRADES,
    PYRAMID_LEVELS,
    PYRAMID_LEVELS_FOUR,
    PYRAMID_SHARES,
    abc,
    clv_quadrant,
    customer_pyramid,
    hsbc_grade,
    pareto_share,
)

__all__ = [
    "build_star_schema",
    "dice",
    "drilldown",
    "olap_cube",
    "rollup",
    "slice_",
    "churn_features",
    "churn_risk",
    "evaluate_churn_model",
    "retention_rates",
    "time_split",
    "train_churn_model",
    "value_at_risk",
    "LOST_STATUS",
    "OPEN_STATUS",
    "STAGES",
    "WON_STATUS",
    "forecast_vs_quota",
    "funnel",
    "association_rules",
    "agents_needed",
    "average_speed_of_answer",
    "erlang_b",
    "erlang_c",
    "service_level",
    "AGING_BUCKETS",
    "contribution",
    "data_quality",
    "distribution",
    "growth",
    "receivables_aging",
    "BEHAVIOUR_GRADES",
    "CREDIT_5C_GRADES",
    "CREDIT_LIMIT_FACTORS",
    "FIVE_C",
    "credit_5c",
    "credit_behaviour",
    "credit_limit",
    "SERVQUAL_DIMENSIONS",
    "clv_retention",
    "delivered_value",
    "satisfaction_index",
    "servqual_gaps",
    "BetaGeo",
    "GammaGamma",
    "PERIOD_DAYS",
    "customer_lifetime_value",
    "summary_from_transactions",
    "CLV_QUADRANTS",
    "DEFAULT_RFM_SEGMENTS",
    "HSBC_GRADES",
    "PYRAMID_LEVELS",
    "PYRAMID_LEVELS_FOUR",
    "PYRAMID_SHARES",
    "VALUE_COLUMNS",
    "default_unit_costs",
    "financial_value",
    "abc",
    "clv_quadrant",
    "customer_pyramid",
    "hsbc_grade",
    "pareto_share",
    "quantile_scores",
    "rfm",
    "rfm_segment",
    "STATUS_TYPES",
    "status_types",
    "LIFECYCLE_SCHEMES",
    "lifecycle_stages",
]
