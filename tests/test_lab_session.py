"""Lab sessions: per-student worlds, reset, the hidden check's independence from the kernel."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient

from simcrm.lab import start
from simcrm.lab.questions import get_question
from simcrm.lab.repair import repair_notebook
from simcrm.lab import authoring as A


@pytest.fixture(scope="module")
def lab():
    return start("ch04", student="s_session", quiet=True)


def test_banner_says_who_and_where(lab):
    text = lab.banner()
    assert "s_session" in text and lab.firm["name"] in text and str(lab.today) in text
    assert lab.me["role_type"] == "一般人员" and lab.me["login"] in text


def test_students_get_different_worlds():
    a = start("ch04", student="s_a", quiet=True)
    b = start("ch04", student="s_b", quiet=True)
    assert a.seed != b.seed
    assert not a.table("customer")["name"].equals(b.table("customer")["name"])


def test_reset_discards_the_students_changes(lab):
    cid = lab.crm.create_customer("复位测试有限公司", province="浙江省", city="杭州市", phone="0571-87654321")
    assert len(lab.new_rows("customer")) == 1 and cid
    lab.reset()
    assert len(lab.new_rows("customer")) == 0
    assert len(lab.table("customer")) == len(lab.pristine.read("customer"))


def test_visible_check_hints_and_raises(lab, capsys):
    rows = get_question("ch04.dup_rows").func(lab.context())
    lab.check("ch04.dup_rows", rows)
    assert "✔ 正确" in capsys.readouterr().out
    with pytest.raises(AssertionError) as info:
        lab.check("ch04.dup_rows", list(range(1, 91)))
    assert "不能把所有行都算作重复" in str(info.value)


def test_hidden_grade_cannot_be_patched_from_the_kernel(tmp_path):
    """A notebook that replaces the checker and the analytics still fails the hidden check."""
    cheat = "\n".join([
        "import simcrm.lab.checks, simcrm.lab.questions",
        "from simcrm.lab.checks import CheckResult",
        "import simcrm.lab.session",
        "simcrm.lab.session.evaluate = lambda *a, **k: CheckResult(True)",
        "simcrm.lab.questions.evaluate = lambda *a, **k: CheckResult(True)",
        "simcrm.lab.checks.compare = lambda *a, **k: CheckResult(True)",
        "dup_rows = [1, 2, 3]",
    ])
    nb = A.notebook([
        A.md("intro", "# 篡改测试"),
        A.solution("setup", "from simcrm.lab import start\nlab = start('ch04', student='cheater', quiet=True)"),
        A.solution("answer", cheat),
        A.tests("visible", 1, "lab.check('ch04.dup_rows', dup_rows)"),  # fooled: it runs in this kernel
        A.tests("hidden", 1, "lab.grade('ch04.dup_rows', dup_rows)"),   # not fooled: separate process
    ])
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = {c.metadata["nbgrader"]["grade_id"]: c.outputs for c in nb.cells if c.cell_type == "code"}
    assert not any(o.get("output_type") == "error" for o in outputs["visible"])
    errors = [o for o in outputs["hidden"] if o.get("output_type") == "error"]
    assert errors and errors[0]["ename"] == "AssertionError"
    # and the teacher's report points at the cell
    release = nbformat.v4.new_notebook()
    release.cells = [c for c in A.notebook([A.md("intro", "# 篡改测试"), A.solution("setup", "x = 1"),
                                          A.solution("answer", "dup_rows = None"),
                                          A.tests("visible", 1, "lab.check('ch04.dup_rows', dup_rows)"),
                                          A.tests("hidden", 1, "lab.grade('ch04.dup_rows', dup_rows)")]).cells]
    _, report = repair_notebook(nb, release)
    assert "suspected_tampering" in report.kinds()
    assert any(p.cell == "answer" for p in report.problems if p.kind == "suspected_tampering")


def test_honest_answers_are_not_flagged():
    nb = A.notebook([A.solution("a", "import pandas as pd\nx = pd.Series([1]).sum()\nlab.crm.create_customer('x')")])
    _, report = repair_notebook(nb, nb)
    assert "suspected_tampering" not in report.kinds()
