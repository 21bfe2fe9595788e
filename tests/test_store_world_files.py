"""World files appear complete or not at all, and a damaged or foreign file gets one clear error.

A world is built into a temporary file beside the target and renamed into place only when
complete (``Store.build_file``); opening a file that is not a complete, undamaged simcrm
database raises :class:`~simcrm.store.WorldFileError` naming the file and what to do.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from simcrm.crm import CRM
from simcrm.store import Store, WorldFileError
from simcrm.store.store import BUILDING

from conftest import wait_for

GENERATE = textwrap.dedent("""
    import sys
    from simcrm.sim import generate
    generate(seed=5, customers=int(sys.argv[2]), db=sys.argv[1], cache=False)
""")

SLOW_BUILD = textwrap.dedent("""
    import sys, time
    from simcrm.store import Store
    from simcrm.crm import CRM
    with Store.build_file(sys.argv[1], overwrite=True) as store:
        CRM.system(store).setup_demo_org()
        print("building", flush=True)
        time.sleep(60)
""")


def _building(folder, name):
    return [p for p in folder.iterdir() if p.name.startswith(f".{name}.building-")]


def _assert_clear(err: WorldFileError, path) -> None:
    message = str(err)
    assert str(path) in message
    assert "世界文件" in message and "允许" in message
    assert "\n" in message and not message.split("\n")[0].isascii()


@pytest.mark.parametrize("moment", ["start", "later"])
def test_kill_during_generation_leaves_no_world(tmp_path, moment):
    target = tmp_path / "world.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", GENERATE, str(target), "300"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = wait_for(lambda: _building(tmp_path, target.name) or proc.poll() is not None, timeout=120)
        assert started and proc.poll() is None, "generation ended before it could be interrupted"
        if moment == "later":  # once the simulation has written into the temporary file
            def grown():
                files = _building(tmp_path, target.name)
                return proc.poll() is not None or (files and sum(
                    f.stat().st_size for f in tmp_path.iterdir() if f.name.startswith(files[0].name)) > 400_000)
            wait_for(grown, timeout=120, interval=0.01)
            assert proc.poll() is None, "generation ended before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()


def test_kill_while_replacing_keeps_the_old_world(tmp_path):
    target = tmp_path / "world.sqlite"
    store = Store(target)
    CRM.system(store).setup_demo_org()
    store.close()
    before = target.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", SLOW_BUILD, str(target)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout.readline().strip() == "building"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        proc.stdout.close()
    assert target.read_bytes() == before
    with Store(target) as reopened:
        assert reopened.count("employee") > 0


def test_generated_world_is_complete_and_marked(tmp_path):
    from simcrm.sim import generate

    target = tmp_path / "w.sqlite"
    world = generate(seed=3, customers=60, db=str(target), cache=False)
    try:
        assert world.store.count("customer") == 60
        assert _building(tmp_path, target.name) == []
    finally:
        world.store.close()
    con = sqlite3.connect(target)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == 0
        assert con.execute("PRAGMA application_id").fetchone()[0] != 0
    finally:
        con.close()


def test_generate_onto_existing_world_is_refused(tmp_path):
    from simcrm.sim import generate

    target = tmp_path / "w.sqlite"
    store = Store(target)
    store.close()
    before = target.read_bytes()
    with pytest.raises(WorldFileError) as info:
        generate(seed=3, customers=20, db=str(target), cache=False)
    _assert_clear(info.value, target)
    assert "已存在" in str(info.value)
    assert target.read_bytes() == before
    assert _building(tmp_path, target.name) == []


def _small_world_file(path):
    store = Store(path)
    admin = CRM.system(store)
    admin.setup_demo_org()
    cat = admin.add_category("办公设备")
    for i in range(300):
        admin.create_product(f"产品{i} " + "型号说明" * 20, cat, price=100 + i, cost=50)
    store.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()


def test_random_bytes_in_the_middle(tmp_path):
    path = tmp_path / "w.sqlite"
    _small_world_file(path)
    size = path.stat().st_size
    assert size > 40_000
    with open(path, "r+b") as fh:
        fh.seek(size // 2)
        fh.write(os.urandom(8192))
    with pytest.raises(WorldFileError) as info:
        Store(path)
    _assert_clear(info.value, path)
    assert "损坏" in str(info.value)


@pytest.mark.parametrize("kind", ["other-sqlite", "text", "foreign-app", "interrupted"])
def test_not_a_simcrm_world(tmp_path, kind):
    path = tmp_path / "w.sqlite"
    if kind == "text":
        path.write_text("客户名称,省份\n甲公司,北京\n", encoding="utf-8")
    else:
        if kind == "interrupted":
            _small_world_file(path)
        con = sqlite3.connect(path)
        if kind == "other-sqlite":
            con.execute("CREATE TABLE songs (title TEXT)")
        elif kind == "foreign-app":
            con.execute("CREATE TABLE customer (x)")
            con.execute("PRAGMA application_id = 1234")
        else:
            con.execute(f"PRAGMA user_version = {BUILDING}")
        con.commit()
        con.close()
    before = path.read_bytes()
    with pytest.raises(WorldFileError) as info:
        Store(path)
    _assert_clear(info.value, path)
    expected = {"other-sqlite": "不是 simcrm 世界文件", "text": "不是 SQLite 数据库文件",
                "foreign-app": "另一个程序", "interrupted": "没有生成完"}[kind]
    assert expected in str(info.value)
    assert path.read_bytes() == before  # looking at a file never changes it


def test_plain_store_files_still_open(tmp_path):
    path = tmp_path / "crm.sqlite"
    with Store(path) as store:
        CRM.system(store).setup_demo_org()
    with Store(path) as again:
        assert again.count("employee") > 0


# A full disk during `simcrm generate`, simulated two ways in a child process that then runs the
# real command line: (1) SQLite itself finds no room (PRAGMA max_page_count on every connection:
# SQLITE_FULL, "database or disk is full", the error a full disk gives), (2) the operating system
# refuses to write past a size (RLIMIT_FSIZE with SIGXFSZ ignored: every write() of any file —
# database, journal, cache — beyond it fails). The world must not appear, nothing half-built may
# stay behind, and the user gets one Chinese line and a non-zero exit, never a traceback.
DISK_FULL = textwrap.dedent("""
    import resource, signal, sys
    mode, limit = sys.argv[1], int(sys.argv[2])
    if mode == "sqlite-full":
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "connect")
        def _no_room(dbapi_conn, _record):
            dbapi_conn.execute(f"PRAGMA max_page_count = {limit // 4096}")
    else:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from simcrm.cli import main
    sys.argv = ["simcrm", *sys.argv[3:]]
    main()
""")


@pytest.mark.parametrize("mode", ["sqlite-full", "os-write-limit"])
@pytest.mark.parametrize("cache", ["off", "on"])
def test_disk_full_during_generate(tmp_path, mode, cache):
    target = tmp_path / "world.sqlite"
    env = dict(os.environ, SIMCRM_CACHE_DIR=str(tmp_path / "cache"), SIMCRM_CACHE="0" if cache == "off" else "1")
    limit = 1_500_000  # a 300-customer world is several MB: the disk fills up during the write
    proc = subprocess.run([sys.executable, "-c", DISK_FULL, mode, str(limit), "generate", "--seed", "5",
                           "--customers", "300", "--out", str(target), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode != 0, proc.stdout
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    message = lines[0]
    assert message.startswith("错误：") and str(target) in message
    assert "磁盘" in message  # says what to do: free disk space
    assert not target.exists()
    assert _building(tmp_path, target.name) == []  # the temporary file went with the error
    leftovers = [p for p in tmp_path.iterdir() if p.name != "cache"]
    assert leftovers == []
    # with room again the same command works and gives the complete world
    ok = subprocess.run([sys.executable, "-m", "simcrm.cli", "generate", "--seed", "5", "--customers", "300",
                         "--out", str(target), "--no-progress"], capture_output=True, text=True, env=env, timeout=600)
    assert ok.returncode == 0, ok.stderr[-3000:]
    with Store(target) as store:
        assert store.count("customer") == 300
