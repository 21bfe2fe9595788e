"""A shared classroom world: one firm on a PostgreSQL server, one database login per student.

The teacher runs ``simcrm classroom create`` once (see ``docs/classroom.md``)::

    simcrm classroom create --server postgresql://teacher:secret@db.example.edu:5432/crm \\
        --roster roster.xlsx --out classroom/

which builds one firm (the simulation, as ``simcrm generate``) into the server, hires every
student of the roster into it — in groups of eight: a 销售主管 over five 销售代表 in a team of
their own under 销售部, and two 客服专员 in 客服部 (a roster column ``角色`` may say otherwise) —
gives every 销售代表 a few of the firm's customers, and creates one PostgreSQL LOGIN role per
student with a generated password. The database then enforces each role's data scope and module
rights and masks the audit log's personal data by role type (:mod:`simcrm.store.pg_security`:
row-level security, per-role privileges, audit by triggers), so a student who bypasses simcrm with
raw SQL still sees and changes only what their role may. After changing roles' rights the teacher
runs ``simcrm classroom rights`` (:func:`apply_rights`).

It writes ``credentials.csv`` (the teacher's sheet: 学号, 姓名, 身份, 部门, login, password) and
one connection file per student, ``students/<学号>.json``, to hand out. A student opens the
shared world from a notebook with::

    lab = start("ch01", shared="2023001.json")   # or the connection URL itself

and ``lab.crm`` acts as their own employee, through their own database login.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Iterator

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from .errors import ConfigError, ImportFileError
from .store import Store, pg_security, schema, summaries

__all__ = ["create", "drop", "apply_rights", "reset_password", "join", "SharedLab", "POSITIONS", "parse_server"]

#: the positions a student can hold: role name in the generated firm, department, role type
POSITIONS = {
    "销售代表": {"role": "销售代表", "department": None},     # None: the student's own sales team
    "销售主管": {"role": "销售主管", "department": None},
    "客服专员": {"role": "客服专员", "department": "客服部"},
}
#: positions in each group of eight students (roster order)
GROUP_PLAN = ("销售主管", "销售代表", "销售代表", "销售代表", "销售代表", "销售代表", "客服专员", "客服专员")
CUSTOMERS_PER_REP = 8
CREDENTIALS = "credentials.csv"
_ROLE_COLUMNS = ("角色", "身份", "role", "position")

_URL_HELP = "postgresql://用户名:密码@主机:端口/数据库（例如 postgresql://teacher:密码@127.0.0.1:5432/crm）"


# --- server URLs and connection errors -----------------------------------------------------------


def parse_server(url: Any, *, label: str = "PostgreSQL 服务器地址", field: str = "server") -> sa.URL:
    """The SQLAlchemy URL of a PostgreSQL server (driver psycopg), or a Chinese error."""
    text = str(url or "").strip()
    try:
        u = sa.engine.make_url(text)
    except Exception as exc:  # noqa: BLE001 - any parse failure is the same mistake
        raise ConfigError(field=field, value=text, label=label, allowed=_URL_HELP,
                          reason="不是数据库连接地址") from exc
    if u.get_backend_name() != "postgresql":
        raise ConfigError(field=field, value=u.render_as_string(hide_password=True), label=label, allowed=_URL_HELP,
                          reason=f"共享课堂世界需要 PostgreSQL 服务器，不是 {u.get_backend_name()}")
    if not u.host or not u.database:
        raise ConfigError(field=field, value=u.render_as_string(hide_password=True), label=label, allowed=_URL_HELP,
                          reason="缺少主机或数据库名")
    return u.set(drivername="postgresql+psycopg")


def _connection_error(exc: BaseException, url: sa.URL, who: str) -> ConfigError:
    """A failed connection said in Chinese: wrong password, unknown user, no server …"""
    detail = str(getattr(exc, "orig", None) or exc)
    shown = url.render_as_string(hide_password=True)
    user = url.username or "?"
    if "password authentication failed" in detail or "no password supplied" in detail:
        # the server does not say which (it hides whether a user exists): both are named
        return ConfigError(field="password", value="******", label=f"{who}的密码",
                           allowed="教师发的连接文件或账号表中的用户名和密码（区分大小写）",
                           reason=f"数据库用户 {user} 登录失败（服务器 {url.host}:{url.port or 5432}）："
                                  "密码不对，或服务器上没有这个用户（学号不在本课堂名单中，或课堂已删除）")
    if re.search(r'role ".*" does not exist', detail):
        return ConfigError(field="user", value=user, label=f"{who}的数据库用户",
                           allowed="教师在 simcrm classroom create 时为你创建的用户（见你的连接文件）",
                           reason="服务器上没有这个用户：学号不在本课堂的名单中，或课堂已被删除")
    if re.search(r'database ".*" does not exist', detail):
        return ConfigError(field="database", value=url.database, label="数据库", allowed="服务器上已有的数据库",
                           reason=f"服务器 {url.host} 上没有这个数据库")
    if "too many connections" in detail:
        return ConfigError(field="user", value=user, label=f"{who}的数据库用户",
                           allowed=f"同时最多 {pg_security.CONNECTION_LIMIT} 个连接",
                           reason="连接数已满：请关闭其他笔记本的内核后重试")
    return ConfigError(field="server", value=shown, label="PostgreSQL 服务器", allowed=_URL_HELP,
                       reason=f"无法连接（{detail.strip().splitlines()[0][:200] if detail.strip() else type(exc).__name__}）")


def _open(url: sa.URL, who: str, *, create: bool = False) -> Store:
    try:
        return Store(url.render_as_string(hide_password=False), create=create)
    except DBAPIError as exc:
        raise _connection_error(exc, url, who) from None


# --- the roster ----------------------------------------------------------------------------------------


def read_roster(path: str | os.PathLike) -> pd.DataFrame:
    """The roster as ``学号, 姓名, 身份`` (身份 empty where the roster does not say).

    Read by the course's roster reader (:func:`simcrm.lab.course.read_roster`: the same columns,
    text 学号, the same refusals — among them numeric 学号 whose leading zeros Excel hid), with
    the column 身份 on top; a 学号 must also fit a database user name (至多 40 个字符).
    """
    from .lab.course import read_roster as read_course_roster

    path = Path(path)
    if not path.is_file():
        raise ConfigError(field="roster", value=str(path), label="学生名单", allowed="已存在的 CSV 或 Excel 文件",
                          reason="文件不存在")
    roster = read_course_roster(path, extra={"身份": _ROLE_COLUMNS})[["学号", "姓名", "身份"]]
    if roster.empty:
        raise ImportFileError(f"名单 {path.name} 中没有学生", message_en=f"roster {path.name} is empty")
    long = [s for s in roster["学号"] if len(s) > 40]
    if long:
        raise ImportFileError(f"学号至多 40 个字符：{'、'.join(long[:10])}", message_en=f"student ids too long: {long[:10]}")
    for i, value in enumerate(roster["身份"], start=2):
        if value and value not in POSITIONS:
            raise ImportFileError(f"名单 {path.name} 第 {i} 行的身份“{value}”无效：允许 {'、'.join(POSITIONS)} 或留空",
                                  message_en=f"roster row {i}: unknown position {value!r}")
    return roster


def _positions(roster: pd.DataFrame) -> list[str]:
    return [given or GROUP_PLAN[i % len(GROUP_PLAN)] for i, given in enumerate(roster["身份"])]


# --- creating a classroom ----------------------------------------------------------------------------


def _copy_world(src: Store, dst: Store) -> None:
    """Every row of ``src`` (a generated world) into the empty PostgreSQL store ``dst``, same ids."""
    with dst.transaction() as conn:
        schema.create_all(conn)
        managers: list[dict[str, Any]] = []
        for name in schema.TABLES:
            t = schema.metadata.tables[name]
            with src.engine.connect() as sconn:
                rows = [dict(r) for r in sconn.execute(sa.select(t).order_by(t.c.id)).mappings()]
            if name == "department":  # its manager is an employee, inserted after it
                managers = [{"_id": r["id"], "_m": r["manager_id"]} for r in rows if r["manager_id"] is not None]
                rows = [{**r, "manager_id": None} for r in rows]
            for k in range(0, len(rows), 5000):
                conn.execute(sa.insert(t), rows[k:k + 5000])
            if rows:
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
                                     f"(SELECT max(id) FROM \"{name}\"))")
        if managers:
            d = schema.metadata.tables["department"]
            conn.execute(sa.update(d).where(d.c.id == sa.bindparam("_id")).values(manager_id=sa.bindparam("_m")),
                         managers)
        summaries.install(conn)  # the summaries kept by triggers, from the rows


def create(server: str, roster: str | os.PathLike, out: str | os.PathLike, *, seed: int = 2026,
           customers: int = 300, prefix: str | None = None, student_host: str | None = None,
           customers_per_rep: int = CUSTOMERS_PER_REP) -> pd.DataFrame:
    """Build one firm on ``server`` with a login per student of ``roster``; write the credentials.

    Args:
        server: the teacher's PostgreSQL URL (a role that owns the world and may create roles);
            the world goes into the URL's schema (``?options=-csearch_path%3D…``, else ``public``),
            which must not hold a simcrm world yet.
        roster: CSV or Excel with 学号 and 姓名 (optional 身份: 销售代表 / 销售主管 / 客服专员).
        out: folder for ``credentials.csv`` and ``students/<学号>.json`` (private: mode 700/600).
        seed, customers: the firm's simulation (as ``simcrm generate``).
        prefix: database role names are ``<prefix>_<学号>`` (default: ``crm_<数据库>_<模式>``).
        student_host: the server's host name as the students reach it (default: the URL's).
        customers_per_rep: customers handed to each student 销售代表.

    Returns:
        One row per student: 学号, 姓名, 身份, 部门, CRM登录名, 数据库用户, 密码, 连接文件.
    """
    from .crm import CRM
    from .sim import generate

    url = parse_server(server)
    table = read_roster(roster)
    out = Path(out)
    dst = _open(url, "教师账号")
    try:
        with dst.engine.connect() as conn:
            schema_name = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
            has = set(sa.inspect(conn).get_table_names())
        if has & set(schema.TABLES):
            raise ConfigError(field="server", value=f"{url.render_as_string(hide_password=True)}（模式 {schema_name}）",
                              label="PostgreSQL 服务器", allowed="一个空的数据库或模式（每个课堂一个）",
                              reason="这里已经有一个 simcrm 世界；先用 simcrm classroom drop 删除它，或换一个数据库/模式")
        prefix = prefix or f"crm_{url.database}_{schema_name}"
        group = pg_security.group_name(prefix)
        from .sim.firm import ROLES

        names = [group, *(pg_security.rights_group(group, i) for i in range(1, len(ROLES) + 1)),
                 *(pg_security.role_name(prefix, sid) for sid in table["学号"])]
        if len(set(names)) != len(names):
            raise ConfigError(field="prefix", value=prefix, label="数据库用户名前缀", allowed="能让每个学号得到不同用户名的前缀",
                              reason="有学号只在大小写或 . - 上不同，转成数据库用户名后重名")
        with dst.engine.connect() as conn:
            taken = conn.execute(sa.text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:n) ORDER BY 1"),
                                 {"n": names}).scalars().all()
        if taken:  # roles belong to the whole server: never take over another classroom's logins
            raise ConfigError(field="prefix", value=prefix, label="数据库用户名前缀",
                              allowed="服务器上尚未使用的前缀（--prefix）",
                              reason=f"服务器上已有这些用户：{'、'.join(taken[:5])}（另一个课堂？）")
        world = generate(seed=seed, customers=customers)
        try:
            _copy_world(world.store, dst)
            today = world.today
        finally:
            world.store.close()
        try:
            now = dt.datetime.combine(today, dt.time(9, 0))
            admin = CRM.system(dst, now=now)
            rows = _hire(admin, dst, table, customers_per_rep)
            passwords = {r["学号"]: secrets.token_urlsafe(12) for r in rows}
            with dst.engine.begin() as conn:
                pg_security.install(conn, group)
                for r in rows:
                    r["数据库用户"] = pg_security.role_name(prefix, r["学号"])
                    pg_security.create_login(conn, group, r["数据库用户"], passwords[r["学号"]], r["_employee"],
                                             student=r["学号"])
        except BaseException:
            with dst.engine.begin() as conn:  # nothing half-built stays on the server
                _remove_world(conn)
            raise
    finally:
        dst.close()
    return _write_credentials(out, rows, passwords, url, student_host)


def _hire(admin: Any, store: Store, roster: pd.DataFrame, per_rep: int) -> list[dict[str, Any]]:
    """Hire the students into the firm and hand each 销售代表 some customers."""
    depts = store.read("department", columns=["id", "name"])
    dept_id = dict(zip(depts["name"], depts["id"]))
    sales = int(dept_id.get("销售部", depts["id"].iloc[0]))
    emp = store.read("employee", columns=["id", "login", "status", "role_id"])
    roles = store.read("role", columns=["id", "name"])
    role_id = dict(zip(roles["name"], roles["id"]))
    existing = set(emp["login"])
    positions = _positions(roster)
    rows: list[dict[str, Any]] = []
    teams: dict[int, int] = {}
    for i, (sid, name, pos) in enumerate(zip(roster["学号"], roster["姓名"], positions)):
        spec = POSITIONS[pos]
        if spec["department"] is None:
            group = i // len(GROUP_PLAN)
            if group not in teams:
                teams[group] = admin.add_department(f"实训{group + 1}组", parent=sales)
            dept = teams[group]
        else:
            dept = int(dept_id[spec["department"]])
        login = f"stu_{sid}" if f"stu_{sid}" not in existing else f"stu_{sid}_{i}"
        eid = admin.hire(name or sid, login, dept, int(role_id[spec["role"]]))
        rows.append({"学号": sid, "姓名": name, "身份": pos, "部门": None, "CRM登录名": login, "_employee": eid,
                     "_dept": dept})
    names = store.read("department", columns=["id", "name"]).set_index("id")["name"]
    for r in rows:
        r["部门"] = names[r["_dept"]]
    # the firm's own reps' customers, handed out round-robin to the student reps
    reps = [r for r in rows if r["身份"] == "销售代表"]
    if reps and per_rep > 0:
        firm_reps = emp[(emp["status"] == "正常") & (emp["role_id"] == role_id["销售代表"])]["id"]
        c = store.read("customer", columns=["id", "owner_id", "deleted"])
        pool = [int(x) for x in c[c["owner_id"].isin(firm_reps) & ~c["deleted"].astype(bool)].sort_values("id")["id"]]
        for k, cid in enumerate(pool[: per_rep * len(reps)]):
            admin.transfer_customer(cid, reps[k % len(reps)]["_employee"], reason="实训课堂分配")
    return rows


def _student_url(url: sa.URL, role: str, password: str, host: str | None) -> str:
    # no options: the login's own search_path (its masked audit_log view first) applies
    u = url.set(username=role, password=password).difference_update_query(["options"])
    if host:
        u = u.set(host=host)
    return u.render_as_string(hide_password=False)


def _write_credentials(out: Path, rows: list[dict[str, Any]], passwords: dict[str, str], url: sa.URL,
                       host: str | None) -> pd.DataFrame:
    folder = out / "students"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    os.chmod(folder, 0o700)
    for r in rows:
        r["密码"] = passwords[r["学号"]]
        file = folder / f"{r['学号']}.json"
        file.write_text(json.dumps({"student": r["学号"], "name": r["姓名"], "position": r["身份"],
                                    "url": _student_url(url, r["数据库用户"], r["密码"], host)},
                                   ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        os.chmod(file, 0o600)
        r["连接文件"] = str(file)
    columns = ["学号", "姓名", "身份", "部门", "CRM登录名", "数据库用户", "密码", "连接文件"]
    sheet = pd.DataFrame([{k: r[k] for k in columns} for r in rows], columns=columns)
    target = out / CREDENTIALS
    sheet.to_csv(target, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_MINIMAL)
    os.chmod(target, 0o600)
    return sheet


@contextlib.contextmanager
def _as_teacher(server: str) -> Iterator[tuple[Any, sa.URL]]:
    """One transaction on the classroom world at ``server`` with the teacher's login, and its URL;
    refused when the schema is not a classroom world, a database error as one Chinese message."""
    url = parse_server(server)
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _require_classroom(conn, url)
            yield conn, url
    except DBAPIError as exc:
        raise _connection_error(exc, url, "教师账号") from None
    finally:
        engine.dispose()


def reset_password(server: str, student: str, out: str | os.PathLike, *, student_host: str | None = None) -> Path:
    """A new password for one student (a lost or leaked connection file); returns their new file.

    The student's row of ``out/credentials.csv`` is updated too, when the sheet is there.
    """
    with _as_teacher(server) as (conn, url):
        known = conn.execute(sa.text(f"SELECT student, db_role FROM {pg_security.LOGIN_TABLE} ORDER BY student")).all()
        roles = dict(known)
        if str(student) not in roles:
            sample = "、".join(s for s, _ in known[:5])
            raise ConfigError(field="student", value=student, label="学号",
                              allowed=f"本课堂名单中的学号（共 {len(known)} 人，如 {sample}）",
                              reason="不在本课堂的名单中")
        role = roles[str(student)]
        password = secrets.token_urlsafe(12)
        conn.exec_driver_sql(f'ALTER ROLE "{role}" PASSWORD \'{password}\'')
        name = conn.execute(sa.text(f"SELECT e.name, r.name FROM {pg_security.LOGIN_TABLE} l JOIN employee e ON "
                                    "e.id = l.employee_id JOIN role r ON r.id = e.role_id WHERE l.student = :s"),
                            {"s": str(student)}).first()
    out = Path(out)
    folder = out / "students"
    folder.mkdir(parents=True, exist_ok=True)
    file = folder / f"{student}.json"
    file.write_text(json.dumps({"student": str(student), "name": name[0], "position": name[1],
                                "url": _student_url(url, role, password, student_host)},
                               ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    os.chmod(file, 0o600)
    sheet_path = out / CREDENTIALS
    if sheet_path.is_file():
        sheet = pd.read_csv(sheet_path, dtype=str, encoding="utf-8-sig")
        sheet.loc[sheet["学号"] == str(student), "密码"] = password
        sheet.to_csv(sheet_path, index=False, encoding="utf-8-sig")
        os.chmod(sheet_path, 0o600)
    return file


def _remove_world(conn: Any) -> None:
    """Drop every table, view and function of a classroom world in the connected schema."""
    schema_name = conn.execute(sa.text("SELECT current_schema()")).scalar_one()
    for level in range(1, len(pg_security.mask_levels()) + 1):
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{pg_security.masked_schema(schema_name, level)}" CASCADE')
    for name in [pg_security.LOGIN_TABLE, pg_security.KEY_SALT_TABLE, "access_log", *summaries.names(),
                 *reversed(schema.TABLES)]:
        conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
    functions = conn.execute(sa.text(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = :s AND p.proname LIKE 'simcrm\\_%'"), {"s": schema_name}).scalars().all()
    for fn in functions:
        conn.exec_driver_sql(f"DROP FUNCTION IF EXISTS {fn}")


def _require_classroom(conn: Any, url: Any) -> None:
    """Refuse, in Chinese, a server where ``simcrm classroom create`` built no world."""
    if not pg_security.is_installed(conn):
        raise ConfigError(field="server", value=url.render_as_string(hide_password=True),
                          label="PostgreSQL 服务器", allowed="simcrm classroom create 建立的课堂世界",
                          reason="这里没有课堂世界（没有 classroom_login 表）")


def apply_rights(server: str) -> int:
    """Grant the database privileges of every role's current module rights again (after the
    teacher changed rights, added a role or moved a student to another role); returns how many
    roles. Data scopes need nothing: the database reads them at every statement."""
    with _as_teacher(server) as (conn, url):
        group = pg_security.group_of(conn)
        if group is None:
            raise ConfigError(field="server", value=url.render_as_string(hide_password=True),
                              label="PostgreSQL 服务器", allowed="simcrm classroom create 建立的课堂世界",
                              reason="课堂世界缺少学生组角色的记录（请用本版本的 simcrm classroom create 重建）")
        pg_security.apply_rights(conn, group)
        return int(conn.execute(sa.text("SELECT count(*) FROM role")).scalar_one())


def drop(server: str) -> list[str]:
    """Remove the classroom world at ``server`` (its tables) and every student login; returns the logins."""
    with _as_teacher(server) as (conn, url):
        group = pg_security.group_of(conn)
        names = pg_security.drop_logins(conn, group) if group else []
        _remove_world(conn)
    return names


# --- a student's side ------------------------------------------------------------------------------


def _read_shared(shared: Any) -> tuple[sa.URL, str | None]:
    """``shared`` as a URL and the 学号 it names (a connection file, or the URL itself)."""
    text = str(shared).strip() if shared is not None else ""
    if "://" in text:
        return parse_server(text, label="共享世界地址", field="shared"), None
    path = Path(text).expanduser()
    if not text or not path.is_file():
        raise ConfigError(field="shared", value=text, label="共享世界",
                          allowed="教师发的连接文件（如 2023001.json）或 postgresql:// 连接地址", reason="文件不存在")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return parse_server(data["url"], label="连接文件中的地址", field="url"), str(data["student"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(field="shared", value=str(path), label="连接文件",
                          allowed='{"student": "学号", "url": "postgresql://…"}（由 simcrm classroom create 生成）',
                          reason=f"无法读取（{type(exc).__name__}）") from exc


def join(chapter: str, shared: Any, student: str | None = None, *, quiet: bool = False) -> "SharedLab":
    """Open the shared classroom world as the student's own login (``start(..., shared=...)``)."""
    return SharedLab(chapter, shared, student, quiet=quiet)


class SharedLab:
    """A student's session in the shared classroom world.

    * ``lab.crm`` — the CRM acting as the student's employee, through their own database login
      (the database enforces the role's data scope whatever this process does);
    * ``lab.table(name)`` — what the student's role may see of a table;
    * ``lab.screen(name)`` — a CRM screen; ``lab.me`` — who the student is in the firm.

    Checks, undo, reset and next_quarter belong to the student's own world (``start`` without
    ``shared``): a shared world changes under everybody's hands and is not graded.
    """

    def __init__(self, chapter: str, shared: Any, student: str | None = None, *, quiet: bool = False):
        from .crm import CRM
        from .lab.session import CHAPTER_TITLES

        if chapter not in CHAPTER_TITLES:
            raise ConfigError(field="chapter", value=chapter, label="章节", allowed=list(CHAPTER_TITLES))
        url, named = _read_shared(shared)
        if student is not None and named is not None and str(student) != named:
            raise ConfigError(field="student", value=student, label="学号",
                              allowed=f"连接文件中的学号 {named}", reason="这个连接文件是另一位同学的")
        self.chapter, self.title = chapter, CHAPTER_TITLES[chapter]
        self.url_shown = url.render_as_string(hide_password=True)
        self.store = _open(url, "学生账号")
        try:
            with self.store.engine.connect() as conn:
                emp_id = pg_security.me(conn) if pg_security.is_installed(conn) else None
                student_id = conn.execute(sa.text("SELECT simcrm_student()")).scalar() if emp_id else None
        except DBAPIError as exc:
            self.store.close()
            raise _connection_error(exc, url, "学生账号") from None
        if emp_id is None:
            self.store.close()
            raise ConfigError(field="user", value=url.username, label="数据库用户",
                              allowed="simcrm classroom create 为学生创建的用户",
                              reason="这不是本课堂的学生账号（或该员工已离职）")
        if student is not None and student_id is not None and str(student) != student_id:
            self.store.close()
            raise ConfigError(field="student", value=student, label="学号",
                              allowed=f"这个账号的学号 {student_id}", reason="账号属于另一位同学")
        self.student = student_id
        self.crm = CRM(self.store, user=int(emp_id))
        me = self.crm.user
        dept = self.store.read("department", columns=["id", "name"]).set_index("id")["name"]
        me["department"] = dept.get(me["department_id"])
        role = self.store.get("role", me["role_id"])
        me["role"], me["data_scope"] = role["name"], role["data_scope"]
        self.me = me
        if not quiet:
            print(self.banner())

    def banner(self) -> str:
        m = self.me
        return (f"实训 {self.chapter} · {self.title}（共享课堂世界）\n"
                f"  学生：学号 {self.student}，服务器 {self.url_shown}\n"
                f"  你的身份：{m['name']}，{m['department']}，{m['role']}（{m['role_type']}，数据范围 {m['data_scope']}，"
                f"登录名 {m['login']}）\n"
                "  全班同时在这个企业里工作：你看到和改动的数据由数据库按你的角色控制。")

    def table(self, name: str, *, labels: bool = False) -> pd.DataFrame:
        """What your role may see of table ``name`` (a DataFrame)."""
        return self.crm.list(name, labels=labels)

    def screen(self, name: str, **kwargs: Any) -> Any:
        """Open a CRM screen, acting as you (see :func:`simcrm.ui.screen`)."""
        from . import ui

        return ui.screen(name, self.crm, **kwargs)

    def close(self) -> None:
        self.store.close()

    def _not_here(self, what: str) -> ConfigError:
        return ConfigError(field=what, value=f"lab.{what}", label="操作",
                           allowed="在自己的世界中使用：lab = start(\"" + self.chapter + "\")（不带 shared）",
                           reason="共享课堂世界由全班同时改动，不评分、不能撤销或重置")

    def check(self, key: str, answer: Any = None) -> None:
        raise self._not_here("check")

    def grade(self, key: str, answer: Any = None) -> None:
        raise self._not_here("grade")

    def undo(self, key: str) -> None:
        raise self._not_here("undo")

    def reset(self) -> None:
        raise self._not_here("reset")

    def next_quarter(self, days: int = 91) -> None:
        raise self._not_here("next_quarter")

    def __repr__(self) -> str:
        return f"SharedLab({self.chapter!r}, student={self.student!r}, server={self.url_shown!r})"

