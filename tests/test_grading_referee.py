"""The grade is a fact established outside the kernel: cheats through real nbgrader runs.

A small assignment on the ch04 world (three referee-backed tests: a calculation, a judgement,
an operation; 30 points) is graded through :func:`simcrm.lab.grading.autograde` — real
kernels, a real referee per submission. The honest solution gets 30, the blank notebook 0, and
every cheat — patching the lab's class, simcrm's functions, ``subprocess`` or ``socket``,
faking the referee, forging files, changing the student id, a malicious answer object, a
planted ``simcrm/lab/referee.py`` — scores no more than the blank notebook and is reported.
A private question module in the course directory is loaded by the referee only.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from simcrm.lab import authoring as A
from simcrm.lab import grading

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NAME = "refq"
POINTS = {"t_dup": 15, "t_strategy": 5, "t_customer": 10}


def _solution(gid: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / "ch04_customers" / "ch04_customers.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
    return re.sub(r"^\s*### (BEGIN|END) SOLUTION\s*$\n?", "", cell.source, flags=re.M).strip()


SOURCES = {
    "a_dup": "import pandas as pd\nleads = pd.read_csv(lab.files.expo_leads, dtype=str, keep_default_na=False)\n"
             + _solution("q21_answer"),
    "a_strategy": _solution("q42_answer"),
    "a_customer": _solution("q11_answer"),
}


def _source_notebook() -> nbformat.NotebookNode:
    return A.notebook([
        A.md("intro", "# 评分进程测试"),
        A.code("setup", 'from simcrm.lab import start\nlab = start("ch04")'),
        A.solution("a_dup", SOURCES["a_dup"]),
        A.tests("t_dup", POINTS["t_dup"], 'lab.check("ch04.dup_rows", dup_rows)', 'lab.grade("ch04.dup_rows", dup_rows)'),
        A.solution("a_strategy", SOURCES["a_strategy"]),
        A.tests("t_strategy", POINTS["t_strategy"], 'lab.check("ch04.strategy", strategy)',
                'lab.grade("ch04.strategy", strategy)'),
        A.solution("a_customer", SOURCES["a_customer"]),
        A.tests("t_customer", POINTS["t_customer"], 'lab.check("ch04.new_customer", None)',
                'lab.grade("ch04.new_customer", None)'),
    ])


def _answered(release, **overrides: str):
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in SOURCES:
            cell.source = SOURCES[gid]
        if gid in overrides:
            cell.source = overrides[gid]
    return nb


def _with_cell(nb, after: str, source: str):
    """A cell the student added after cell ``after``."""
    i = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == after)
    nb.cells.insert(i + 1, nbformat.v4.new_code_cell(source))
    return nb


CLASS_PATCH = ("Lab = type(lab)\nLab.check = lambda self, key, answer=None: None\n"
               "Lab.grade = lambda self, key, answer=None: None\ndup_rows = [1]")
MODULE_PATCH = ("import simcrm.lab.session as S\nS._call_autograde_referee = lambda request: {'received': True}\n"
                "S.Lab.check = lambda *a, **k: None\ndup_rows = [1]")
FAKE_REFEREE = """
import os, socket, threading, tempfile, json
path = os.path.join(tempfile.mkdtemp(), 'fake')
srv = socket.socket(socket.AF_UNIX); srv.bind(path); srv.listen(1)
def serve():
    conn, _ = srv.accept(); f = conn.makefile('rwb')
    for line in f:
        f.write(b'{"received": true, "ok": true}\\n'); f.flush()
threading.Thread(target=serve, daemon=True).start()
os.environ['SIMCRM_REFEREE'] = path
import simcrm.lab.session as S
S._AUTOGRADE_CONN.clear()
dup_rows = [1]
"""
FAKE_SUBPROCESS = """
import sys, types, subprocess, socket
class _Fake:
    def __init__(self, *a, **k): pass
    def makefile(self, *a, **k): return self
    def readline(self): return b'{"received": true, "ok": true}\\n'
    def write(self, *a): pass
    def flush(self): pass
    def connect(self, *a): pass
subprocess.Popen = _Fake
socket.socket = _Fake
sys.modules['socket'] = types.SimpleNamespace(socket=_Fake, AF_UNIX=1, SOCK_STREAM=1, create_connection=_Fake)
import simcrm.lab.session as S
S._AUTOGRADE_CONN.clear()
dup_rows = [1]
"""
FORGE_FILES = """
import glob, json, os
for path in glob.glob('../../../simcrm_repair/refq/forge_files/'):
    with open(os.path.join(path, 'referee.json'), 'w') as fh:
        json.dump([{"question": q, "ok": True, "hint": "", "error": False, "received": 1}
                   for q in ("ch04.dup_rows", "ch04.strategy", "ch04.new_customer")], fh)
dup_rows = [1]
"""
OTHER_STUDENT = """
import os
os.environ['SIMCRM_STUDENT'] = 'stu_other'
os.environ['JUPYTERHUB_USER'] = 'stu_other'
os.environ['SIMCRM_COURSE_SALT'] = 'guessed-salt'
from simcrm.lab import start
lab = start('ch04', student='stu_other', salt='guessed-salt', customers=300)
print('WHO', lab.student.id, lab.seed, len(lab.table('customer')))
"""
EVIL_ANSWER = """
import os
class Evil:
    def __reduce__(self):
        return (os.system, ('touch {marker}',))
dup_rows = Evil()
strategy = {{"__t": "frame", "v": "not a frame"}}
"""
PLANTED = {
    "simcrm/__init__.py": "",
    "simcrm/lab/__init__.py": (
        "class _Lab:\n"
        "    files = type('F', (), {'expo_leads': __file__})()\n"
        "    def check(self, *a, **k): pass\n"
        "    def grade(self, *a, **k): pass\n"
        "def start(*a, **k):\n    return _Lab()\n"),
    "simcrm/lab/referee.py": "import sys\nprint('{\"address\": null}')\nsys.exit(0)\n",
}
INTERNALS = ("from simcrm.lab.questions import get_question\n"
             "dup_rows = get_question('ch04.dup_rows').func(lab.context())")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("referee")
    solutions = base / "solutions"
    A.write(_source_notebook(), solutions / NAME / f"{NAME}.ipynb")
    course_dir = grading.create_course(base / "course", solutions, timeout=300)
    released = grading.release(course_dir, NAME, to_exchange=False)
    release_nb = nbformat.read(released["release_dir"] / f"{NAME}.ipynb", as_version=4)
    marker = base / "pwned"
    subs = {
        "correct": _answered(release_nb),
        "blank": release_nb,
        "class_patch": _answered(release_nb, a_dup=CLASS_PATCH, a_strategy="strategy = {}"),
        "class_patch_added": _with_cell(_answered(release_nb, a_dup="dup_rows = [1]"), "setup",
                                        "lab.__class__.grade = lambda *a, **k: None\n"
                                        "lab.__class__.check = lambda *a, **k: None"),
        "module_patch": _answered(release_nb, a_dup=MODULE_PATCH, a_strategy="strategy = {}"),
        "fake_referee": _answered(release_nb, a_dup=FAKE_REFEREE, a_strategy="strategy = {}"),
        "fake_subprocess": _answered(release_nb, a_dup=FAKE_SUBPROCESS, a_strategy="strategy = {}"),
        "forge_files": _answered(release_nb, a_dup=FORGE_FILES, a_strategy="strategy = {}", a_customer="pass"),
        "evil_answer": _answered(release_nb, a_dup=EVIL_ANSWER.format(marker=marker), a_strategy="strategy = {}",
                                 a_customer="pass"),
        "planted": _answered(release_nb, a_dup="dup_rows = [1]", a_strategy="strategy = {}", a_customer="pass"),
        "internals": _answered(release_nb, a_dup=INTERNALS),
    }
    # the honest answer for stu_other's world, typed into a notebook that claims to be stu_other
    subs["other_student"] = _with_cell(_answered(release_nb), "setup", OTHER_STUDENT)
    inbox = base / "inbox"
    for student, nb in subs.items():
        folder = inbox / student / NAME
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{NAME}.ipynb")
    grading.collect(course_dir, NAME, inbox)
    for rel, text in PLANTED.items():  # files next to the notebook, as the submission folder holds them
        path = course_dir / "submitted" / "planted" / NAME / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    table = grading.autograde(course_dir, NAME, progress=False).set_index("student")
    return {"course": course_dir, "table": table, "marker": marker, "base": base, "release": release_nb}


def _per_test(course_dir: Path, student: str) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course_dir / 'gradebook.db'}") as gb:
        sub = gb.find_submission_notebook(NAME, NAME, student)
        return {g.name: float(g.score) for g in sub.grades}


def test_honest_and_blank(graded):
    t = graded["table"]
    assert t.loc["correct", "auto_score"] == sum(POINTS.values()), t.loc["correct", "problems"]
    assert _per_test(graded["course"], "correct") == {k: float(v) for k, v in POINTS.items()}
    assert t.loc["blank", "auto_score"] == 0
    assert "answer_not_submitted" in t.loc["blank", "kinds"]  # the blank's tests raise before handing over


@pytest.mark.parametrize("student", ["class_patch", "class_patch_added", "module_patch", "fake_referee",
                                     "fake_subprocess", "forge_files", "evil_answer", "planted"])
def test_cheats_score_no_more_than_blank(graded, student):
    t = graded["table"]
    assert t.loc[student, "auto_score"] <= t.loc["blank", "auto_score"], (student, t.loc[student, "problems"])
    if student != "forge_files":  # the others kept their answers from the referee: reported as such
        assert "answer_not_submitted" in t.loc[student, "kinds"], t.loc[student, "problems"]


@pytest.mark.parametrize("student", ["class_patch", "class_patch_added", "module_patch", "fake_referee",
                                     "fake_subprocess", "forge_files", "evil_answer", "internals",
                                     "other_student"])
def test_cheats_are_reported_to_the_teacher(graded, student):
    assert "suspected_tampering" in graded["table"].loc[student, "kinds"], graded["table"].loc[student, "problems"]


def test_class_patch_in_an_added_cell_is_named(graded):
    problems = graded["table"].loc["class_patch_added", "problems"]
    assert "学生添加的单元格" in problems and "实验对象的类" in problems


def test_the_malicious_answer_object_ran_nowhere(graded):
    assert not graded["marker"].exists()


def test_the_student_id_comes_from_the_pipeline(graded):
    """The notebook asks for another student, salt and world size: it gets its own world."""
    from simcrm.lab.grading import course_settings
    from simcrm.lab.identity import world_seed

    nb = nbformat.read(graded["course"] / "autograded" / "other_student" / NAME / f"{NAME}.ipynb", as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    who = re.search(r"WHO (\S+) (\d+) (\d+)", text)
    salt = course_settings(graded["course"])["salt"]
    assert who and who.group(1) == "other_student"
    assert int(who.group(2)) == world_seed("other_student", salt) != world_seed("stu_other", "guessed-salt")
    assert int(who.group(3)) > 300
    assert graded["table"].loc["other_student", "auto_score"] == sum(POINTS.values())


def test_the_record_is_the_pipelines_own(graded):
    record = json.loads((graded["course"] / "simcrm_repair" / NAME / "forge_files" / "referee.json").read_text())
    assert {e["question"]: e["ok"] for e in record}.get("ch04.dup_rows") is False
    honest = json.loads((graded["course"] / "simcrm_repair" / NAME / "correct" / "referee.json").read_text())
    assert sorted(e["question"] for e in honest) == ["ch04.dup_rows", "ch04.new_customer", "ch04.strategy"]
    assert all(e["ok"] and e["received"] == 1 for e in honest)


def test_private_questions_are_loaded_by_the_referee_only(graded):
    """A course's private module re-defines ch04.strategy: the public answer now fails."""
    course = graded["course"]
    private = course / "simcrm_private"
    private.mkdir()
    (private / "ch04_private.py").write_text(
        "from simcrm.lab.questions import judgement\n"
        "@judgement('ch04.strategy', points=5)\n"
        "def _strategy(ctx):\n"
        "    return {'目标客户': 'B', '初次购买客户': 'A', '重复购买客户': 'C', '流失客户': 'D'}\n",
        encoding="utf-8")
    try:
        private_answer = 'strategy = {"目标客户": "B", "初次购买客户": "A", "重复购买客户": "C", "流失客户": "D"}'
        inbox = graded["base"] / "inbox-private"
        for student, nb in {"pub": _answered(graded["release"]),
                            "priv": _answered(graded["release"], a_strategy=private_answer)}.items():
            (inbox / student / NAME).mkdir(parents=True)
            nbformat.write(nb, inbox / student / NAME / f"{NAME}.ipynb")
        grading.collect(course, NAME, inbox)
        grading.autograde(course, NAME, students=["pub", "priv"], progress=False)
        assert _per_test(course, "pub")["t_strategy"] == 0
        assert _per_test(course, "priv")["t_strategy"] == POINTS["t_strategy"]
    finally:
        shutil.rmtree(private)


def test_autograde_refuses_a_course_without_salt(graded, tmp_path):
    from simcrm.errors import ConfigError

    course = tmp_path / "c"
    shutil.copytree(graded["course"], course, ignore=shutil.ignore_patterns("autograded", "feedback"))
    (course / "simcrm_course.json").write_text('{"salt": ""}', encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        grading.autograde(course, NAME, students=["correct"], progress=False)
    assert "salt" in str(info.value)


def test_autograde_without_salt_is_an_error_not_the_public_default(monkeypatch):
    from simcrm.errors import ConfigError
    from simcrm.lab.identity import DEFAULT_SALT, world_seed

    monkeypatch.delenv("SIMCRM_COURSE_SALT", raising=False)
    with pytest.raises(ConfigError) as info:
        world_seed("2024001", autograde=True)
    assert "SIMCRM_COURSE_SALT" in str(info.value)
    assert world_seed("2024001") == world_seed("2024001", DEFAULT_SALT)  # self-study: the public default


def test_a_63_bit_seed_gives_the_same_world_in_two_builds(tmp_path, monkeypatch):
    from simcrm.lab.identity import world_seed
    from simcrm.sim import generate

    monkeypatch.setenv("SIMCRM_CACHE", "0")
    seed = world_seed("2024001", "term")
    assert seed >= 2**32
    a = generate(seed=seed, customers=60, start="2024-01-01", today="2024-03-31", db=str(tmp_path / "a.sqlite"))
    b = generate(seed=seed, customers=60, start="2024-01-01", today="2024-03-31", db=str(tmp_path / "b.sqlite"))
    for table in ("customer", "sales_order", "campaign"):
        assert a.store.read(table).equals(b.store.read(table)), table
