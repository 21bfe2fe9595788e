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


def test_reset_says_what_it_did_and_returns_nothing(lab, capsys):
    assert lab.reset() is None
    out = capsys.readouterr().out
    assert "已重置" in out and lab.firm["name"] in out


def _run(cells: list[str], tmp_path) -> list[list[dict]]:
    """Execute ``cells`` in a real kernel; the outputs of each cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return [c.outputs for c in nb.cells]


def _error_text(outputs: list[dict]) -> str:
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert len(errors) == 1, outputs  # the cell is reported as failed (nbgrader counts it)
    return "\n".join(errors[0]["traceback"])


def test_a_notebook_shows_short_chinese_errors(tmp_path):
    """In a real kernel: simcrm's errors, failed checks and blank exercises are one short Chinese
    message, the cell still fails; ``simcrm.debug(True)`` brings the full traceback back."""
    outputs = _run([
        "from simcrm.lab import start\nlab = start('ch04', student='s_errors', customers=300, quiet=True)",
        # exercise 1.2's deliberate mistake: one digit missing
        "lab.crm.create_customer('林晓', kind='个人', source='客户介绍', province='浙江省', city='宁波市',"
        " phone='1380057123')",
        "lab.check('ch04.dup_rows', dup_rows)",                      # the answer cell never ran
        "# 在此编写代码\nraise NotImplementedError()",                # an answer stub
        "lab.check('ch04.dup_rows', list(range(1, 91)))",           # a wrong answer
        "lab.reset()",
        "x = undefined_in_my_own_code + 1",                          # a student's own bug
        "import simcrm\nsimcrm.debug(True)\nlab.crm.create_customer('林晓', kind='个人', phone='1380057123')",
    ], tmp_path)
    assert not any(o.get("output_type") == "error" for o in outputs[0])
    mistake = _error_text(outputs[1])
    assert "电话" in mistake and "1380057123" in mistake
    assert "Traceback" not in mistake and "[en]" not in mistake and "customers.py" not in mistake
    assert len(mistake.splitlines()) <= 3
    blank = _error_text(outputs[2])
    assert "还没有作答：请先在上面的单元格中计算 dup_rows" in blank and "Traceback" not in blank
    stub = _error_text(outputs[3])
    assert "还没有作答" in stub and "Traceback" not in stub
    wrong = _error_text(outputs[4])
    assert "检查未通过" in wrong and "不能把所有行都算作重复" in wrong
    assert "Traceback" not in wrong and "session.py" not in wrong
    assert wrong.count("不能把所有行都算作重复") == 1  # not printed and then repeated
    shown = "".join(o.get("text", "") for o in outputs[5]) + str([o.get("data") for o in outputs[5]])
    assert "已重置" in shown and "<simcrm" not in shown
    own_bug = _error_text(outputs[6])  # real bugs keep the traceback (line numbers matter)
    assert "undefined_in_my_own_code" in own_bug and "Traceback" in own_bug
    verbose = _error_text(outputs[7])
    assert "Traceback" in verbose and "1380057123" in verbose


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


def test_screens_are_not_built_during_autograde_unless_code_uses_them(lab, monkeypatch):
    """During simcrm's autograde (a referee address in the environment) nobody sees a screen:
    ``lab.screen`` shows one line instead of building widgets, an unknown name is still refused,
    and code that uses the screen gets the real one."""
    import IPython.core.formatters as F

    from simcrm.lab.session import GradingScreen
    from simcrm.ui.leads import LeadImport

    monkeypatch.setenv("SIMCRM_REFEREE", "unix:/nonexistent")
    shown = lab.screen("线索导入")
    assert isinstance(shown, GradingScreen)
    # what the graded notebook shows: IPython's formatters find no widget hooks, only the line
    data, _meta = F.DisplayFormatter().format(shown)
    assert list(data) == ["text/plain"] and "自动评分时不显示界面" in data["text/plain"]
    assert shown._screen is None  # displaying it built nothing
    with pytest.raises(ValueError, match="没有名为“不存在”的界面"):
        lab.screen("不存在")
    assert isinstance(shown.dup_box.children, tuple)  # used by code: the real screen
    assert isinstance(shown._screen, LeadImport)
    monkeypatch.delenv("SIMCRM_REFEREE")
    assert isinstance(lab.screen("线索导入"), LeadImport)  # the student's own run: the screen itself
