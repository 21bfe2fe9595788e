"""The firm's menu of care and retention actions, with what each costs, and lead costs.

Labs offer these actions (``ACTIONS``) to students; :meth:`simcrm.sim.world.World.step` reads
what a student recorded in the CRM (care rows, members of a campaign's 目标组) and applies the
matching action to each customer through :meth:`simcrm.sim.model.Model.apply_action`.

The effect of an action depends on the customer's hidden state, never shown in the tables:

* **可挽回** (persuadable): a customer who is drifting away (or stopped buying recently) and would
  stay when asked — the action lowers the churn hazard for half a year, brings a customer who
  stopped buying back with a chance that grows with the action's strength, and nudges the next
  purchase;
* **必然流失** (lost cause): gone to a competitor, an open complaint, or deeply unhappy: no effect;
* **本来就留** (sure thing): satisfied and buying: no measurable effect (money spent for nothing);
* **反感打扰** (sleeping dog): a loyal customer who dislikes being pushed: the hazard rises.

So the same action pays off on some customers and not on others (heterogeneous effect), and a
fair random control group shows the average effect with a confidence interval.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ACTIONS", "LEAD_COST", "action_for", "RESPONSE_TYPES"]

#: action → kind (关怀/挽留), channel, cost per customer (yuan), strength (0..1.5) of the effect
ACTIONS: dict[str, dict[str, Any]] = {
    "短信问候": {"kind": "关怀", "channel": "短信", "cost": 0.5, "strength": 0.15},
    "电话回访": {"kind": "关怀", "channel": "电话", "cost": 15.0, "strength": 0.6},
    "节日礼品": {"kind": "关怀", "channel": "其他", "cost": 150.0, "strength": 0.7},
    "折扣优惠": {"kind": "挽留", "channel": "电话", "cost": 80.0, "strength": 1.0},
    "上门拜访": {"kind": "挽留", "channel": "面谈", "cost": 300.0, "strength": 1.2},
    "服务升级": {"kind": "挽留", "channel": "面谈", "cost": 500.0, "strength": 1.4},
}

#: the hidden response types (documentation; the model derives them from latent state)
RESPONSE_TYPES = {"可挽回": "persuadable", "必然流失": "lost cause", "本来就留": "sure thing", "反感打扰": "sleeping dog"}

#: what one lead from each source costs the firm's marketing (yuan): media, fairs, agents' fees
LEAD_COST: dict[str, float] = {
    "电话来访": 100.0, "客户介绍": 200.0, "独立开发": 550.0, "媒体宣传": 650.0, "促销活动": 200.0, "老客户": 80.0,
    "代理商": 1300.0, "合作伙伴": 700.0, "公开招标": 850.0, "互联网": 280.0, "展会": 1050.0, "其他": 150.0,
}

_BY_CHANNEL = {"面谈": "上门拜访", "电话": "电话回访", "短信": "短信问候", "微信": "短信问候", "邮件": "短信问候",
               "信函": "短信问候", "活动": "节日礼品", "网站": "短信问候", "其他": "节日礼品"}


def action_for(channel: Any = None, kind: Any = None, text: Any = None) -> str:
    """The menu action a CRM record stands for.

    A name of the menu in ``text`` (a care subject, a campaign name) wins; then the channel
    (面谈 → 上门拜访, 电话 → 电话回访 or, for a 挽留 campaign, 折扣优惠 …).
    """
    if isinstance(text, str):
        for name in ACTIONS:
            if name in text:
                return name
    ch = channel if isinstance(channel, str) else "电话"
    act = _BY_CHANNEL.get(ch, "电话回访")
    if kind == "挽留" and act == "电话回访":
        return "折扣优惠"
    return act
