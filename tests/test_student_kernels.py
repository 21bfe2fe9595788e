"""The kernels of ``simcrm lab``'s JupyterLab are forked from a preloaded zygote
(simcrm.lab.jupyter_ext) and behave as ordinary kernels: they run code in the notebook's folder,
hold ipywidgets' comm targets, are interrupted, restarted and shut down through the server's REST
API; a folder with a file that would shadow a preloaded module gets a plain kernel.

A real JupyterLab server started with the command and configuration of ``simcrm lab`` (as the
browser test's student session), real kernels, talked to with jupyter_client over the
connection files the server writes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest
from conftest import running_jupyter

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="fork server: Linux only")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from simcrm.lab.workspace import jupyter_command, jupyter_env, prepare

    root = tmp_path_factory.mktemp("zygote-lab")
    labs = root / "labs-source"
    labs.mkdir()
    (labs / "note.md").write_text("实训\n", encoding="utf-8")
    folder = root / "simcrm-labs"
    prepare(labs, folder)
    shadow = folder / "own"
    (shadow / "pandas").mkdir(parents=True)  # a student's own package named like a preloaded module
    (shadow / "pandas" / "__init__.py").write_text("MINE = True\n", encoding="utf-8")
    env = jupyter_env(folder, {k: v for k, v in os.environ.items() if k != "SIMCRM_NO_ZYGOTE"})
    # the kernels' sockets are files (`simcrm lab` uses ipc) named after the runtime folder: a short
    # one, as ~/.local/share/jupyter/runtime is (a socket's path has at most 107 bytes; pytest's
    # temporary folders under xdist are longer)
    runtime = Path(tempfile.mkdtemp(prefix="skr-"))
    env.update(JUPYTER_RUNTIME_DIR=str(runtime), SIMCRM_HOME=str(root / "home"))
    command = lambda port: jupyter_command(folder, no_browser=True, port=port)  # noqa: E731 - as `simcrm lab`
    try:
        with running_jupyter(command, cwd=folder, env=env, log=root / "jupyter.log") as server:
            yield {**server, "folder": folder, "runtime": runtime, "log": root / "jupyter.log"}
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def _api(server, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(f"{server['base']}/api/{path}?token={server['token']}", method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            text = resp.read().decode()
    except urllib.error.HTTPError as exc:  # the server's log says why
        pytest.fail(f"{method} {path}: {exc}\n" + Path(server["log"]).read_text()[-4000:])
    return json.loads(text) if text else {}


def _client(server, kernel_id: str):
    from jupyter_client import BlockingKernelClient

    kc = BlockingKernelClient(connection_file=str(server["runtime"] / f"kernel-{kernel_id}.json"))
    kc.load_connection_file()
    kc.start_channels()
    kc.wait_for_ready(timeout=240)
    return kc


def _run(kc, code: str, timeout: float = 240) -> tuple[str, dict]:
    """The cell's printed text and its reply."""
    out: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append(msg["content"]["ename"])

    reply = kc.execute_interactive(code, timeout=timeout, output_hook=hook)
    return "".join(out), reply["content"]


PROBE = "import os, sys\nprint(json.dumps([os.getpid(), os.getppid(), os.getcwd(), 'simcrm.lab.session' in sys.modules]))"


def _probe(kc) -> tuple[int, int, str, bool]:
    for _attempt in range(5):
        text, reply = _run(kc, "import json\n" + PROBE)
        if reply["status"] != "aborted":  # ipykernel aborts requests that arrive just after an error
            break
        time.sleep(0.5)
    assert reply["status"] == "ok", text
    return tuple(json.loads(text.strip().splitlines()[-1]))


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _command(p: psutil.Process) -> str:
    """A process's command line; empty for one that has ended (the server's short-lived helpers
    can be zombies for a moment: psutil refuses their command line)."""
    try:
        return " ".join(p.cmdline())
    except (psutil.ZombieProcess, psutil.NoSuchProcess):
        return ""


def _zygote_of(server) -> psutil.Process:
    children = psutil.Process(server["proc"].pid).children()
    kids = [p for p in children if "zygote_main" in _command(p)]
    assert len(kids) == 1, [_command(p) for p in children]
    return kids[0]


def test_a_lab_kernel_is_forked_from_the_preloaded_zygote_and_works_as_any_kernel(server):
    zygote = _zygote_of(server)  # started with the server, before any notebook was opened
    kernel = _api(server, "POST", "kernels", {"name": "python3", "path": ""})
    kc = _client(server, kernel["id"])
    try:
        pid, ppid, cwd, preloaded = _probe(kc)
        assert ppid == zygote.pid and preloaded  # nothing imported simcrm in this kernel: the zygote had
        assert Path(cwd).resolve() == server["folder"].resolve()
        # ipywidgets was imported in the zygote, before there was a shell: its comm targets are
        # registered in the kernel all the same (the widget manager of JupyterLab needs them)
        text, reply = _run(kc, "import ipywidgets\nprint(sorted(get_ipython().kernel.comm_manager.targets))")
        assert reply["status"] == "ok" and "'jupyter.widget'" in text and "'jupyter.widget.control'" in text, text
        # the interrupt button: a running cell stops with KeyboardInterrupt, the kernel lives on
        msg_id = kc.execute("import time\ntime.sleep(120)")
        time.sleep(1.0)
        _api(server, "POST", f"kernels/{kernel['id']}/interrupt")
        while True:
            msg = kc.get_shell_msg(timeout=60)
            if msg["parent_header"].get("msg_id") == msg_id:
                break
        assert msg["content"]["status"] == "error" and msg["content"]["ename"] == "KeyboardInterrupt"
        assert _probe(kc)[0] == pid
        # restart: a new process, forked again; the random generators are not the zygote's sequence
        _run(kc, "x = 1")
        _api(server, "POST", f"kernels/{kernel['id']}/restart")
        kc.stop_channels()
        kc = _client(server, kernel["id"])
        pid2, ppid2, _cwd, _ = _probe(kc)
        assert pid2 != pid and ppid2 == zygote.pid
        assert not _alive(pid)
        text, reply = _run(kc, "print('x' in dir())")
        assert text.strip() == "False"  # nothing of the first process survives its restart
    finally:
        kc.stop_channels()
    _api(server, "DELETE", f"kernels/{kernel['id']}")
    deadline = time.monotonic() + 60
    while _alive(pid2) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid2)
    assert _zygote_of(server).pid == zygote.pid  # the zygote outlives its kernels


def test_a_forked_kernel_watches_the_zygote_and_ends_with_it(server):
    """A forked kernel's parent poller watches the zygote (``JPY_PARENT_PID``), as a plain kernel's
    watches the server: if the zygote dies (a killed server), the kernel ends instead of living on."""
    zygote = _zygote_of(server)
    kernel = _api(server, "POST", "kernels", {"name": "python3"})
    kc = _client(server, kernel["id"])
    try:
        text, reply = _run(kc, "from ipykernel.kernelapp import IPKernelApp\napp = IPKernelApp.instance()\n"
                               "print(app.parent_handle, type(app.poller).__name__)")
        assert reply["status"] == "ok", text
        assert text.split() == [str(zygote.pid), "ParentPollerUnix"]
    finally:
        kc.stop_channels()
        _api(server, "DELETE", f"kernels/{kernel['id']}")


def test_two_forked_kernels_draw_different_random_numbers(server):
    values = []
    for _ in range(2):
        kernel = _api(server, "POST", "kernels", {"name": "python3"})
        kc = _client(server, kernel["id"])
        try:
            text, _ = _run(kc, "import random, numpy\nprint(random.random(), numpy.random.random())")
            values.append(text.strip())
        finally:
            kc.stop_channels()
            _api(server, "DELETE", f"kernels/{kernel['id']}")
    assert values[0] != values[1]


def test_a_folder_that_shadows_a_preloaded_module_gets_a_plain_kernel(server):
    """A notebook next to its own ``pandas/`` imports that one in a plain kernel; a forked kernel
    would already hold the real pandas, so the server starts this kernel the ordinary way."""
    session = _api(server, "POST", "sessions", {"path": "own/x.ipynb", "type": "notebook", "name": "x.ipynb",
                                                 "kernel": {"name": "python3"}})
    kc = _client(server, session["kernel"]["id"])
    try:
        _pid, ppid, cwd, preloaded = _probe(kc)
        assert ppid == server["proc"].pid and not preloaded
        assert Path(cwd).resolve() == (server["folder"] / "own").resolve()
        text, _ = _run(kc, "import pandas\nprint(getattr(pandas, 'MINE', False))")
        assert text.strip() == "True"
    finally:
        kc.stop_channels()
        _api(server, "DELETE", f"sessions/{session['id']}")


def test_stopping_simcrm_lab_stops_jupyterlab_its_zygote_and_kernels(tmp_path):
    """``simcrm lab`` stopped by a signal (a hub or a process manager sends SIGTERM) passes it on:
    JupyterLab shuts down and takes its zygote and kernels with it, nothing lives on as an orphan."""
    import signal
    import subprocess
    import sys

    from conftest import _free_port

    port = _free_port()
    home = Path(tempfile.mkdtemp(prefix="slh-"))  # short: the kernels' socket files live under it
    env = {**os.environ, "HOME": str(home), "SIMCRM_HOME": str(home / "simcrm"), "BROWSER": "true"}
    log = tmp_path / "lab.log"
    simcrm = Path(sys.executable).parent / "simcrm"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(simcrm), "lab", "--dir", str(home / "labs"), "--no-browser", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    family: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 240
        token = None
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text()
            if "token=" in text:
                token = text.split("token=", 1)[1].split()[0]
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    pass
            time.sleep(0.5)
        else:
            pytest.fail("simcrm lab did not start: " + log.read_text()[-3000:])
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/kernels?token={token}", method="POST",
                                     data=b'{"name": "python3"}', headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=120).read()
        time.sleep(2)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert any("jupyterlab" in _command(p) for p in family) and any("zygote_main" in _command(p) for p in family)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        deadline = time.monotonic() + 60
        while any(_alive(p.pid) for p in family) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [(p.pid, _command(p)[:80]) for p in family if _alive(p.pid)]
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in family:  # whatever a failure left running
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        proc.wait()
        shutil.rmtree(home, ignore_errors=True)
