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


def test_theory_terms_are_the_textbook_ones():
    # SERVQUAL dimension names of the course textbook; 保证性/移情性 only as the "又称" note
    assert {d["name"] for d in reference.SERVQUAL} == {"可靠性", "有形性", "响应性", "安全性", "关怀性"}
    assert {d["code"]: d.get("also") for d in reference.SERVQUAL if "also" in d} == {
        "assurance": "保证性", "empathy": "移情性"}
    # the five causes of dissatisfaction, each with a meaning and where the world's records show it
    assert [g["name"] for g in reference.SATISFACTION_GAPS] == ["促销差距", "理解差距", "程序差距", "行为差距", "感受差距"]
    # complaint records name the gap the same way (not 差距3)
    assert list(reference.state_values("gap_type")) == [g["name"] for g in reference.SATISFACTION_GAPS]
    for g in reference.SATISFACTION_GAPS:
        assert len(g["meaning"]) > 10 and len(g["records"]) > 10, g["name"]
    assert list(reference.DELIVERED_VALUE["cost_parts"]) == ["货币成本", "时间成本", "精神成本", "体力成本"]
    assert set(reference.DELIVERED_VALUE["cost_meaning"]) == set(reference.DELIVERED_VALUE["cost_parts"])
    assert reference.state_values("status_type")[0] == "非客户"
    assert reference.LIFECYCLE_STAGES["acquisition"][0] == "潜在客户期"
    assert reference.LIFECYCLE_STAGES["termination"][-1] == "客户终止期"


def test_student_facing_text_uses_the_textbook_words():
    """销售机会 (not 商机) and 客户终身价值 (not 终生) wherever a student reads."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    files = [*root.glob("simcrm/**/*.py"), *root.glob("simcrm/**/*.toml"), *root.glob("solutions/**/*.ipynb"),
             *root.glob("docs/*.md"), root / "README.md"]
    pending: set[str] = set()
    bad = []
    for f in files:
        if str(f.relative_to(root)) in pending:
            continue
        text = f.read_text(encoding="utf-8")
        if f.name == "__init__.py" and f.parent.name == "ui":
            text = text.replace('"商机看板": "board"', "")  # the old name, still accepted as input
        for word in ("商机", "终生"):
            if word in text:
                bad.append(f"{f.relative_to(root)}: {word}")
    assert bad == []
