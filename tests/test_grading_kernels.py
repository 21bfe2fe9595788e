"""Kernels forked from a zygote (simcrm.lab.kernels) are as fresh as started ones.

Autograde runs every submission in a kernel forked from a process that imported ipykernel,
pandas and simcrm once. What one student's notebook does to its kernel — globals, builtins,
patched simcrm functions, modules it imported, environment variables, the working directory,
background threads — must not be there in the next student's kernel; each kernel is a process
of its own in the folder and environment nbgrader asked for, and it cannot reach the zygote.
"""

from __future__ import annotations

import os
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from simcrm.lab import kernels

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="forked kernels need Linux (pidfd_open)")]

LEAVE_BEHIND = """
import builtins, os, sys, threading, time, random
import simcrm.lab.session as session
builtins.LEFT_BY_A = "a"
session.start = lambda *a, **k: "patched by student A"
os.environ["LEFT_BY_A"] = "1"
os.chdir("/")
sys.modules["planted_by_a"] = type(sys)("planted_by_a")
threading.Thread(target=time.sleep, args=(600,), daemon=True, name="a-thread").start()
print(os.getpid(), os.getppid(), random.random())
"""

LOOK = """
import builtins, os, sys, threading, random
import simcrm.lab.session as session
print(repr(getattr(builtins, "LEFT_BY_A", None)), session.start.__module__, os.environ.get("LEFT_BY_A"),
      "planted_by_a" in sys.modules, [t.name for t in threading.enumerate() if t.name == "a-thread"],
      os.getcwd(), os.environ.get("PROBE"), os.getpid(), os.getppid(), random.random())
"""


def _run(source: str, cwd, env_probe: str) -> list[str]:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    old = os.environ.get("PROBE")
    os.environ["PROBE"] = env_probe
    try:
        client = NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
                                kernel_manager_class=kernels.ForkedKernelManager)
        client.execute()
    finally:
        if old is None:
            os.environ.pop("PROBE", None)
        else:
            os.environ["PROBE"] = old
    out = nb.cells[0].outputs
    assert out and out[0].get("output_type") == "stream", out
    return out[0]["text"].split()


@pytest.fixture()
def zygote(tmp_path):
    z = kernels.zygote({k: v for k, v in os.environ.items()}, tmp_path / "zygote.log")
    assert z is not None
    yield z
    kernels.close_zygote()


def test_a_forked_kernel_keeps_nothing_of_the_previous_one(zygote, tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    a_pid, a_ppid, a_random = _run(LEAVE_BEHIND, a_dir, "for-a")
    left, start_module, env, planted, thread, cwd, probe, b_pid, b_ppid, b_random = _run(LOOK, b_dir, "for-b")
    # both kernels came from the zygote (not started the ordinary way), as separate processes
    assert int(a_ppid) == int(b_ppid) == zygote.proc.pid
    assert a_pid != b_pid
    # nothing student A did is in student B's kernel
    assert left == "None"
    assert start_module == "simcrm.lab.session"
    assert env == "None"
    assert planted == "False"
    assert thread == "[]"
    # B runs where and with what nbgrader asked for B
    assert cwd == str(b_dir)
    assert probe == "for-b"
    # random generators are seeded per kernel, not inherited from the zygote
    assert a_random != b_random
    assert zygote.alive()


def test_a_forked_kernel_runs_its_exit_handlers_as_it_ends(zygote, tmp_path):
    """A plain kernel's interpreter runs the ``atexit`` handlers when the kernel ends; a lab removes
    its world folder in one (``session._cleanup``). A fork that ended with ``os._exit`` skipped
    them: every lab opened in a forked kernel left its 20 MB world in the temporary folder."""
    mark = tmp_path / "ended"
    code = ("import atexit, pathlib\n"
            f"atexit.register(pathlib.Path({str(mark)!r}).write_text, 'bye')\n"
            "from simcrm.lab import session\n"
            f"folder = pathlib.Path({str(tmp_path)!r}) / 'world'\n"
            "folder.mkdir()\n"
            "atexit.register(session._cleanup, folder)\n"
            "print(folder.is_dir())")
    assert _run(code, tmp_path, "x") == ["True"]  # the notebook has ended, and with it the kernel
    assert mark.read_text() == "bye"
    assert not (tmp_path / "world").exists()


def test_a_kernel_cannot_talk_to_the_zygote(zygote, tmp_path):
    # the zygote's pipes are not among the kernel's open files: stdin is /dev/null
    code = ("import os\n"
            "def link(p):\n"
            "    try:\n"
            "        return os.readlink(p)\n"
            "    except OSError:\n"
            "        return None\n"
            f"pipes = {{link('/proc/{zygote.proc.pid}/fd/0'), link('/proc/{zygote.proc.pid}/fd/1')}} - {{None}}\n"
            "mine = {link(f'/proc/self/fd/{f}') for f in os.listdir('/proc/self/fd')}\n"
            "print(link('/proc/self/fd/0'), len(pipes) == 2 and not (mine & pipes))")
    stdin, none_shared = _run(code, tmp_path, "x")
    assert stdin == os.devnull
    assert none_shared == "True"


def test_without_a_zygote_the_kernel_starts_the_ordinary_way(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMCRM_NO_ZYGOTE", "1")
    kernels.close_zygote()
    _pid, ppid, *_ = _run("import os, random; print(os.getpid(), os.getppid(), random.random())", tmp_path, "x")
    assert int(ppid) == os.getpid()  # a child of this process, started by jupyter_client
    assert kernels._ZYGOTE.get("z") is None


def test_an_interrupt_reaches_a_forked_kernel(zygote, tmp_path):
    """A cell that runs too long is interrupted (nbgrader's per-cell timeout); the next cell runs."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\nwhile True: time.sleep(0.1)"),
                                         nbformat.v4.new_code_cell("print('after')")])
    client = NotebookClient(nb, timeout=3, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            resources={"metadata": {"path": str(tmp_path)}},
                            kernel_manager_class=kernels.ForkedKernelManager)
    client.execute()
    assert nb.cells[0].outputs[-1].get("ename") == "KeyboardInterrupt"
    assert nb.cells[1].outputs[0]["text"].strip() == "after"


def test_only_this_interpreters_ipykernel_is_forked():
    assert kernels._launcher_args([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"]) == ["-f", "c.json"]
    assert kernels._launcher_args(["/usr/bin/other-python", "-m", "ipykernel_launcher", "-f", "c.json"]) is None
    assert kernels._launcher_args([sys.executable, "-m", "other_kernel", "-f", "c.json"]) is None


def test_a_submission_shadowing_a_preloaded_module_runs_in_a_plain_kernel(zygote, tmp_path):
    """A ``simcrm/`` package (or ``pandas.py``) next to the notebook is what a plain kernel would
    import; a forked kernel already holds the real one, so such a submission is started the
    ordinary way and sees its own files, as the student's kernel did."""
    (tmp_path / "simcrm").mkdir()
    (tmp_path / "simcrm" / "__init__.py").write_text("MARK = 'planted'\n", encoding="utf-8")
    mark, ppid = _run("import os, simcrm\nprint(getattr(simcrm, 'MARK', 'real'), os.getppid())", tmp_path, "x")
    assert mark == "planted"
    assert int(ppid) == os.getpid()
    assert zygote.alive()  # the zygote stays for the next submission


def test_shadowing_names_the_files_that_replace_a_module(tmp_path):
    (tmp_path / "simcrm").mkdir()
    (tmp_path / "simcrm" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "pandas.py").write_text("", encoding="utf-8")
    (tmp_path / "numpy").mkdir()  # a folder without __init__.py: the installed numpy still wins
    (tmp_path / "data.csv").write_text("", encoding="utf-8")
    (tmp_path / "helpers.py").write_text("", encoding="utf-8")
    modules = {"simcrm", "pandas", "numpy", "data"}
    assert kernels.shadowing(tmp_path, modules) == ["pandas.py", "simcrm"]
    assert kernels.shadowing(tmp_path / "missing", modules) == []


def test_a_retry_runs_in_a_plain_kernel(zygote, tmp_path):
    """autograde runs a submission whose forked kernel failed once more with plain_kernels()."""
    with kernels.plain_kernels():
        assert kernels.zygote() is None
        _pid, ppid, *_ = _run("import os, random; print(os.getpid(), os.getppid(), random.random())", tmp_path, "x")
    assert int(ppid) == os.getpid()
    assert kernels.zygote() is zygote
