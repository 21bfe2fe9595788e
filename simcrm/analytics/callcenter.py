"""呼叫中心人员配置：Erlang C 排队模型 (call-center staffing with Erlang C).

Units: ``arrival_rate`` in calls per time unit and ``service_time`` (average handling time)
in the same unit, e.g. calls per second and seconds; ``target_seconds`` in the unit of
``service_time``. Offered traffic A = arrival_rate × service_time (Erlangs).
"""

from __future__ import annotations

import math

from simcrm.errors import ConfigError

__all__ = ["erlang_b", "erlang_c", "service_level", "average_speed_of_answer", "agents_needed"]


def _check(agents: int, arrival_rate: float, service_time: float) -> float:
    if not isinstance(agents, int) or agents < 1:
        raise ConfigError(field="agents", value=agents, allowed="正整数", reason="坐席数不对")
    if arrival_rate < 0 or service_time <= 0:
        raise ConfigError(field="arrival_rate/service_time", value=(arrival_rate, service_time),
                          allowed="来电率 ≥ 0，处理时长 > 0", reason="参数不对")
    return arrival_rate * service_time


def erlang_b(agents: int, traffic: float) -> float:
    """Erlang B 阻塞概率 via the stable recursion B(0)=1, B(k) = A·B(k−1)/(k + A·B(k−1)).

    Example:
        >>> round(erlang_b(2, 1.0), 4)
        0.2
    """
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(agents: int, arrival_rate: float, service_time: float) -> float:
    """Erlang C 等待概率 P(wait) = N·B / (N − A·(1 − B)), B = Erlang B(N, A); 1 when N ≤ A.

    Example:
        >>> round(erlang_c(2, 1 / 60, 60), 4)  # one Erlang on two agents
        0.3333
    """
    a = _check(agents, arrival_rate, service_time)
    if agents <= a:
        return 1.0
    b = erlang_b(agents, a)
    return agents * b / (agents - a * (1 - b))


def service_level(agents: int, arrival_rate: float, service_time: float,
                  target_seconds: float) -> float:
    """服务水平 SL = P(answered within t) = 1 − P(wait)·exp(−(N − A)·t / s); 0 when N ≤ A.

    Example:
        >>> round(service_level(2, 1 / 60, 60, 0), 4)
        0.6667
    """
    a = _check(agents, arrival_rate, service_time)
    if agents <= a:
        return 0.0
    return 1 - erlang_c(agents, arrival_rate, service_time) * math.exp(
        -(agents - a) * target_seconds / service_time)


def average_speed_of_answer(agents: int, arrival_rate: float, service_time: float) -> float:
    """平均应答速度 ASA = P(wait)·s / (N − A) (infinite when N ≤ A).

    Example:
        >>> round(average_speed_of_answer(2, 1 / 60, 60), 2)
        20.0
    """
    a = _check(agents, arrival_rate, service_time)
    if agents <= a:
        return math.inf
    return erlang_c(agents, arrival_rate, service_time) * service_time / (agents - a)


def agents_needed(arrival_rate: float, service_time: float, target_level: float = 0.8,
                  target_seconds: float = 20) -> int:
    """所需坐席数：the smallest N > A with service_level(N) ≥ target_level.

    Example:
        >>> agents_needed(100 / 1800, 180, 0.8, 20)  # 100 calls per 30 min, AHT 3 min
        14
    """
    if not 0 < target_level < 1:
        raise ConfigError(field="target_level", value=target_level, allowed="0 到 1 之间",
                          reason="目标服务水平不对")
    a = _check(1, arrival_rate, service_time)
    n = max(1, math.floor(a) + 1)
    while service_level(n, arrival_rate, service_time, target_seconds) < target_level:
        n += 1
    return n
