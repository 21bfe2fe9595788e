"""``simcrm classroom``: one firm on a PostgreSQL server, one database login per student.

Run against a real PostgreSQL server that checks passwords (scram-sha-256; the shared server of
``conftest.py`` trusts every connection, so a wrong password could not fail there): the teacher
builds the classroom from a roster, each student joins with their connection file, sees what
their role may see (computed here from the teacher's view of who owns what), and the errors a
class meets — bad server address, wrong password, a login not on the roster, another student's
file — are one clear Chinese message each.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import conftest
from simcrm import classroom
from simcrm.cli import main
from simcrm.errors import ConfigError, ImportFileError
from simcrm.lab.session import start

pytestmark = pytest.mark.postgres

TEACHER_PASSWORD = "Lehrer-2026"
ROSTER = [("2023001", "张三"), ("2023002", "李四"), ("2023003", "王五"), ("2023004", "赵六"),
          ("2023005", "钱七"), ("2023006", "孙八"), ("2023007", "周九"), ("2023008", "吴十"),
          ("2023009", "郑一"), ("2023010", "冯二")]
CUSTOMERS = 120


class _PasswordServer(conftest._PgServer):
    """A throw-away server whose TCP connections need a password (scram-sha-256)."""

    def start(self) -> None:
        pwfile = self.tmp / "pw"
        pwfile.write_text(TEACHER_PASSWORD + "\n")
        if self.as_root:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "scram-sha-256", "--auth-local=trust", "-U", self.user,
                  "--pwfile", str(pwfile), "-E", "UTF8",
                  "--locale=C.UTF-8" if conftest._has_c_utf8() else "--no-locale")
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.tmp / "log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -h 127.0.0.1 -k {self.tmp} -c fsync=off -c full_page_writes=off",
                  "start")
        self.url = f"postgresql+psycopg://{self.user}:{TEACHER_PASSWORD}@127.0.0.1:{self.port}/postgres"


@pytest.fixture(scope="module")
def server(pg_server):  # pg_server: skips (or fails in CI) exactly where PostgreSQL is missing
    s = _PasswordServer(pg_server.bindir)
    s.start()
    yield s
    s.stop()


def _schema(server, name: str) -> str:
    engine = sa.create_engine(server.url)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    engine.dispose()
    return f"{server.url}?options=-csearch_path%3D{name}"


def _roster(tmp_path, rows=ROSTER):
    path = tmp_path / "名单.csv"
    path.write_text("学号,姓名\n" + "".join(f"{s},{n}\n" for s, n in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built(server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("classroom")
    url = _schema(server, "class_a")
    sheet = classroom.create(url, _roster(tmp), tmp / "out", seed=11, customers=CUSTOMERS, prefix="ca")
    engine = sa.create_engine(url)
    yield {"url": url, "sheet": sheet, "out": tmp / "out", "engine": engine, "tmp": tmp}
    engine.dispose()


def _teacher(built, sql, **params):
    with built["engine"].connect() as conn:
        return conn.execute(sa.text(sql), params).all()


def test_one_login_per_student_with_the_planned_positions(built):
    sheet = built["sheet"]
    assert list(sheet["学号"]) == [s for s, _ in ROSTER]
    assert list(sheet["身份"]) == [classroom.GROUP_PLAN[i % len(classroom.GROUP_PLAN)] for i in range(len(ROSTER))]
    assert sheet["密码"].str.len().min() >= 12 and sheet["密码"].nunique() == len(ROSTER)
    logins = dict(_teacher(built, "SELECT student, db_role FROM classroom_login"))
    assert logins == dict(zip(sheet["学号"], sheet["数据库用户"]))
    # the sheet and the connection files are the teacher's secrets
    for path in [built["out"] / classroom.CREDENTIALS, *(built["out"] / "students").iterdir()]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    data = json.loads((built["out"] / "students" / "2023002.json").read_text(encoding="utf-8"))
    assert data["student"] == "2023002" and sheet.loc[1, "密码"] in data["url"]


def test_each_student_sees_what_their_role_may_see(built):
    sheet = built["sheet"]
    owner = dict(_teacher(built, "SELECT id, owner_id FROM customer WHERE NOT deleted"))
    employee = dict(_teacher(built, "SELECT login, id FROM employee"))
    dept = dict(_teacher(built, "SELECT id, department_id FROM employee"))
    for row in sheet.itertuples():
        lab = start("ch01", shared=row.连接文件, quiet=True)
        try:
            assert lab.me["login"] == row.CRM登录名 and lab.student == row.学号
            seen = set(lab.table("customer")["id"])
            me = employee[row.CRM登录名]
            if row.身份 == "销售代表":
                expected = {c for c, o in owner.items() if o == me}
                assert len(expected) == classroom.CUSTOMERS_PER_REP
            elif row.身份 == "销售主管":
                team = {e for e, d in dept.items() if d == dept[me]}
                expected = {c for c, o in owner.items() if o in team}
                reps = ((sheet["部门"] == row.部门) & (sheet["身份"] == "销售代表")).sum()
                assert len(expected) == reps * classroom.CUSTOMERS_PER_REP > 0
            else:  # 客服专员: the firm's role has the data scope 全部
                expected = set(owner)
            assert seen == expected, row.学号
        finally:
            lab.close()


def test_a_student_works_in_the_shared_world_and_the_database_audits_it(built):
    row = built["sheet"].iloc[1]
    lab = start("ch01", shared=row["连接文件"], quiet=True)
    try:
        cid = lab.crm.create_customer("成都蓉城软件有限公司", province="四川", city="成都市")
        lab.crm.log_activity(cid, "首次拜访", channel="面谈")
        with pytest.raises(ConfigError, match="共享课堂世界"):
            lab.check("ch01.q1", 1)
    finally:
        lab.close()
    made = _teacher(built, "SELECT a.action, a.db_role, e.login FROM audit_log a JOIN employee e ON e.id = a.employee_id "
                           "WHERE a.table_name = 'customer' AND a.row_id = :i", i=cid)
    assert made == [("新建", row["数据库用户"], row["CRM登录名"])]
    # another student (a rep of the same team) does not see it, even with raw SQL
    other = built["sheet"].iloc[2]
    engine = sa.create_engine(json.loads(Path(other["连接文件"]).read_text(encoding="utf-8"))["url"])
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM customer WHERE id = :i"), {"i": cid}).scalar() == 0
    finally:
        engine.dispose()


def test_a_manager_sees_id_numbers_masked_in_the_shared_world_as_crm_masks_them(built):
    """The teacher records a customer's ID number and phone; the team's 销售主管, working through
    start(..., shared=...), reads the history by simcrm with the ID number masked as crm masks it
    for a 主管 (the phone in clear), and by raw SQL cannot read the clear values at all."""
    from simcrm.crm import CRM, MASKING
    from simcrm.crm.base import locale
    from simcrm.store import Store

    sheet = built["sheet"]
    manager = sheet[sheet["身份"] == "销售主管"].iloc[0]
    rep = sheet[(sheet["身份"] == "销售代表") & (sheet["部门"] == manager["部门"])].iloc[0]
    rep_id = _teacher(built, "SELECT id FROM employee WHERE login = :l", l=rep["CRM登录名"])[0][0]
    cid = _teacher(built, "SELECT min(id) FROM customer WHERE owner_id = :e AND NOT deleted", e=rep_id)[0][0]
    teacher_store = Store(built["url"], create=False)
    try:
        CRM.system(teacher_store).update_customer(cid, id_number="11010519491231002X", phone="13812345678")
    finally:
        teacher_store.close()
    clear = dict(_teacher(built, "SELECT field, new_value FROM audit_log WHERE table_name = 'customer' AND row_id = :c "
                                 "AND field IN ('id_number', 'phone') ORDER BY id", c=cid))
    assert MASKING["主管"] == {"id_number"}  # what crm masks for a manager (exports and history)
    lab = start("ch01", shared=manager["连接文件"], quiet=True)
    try:
        history = lab.crm.audit("customer", cid)
        seen = dict(zip(history["field"], history["new_value"]))
        assert seen["id_number"] == locale().mask_id_number(clear["id_number"]) != clear["id_number"]
        assert seen["phone"] == clear["phone"]
        with lab.store.engine.connect() as conn:
            with pytest.raises(sa.exc.DBAPIError, match="permission denied"):
                conn.execute(sa.text("SELECT new_value FROM class_a.audit_log WHERE row_id = :c"), {"c": cid})
        with lab.store.engine.connect() as conn:
            raw = conn.execute(sa.text("SELECT new_value FROM audit_log WHERE table_name = 'customer' AND row_id = :c "
                                       "AND field = 'id_number'"), {"c": cid}).scalars().all()
        assert raw == [seen["id_number"]]
    finally:
        lab.close()


def test_changed_rights_reach_the_database_after_classroom_rights(built):
    """The teacher gives 销售代表 the right to delete customers: the database grants it only after
    ``simcrm classroom rights`` (then a rep's login has DELETE on customer), and taking it back
    revokes it again."""
    from simcrm.crm import CRM
    from simcrm.store import Store

    rep = built["sheet"][built["sheet"]["身份"] == "销售代表"].iloc[0]

    def can_delete() -> bool:
        return _teacher(built, "SELECT has_table_privilege(:u, 'class_a.customer', 'DELETE')", u=rep["数据库用户"])[0][0]

    def set_delete(allowed: bool) -> None:
        teacher_store = Store(built["url"], create=False)
        try:
            CRM.system(teacher_store).set_role_rights("销售代表", "customer", delete=allowed)
        finally:
            teacher_store.close()

    def rights_command():
        result = CliRunner().invoke(main, ["classroom", "rights", "--server", built["url"]])
        assert result.exit_code == 0 and "重新授予" in result.output, result.output

    assert not can_delete()
    set_delete(True)
    try:
        assert not can_delete()  # not before the teacher applies the rights
        rights_command()
        assert can_delete()
    finally:
        set_delete(False)
        rights_command()
    assert not can_delete()


def _with(url: str, **parts) -> str:
    return sa.engine.make_url(url).set(**parts).render_as_string(hide_password=False)


def test_wrong_password_unknown_login_and_bad_server_are_clear_errors(built, tmp_path):
    row = built["sheet"].iloc[1]
    url = json.loads(Path(row["连接文件"]).read_text(encoding="utf-8"))["url"]
    with pytest.raises(ConfigError) as e:
        start("ch01", shared=_with(url, password="not-my-password"), quiet=True)
    assert e.value.field == "password" and f"数据库用户 {row['数据库用户']} 登录失败" in e.value.message_zh
    assert "密码不对" in e.value.message_zh and url.split("@")[0].split(":")[-1] not in str(e.value)
    # a login that is not on the roster: the server does not tell it from a wrong password
    with pytest.raises(ConfigError) as e:
        start("ch01", shared=_with(url, username="ca_2029999"), quiet=True)
    assert e.value.field == "password" and "数据库用户 ca_2029999 登录失败" in e.value.message_zh
    assert "学号不在本课堂名单中" in e.value.message_zh
    # the teacher's own login is not a student's
    with pytest.raises(ConfigError) as e:
        start("ch01", shared=built["url"], quiet=True)
    assert e.value.field == "user" and "不是本课堂的学生账号" in e.value.message_zh
    # another student's file
    with pytest.raises(ConfigError) as e:
        start("ch01", "2023005", shared=row["连接文件"], quiet=True)
    assert e.value.field == "student" and "另一位同学" in e.value.message_zh
    for bad, words in [("mysql://u@127.0.0.1/crm", "需要 PostgreSQL"), ("这不是地址", "不存在"),
                       ("postgresql://u@/crm", "缺少主机"),
                       (_with(url, port=conftest._free_port()), "无法连接")]:
        with pytest.raises(ConfigError) as e:
            start("ch01", shared=bad, quiet=True)
        assert words in e.value.message_zh, (bad, e.value.message_zh)
    missing = tmp_path / "nobody.json"
    with pytest.raises(ConfigError, match="文件不存在"):
        start("ch01", shared=str(missing), quiet=True)
    missing.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="连接文件"):
        start("ch01", shared=str(missing), quiet=True)


def test_creating_twice_is_refused_and_changes_nothing(built):
    before = _teacher(built, "SELECT count(*) FROM customer")[0][0], _teacher(built, "SELECT count(*) FROM classroom_login")[0][0]
    with pytest.raises(ConfigError, match="已经有一个 simcrm 世界"):
        classroom.create(built["url"], _roster(built["tmp"]), built["tmp"] / "again", customers=60, prefix="cb")
    after = _teacher(built, "SELECT count(*) FROM customer")[0][0], _teacher(built, "SELECT count(*) FROM classroom_login")[0][0]
    assert after == before
    assert not (built["tmp"] / "again").exists()


def test_bad_roster_is_refused_before_anything_is_built(server, tmp_path):
    url = _schema(server, "class_bad")
    for content, words in [("学号,姓名\n2023001,张三\n2023001,李四\n", "学号重复"),
                           ("id,名字\n2023001,张三\n", "缺少“姓名”列"),
                           ("学号,姓名,身份\n2023001,张三,老板\n", "身份“老板”无效")]:
        path = tmp_path / "r.csv"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(ImportFileError, match=words):
            classroom.create(url, path, tmp_path / "out", customers=60, prefix="cx")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()


def test_xlsx_roster_whose_numeric_ids_lost_their_leading_zeros_is_refused(server, tmp_path):
    """The classroom reads rosters with the course's reader: numeric 学号 shown by a display format
    that cannot be reproduced (Excel hid their leading zeros) are refused, naming the rows, and
    nothing is built; the same roster typed as text is read with its zeros and its 身份 column."""
    openpyxl = pytest.importorskip("openpyxl")
    from simcrm.lab.course import read_roster as course_reader

    def workbook(path, numeric):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(["学号", "姓名", "身份"])
        for i, (sid, name) in enumerate(ROSTER[:4]):
            ws.append([int(sid) if i in numeric else "0" + sid, name, "客服专员" if i == 0 else None])
            if i in numeric:
                ws.cell(row=i + 2, column=1).number_format = '"0"0000000'  # Excel shows 02023002
        wb.save(path)
        return path

    bad = workbook(tmp_path / "名单.xlsx", numeric={1, 3})
    url = _schema(server, "class_xlsx")
    with pytest.raises(ImportFileError) as e:
        classroom.create(url, bad, tmp_path / "out", customers=60, prefix="cz")
    with pytest.raises(ImportFileError) as course_e:
        course_reader(bad)
    assert "第 3、5 行的学号是数字" in e.value.message_zh and e.value.message_zh == course_e.value.message_zh
    assert not (tmp_path / "out").exists()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()
    good = classroom.read_roster(workbook(tmp_path / "好名单.xlsx", numeric=set()))
    assert list(good["学号"]) == ["0" + s for s, _ in ROSTER[:4]]
    assert list(good["身份"]) == ["客服专员", "", "", ""] and list(good.columns) == ["学号", "姓名", "身份"]


def test_cli_create_then_drop(server, tmp_path):
    url = _schema(server, "class_cli")
    runner = CliRunner()
    roster = _roster(tmp_path, ROSTER[:2])
    result = runner.invoke(main, ["classroom", "create", "--server", url, "--roster", str(roster),
                                  "--out", str(tmp_path / "out"), "--customers", "60", "--prefix", "cc"])
    assert result.exit_code == 0, result.output
    assert "2 个学生账号" in result.output
    file = tmp_path / "out" / "students" / "2023001.json"
    lab = start("ch01", shared=str(file), quiet=True)
    lab.close()
    engine = sa.create_engine(url)

    def leftovers():
        with engine.connect() as conn:
            return (conn.execute(sa.text(r"SELECT rolname FROM pg_roles WHERE rolname LIKE 'cc\_%' ORDER BY 1")).scalars().all(),
                    conn.execute(sa.text("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'class_cli%' ORDER BY 1")).scalars().all(),
                    sa.inspect(conn).get_table_names())

    roles, schemas, tables = leftovers()
    assert {"cc_students", "cc_2023001", "cc_students_role3"} <= set(roles) and len(schemas) > 1 and tables
    result = runner.invoke(main, ["classroom", "drop", "--server", url])
    assert result.exit_code == 0 and "2 个学生账号" in result.output, result.output
    # every login, the students' group and each role's group, the masked views' schemas: gone
    assert leftovers() == ([], ["class_cli"], [])
    engine.dispose()
    with pytest.raises(ConfigError, match="登录失败"):
        start("ch01", shared=str(file), quiet=True)
    result = runner.invoke(main, ["classroom", "create", "--server", "mysql://x@127.0.0.1/crm", "--roster", str(roster),
                                  "--out", str(tmp_path / "o2")])
    assert result.exit_code == 1 and result.output.startswith("错误：") and "需要 PostgreSQL" in result.output
    assert "Traceback" not in result.output


def test_a_new_password_replaces_the_old_one(built, tmp_path):
    row = built["sheet"].iloc[3]
    old_file = tmp_path / "old.json"
    shutil.copy(row["连接文件"], old_file)
    with pytest.raises(ConfigError) as e:
        classroom.reset_password(built["url"], "2029999", built["out"])
    assert e.value.field == "student" and e.value.value == "2029999" and "不在本课堂的名单中" in e.value.message_zh
    result = CliRunner().invoke(main, ["classroom", "password", "--server", built["url"], "--student", row["学号"],
                                       "--out", str(built["out"])])
    assert result.exit_code == 0, result.output
    lab = start("ch01", shared=row["连接文件"], quiet=True)
    assert lab.student == row["学号"]
    lab.close()
    with pytest.raises(ConfigError, match="登录失败"):
        start("ch01", shared=str(old_file), quiet=True)
    sheet = classroom.pd.read_csv(built["out"] / classroom.CREDENTIALS, dtype=str, encoding="utf-8-sig")
    new = json.loads(Path(row["连接文件"]).read_text(encoding="utf-8"))["url"]
    assert sheet.loc[3, "密码"] in new and sheet.loc[3, "密码"] != row["密码"]


def test_logins_of_another_classroom_are_never_taken_over(built, server, tmp_path):
    """Database roles belong to the whole server: a second classroom with the same prefix is refused
    before anything is built, and the first classroom's logins keep working."""
    url = _schema(server, "class_same_prefix")
    with pytest.raises(ConfigError) as e:
        classroom.create(url, _roster(tmp_path), tmp_path / "out", customers=60, prefix="ca")
    assert e.value.field == "prefix" and "ca_2023001" in e.value.message_zh
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()
    lab = start("ch01", shared=built["sheet"].iloc[0]["连接文件"], quiet=True)
    assert lab.student == ROSTER[0][0]
    lab.close()
