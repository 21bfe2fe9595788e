"""Fresh kernels for autograde without paying Python's start-up and imports for every submission.

A plain nbgrader run starts ``python -m ipykernel_launcher`` for every notebook: the
interpreter, IPython, ipykernel, pandas, SQLAlchemy and simcrm are loaded again each time, and
that is a large part of what one submission costs. Here each grading process keeps a **zygote**:
a process that has imported all of that once, runs nothing else, and *forks* a new kernel for
each submission. The forked kernel is a new process — a copy of a process in which no notebook
ever ran — so a student's code cannot leave anything for the next student:

* the zygote never executes notebook code; it only reads launch requests (JSON lines) on its
  standard input, a pipe that only the grading process holds (a kernel's standard input and
  output are ``/dev/null`` and its log, so no kernel can ask the zygote for anything);
* every kernel is forked from the same untouched zygote (copy-on-write memory: what a kernel
  changes in its memory stays in that kernel), never reused for a second notebook, and ends
  with its notebook, as a plain nbgrader kernel does;
* it starts a session (and process group) of its own, so an interrupt or a kill reaches it and
  whatever it started, as with ``python -m ipykernel_launcher``;
* its working directory, environment and ``sys.path`` are those nbgrader asks for; random
  generators are seeded afresh (a fork would otherwise repeat the zygote's sequence).

:class:`ForkedKernelManager` is the ``Execute.kernel_manager_class`` of simcrm's autograde; it
falls back to starting a plain kernel whenever the zygote is unusable (no ``pidfd_open``: not
Linux; a kernel that is not this interpreter's ipykernel; a zygote that died), when the
submission's folder holds a file that a plain kernel would import instead of a module the zygote
already holds (:func:`shadowing`: a planted ``simcrm/`` package keeps its effect), and inside
:class:`plain_kernels` (autograde's retry of a submission whose forked kernel failed).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager, KernelManager

__all__ = ["ForkLaunch", "ForkedKernelManager", "ForkedBlockingKernelManager", "KernelZygote", "zygote",
           "close_zygote", "PRELOAD", "STUDENT_PRELOAD"]

#: modules a ch01–ch10 notebook loads anyway: imported once, in the zygote
PRELOAD = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "IPython.core.interactiveshell",
    "ipykernel.debugger",  # the kernel imports debugpy (~0.2 s) as it starts
    "numpy", "pandas", "sqlalchemy", "sqlalchemy.dialects.sqlite.pysqlite", "simcrm", "simcrm.lab", "simcrm.lab.session", "simcrm.lab.referee",
    "simcrm.crm", "simcrm.store", "simcrm.sim", "simcrm.ui",
)

#: and what a student's lab loads in its first cells besides (ipywidgets' screens, the chapter's
#: world built or restored, Faker and plotly when a world is generated or a chart drawn):
#: the zygote of a student's JupyterLab (:mod:`simcrm.lab.jupyter_ext`) imports these as well
STUDENT_PRELOAD = PRELOAD + (
    "ipywidgets", "simcrm.lab.chapters", "simcrm.sim.cache", "simcrm.sim.world", "simcrm.analytics",
    "faker", "faker.providers.person.zh_CN", "faker.providers.address.zh_CN", "faker.providers.phone_number.zh_CN",
    "faker.providers.company.zh_CN", "plotly.graph_objects",
)


class KernelZygote:
    """The grading process's zygote (see the module docstring): ``spawn`` forks one kernel."""

    def __init__(self, env: dict[str, str] | None = None, log: Path | None = None,
                 preload: tuple[str, ...] = PRELOAD) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="simcrm-zygote-")
        root = str(Path(__file__).resolve().parent.parent.parent)
        code = (f"import sys; del sys.path[0]; sys.path.insert(0, {root!r}); "
                f"from simcrm.lab.kernels import zygote_main; raise SystemExit(zygote_main({list(preload)!r}, {root!r}))")
        err = open(log, "a", encoding="utf-8") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
        try:
            self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=err, cwd=self._tmp.name, env=env, text=True, encoding="utf-8",
                                         start_new_session=True)
        finally:
            if log:
                err.close()
        self.lock = threading.Lock()
        self.kernel_log = str(log.with_name("kernels.log")) if log else None  # what forked kernels print
        self.modules: set[str] | None = None  # top-level modules the zygote imported (its first line)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def spawn(self, argv: list[str], cwd: str, env: dict[str, str], log: str | None = None) -> int | None:
        """Fork a kernel ``ipykernel_launcher <argv>`` in ``cwd`` with ``env``; its pid (``None``: failed)."""
        with self.lock:
            if not self._ready():
                return None
            if shadowing(cwd, self.modules):
                return None  # a file of the submission would replace a preloaded module: start it the plain way
            try:
                self.proc.stdin.write(json.dumps({"argv": argv, "cwd": cwd, "env": env, "log": log}) + "\n")
                self.proc.stdin.flush()
            except OSError:
                pass
            pid = self._reply(120).get("pid")
            if not isinstance(pid, int):
                self.close(kill=True)
                return None
            return pid

    def ready(self) -> bool:
        """Wait until the zygote has done its imports; ``False``: it is unusable."""
        with self.lock:
            return self._ready()

    def _ready(self) -> bool:
        if not self.alive():
            return False
        if self.modules is None:
            first = self._reply(600)
            if not isinstance(first.get("modules"), list):
                self.close(kill=True)
                return False
            self.modules = set(first["modules"])
        return True

    def _reply(self, timeout: float) -> dict[str, Any]:
        try:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            line = self.proc.stdout.readline() if ready else ""
            reply = json.loads(line) if line else {}
        except (OSError, ValueError):
            reply = {}
        return reply if isinstance(reply, dict) else {}

    def close(self, kill: bool = False) -> None:
        if self.proc.poll() is None:
            try:
                if kill:
                    raise OSError("kill")
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 - it must not outlive the batch
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        self._tmp.cleanup()


def shadowing(folder: str | Path, modules: set[str]) -> list[str]:
    """Files in ``folder`` that a plain kernel started there would import instead of one of
    ``modules`` (the folder comes first on a kernel's ``sys.path``): ``x.py``, a package ``x/``
    or an extension ``x.*.so``. A forked kernel already holds the real module, so such a
    submission runs in a kernel started the ordinary way, exactly as the student ran it."""
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    found = []
    for p in entries:
        if p.is_dir():
            name = p.name if (p / "__init__.py").exists() else None
        else:
            name = p.name.split(".", 1)[0] if p.suffix in (".py", ".pyc", ".so", ".pyd") else None
        if name in modules:
            found.append(p.name)
    return sorted(found)


_ZYGOTE: dict[str, KernelZygote] = {}


class plain_kernels:
    """Within this block, kernels start the ordinary way (a retry after a forked kernel failed)."""

    depth = 0

    def __enter__(self) -> None:
        plain_kernels.depth += 1

    def __exit__(self, *exc: Any) -> None:
        plain_kernels.depth -= 1


def zygote(env: dict[str, str] | None = None, log: Path | None = None,
           preload: tuple[str, ...] = PRELOAD) -> KernelZygote | None:
    """This process's zygote (started on first use; ``None`` where fork is not available)."""
    if (not hasattr(os, "fork") or not hasattr(os, "pidfd_open") or os.environ.get("SIMCRM_NO_ZYGOTE")
            or plain_kernels.depth):
        return None
    z = _ZYGOTE.get("z")
    if z is None or not z.alive():
        if z is not None:
            z.close(kill=True)
        import atexit

        if not _ZYGOTE:
            atexit.register(close_zygote)
        z = _ZYGOTE["z"] = KernelZygote(env, log, preload)
    return z


def close_zygote() -> None:
    z = _ZYGOTE.pop("z", None)
    if z is not None:
        z.close()


# --- inside the zygote --------------------------------------------------------------------------


def zygote_main(preload: list[str] | tuple[str, ...] = PRELOAD, root: str | None = None) -> int:
    """Import what kernels need, then fork one kernel per request line on stdin. ``root``: the
    folder put first on ``sys.path`` for these imports (simcrm's own), taken off again so that a
    kernel's ``sys.path`` is a plain kernel's."""
    import importlib

    for name in preload:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a module the kernel then imports itself
            pass
    if root is not None and sys.path[:1] == [root]:
        del sys.path[0]
    import gc

    # what the imports made stays as it is: the kernels' garbage collector need not walk it, and
    # walking it would copy every page of it into each kernel (copy-on-write), which costs a
    # kernel more CPU than the imports saved
    gc.collect()
    gc.freeze()
    print(json.dumps({"modules": sorted({m.split(".", 1)[0] for m in sys.modules})}), flush=True)
    signal.signal(signal.SIGCHLD, _reap)  # kernels are waited for as they end (their CPU time counts)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grading process's to handle
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _kernel_child(request)  # never returns
        print(json.dumps({"pid": pid}), flush=True)
    return 0


def _reap(_signum: int, _frame: Any) -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kernel_child(request: dict[str, Any]) -> None:
    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        null = os.open(os.devnull, os.O_RDWR)
        out = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if request.get("log") else null
        os.dup2(null, 0)  # the zygote's pipes are gone: this kernel cannot talk to the zygote
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.closerange(3, 256)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["ipykernel_launcher", *request["argv"]]
        import random

        random.seed()
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()
        from ipykernel.kernelapp import IPKernelApp

        app = IPKernelApp.instance()
        # the parent to watch: the trait's default read $JPY_PARENT_PID when the zygote imported
        # ipykernel, before this kernel's environment existed; without it no poller ends this kernel
        # when the zygote dies (it lived on as an orphan after a killed server)
        app.parent_handle = int(os.environ.get("JPY_PARENT_PID") or 0)
        app.initialize(list(request["argv"]))
        if "ipywidgets" in sys.modules:
            # imported in the zygote, where there was no shell to register its comm targets with
            # (it does so at import time): register them now, as a plain kernel's import would
            sys.modules["ipywidgets"]._handle_ipython()
        app.start()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException:  # noqa: BLE001 - reported in the kernel's log, the process ends
        import traceback

        traceback.print_exc()
    finally:
        try:
            # what a plain kernel's interpreter does as it ends: the exit handlers (a lab removes
            # its world folder in one) — os._exit below skips them, and the fork must not return
            import atexit

            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


# --- the grading process's side: jupyter_client sees an ordinary kernel process ---------------------


class _ForkedProcess:
    """What jupyter_client's provisioner needs of a ``Popen`` for a kernel the zygote forked."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._fd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        if self.returncode is None:
            ready, _, _ = select.select([self._fd], [], [], 0)
            if ready:
                self.returncode = 0
                os.close(self._fd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            select.select([self._fd], [], [], timeout)
            if self.poll() is None:
                raise subprocess.TimeoutExpired("kernel", timeout)
        return self.returncode  # type: ignore[return-value]

    def __del__(self) -> None:
        if self.returncode is None:
            try:
                os.close(self._fd)
            except OSError:
                pass

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            signal.pidfd_send_signal(self._fd, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


def _launcher_args(cmd: list[str]) -> list[str] | None:
    """The arguments after ``-m ipykernel_launcher`` when ``cmd`` runs this interpreter's ipykernel."""
    if len(cmd) >= 3 and Path(cmd[0]).resolve() == Path(sys.executable).resolve() and cmd[1:3] == ["-m", "ipykernel_launcher"]:
        return list(cmd[3:])
    return None


class ForkLaunch:
    """Mixin for a jupyter_client kernel manager: its kernels are forked by this process's zygote
    (see the module docstring); any other kernel, or a failed fork, starts the ordinary way."""

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        args = _launcher_args(kernel_cmd)
        z = zygote() if args is not None else None
        pid = None
        if z is not None:
            env = dict(kw.get("env") or os.environ)
            env["JPY_PARENT_PID"] = str(z.proc.pid)  # its parent: it ends when the zygote does
            cwd = str(kw.get("cwd") or os.getcwd())
            pid = z.spawn(args, cwd, env, log=os.environ.get("SIMCRM_KERNEL_LOG") or z.kernel_log)
        if pid is None:
            return await super()._async_launch_kernel(kernel_cmd, **kw)
        prov = self.provisioner
        prov.process = _ForkedProcess(pid)
        prov.pid = pid
        prov.pgid = pid  # the kernel leads a session and group of its own
        prov.cwd = kw.get("cwd")
        self._reconcile_connection_info(prov.connection_info)


class ForkedKernelManager(ForkLaunch, AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernels are forked (autograde's, through nbgrader)."""


class ForkedBlockingKernelManager(ForkLaunch, KernelManager):
    """A blocking ``KernelManager`` whose kernels are forked (benchmarks and tests)."""
