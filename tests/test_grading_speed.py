"""What makes a class fast must not open a door: the reused referee process and the prebuilt worlds.

* One referee process serves the submissions of a grading worker one after another; each gets
  a session of its own (student, key, socket, record). Once a session's record is taken, its
  socket is gone and a connection the kernel left open is cut: nothing sent then reaches the
  next student's record, and each record is signed with its own session's key.
* :func:`simcrm.lab.grading.prebuild_worlds` builds each roster world once into the verified
  cache, the same world the referee then judges on (same tables as a fresh build), and builds
  nothing the second time.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from simcrm.lab import authoring as A
from simcrm.lab import grading
from simcrm.lab.referee import encode_answer

pytestmark = pytest.mark.slow

NAME = "speedq"
CUSTOMERS = 200


@pytest.fixture()
def course(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMCRM_CACHE_DIR", str(tmp_path / "cache"))
    nb = A.notebook([
        A.code("setup", 'from simcrm.lab import start\nlab = start("ch04")'),
        A.solution("a_strategy", "strategy = {}"),
        A.tests("t_strategy", 5, 'lab.check("ch04.strategy", strategy)', 'lab.grade("ch04.strategy", strategy)'),
    ])
    A.write(nb, tmp_path / "solutions" / NAME / f"{NAME}.ipynb")
    course_dir = grading.create_course(tmp_path / "course", tmp_path / "solutions")
    settings = course_dir / grading.SETTINGS_FILE
    data = json.loads(settings.read_text(encoding="utf-8"))
    data["customers"] = CUSTOMERS  # a small world: the test is about sessions, not the world
    settings.write_text(json.dumps(data), encoding="utf-8")
    yield course_dir
    grading.close_referees()


def _connect(address: str):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    try:
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock, sock.makefile("rb"), sock.makefile("wb")


def _ask(conn, request: dict) -> dict | None:
    """The referee's reply, or ``None`` when the connection was cut."""
    _sock, rfile, wfile = conn
    try:
        wfile.write((json.dumps(request, ensure_ascii=False) + "\n").encode())
        wfile.flush()
        line = rfile.readline()
    except OSError:
        return None
    return json.loads(line) if line else None


def _close(conn) -> None:
    for part in reversed(conn):
        try:
            part.close()
        except OSError:
            pass


def test_one_referee_process_many_sessions_nothing_crosses(course, tmp_path):
    log = course / "simcrm_repair" / NAME / "stu_a" / "referee.log"
    a = grading.SubmissionReferee(course, "stu_a", ["ch04"], log)
    assert a.error is None, a.error
    conn_a = _connect(a.address)
    assert _ask(conn_a, {"op": "hello"})["student"] == "stu_a"
    answer = {"op": "grade", "question": "ch04.strategy", "answer": encode_answer({"目标客户": "A"})}
    assert _ask(conn_a, answer) == {"received": True}
    record_a = a.finish()
    assert [e["question"] for e in record_a] == ["ch04.strategy"]

    b = grading.SubmissionReferee(course, "stu_b", ["ch04"], log.parent.parent / "stu_b" / "referee.log")
    assert b.error is None, b.error
    assert b.proc is a.proc and b.proc.poll() is None  # the same process, a new session
    assert b.address != a.address and b.key != a.key and b.seed != a.seed
    # stu_a's kernel (or a process it left behind) reaches nothing any more
    assert _ask(conn_a, answer) is None
    with pytest.raises(OSError):
        _connect(a.address)
    conn_b = _connect(b.address)
    assert _ask(conn_b, {"op": "hello"}) == {"student": "stu_b", "seed": b.seed, "customers": CUSTOMERS,
                                             "mode": "autograde"}
    record_b = b.finish()
    _close(conn_a)
    _close(conn_b)
    assert record_b == []  # stu_b handed nothing in; stu_a's answers stayed in stu_a's record
    # a record signed for the first session does not verify with the second session's key
    from simcrm.lab.referee import verify_record

    a.proc.stdin.write(json.dumps({"mode": "serve", "student": "stu_c", "seed": 1, "customers": CUSTOMERS,
                                   "private": [], "key": a.key.hex(), "chapters": []}) + "\n")
    a.proc.stdin.flush()
    json.loads(a.proc.stdout.readline())
    a.proc.stdin.write("record\n")
    a.proc.stdin.flush()
    signed = json.loads(a.proc.stdout.readline())
    assert verify_record(signed, a.key) == []
    with pytest.raises(ValueError):
        verify_record(signed, b.key)
    grading.close_referees()
    assert a.proc.poll() is not None


def test_a_failed_referee_is_not_reused(course):
    log = course / "simcrm_repair" / NAME / "referee.log"
    a = grading.SubmissionReferee(course, "stu_a", ["ch04"], log)
    a.proc.kill()
    a.proc.wait()
    assert a.finish() is None
    b = grading.SubmissionReferee(course, "stu_b", ["ch04"], log)
    assert b.proc is not a.proc and b.error is None
    assert b.finish() == []


def test_prebuilt_worlds_are_the_worlds_judged_and_built_once(course, tmp_path, monkeypatch):
    from simcrm.lab.identity import world_seed
    from simcrm.lab.session import build_world

    students = ["stu_a", "stu_b"]
    assert grading.prebuild_worlds(course, NAME, students, jobs=1) == 2
    assert grading.prebuild_worlds(course, NAME, students, jobs=1) == 0  # a re-grade builds nothing
    salt = grading.course_settings(course)["salt"]
    seed = world_seed("stu_b", salt, autograde=True)
    assert grading._world_cache_entry(seed, "ch04", CUSTOMERS).exists()
    # the cached world is the world a fresh build gives (the cache is bypassed for the comparison)
    cached = build_world(seed, "ch04", tmp_path / "from_cache", CUSTOMERS)
    monkeypatch.setenv("SIMCRM_CACHE", "0")
    fresh = build_world(seed, "ch04", tmp_path / "fresh", CUSTOMERS)
    for table in ("customer", "lead", "sales_order", "employee"):
        assert cached.store.read(table).equals(fresh.store.read(table)), table
    cached.store.close()
    fresh.store.close()



def test_a_class_larger_than_the_cache_keeps_its_prebuilt_worlds(course, monkeypatch):
    """A class whose worlds exceed the cache's limit: every save evicted the oldest entries,
    i.e. the prebuilt worlds of the students not yet graded (a class of 100 was generated twice).
    While a class is built and graded the limit makes room for it, and is set back after."""
    from simcrm.lab.identity import world_seed
    from simcrm.sim import cache as world_cache

    monkeypatch.setenv("SIMCRM_CACHE_MAX_MB", "1")  # less than one world
    students = ["stu_a", "stu_b", "stu_c"]
    assert grading.prebuild_worlds(course, NAME, students, jobs=1) == 3
    salt = grading.course_settings(course)["salt"]
    for student in students:
        assert grading._world_cache_entry(world_seed(student, salt, autograde=True), "ch04", CUSTOMERS).exists(), student
    assert os.environ["SIMCRM_CACHE_MAX_MB"] == "1"
    with grading.class_cache_room(100):
        assert world_cache._max_bytes() >= 100 * grading.CLASS_CACHE_MB_PER_STUDENT * 1_000_000
    assert world_cache._max_bytes() == 1_000_000

def test_one_store_per_session_sees_every_commit_and_a_reset(tmp_path, monkeypatch):
    """The referee keeps the student's database open for the session: it still judges what the
    kernel committed last, and after ``lab.reset()`` (a new file) the new file, not the old one."""
    from simcrm.lab.identity import Student
    from simcrm.lab.referee import Referee
    from simcrm.lab.session import Lab

    monkeypatch.setenv("SIMCRM_CACHE_DIR", str(tmp_path / "cache"))
    lab = Lab("ch04", Student("stu_s", "explicit"), 4242, customers=CUSTOMERS, quiet=True)
    referee = Referee("stu_s", 4242, CUSTOMERS)
    path = str(lab.dir / "world.sqlite")
    try:
        assert referee.judge("ch04.new_customer", None, path)["ok"] is False
        cid = lab.crm.create_customer("星河数据科技有限公司", kind="企业", industry="信息技术服务", source="展会",
                                      province="浙江省", city="杭州市", phone="0571-88886666")
        lab.crm.add_contact(cid, "周敏", primary=True, title="采购经理", buying_role="决策者",
                            mobile="13905710001", email="zhoumin@xinghe-data.cn")
        assert referee.judge("ch04.new_customer", None, path)["ok"] is True
        assert len(referee._stores) == 1
        lab.reset()
        assert referee.judge("ch04.new_customer", None, path)["ok"] is False
    finally:
        referee.close()
        lab.store.close()
        if lab._pristine is not None:
            lab._pristine.close()


def test_chapter_files_are_made_once_per_world_for_referee_and_kernel(course, tmp_path, monkeypatch):
    """Prebuilding a roster world also makes its chapter files (ch04's expo list); the referee
    and the student's kernel then copy them from the verified cache instead of making them
    again, and what they get is byte for byte what the chapter's own maker writes."""
    from simcrm.lab.identity import Student, world_seed
    from simcrm.lab.referee import Referee
    from simcrm.lab.session import Lab, _chapter_module, build_world

    module = _chapter_module("ch04")
    real = module.build_files
    calls = []
    monkeypatch.setattr(module, "build_files", lambda w, d: calls.append(d) or real(w, d))
    assert grading.prebuild_worlds(course, NAME, ["stu_f"], jobs=1) == 1
    assert len(calls) == 1
    seed = world_seed("stu_f", grading.course_settings(course)["salt"], autograde=True)
    referee = Referee("stu_f", seed, CUSTOMERS)
    lab = Lab("ch04", Student("stu_f", "explicit"), seed, customers=CUSTOMERS, quiet=True)
    try:
        _world, _pristine, files, _me = referee._context("ch04")
        assert len(calls) == 1  # neither the referee nor the kernel made the file again
        monkeypatch.setenv("SIMCRM_CACHE", "0")  # the file the chapter makes from a fresh world
        fresh = build_world(seed, "ch04", tmp_path / "fresh", CUSTOMERS)
        made = real(fresh, tmp_path / "fresh")
        fresh.store.close()
        want = made["expo_leads"].read_bytes()
        assert files["expo_leads"].read_bytes() == want
        assert lab.files.expo_leads.read_bytes() == want
    finally:
        referee.close()
        lab.store.close()


def test_grading_does_not_build_the_iri_grammar_until_an_iri_is_checked():
    """Importing the grading pipeline (every worker and world builder does) no longer builds
    rfc3987_syntax's grammar through jsonschema; jsonschema's IRI checks still behave as the
    real module's (which is loaded then)."""
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("rfc3987_syntax") is None:
        pytest.skip("rfc3987_syntax is not installed: nothing to put off")
    code = ("import sys, simcrm.lab.grading, jsonschema\n"
            "print('lark' in sys.modules)\n"
            "c = jsonschema.FormatChecker()\n"
            "print('iri' in c.checkers, c.conforms('http://例子.测试/a', 'iri'), c.conforms('no iri', 'iri'))\n"
            "import rfc3987_syntax\n"
            "print('lark' in sys.modules, rfc3987_syntax.is_valid_syntax('iri', 'mailto:a@b.cn'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "True", "True", "False", "True", "True"], out
