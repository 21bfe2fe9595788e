"""The command line: every command documents itself with an example; errors are readable."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from simcrm.cli import main


def _commands():
    return sorted(main.commands.items())


def test_top_level_help_lists_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name, _ in _commands():
        assert name in result.output
    assert "Example:" in result.output


@pytest.mark.parametrize("name,command", _commands())
def test_every_command_has_an_example(name, command: click.Command):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert f"simcrm {name}" in result.output.split("Example:")[1]


def test_info_lists_stages_with_probabilities():
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 0
    assert "商务谈判: 80%" in result.output


def test_info_one_state_machine_shows_transitions():
    result = CliRunner().invoke(main, ["info", "--list", "complaint_status"])
    assert result.exit_code == 0
    assert "已记录 → 调查中" in result.output
    assert "已归档 → （终态）" in result.output


def test_unknown_list_is_a_clear_error():
    result = CliRunner().invoke(main, ["info", "--list", "colours"])
    assert result.exit_code != 0
    assert "colours" in result.output and "complaint_status" in result.output


# --- misuse: one Chinese line naming the option and what is allowed, exit code 2 ----------------


def _misuse(args: list[str]) -> str:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, (args, result.exit_code, result.output)
    text = result.output.strip()
    assert len(text.splitlines()) == 1, text
    assert text.startswith("错误：") and "Traceback" not in text and "Usage" not in text
    return text


@pytest.mark.parametrize("value", ["-5", "0", "49"])
def test_too_few_customers(tmp_path, value):
    text = _misuse(["generate", "--customers", value, "--out", str(tmp_path / "w.sqlite")])
    assert "--customers" in text and value in text and "至少 50" in text
    assert not (tmp_path / "w.sqlite").exists()


def test_generate_needs_a_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _misuse(["generate"])
    assert "--out" in text and "--db" in text
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


@pytest.mark.parametrize("case", ["missing_folder", "folder", "exists", "read_only"])
def test_unusable_out_paths(tmp_path, case):
    import os

    if case == "missing_folder":
        out = tmp_path / "no" / "such" / "w.sqlite"
        want = "不存在"
    elif case == "folder":
        out = tmp_path
        want = "--out"
    elif case == "exists":
        out = tmp_path / "w.sqlite"
        out.write_bytes(b"keep me")
        want = "已存在"
    else:
        if os.geteuid() == 0:
            pytest.skip("root may write anywhere")
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        out = ro / "w.sqlite"
        want = "不可写"
    text = _misuse(["generate", "--out", str(out)])
    assert "--out" in text and want in text
    if case == "exists":
        assert out.read_bytes() == b"keep me"


def test_click_errors_are_chinese_too(tmp_path):
    assert "--customers" in _misuse(["generate", "--customers", "abc", "--out", str(tmp_path / "w.sqlite")])
    assert "整数" in _misuse(["generate", "--seed", "x", "--out", str(tmp_path / "w.sqlite")])
    assert "--frob" in _misuse(["generate", "--frob"])
    assert "frobnicate" in _misuse(["frobnicate"])
    assert "--seed" in _misuse(["generate", "--seed", "-1", "--out", str(tmp_path / "w.sqlite")])
    assert "zh_CN" in _misuse(["generate", "--locale", "en_US", "--out", str(tmp_path / "w.sqlite")])


def test_a_simcrm_error_is_one_line(monkeypatch):
    from simcrm.errors import ValidationError

    def broken(*_a, **_k):
        raise ValidationError(field="seed", value=1, label="种子", allowed="别的值")

    import simcrm.reference

    monkeypatch.setattr(simcrm.reference, "stage_probability", broken)
    result = CliRunner().invoke(main, ["info"])
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("错误：种子（seed）的值 1") and "[en]" not in result.output



def test_a_course_command_error_is_one_chinese_line_too(tmp_path):
    # simcrm course shares the top level's error handling (simcrm.cli_errors.Group)
    roster = tmp_path / "名单.csv"
    roster.write_text("姓名\n张三\n", encoding="utf-8")  # no 学号 column
    result = CliRunner().invoke(main, ["course", "roster", "--course", str(tmp_path), str(roster)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("错误：") and "Error" not in result.output, result.output

# --- simcrm lab: the student's own folder ---------------------------------------------------------


def _labs(root, text="v1"):
    (root / "ch01_x").mkdir(parents=True, exist_ok=True)
    (root / "ch01_x" / "ch01_x.ipynb").write_text(text, encoding="utf-8")
    (root / "README.md").write_text("not copied", encoding="utf-8")
    return root


def test_lab_folder_is_made_once_and_never_overwritten(tmp_path):
    from simcrm.lab.workspace import prepare

    source, folder = _labs(tmp_path / "labs"), tmp_path / "student"
    first = prepare(source, folder)
    copy = folder / "ch01_x" / "ch01_x.ipynb"
    assert first.copied == [copy] and copy.read_text(encoding="utf-8") == "v1"
    assert not (folder / "README.md").exists()
    copy.write_text("v1 + my answers", encoding="utf-8")
    again = prepare(source, folder)
    assert again.copied == [] and again.updates == []
    assert copy.read_text(encoding="utf-8") == "v1 + my answers"
    # the teacher updates the lab: the new version arrives beside the student's copy
    _labs(source, "v2")
    update = prepare(source, folder)
    assert len(update.updates) == 1 and update.updates[0][0] == copy
    beside = update.updates[0][1]
    assert beside.parent == copy.parent and beside.read_text(encoding="utf-8") == "v2" and "更新" in beside.name
    assert copy.read_text(encoding="utf-8") == "v1 + my answers"
    assert "更新" in update.summary() and prepare(source, folder).updates == []
    # a deleted copy is not brought back behind the student's back, but a new lab is
    (source / "ch02_y").mkdir()
    (source / "ch02_y" / "ch02_y.ipynb").write_text("new lab", encoding="utf-8")
    assert [p.name for p in prepare(source, folder).copied] == ["ch02_y.ipynb"]


def test_student_session_is_chinese_and_has_no_teacher_tools(tmp_path):
    import json

    from simcrm.lab.workspace import TEACHER_PLUGINS, jupyter_command, jupyter_env, prepare

    prepare(_labs(tmp_path / "labs"), tmp_path / "s")
    config = tmp_path / "s" / ".simcrm" / "jupyter"
    page = json.loads((config / "labconfig" / "page_config.json").read_text(encoding="utf-8"))
    assert set(page["disabledExtensions"]) == set(TEACHER_PLUGINS)
    assert "@jupyter/nbgrader:validate-assignment" not in page["disabledExtensions"]
    server = json.loads((config / "jupyter_server_config.json").read_text(encoding="utf-8"))
    assert server["ServerApp"]["jpserver_extensions"] == {"nbgrader.server_extensions.formgrader": False,
                                                          "nbgrader.server_extensions.course_list": False,
                                                          "simcrm.lab.jupyter_ext": True}
    # kernels forked from the session's preloaded zygote (tests/test_student_kernels.py runs them);
    # the names the configuration gives are those of the module
    from simcrm.lab import jupyter_ext

    assert server["MappingKernelManager"]["kernel_manager_class"] == jupyter_ext.KERNEL_MANAGER
    assert jupyter_ext.KERNEL_MANAGER == f"{jupyter_ext.__name__}.{jupyter_ext.ForkedServerKernelManager.__name__}"
    assert jupyter_ext._jupyter_server_extension_points() == [{"module": jupyter_ext.__name__}]
    # jupyter_server closes a kernel websocket at its first ping when the timeout is not longer than
    # the interval (it checks for a pong before sending any ping); tornado warns when it is longer:
    # the local session sends no keep-alive pings (see the browser test's server-log check)
    tornado = server["ServerApp"]["tornado_settings"]
    interval = tornado.get("ws_ping_interval", 30_000)
    timeout = tornado.get("ws_ping_timeout", max(3 * interval, 30_000))
    assert interval == 0 or interval < timeout, tornado
    overrides = json.loads((config / "labconfig" / "default_setting_overrides.json").read_text(encoding="utf-8"))
    assert overrides["@jupyterlab/translation-extension:plugin"]["locale"] == "zh_CN"
    assert (config / "nbgrader_config.py").exists()  # no "No nbgrader_config.py file found"
    env = jupyter_env(tmp_path / "s", {"JUPYTER_CONFIG_PATH": "/elsewhere"})
    assert env["JUPYTER_CONFIG_PATH"].split(":") == [str(config), "/elsewhere"]
    cmd = jupyter_command(tmp_path / "s", no_browser=True, port=8899)
    assert f"--notebook-dir={tmp_path / 's'}" in cmd and "--port=8899" in cmd


def test_the_language_pack_is_a_dependency_and_installed():
    from importlib.metadata import distribution, requires

    assert any(r.lower().startswith("jupyterlab-language-pack-zh-cn") for r in requires("simcrm"))
    assert distribution("jupyterlab-language-pack-zh-CN").version


def test_lab_prepare_only_copies_into_the_given_folder(tmp_path):
    result = CliRunner().invoke(main, ["lab", "--dir", str(tmp_path / "mine"), "--prepare-only"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "mine" / "ch04_customers" / "ch04_customers.ipynb").exists()
    assert "复制了" in result.output


def test_doctor_checks_what_it_promises():
    result = CliRunner().invoke(main, ["doctor"])
    assert "jupyterlab-language-pack-zh-CN" in result.output
    helptext = CliRunner().invoke(main, ["doctor", "--help"]).output
    assert "中文字体、" not in helptext  # no font check is promised (the browser draws the charts)
