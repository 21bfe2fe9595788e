"""The first start() in a notebook asks for the 学号 once (simcrm.lab.firstrun): asked once,
remembered, an empty answer means a self-learner (remembered too), shown in the banner, never
asked when nobody can answer (nbclient/nbval, nbgrader, quiet, the switch) and never hangs."""

from __future__ import annotations

import json
import os

import nbformat
import pytest
from click.testing import CliRunner

from simcrm.cli import main
from simcrm.lab import firstrun, forget_student, start
from simcrm.lab.identity import DEFAULT_SEED, world_seed

SID = "230101001"
SMALL = 300  # customers: a small world keeps the tests quick

_IDENTITY_VARS = ("SIMCRM_COURSE_SALT", "SIMCRM_STUDENT", "JUPYTERHUB_USER", "NBGRADER_EXECUTION",
                  "SIMCRM_REFEREE", "SIMCRM_WORLD", "SIMCRM_ASK_STUDENT")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    """An empty student folder ($SIMCRM_HOME), no identity from the environment, a cwd without tickets."""
    for var in _IDENTITY_VARS:
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "simcrm-home"
    monkeypatch.setenv("SIMCRM_HOME", str(path))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return path


class Keyboard:
    """A student at the notebook: answers the input box with ``answers``, in order."""

    def __init__(self, *answers: str):
        self.answers = list(answers)
        self.prompts: list[str] = []

    def __call__(self, prompt: str = "") -> str:
        self.prompts.append(prompt)
        if not self.answers:
            raise AssertionError(f"asked once more than expected: {prompt!r}")
        return self.answers.pop(0)


@pytest.fixture()
def at_notebook(home, monkeypatch):
    """A kernel that takes input (as JupyterLab's does); returns a function installing the answers."""
    monkeypatch.setattr(firstrun, "_kernel_takes_input", lambda: True)

    def typing(*answers: str) -> Keyboard:
        keyboard = Keyboard(*answers)
        monkeypatch.setattr("builtins.input", keyboard)
        return keyboard

    return typing


def _saved(home) -> dict:
    return json.loads((home / "student.json").read_text(encoding="utf-8"))


def test_asked_once_remembered_and_shown_in_the_banner(at_notebook, home, capsys):
    keyboard = at_notebook(SID)
    lab = start("ch04", customers=SMALL)
    out = capsys.readouterr().out
    assert keyboard.prompts == [firstrun.PROMPT]
    assert _saved(home) == {"student": SID}
    assert lab.student.id == SID and lab.student.source == "saved" and lab.seed == world_seed(SID, "simcrm-course")
    assert f"学生：学号 {SID}（来源：已保存的学号" in out and "默认世界" not in out.split("实训 ch04")[1]
    assert firstrun.CHANGE_HINT in out.split("实训 ch04")[1]  # the banner says how to change it
    # the next lab (a new session of the same student) is not asked and opens the same world
    again = start("ch05", customers=SMALL)
    assert keyboard.prompts == [firstrun.PROMPT]
    assert again.student.id == SID and f"学号 {SID}" in capsys.readouterr().out


def test_empty_answer_is_a_self_learner_and_is_remembered(at_notebook, home, capsys):
    keyboard = at_notebook("  ")
    lab = start("ch04", customers=SMALL)
    out = capsys.readouterr().out
    assert keyboard.prompts == [firstrun.PROMPT]
    assert _saved(home) == {"student": None}
    assert lab.student.id is None and lab.seed == DEFAULT_SEED and not lab.practice
    assert "已记住：自学模式" in out and "默认世界（自学模式）" in out and firstrun.CHANGE_HINT in out
    start("ch04", customers=SMALL)  # not asked again: the keyboard has no answer left
    assert keyboard.prompts == [firstrun.PROMPT]
    shown = CliRunner().invoke(main, ["student", "show"], env={"SIMCRM_HOME": str(home)})
    assert shown.exit_code == 0 and "已选择自学模式" in shown.output


def test_a_bad_id_is_explained_and_asked_again(at_notebook, home, capsys):
    keyboard = at_notebook("学号一", "2301 01", SID)
    lab = start("ch04", customers=SMALL)
    out = capsys.readouterr().out
    assert len(keyboard.prompts) == 3 and out.count("✘") == 2
    assert "'学号一'" in out and "'2301 01'" in out and "空格" in out
    assert lab.student.id == SID and _saved(home) == {"student": SID}


def test_three_bad_answers_open_the_default_world_and_ask_next_time(at_notebook, home, capsys):
    at_notebook("a b", "c d", "e f")
    lab = start("ch04", customers=SMALL)
    assert lab.student.id is None and not (home / "student.json").exists()
    assert "下一个 start() 会再问" in capsys.readouterr().out
    keyboard = at_notebook(SID)
    assert start("ch04", customers=SMALL, quiet=False).student.id == SID
    assert keyboard.prompts == [firstrun.PROMPT]


def test_set_student_later_changes_it_and_forget_asks_again(at_notebook, home, capsys):
    from simcrm.lab import set_student

    at_notebook("")
    start("ch04", customers=SMALL)
    set_student("230101002")
    assert start("ch04", customers=SMALL).student.id == "230101002"
    forget_student()
    assert not (home / "student.json").exists()
    keyboard = at_notebook(SID)
    assert start("ch04", customers=SMALL).student.id == SID and len(keyboard.prompts) == 1
    result = CliRunner().invoke(main, ["student", "forget"], env={"SIMCRM_HOME": str(home)})
    assert result.exit_code == 0 and "重新询问" in result.output and not (home / "student.json").exists()


def _refuse(prompt: str = "") -> str:
    raise AssertionError(f"input() must not be called here: {prompt!r}")


@pytest.mark.parametrize("case", ["no_kernel", "switch", "nbgrader", "quiet", "explicit", "env_id", "answered"])
def test_never_asked_when_nobody_should_answer(home, monkeypatch, case):
    monkeypatch.setattr("builtins.input", _refuse)
    if case != "no_kernel":  # the real check: pytest runs no kernel, so nobody could answer
        monkeypatch.setattr(firstrun, "_kernel_takes_input", lambda: True)
    kwargs = {"customers": SMALL}
    if case == "switch":
        monkeypatch.setenv("SIMCRM_ASK_STUDENT", "0")
    elif case == "nbgrader":
        monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    elif case == "quiet":
        kwargs["quiet"] = True
    elif case == "explicit":
        kwargs["student"] = SID
    elif case == "env_id":
        monkeypatch.setenv("SIMCRM_STUDENT", SID)
    elif case == "answered":
        home.mkdir()
        (home / "student.json").write_text('{"student": null}', encoding="utf-8")
    start("ch04", **kwargs)
    if case != "answered":
        assert not (home / "student.json").exists()


def test_an_unanswerable_input_does_not_hang_or_fail(at_notebook, home, monkeypatch, capsys):
    from IPython.core.error import StdinNotImplementedError

    def no_stdin(prompt: str = "") -> str:
        raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")

    monkeypatch.setattr("builtins.input", no_stdin)
    lab = start("ch04", customers=SMALL)
    assert lab.student.id is None and not (home / "student.json").exists()
    monkeypatch.setattr("builtins.input", lambda prompt="": (_ for _ in ()).throw(EOFError()))
    assert start("ch04", customers=SMALL).student.id is None


# --- real kernels: nbclient (as nbval and nbgrader run notebooks) and a notebook that answers ---

CELL = "from simcrm.lab import start\nlab = start('ch04', customers=%d)\nprint('WHO', lab.student.id)" % SMALL


def _kernel_env(home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _IDENTITY_VARS}
    env["SIMCRM_HOME"] = str(home)
    return env


@pytest.mark.slow
def test_nbclient_run_never_asks_and_finishes(home, monkeypatch):
    from nbclient import NotebookClient

    for key, value in _kernel_env(home).items():
        monkeypatch.setenv(key, value)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "WHO None" in text and firstrun.PROMPT not in text
    assert not (home / "student.json").exists()


@pytest.mark.slow
def test_a_notebook_kernel_asks_once_and_remembers(home):
    """A real kernel with input allowed (as JupyterLab runs a cell): one input request, answered;
    a second start() in the same kernel is not asked."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env=_kernel_env(home))
    try:
        asked: list[str] = []
        outputs: list[str] = []

        def answer(msg):
            asked.append(msg["content"]["prompt"])
            kc.input(SID)

        def collect(msg):
            if msg["msg_type"] == "stream":
                outputs.append(msg["content"]["text"])

        for _ in range(2):
            reply = kc.execute_interactive(CELL, allow_stdin=True, stdin_hook=answer, output_hook=collect,
                                           timeout=300)
            assert reply["content"]["status"] == "ok", reply["content"]
        assert asked == [firstrun.PROMPT]
        text = "".join(outputs)
        assert text.count(f"WHO {SID}") == 2 and f"学生：学号 {SID}" in text
        assert json.loads((home / "student.json").read_text(encoding="utf-8")) == {"student": SID}
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
