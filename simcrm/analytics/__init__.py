"""simcrm.analytics: 客户关系管理分析 (CRM analytics).

DataFrame in (plus column names as keyword arguments), documented fixed columns out; inputs are
validated first (:class:`simcrm.errors.ColumnError` names the missing or mistyped column);
nothing here writes to a database. See ``docs/analytics.md`` for the definitions.
"""

#: where each public name lives: a submodule is imported when one of its names is first used
#: (a lab that needs one model does not pay for the others; see ``docs/analytics.md``)
_WHERE = {
    "LIFECYCLE_SCHEMES": "lifecycle",
    "STATUS_TYPES": "lifecycle",
    "lifecycle_stages": "lifecycle",
    "status_types": "lifecycle",
    "association_rules": "association",
    "agents_needed": "callcenter",
    "average_speed_of_answer": "callcenter",
    "erlang_b": "callcenter",
    "erlang_c": "callcenter",
    "service_level": "callcenter",
    "churn_features": "churn",
    "churn_risk": "churn",
    "evaluate_churn_model": "churn",
    "retention_rates": "churn",
    "time_split": "churn",
    "train_churn_model": "churn",
    "value_at_risk": "churn",
    "PERIOD_DAYS": "clv",
    "BetaGeo": "clv",
    "GammaGamma": "clv",
    "customer_lifetime_value": "clv",
    "summary_from_transactions": "clv",
    "BEHAVIOUR_GRADES": "credit",
    "CREDIT_5C_GRADES": "credit",
    "CREDIT_LIMIT_FACTORS": "credit",
    "FIVE_C": "credit",
    "credit_5c": "credit",
    "credit_behaviour": "credit",
    "credit_limit": "credit",
    "LOST_STATUS": "funnel",
    "OPEN_STATUS": "funnel",
    "STAGES": "funnel",
    "WON_STATUS": "funnel",
    "forecast_vs_quota": "funnel",
    "funnel": "funnel",
    "DEFAULT_RFM_SEGMENTS": "rfm",
    "quantile_scores": "rfm",
    "rfm": "rfm",
    "rfm_segment": "rfm",
    "AGING_BUCKETS": "stats",
    "contribution": "stats",
    "data_quality": "stats",
    "distribution": "stats",
    "growth": "stats",
    "receivables_aging": "stats",
    "build_star_schema": "warehouse",
    "dice": "warehouse",
    "drilldown": "warehouse",
    "olap_cube": "warehouse",
    "rollup": "warehouse",
    "slice_": "warehouse",
    "SERVQUAL_DIMENSIONS": "value",
    "clv_retention": "value",
    "delivered_value": "value",
    "satisfaction_index": "value",
    "servqual_gaps": "value",
    "VALUE_COLUMNS": "profit",
    "default_unit_costs": "profit",
    "financial_value": "profit",
    "CLV_QUADRANTS": "segmentation",
    "HSBC_GRADES": "segmentation",
    "PYRAMID_LEVELS": "segmentation",
    "PYRAMID_LEVELS_FOUR": "segmentation",
    "PYRAMID_SHARES": "segmentation",
    "abc": "segmentation",
    "clv_quadrant": "segmentation",
    "customer_pyramid": "segmentation",
    "hsbc_grade": "segmentation",
    "pareto_share": "segmentation",
}


def __getattr__(name: str):  # PEP 562
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{where}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


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

# A public function named like its submodule (rfm, funnel) is bound now: the first import of
# that submodule anywhere (``from simcrm.analytics.rfm import …``) sets the package's attribute
# to the module, which would then shadow the lazily looked-up function for good.
from .funnel import funnel  # noqa: E402
from .rfm import rfm  # noqa: E402
