"""Shared fixtures: fresh stores on SQLite and on a real PostgreSQL server, isolated Jupyter dirs.

* ``store`` — a fresh in-memory SQLite store for each test.
* ``any_store`` — the same test on SQLite and on PostgreSQL (a schema of its own per test on a
  server this file starts with initdb and pg_ctl in a temporary directory, on a loopback
  port). Where no PostgreSQL binaries exist the PostgreSQL case skips with the reason; under
  ``CI=true`` a missing server is a failure, not a skip.
* ``pg_url`` — a SQLAlchemy URL to a fresh, empty schema on that server.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# --- environment: the venv's bin on PATH (nbgrader runs `alembic`), Jupyter out of $HOME --------
_VENV_BIN = str(Path(sys.executable).parent)
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _VENV_BIN + os.pathsep + os.environ.get("PATH", "")
_JUPYTER_TMP = Path(tempfile.mkdtemp(prefix="simcrm-jupyter-"))
# each test process's Jupyter folders and world cache (up to a few GB) go when it ends
atexit.register(shutil.rmtree, _JUPYTER_TMP, True)
for _var, _sub in {
    "JUPYTER_CONFIG_DIR": "config",
    "JUPYTER_DATA_DIR": "data",
    "JUPYTER_RUNTIME_DIR": "runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "mpl",
}.items():
    (_JUPYTER_TMP / _sub).mkdir(parents=True, exist_ok=True)
    os.environ[_var] = str(_JUPYTER_TMP / _sub)
os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
# simcrm's own world cache stays inside the test run
os.environ["SIMCRM_CACHE_DIR"] = str(_JUPYTER_TMP / "simcrm-cache")
# a 学号 saved by the developer (simcrm student set, ~/.simcrm) must not reach the tests
os.environ["SIMCRM_HOME"] = str(_JUPYTER_TMP / "simcrm-home")
# no kernel of the tests asks for a 学号 (simcrm.lab.firstrun): the tests of the question unset it
os.environ["SIMCRM_ASK_STUDENT"] = "0"
# no command of the tests (simcrm lab, simcrm student set) leaves a background world build running
os.environ["SIMCRM_PREBUILD"] = "0"

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def store():
    """A fresh in-memory SQLite store."""
    from simcrm.store import Store

    s = Store()
    yield s
    s.close()


# --- PostgreSQL ------------------------------------------------------------------------------


def _pg_bindir() -> Path | None:
    for pattern in ("/usr/lib/postgresql/*/bin",):
        found = sorted(glob.glob(pattern), key=lambda p: [int(x) for x in Path(p).parent.name.split(".") if x.isdigit()])
        for candidate in reversed(found):
            if (Path(candidate) / "pg_ctl").exists():
                return Path(candidate)
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_jupyter(command, *, cwd, env, log: Path, timeout: float = 240):
    """A JupyterLab server of ``command(port)`` (a command line without address, token or news) on
    loopback with a token of its own, its output in ``log``; ``{"base", "token", "proc"}`` once it
    answers (a loaded CI machine, xdist, may need minutes), stopped and reaped at the end (under
    load it may take more than 20 s to stop; an unreaped process is a ResourceWarning, an error in
    this suite)."""
    port, token = _free_port(), secrets.token_hex(16)
    with open(log, "w") as out:
        proc = subprocess.Popen([*command(port), "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
                                 "--LabApp.news_url="], stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                    break
                except OSError:
                    time.sleep(0.5)
            else:
                pytest.fail("JupyterLab did not start: " + Path(log).read_text()[-3000:])
            yield {"base": base, "token": token, "proc": proc}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _missing(reason: str):
    if IN_CI:
        pytest.fail(f"PostgreSQL is required in CI: {reason}")
    pytest.skip(reason)


class _PgServer:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="simcrm-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else os.environ.get("USER", "postgres")
        if self.as_root:
            shutil.chown(self.tmp, "postgres", "postgres")
        self._counter = itertools.count()

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8",
                  "--locale=C.UTF-8" if _has_c_utf8() else "--no-locale")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.tmp / "log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -h 127.0.0.1 -k {self.tmp} -c fsync=off -c full_page_writes=off",
                  "start")
        self.url = f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except Exception:  # noqa: BLE001 - best effort at teardown
            pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def fresh_schema_url(self) -> str:
        import sqlalchemy as sa

        name = f"t{os.getpid()}_{next(self._counter)}"
        engine = sa.create_engine(self.url)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        engine.dispose()
        return f"{self.url}?options=-csearch_path%3D{name}"


def _has_c_utf8() -> bool:
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True)
    return any(x.lower() in ("c.utf8", "c.utf-8") for x in out.stdout.split())


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server for the whole test session (skips where none is installed)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _missing("the psycopg driver is not installed (pip install 'simcrm[postgres]')")
    bindir = _pg_bindir()
    if bindir is None or not (bindir / "initdb").exists():
        _missing("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    server = _PgServer(bindir)
    try:
        server.start()
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        server.stop()
        _missing(f"could not start PostgreSQL: {detail.strip()[:500]}")
    yield server
    server.stop()


@pytest.fixture
def pg_url(pg_server):
    """A SQLAlchemy URL to a fresh empty schema on the test PostgreSQL server."""
    return pg_server.fresh_schema_url()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request):
    """A fresh store, once on in-memory SQLite and once on the real PostgreSQL server."""
    from simcrm.store import Store

    if request.param == "sqlite":
        s = Store()
    else:
        server = request.getfixturevalue("pg_server")
        s = Store(server.fresh_schema_url())
    yield s
    s.close()


def copy_tables(source, store) -> None:
    """Copy every table of the world ``source`` (a Store) into the fresh PostgreSQL ``store``,
    row by row, replacing the base data a new store holds (foreign keys were checked by the source)."""
    from sqlalchemy import select, text

    from simcrm.store import schema, summaries

    with source.engine.connect() as src, store.engine.begin() as dst:
        dst.execute(text("SET LOCAL session_replication_role = replica"))
        for t in reversed(schema.metadata.sorted_tables):
            dst.execute(t.delete())
        for t in schema.metadata.sorted_tables:
            rows = [dict(r._mapping) for r in src.execute(select(t))]
            if rows:
                dst.execute(t.insert(), rows)
        summaries.rebuild(dst)  # their triggers did not fire in replica mode


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    """Poll ``predicate`` until it is truthy (bounded); returns its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value


def pytest_addoption(parser):
    parser.addoption("--screenshots", default=None, metavar="DIR",
                     help="save a screenshot of each screen from the browser tests into DIR")
