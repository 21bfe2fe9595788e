"""关联规则 (association rules, "market basket" analysis) — Apriori on orders.

Rules X → y with a single consequent y and an antecedent X of one item (``max_len=2``) or one
or two items (``max_len=3``). For N orders (baskets; an item counts once per order):

* support(X → y) = #orders containing X ∪ {y} / N
* confidence = support(X ∪ {y}) / support(X)
* lift = confidence / support({y})
"""

from __future__ import annotations

from itertools import combinations

import pandas as pd

from simcrm.errors import ConfigError

from ._validate import check_range, require_columns

__all__ = ["association_rules"]


def association_rules(
    order_lines: pd.DataFrame,
    order_col: str = "order_id",
    item_col: str = "product_id",
    min_support: float = 0.01,
    min_confidence: float = 0.1,
    max_len: int = 2,
) -> pd.DataFrame:
    """购物篮关联规则 (rules X → y with support, confidence and lift).

    Itemsets are searched Apriori-style: frequent items (support ≥ min_support), then
    frequent pairs, then (``max_len=3``) triples whose pairs are all frequent.

    Args:
        order_lines: one row per order line.
        order_col: order (basket) id column.
        item_col: item (product) column.
        min_support: minimum support of X ∪ {y}.
        min_confidence: minimum confidence.
        max_len: largest itemset size, 2 or 3.

    Returns:
        DataFrame ``[antecedent (tuple), consequent, support, confidence, lift, count]``
        sorted by lift, confidence, support (descending), then antecedent.

    Example:
        >>> lines = pd.DataFrame({"order_id": [1, 1, 2, 2, 3, 4],
        ...                       "product_id": ["茶", "杯", "茶", "杯", "茶", "杯"]})
        >>> association_rules(lines, min_support=0.5, min_confidence=0.5)  # doctest: +NORMALIZE_WHITESPACE
          antecedent consequent  support  confidence  lift  count
        0       (杯,)          茶      0.5    0.666667  0.888889      2
        1       (茶,)          杯      0.5    0.666667  0.888889      2
    """
    require_columns(order_lines, {order_col: "any", item_col: "any"}, table="order_lines")
    check_range(min_support, "min_support", 0, 1, "0 到 1 之间")
    check_range(min_confidence, "min_confidence", 0, 1, "0 到 1 之间")
    if max_len not in (2, 3):
        raise ConfigError(field="max_len", value=max_len, allowed=[2, 3], reason="项集大小不对")
    baskets = order_lines[[order_col, item_col]].dropna().drop_duplicates()
    n = baskets[order_col].nunique()
    columns = ["antecedent", "consequent", "support", "confidence", "lift", "count"]
    if n == 0:
        return pd.DataFrame(columns=columns)
    item_count = baskets[item_col].value_counts()
    frequent = set(item_count[item_count / n >= min_support].index)
    baskets = baskets[baskets[item_col].isin(frequent)]
    sets = baskets.groupby(order_col, sort=False)[item_col].agg(lambda s: sorted(set(s)))
    counts: dict[tuple, int] = {(i,): int(c) for i, c in item_count.items()}
    pair_counts: dict[tuple, int] = {}
    for items in sets:
        for pair in combinations(items, 2):
            pair_counts[pair] = pair_counts.get(pair, 0) + 1
    freq_pairs = {p: c for p, c in pair_counts.items() if c / n >= min_support}
    counts.update(freq_pairs)
    itemsets = list(freq_pairs)
    if max_len == 3:
        triple_counts: dict[tuple, int] = {}
        for items in sets:
            for t in combinations(items, 3):
                if all(p in freq_pairs for p in combinations(t, 2)):
                    triple_counts[t] = triple_counts.get(t, 0) + 1
        freq_triples = {t: c for t, c in triple_counts.items() if c / n >= min_support}
        counts.update(freq_triples)
        itemsets += list(freq_triples)
    rows = []
    for itemset in itemsets:
        support = counts[itemset] / n
        for y in itemset:
            x = tuple(i for i in itemset if i != y)
            conf = counts[itemset] / counts[x]
            if conf + 1e-12 >= min_confidence:
                # lift = P(x∪y) / (P(x)·P(y)), from integer counts so x→y and y→x agree exactly
                lift = counts[itemset] * n / (counts[x] * counts[(y,)])
                rows.append((x, y, support, conf, lift, counts[itemset]))
    out = pd.DataFrame(rows, columns=columns)
    if out.empty:
        return out
    # ties: items compared as values (product 4 before product 12), not as text
    order = sorted(range(len(out)), key=lambda i: (-out["lift"].iat[i], -out["confidence"].iat[i],
                                                   -out["support"].iat[i], out["antecedent"].iat[i],
                                                   out["consequent"].iat[i]))
    return out.iloc[order].reset_index(drop=True)
