"""Reference data: the CRM's fixed states, default dictionaries and theory lists, as data.

Everything here is read from files in ``simcrm/reference/data/`` (``reference.toml``,
``regions.csv``, ``spring_festival.csv``); no other module repeats these lists.

    >>> from simcrm import reference
    >>> reference.STAGES[0], reference.stage_probability("商务谈判")
    ('初期沟通', 80)
    >>> reference.allowed_transitions("quote_status", "草稿")
    ('已发送',)
    >>> reference.is_transition_allowed("complaint_status", "已记录", "已归档")
    False
    >>> reference.OBSERVABLE["churned"]["inactivity_days"]
    180
"""

from __future__ import annotations

import csv
import datetime as dt
import tomllib
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Mapping

__all__ = [
    "DICTIONARIES",
    "STATES",
    "STAGES",
    "STAGE_PROBABILITY",
    "CLOSED_PROBABILITY",
    "SATISFACTION_GAPS",
    "SERVQUAL",
    "DELIVERED_VALUE",
    "LIFECYCLE_STAGES",
    "OBSERVABLE",
    "MODULES",
    "COST_TO_SERVE",
    "state_values",
    "allowed_transitions",
    "is_transition_allowed",
    "stage_probability",
    "regions",
    "spring_festival",
]

_DATA = resources.files(__package__) / "data"


def _load() -> dict[str, Any]:
    with (_DATA / "reference.toml").open("rb") as fh:
        return tomllib.load(fh)


def _freeze(obj: Any) -> Any:
    if isinstance(obj, dict):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, list):
        return tuple(_freeze(v) for v in obj)
    return obj


_RAW = _load()

#: user-extendable lists: ``{list_name: {"label", "values", "default"}}``
DICTIONARIES: Mapping[str, Mapping[str, Any]] = _freeze(_RAW["dictionaries"])
#: fixed states: ``{state_name: {"label", "values", "transitions"?}}``
STATES: Mapping[str, Mapping[str, Any]] = _freeze(_RAW["states"])
#: opportunity stages in order
STAGES: tuple[str, ...] = tuple(s["name"] for s in _RAW["stages"])
#: stage → default win probability (%)
STAGE_PROBABILITY: Mapping[str, int] = MappingProxyType(
    {s["name"]: int(s["probability"]) for s in _RAW["stages"]}
)
#: closed opportunity status → fixed probability (成功 100, 失败 0)
CLOSED_PROBABILITY: Mapping[str, int] = _freeze(_RAW["closed_probability"])
#: the five causes of dissatisfaction (促销/理解/程序/行为/感受差距): ``code``, ``name``,
#: ``meaning`` and ``records`` (where the world's data shows the gap)
SATISFACTION_GAPS: tuple[Mapping[str, str], ...] = _freeze(_RAW["satisfaction_gaps"])
#: SERVQUAL dimensions: ``code`` (survey columns ``exp_<code>``/``per_<code>``), ``name``,
#: ``meaning`` and, for two of them, ``also`` (the other common name)
SERVQUAL: tuple[Mapping[str, str], ...] = _freeze(_RAW["servqual"])
#: 客户让渡价值: ``value_parts``, ``cost_parts`` (货币/时间/精神/体力成本) and ``cost_meaning``
DELIVERED_VALUE: Mapping[str, Any] = _freeze(_RAW["delivered_value"])
#: customer lifecycle theory, two schemes: ``acquisition`` (潜在客户期 … 客户衰退期) and
#: ``termination`` (潜在获取期 … 客户终止期); not the stored 生命周期 field
LIFECYCLE_STAGES: Mapping[str, tuple[str, ...]] = _freeze(_RAW["lifecycle_stages"])
OBSERVABLE: Mapping[str, Mapping[str, Any]] = _freeze(_RAW["observable"])
#: module code → Chinese name, for module rights
MODULES: Mapping[str, str] = _freeze(_RAW["modules"])
#: unit costs (元) of serving a customer: service, communication by channel, care by type (ch06)
COST_TO_SERVE: Mapping[str, Any] = _freeze(_RAW["cost_to_serve"])


def state_values(name: str) -> tuple[str, ...]:
    """The allowed values of a fixed state list.

    >>> state_values("approval")
    ('待审', '同意', '否决')
    """
    return tuple(STATES[name]["values"])


def allowed_transitions(name: str, current: str) -> tuple[str, ...]:
    """States that ``current`` may move to in state machine ``name`` (empty when final)."""
    transitions = STATES[name].get("transitions")
    if transitions is None:
        raise KeyError(f"state list {name!r} has no transitions")
    return tuple(transitions.get(current, ()))


def is_transition_allowed(name: str, current: str, new: str) -> bool:
    """Whether the state machine ``name`` lists the change ``current → new``."""
    return new in allowed_transitions(name, current)


def stage_probability(stage: str) -> int:
    """Default win probability (%) of an opportunity stage."""
    return STAGE_PROBABILITY[stage]


@cache
def _read_csv(name: str) -> tuple[dict[str, str], ...]:
    with (_DATA / name).open(encoding="utf-8", newline="") as fh:
        return tuple(csv.DictReader(fh))


def regions():
    """Real Chinese provinces and prefecture-level cities as a DataFrame.

    Faker's zh_CN city names are invented and do not match provinces, so the simulation and
    the regional analyses use this table instead. See ``data/README.md`` for the columns.
    """
    import pandas as pd

    return pd.DataFrame(list(_read_csv("regions.csv")))


def spring_festival(year: int) -> dt.date:
    """The date of the Spring Festival (春节, Chinese New Year's Day) in ``year``.

    >>> spring_festival(2024)
    datetime.date(2024, 2, 10)
    """
    for row in _read_csv("spring_festival.csv"):
        if int(row["year"]) == year:
            return dt.date.fromisoformat(row["spring_festival"])
    raise KeyError(f"no Spring Festival date for {year}")
