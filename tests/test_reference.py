"""Reference data: internally consistent, and what DESIGN.md says the states are."""

from __future__ import annotations

import pytest

from simcrm import reference


def test_every_default_is_one_of_its_values():
    for name, spec in reference.DICTIONARIES.items():
        assert spec["default"] in spec["values"], name
        assert len(set(spec["values"])) == len(spec["values"]), name


def test_transitions_only_name_known_states():
    for name, spec in reference.STATES.items():
        for src, targets in (spec.get("transitions") or {}).items():
            assert src in spec["values"], (name, src)
            for t in targets:
                assert t in spec["values"], (name, t)


def test_stage_probabilities_rise_through_the_funnel():
    probs = [reference.stage_probability(s) for s in reference.STAGES]
    assert probs == sorted(probs) and len(set(probs)) == len(probs)
    assert reference.CLOSED_PROBABILITY == {"成功": 100, "失败": 0}
    assert reference.STAGES == ("初期沟通", "立项评估", "需求分析", "方案制定", "招投标/竞争", "商务谈判", "合同签约")


def test_complaint_workflow_is_one_linear_state_machine():
    order = ["已记录", "调查中", "已分派", "方案待批", "处理中", "已回访", "已归档"]
    assert list(reference.state_values("complaint_status")) == order
    for a, b in zip(order, order[1:]):
        assert reference.allowed_transitions("complaint_status", a) == (b,)
    assert reference.allowed_transitions("complaint_status", "已归档") == ()


@pytest.mark.parametrize("machine,src,dst,ok", [
    ("quote_status", "草稿", "已发送", True),
    ("quote_status", "草稿", "已转订单", False),
    ("approval", "待审", "同意", True),
    ("approval", "同意", "否决", False),
    ("shipping", "部分", "全部", True),
    ("shipping", "全部", "部分", False),
    ("service_status", "已解决", "处理中", True),
    ("service_status", "已关闭", "处理中", False),
    ("opportunity_status", "搁置", "跟踪", True),
    ("opportunity_status", "成功", "跟踪", False),
    ("order_status", "执行中", "意外中止", True),
])
def test_design_transitions(machine, src, dst, ok):
    assert reference.is_transition_allowed(machine, src, dst) is ok


def test_observable_definitions_are_data():
    assert reference.OBSERVABLE["churned"]["inactivity_days"] == 180
    assert list(reference.OBSERVABLE["low_satisfaction"]["scores"]) == [1, 2]
    assert {d["name"] for d in reference.SERVQUAL} == {"有形性", "可靠性", "响应性", "保证性", "移情性"}
    assert [g["code"] for g in reference.SATISFACTION_GAPS] == ["差距1", "差距2", "差距3", "差距4", "差距5"]
