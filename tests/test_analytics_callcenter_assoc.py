"""Erlang C against the factorial formula and a published example; association rules by hand."""

import math

import pandas as pd
import pytest

from simcrm.analytics import (agents_needed, association_rules, average_speed_of_answer,
                              erlang_c, service_level)
from simcrm.errors import ColumnError, ConfigError


def _erlang_c_factorial(n, a):
    top = a**n / math.factorial(n) * n / (n - a)
    return top / (sum(a**k / math.factorial(k) for k in range(n)) + top)


@pytest.mark.parametrize("n, lam, s", [(11, 100 / 1800, 180), (5, 2.0, 2.0), (30, 0.4, 60)])
def test_erlang_c_matches_factorial_formula(n, lam, s):
    assert erlang_c(n, lam, s) == pytest.approx(_erlang_c_factorial(n, lam * s), rel=1e-10)


def test_published_example_100_calls_per_half_hour():
    # callcentrehelper.com Erlang C worked example: 100 calls / 30 min, AHT 180 s, 80/20
    # -> 10 Erlangs; 11 agents: P(wait) = 68.21%, SL = 39.0%; 14 agents needed (SL 88.8%)
    lam, s = 100 / 1800, 180
    assert erlang_c(11, lam, s) == pytest.approx(0.6821, abs=1e-4)
    assert service_level(11, lam, s, 20) == pytest.approx(0.3896, abs=1e-4)
    assert service_level(13, lam, s, 20) < 0.8 < service_level(14, lam, s, 20)
    assert agents_needed(lam, s, 0.8, 20) == 14
    assert average_speed_of_answer(11, lam, s) == pytest.approx(0.6821 * 180 / 1, abs=0.05)
    assert erlang_c(10, lam, s) == 1.0 and service_level(9, lam, s, 20) == 0.0


def test_erlang_bad_input():
    with pytest.raises(ConfigError):
        erlang_c(0, 1.0, 1.0)
    with pytest.raises(ConfigError):
        agents_needed(1.0, 1.0, target_level=1.5)


@pytest.fixture
def baskets():
    # 5 orders: {A,B,C}, {A,B}, {A,C}, {B,D}, {A,B,D}
    rows = [(1, "A"), (1, "B"), (1, "C"), (2, "A"), (2, "B"), (2, "B"), (3, "A"), (3, "C"),
            (4, "B"), (4, "D"), (5, "A"), (5, "B"), (5, "D")]
    return pd.DataFrame(rows, columns=["order_id", "product_id"])


def test_association_hand_worked(baskets):
    out = association_rules(baskets, min_support=0.4, min_confidence=0.6)
    rules = {(r.antecedent, r.consequent): r for r in out.itertuples()}
    # support A=4/5, B=4/5, C=2/5, D=2/5; AB=3/5, AC=2/5, BD=2/5
    ab = rules[(("A",), "B")]
    assert ab.support == pytest.approx(0.6) and ab.confidence == pytest.approx(0.75)
    assert ab.lift == pytest.approx(0.75 / 0.8)
    ca = rules[(("C",), "A")]
    assert ca.confidence == pytest.approx(1.0) and ca.lift == pytest.approx(1.25)
    db = rules[(("D",), "B")]
    assert db.lift == pytest.approx(1.25)
    assert (("A",), "C") not in rules  # confidence 0.5 < 0.6
    assert set(rules) == {(("A",), "B"), (("B",), "A"), (("C",), "A"), (("D",), "B")}
    assert out["lift"].is_monotonic_decreasing


def test_association_triples(baskets):
    out = association_rules(baskets, min_support=0.2, min_confidence=0.9, max_len=3)
    rules = {(r.antecedent, r.consequent): r.confidence for r in out.itertuples()}
    # {A,D} occurs only in order 5 together with B: AD -> B confidence 1
    assert rules[(("A", "D"), "B")] == pytest.approx(1.0)
    assert rules[(("B", "C"), "A")] == pytest.approx(1.0)


def test_association_bad_input(baskets):
    with pytest.raises(ColumnError) as info:
        association_rules(baskets, item_col="sku")
    assert info.value.field == "sku"
    with pytest.raises(ConfigError):
        association_rules(baskets, max_len=4)


def test_rule_ties_order_items_by_value_and_lift_is_symmetric():
    import pandas as pd
    from simcrm.analytics import association_rules
    # 5→4 and 12→4 tie on lift, confidence and support: 5 sorts before 12 (as text "(12,)" would win)
    lines = pd.DataFrame({"order_id": [1, 1, 2, 2, 3, 3, 4, 4],
                          "product_id": [4, 12, 4, 12, 4, 5, 4, 5]})
    rules = association_rules(lines, min_support=0.1, min_confidence=0.1)
    firsts = [r[0] for r in rules["antecedent"]]
    assert firsts.index(5) < firsts.index(12)
    pair = rules.set_index(["antecedent", "consequent"])["lift"]
    assert pair[((4,), 12)] == pair[((12,), 4)]
