"""Module rights and masking of a classroom world, enforced by PostgreSQL (raw SQL as each role).

A generated firm (all nine roles of :data:`simcrm.sim.firm.ROLES`) is put on the real server of
``tests/conftest.py`` with ``pg_security.install``; one login per role. Then:

* every login's privilege on every table (``has_table_privilege``) equals crm's rule, computed
  here from the world's ``role_right`` rows through ``CRM.can`` and ``TABLE_MODULE`` (plus the
  documented machinery and side effects of simcrm's own operations);
* raw statements outside those rights are refused, and simcrm's operations of a 销售代表 that
  touch other modules' tables (shipping books stock moves, a return, an order's balance, ending
  a share, reading a record's history) still work through the rep's own login;
* the audit log's personal data: a role that crm shows masked values cannot read the clear
  columns; its ``audit_log`` (the view on its search_path) shows exactly crm's masks, and
  ``CRM.audit`` through the login returns what crm returns for that user.
"""

from __future__ import annotations

import types

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from simcrm import classroom
from simcrm.crm import CRM
from simcrm.crm.base import ACTIONS, TABLE_MODULE, locale
from simcrm.crm.privacy import MASKING
from simcrm.sim import generate
from simcrm.store import Store, pg_security, schema

pytestmark = pytest.mark.postgres

#: the tables whose personal data a login reads as crm's exports mask it for its role type
MASKED_TABLES = ("customer", "contact", "employee", "lead")
SQL_PRIVILEGE = {"read": "SELECT", "create": "INSERT", "update": "UPDATE", "delete": "DELETE"}


@pytest.fixture(scope="module")
def firm(pg_server):
    url = pg_server.fresh_schema_url()
    schema_name = url.rsplit("%3D", 1)[1]
    world = generate(seed=5, customers=60)
    store = Store(url, create=False)
    try:
        classroom._copy_world(world.store, store)
    finally:
        world.store.close()
    group = pg_security.group_name(schema_name)
    with store.engine.connect() as conn:
        emp = pd.read_sql(sa.text("SELECT e.id, e.role_id, e.department_id, r.name AS role FROM employee e "
                                  "JOIN role r ON r.id = e.role_id WHERE e.status = '正常' ORDER BY e.id"), conn)
        owners = pd.read_sql(sa.text("SELECT owner_id, count(*) AS n FROM customer WHERE NOT deleted "
                                     "GROUP BY owner_id"), conn).set_index("owner_id")["n"]
    reps = emp[emp["role"] == "销售代表"].assign(n=lambda f: f["id"].map(owners).fillna(0))
    rep = reps.sort_values(["n", "id"], ascending=[False, True]).iloc[0]
    people = {"销售代表": int(rep["id"])}
    team_manager = emp[(emp["role"] == "销售主管") & (emp["department_id"] == rep["department_id"])]
    people["销售主管"] = int(team_manager["id"].iloc[0])
    for role, rows in emp.groupby("role"):
        people.setdefault(role, int(rows["id"].iloc[0]))
    logins = {role: pg_security.role_name(schema_name, f"r{int(emp.set_index('id').loc[e, 'role_id'])}")
              for role, e in people.items()}
    with store.engine.begin() as conn:
        pg_security.install(conn, group)
        for role, e in people.items():
            pg_security.create_login(conn, group, logins[role], f"pw-{logins[role]}", e, student=role)
    engines: dict[str, sa.Engine] = {}
    stores: list[Store] = []

    def engine_of(role: str, *, own_path: bool = False) -> sa.Engine:
        """Raw SQL as ``role``: on the world's schema, or (own_path) on the login's own search_path."""
        key = f"{role}/{own_path}"
        if key not in engines:
            u = sa.engine.make_url(pg_server.url).set(username=logins[role], password=f"pw-{logins[role]}")
            args = {} if own_path else {"options": f"-csearch_path={schema_name}"}
            engines[key] = sa.create_engine(u, connect_args=args)
        return engines[key]

    def store_of(role: str) -> Store:
        """simcrm's store through ``role``'s login, as a student connects (the login's search_path)."""
        u = sa.engine.make_url(pg_server.url).set(username=logins[role], password=f"pw-{logins[role]}")
        s = Store(u.render_as_string(hide_password=False), create=False)
        stores.append(s)
        return s

    def release() -> None:
        """Close the pooled connections of the stores and engines made so far (a login may hold
        8 connections at once; they reconnect when used again)."""
        for s in stores:
            s.engine.dispose()
        for e in engines.values():
            e.dispose()

    yield types.SimpleNamespace(store=store, people=people, logins=logins, schema_name=schema_name,
                                engine_of=engine_of, store_of=store_of, release=release)
    for s in stores:
        s.close()
    for e in engines.values():
        e.dispose()
    with store.engine.begin() as conn:
        pg_security.drop_logins(conn, group)
    store.close()


def _crm_privileges(crm: CRM, table: str) -> set[str]:
    """What crm's own rule lets the user do to ``table`` by SQL (table-level privileges)."""
    if table in pg_security.READ_ONLY:
        return {"SELECT"}  # the organisation: read by simcrm for everyone, changed by the teacher only
    if table == "audit_log":
        return set()  # read column by column (masked by role type), never written by a login
    out = {SQL_PRIVILEGE[a] for a in ACTIONS if crm.can(TABLE_MODULE[table], a)}
    for (module, action), extra in pg_security.SIDE_EFFECTS.items():
        if crm.can(module, action):
            out |= {p for p in extra.get(table, ()) if "(" not in p}
    return out | set(pg_security.MACHINERY.get(table, ()))


def _has(conn, login: str, schema_name: str, table: str) -> set[str]:
    return {p for p in SQL_PRIVILEGE.values()
            if conn.execute(sa.text("SELECT has_table_privilege(:u, :t, :p)"),
                            {"u": login, "t": f"{schema_name}.{table}", "p": p}).scalar()}


def test_table_privileges_of_every_role_are_crms_module_rights(firm):
    """For every role of the firm and every table, the SQL privileges of its login equal what
    crm's rights allow (read → SELECT, create → INSERT, update → UPDATE, delete → DELETE on the
    table's module), computed from the world's role_right rows by CRM.can."""
    assert len(firm.people) == len(classroom.POSITIONS) + 6  # all nine roles of the firm
    got_all: dict[str, dict[str, set[str]]] = {}
    with firm.store.engine.connect() as conn:
        for role, emp in firm.people.items():
            crm = CRM(firm.store, user=emp)
            got_all[role] = {}
            role_type = firm.store.get("employee", emp)["role_type"]
            for table in schema.TABLES:
                got = _has(conn, firm.logins[role], firm.schema_name, table)
                got_all[role][table] = got
                want = _crm_privileges(crm, table)
                masked = {c for c, rule in schema.sensitive_columns(table).items() if rule in MASKING[role_type]}
                if table in MASKED_TABLES and masked and "SELECT" in want:
                    # read column by column: all but the clear personal data its role type sees masked
                    want = want - {"SELECT"}
                    for col in schema.metadata.tables[table].columns:
                        may = conn.execute(sa.text("SELECT has_column_privilege(:u, :t, :c, 'SELECT')"),
                                           {"u": firm.logins[role], "t": f"{firm.schema_name}.{table}",
                                            "c": col.name}).scalar()
                        assert may == (col.name not in masked), (role, table, col.name)
                assert got == want, (role, table)
    # not vacuous: the roles differ where their rights differ
    rep, finance, service = got_all["销售代表"], got_all["财务专员"], got_all["客服专员"]
    assert "INSERT" not in rep["payment"] and "INSERT" in finance["payment"]
    assert "SELECT" not in rep["complaint"] and "SELECT" in service["complaint"]
    assert "UPDATE" in rep["sales_order"] and "UPDATE" not in service["sales_order"]
    assert all("DELETE" not in rep[t] for t in ("customer", "contact", "sales_order"))


@pytest.mark.parametrize("role, sql", [
    ("销售代表", "SELECT * FROM complaint"),
    ("销售代表", "SELECT * FROM survey"),
    ("销售代表", "INSERT INTO payment (order_id, amount) VALUES (1, 1)"),
    ("销售代表", "UPDATE product SET price = 1"),
    ("销售代表", "DELETE FROM customer"),
    ("销售代表", "UPDATE customer SET id = id + 100000"),
    ("销售代表", "SELECT old_value FROM audit_log"),
    ("销售主管", "SELECT new_value FROM audit_log"),
    ("客服专员", "UPDATE sales_order SET total_amount = 1"),
    ("客服专员", "INSERT INTO lead (name) VALUES ('x')"),
    ("财务专员", "UPDATE customer SET credit_limit = 1"),
    ("仓管员", "SELECT * FROM customer"),
    ("市场专员", "DELETE FROM campaign"),
])
def test_raw_sql_outside_the_roles_rights_is_refused(firm, role, sql):
    before = firm.store.snapshot()
    with pytest.raises(DBAPIError, match=r"permission denied|学生账号不能修改"):
        with firm.engine_of(role).begin() as conn:
            conn.exec_driver_sql(sql)
    assert firm.store.snapshot() == before


def test_a_reps_operations_across_modules_work_through_the_login(firm):
    """simcrm's own operations whose writes reach other modules' tables (stock, product, finance
    reads, shares, history) work for a 销售代表 through their login, as crm allows them."""
    rep_id, mgr_id = firm.people["销售代表"], firm.people["销售主管"]
    rep, mgr = CRM(firm.store_of("销售代表"), user=rep_id), CRM(firm.store_of("销售主管"), user=mgr_id)
    teacher = CRM.system(firm.store)
    product = int(teacher.list("product").sort_values("stock", ascending=False)["id"].iloc[0])
    stock = float(firm.store.get("product", product)["stock"])
    cid = rep.create_customer("成都蓉城软件有限公司", province="四川", city="成都市")
    order = rep.create_order(cid, [{"product_id": product, "quantity": 3}])
    mgr.approve_order(order)
    rep.ship_order(order)
    assert float(firm.store.get("product", product)["stock"]) == stock - 3
    line = int(rep.list("order_line", where={"order_id": order})["id"].iloc[0])
    rep.return_goods(order, {line: 1}, "外壳破损")
    assert float(firm.store.get("product", product)["stock"]) == stock - 2
    assert rep.order_balance(order)["returned"] > 0
    other = next(e for r, e in firm.people.items() if r == "销售主管")
    rep.share_customer(cid, other)
    rep.unshare_customer(cid, other)
    history = rep.audit("customer", cid)
    assert set(history["action"]) >= {"新建"} and (history["employee_id"] == rep_id).any()
    # what the rep may not do by module is still refused by the database, whatever Python says
    pretender = CRM(firm.store_of("销售代表"), user=firm.people["客服专员"])
    with pytest.raises(DBAPIError, match="permission denied"):
        pretender.list("complaint")


@pytest.mark.parametrize("role", list(classroom.POSITIONS))
def test_every_screen_opens_for_a_student_position_through_its_login(firm, role):
    """Each CRM screen a student may open (simcrm.ui) works through the login of each position a
    classroom hands out: the database grants what the screens read for that role."""
    from simcrm import ui

    crm = CRM(firm.store_of(role), user=firm.people[role])
    cid = int(crm.list("customer")["id"].iloc[0])
    args = {"customer360": {"customer_id": cid}, "record": {"table": "customer", "row_id": cid}}
    for name in ui.SCREENS:
        assert ui.screen(name, crm, **args.get(name, {})) is not None, name
    if role == "销售代表":  # the figure that needed the order readers' payment_plan privilege
        from simcrm.ui.dashboard import kpis

        assert kpis(crm)["overdue_receivables"] is not None


def _mask(rule: str, values: pd.Series) -> pd.Series:
    return getattr(locale(), f"mask_{rule}_series")(values)


def test_audit_values_are_masked_by_the_database_as_crm_masks_them(firm):
    """The teacher changes personal data of customers in the team's scope; each role's own
    ``audit_log`` shows the old and new values masked exactly as crm masks them for its role type
    (computed here with simcrm.locales), the clear columns are refused, and CRM.audit through the
    login equals CRM.audit of the same user on the teacher's connection."""
    teacher = CRM.system(firm.store)
    rep_id = firm.people["销售代表"]
    customers = teacher.list("customer", where={"owner_id": rep_id})
    cid = int(customers["id"].iloc[0])
    changes = {"phone": "13812345678", "email": "zhang.san@example.cn", "id_number": "11010519491231002X",
               "address": "广东省广州市天河区体育西路 123 号"}
    teacher.update_customer(cid, **changes)
    teacher.update_customer(cid, phone="13987654321", address="北京市朝阳区建国路 88 号")
    clear = teacher.audit("customer", cid)
    clear = clear[clear["field"].isin(list(changes))]
    assert len(clear) >= 6
    rules = schema.sensitive_columns("customer")
    for role in ("销售代表", "销售主管", "总经理"):
        emp = firm.people[role]
        role_type = firm.store.get("employee", emp)["role_type"]
        expected = clear.copy()
        for field, rule in rules.items():
            if rule in MASKING[role_type]:
                hit = expected["field"] == field
                for col in ("old_value", "new_value"):
                    present = hit & expected[col].notna()
                    expected.loc[present, col] = _mask(rule, expected.loc[present, col]).to_numpy()
        with firm.engine_of(role, own_path=True).connect() as conn:
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"  # the login's own settings apply
            rows = pd.read_sql(sa.text("SELECT field, old_value, new_value FROM audit_log WHERE table_name = 'customer' "
                                       "AND row_id = :c AND field = ANY(:f) ORDER BY id"),
                               conn, params={"c": cid, "f": list(changes)})
        assert rows.to_dict("records") == expected[["field", "old_value", "new_value"]].to_dict("records"), role
        if MASKING[role_type]:
            assert rows.to_dict("records") != clear[["field", "old_value", "new_value"]].to_dict("records")
            with pytest.raises(DBAPIError, match="permission denied"):
                with firm.engine_of(role, own_path=True).connect() as conn:
                    conn.exec_driver_sql(f"SELECT old_value FROM {firm.schema_name}.audit_log")
        # simcrm's own history read, through the login, is crm's masked history for that user
        through_login = CRM(firm.store_of(role), user=emp).audit("customer", cid)
        on_teacher = CRM(firm.store, user=emp).audit("customer", cid)
        pd.testing.assert_frame_equal(through_login, on_teacher)


def test_sql_masks_equal_simcrms_masks_on_the_worlds_data(firm):
    """simcrm_mask (SQL) gives exactly simcrm.locales' masks for every phone, e-mail, ID number
    and address of the world's customers, contacts and employees."""
    checked = 0
    with firm.store.engine.connect() as conn:
        for table in ("customer", "contact", "employee"):
            for column, rule in schema.sensitive_columns(table).items():
                if rule == "name":
                    continue
                frame = pd.read_sql(sa.text(f"SELECT {column} AS v, simcrm_mask(:r, {column}) AS m FROM {table} "
                                            f"WHERE {column} IS NOT NULL"), conn, params={"r": rule})
                assert frame["m"].tolist() == _mask(rule, frame["v"]).tolist(), (table, column)
                checked += len(frame)
        edge = ["", " 13812341234 ", "1234", "x", "no-at-sign", "a@b@c.cn", "天河区体育西路", "上海市",
                "延边朝鲜族自治州延吉市人民路 1 号", "新疆维吾尔自治区乌鲁木齐市天山区"]
        for rule in ("mobile", "id_number", "email", "address"):
            got = [conn.execute(sa.text("SELECT simcrm_mask(:r, :v)"), {"r": rule, "v": v}).scalar() for v in edge]
            assert got == _mask(rule, pd.Series(edge)).tolist(), rule
    assert checked > 100


def _masked_expected(raw: pd.DataFrame, table: str, role_type: str) -> pd.DataFrame:
    """``raw`` (the teacher's clear values) as crm masks them for ``role_type`` (simcrm.locales)."""
    out = raw.copy()
    for column, rule in schema.sensitive_columns(table).items():
        if column in out and rule in MASKING[role_type]:
            present = out[column].notna()
            out.loc[present, column] = _mask(rule, out.loc[present, column]).to_numpy()
    return out


PERSONAL = {"customer": ["id", "name", "address", "phone", "email", "id_number"],
            "contact": ["id", "name", "mobile", "phone", "email"],
            "employee": ["id", "name", "mobile", "email"],
            "lead": ["id", "name", "company", "mobile", "email"]}


@pytest.mark.parametrize("role", ["销售代表", "销售主管", "总经理"])
def test_raw_sql_reads_personal_data_as_crms_export_masks_it_for_the_role(firm, role):
    """Customers, contacts and employees read by raw SQL as the login (its own search_path) show
    phones, e-mails, ID numbers and addresses exactly as crm masks them for the role type
    (computed here from the teacher's clear rows with simcrm.locales), the same as the login's
    own ``export_customers``; the clear columns of the tables themselves are refused."""
    emp = firm.people[role]
    role_type = firm.store.get("employee", emp)["role_type"]
    differs = 0
    for table, cols in PERSONAL.items():
        with firm.engine_of(role, own_path=True).connect() as conn:
            got = pd.read_sql(sa.text(f"SELECT {', '.join(cols)} FROM {table} ORDER BY id"), conn)
        with firm.store.engine.connect() as conn:
            raw = pd.read_sql(sa.text(f"SELECT {', '.join(cols)} FROM {table} WHERE id = ANY(:ids) ORDER BY id"),
                              conn, params={"ids": got["id"].tolist()})
        assert len(got) > 0 and got["id"].tolist() == raw["id"].tolist(), table
        expected = _masked_expected(raw, table, role_type)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False, obj=f"{role} {table}")
        differs += int((got.fillna("") != raw.fillna("")).to_numpy().sum())
        masked = [c for c, rule in schema.sensitive_columns(table).items() if rule in MASKING[role_type]]
        for column in masked:  # the clear column of the table itself: refused, in a WHERE too
            for sql in (f"SELECT {column} FROM {firm.schema_name}.{table}",
                        f"SELECT id FROM {firm.schema_name}.{table} WHERE {column} IS NOT NULL"):
                with pytest.raises(DBAPIError, match="permission denied"):
                    with firm.engine_of(role, own_path=True).connect() as conn:
                        conn.exec_driver_sql(sql)
    if MASKING[role_type]:
        assert differs > 0  # not vacuous: the role's view really masks some of the world's data
    else:
        assert differs == 0
    # what simcrm's export shows this login is what raw SQL shows it
    crm = CRM(firm.store_of(role), user=emp)
    export = crm.export_customers(purpose="核对").set_index("id")
    with firm.engine_of(role, own_path=True).connect() as conn:
        sql = pd.read_sql(sa.text("SELECT id, address, phone, email, id_number FROM customer"), conn).set_index("id")
    pd.testing.assert_frame_equal(export.loc[sql.index, sql.columns], sql, check_dtype=False)


def test_a_masked_login_writes_clear_values_and_simcrm_keeps_them(firm):
    """A 销售代表 (phones, e-mails, ID numbers and addresses masked) creates and edits customers
    and contacts through simcrm and raw SQL: the table keeps the clear values written, an edit
    of another field or a masked value written back as read leaves them as they were, the
    duplicate rule still compares the clear phone and e-mail, and the history has no masked
    copies in it."""
    from simcrm.errors import DuplicateError

    rep_id = firm.people["销售代表"]
    rep = CRM(firm.store_of("销售代表"), user=rep_id)
    assert {"customer.phone", "customer.email"} <= rep.store.masked_by_database
    given = {"phone": "13912345678", "email": "Wang.Wu@example.cn", "address": "四川省成都市武侯区天府大道 100 号"}
    cid = rep.create_customer("蜀道数据有限公司", province="四川", city="成都市", **given)

    def clear(table, row_id, cols):
        with firm.store.engine.connect() as conn:
            return dict(conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM {table} WHERE id = :i"),
                                     {"i": row_id}).mappings().one())

    assert clear("customer", cid, given) == given
    seen = rep.store.get("customer", cid)
    assert seen["phone"] == _mask("mobile", pd.Series([given["phone"]]))[0] != given["phone"]
    rep.update_customer(cid, credit_limit=50000)  # another field: the clear ones stay
    assert clear("customer", cid, given) == given
    rep.update_customer(cid, phone="13887654321")
    assert clear("customer", cid, ["phone", "email"]) == {"phone": "13887654321", "email": given["email"]}
    with firm.engine_of("销售代表", own_path=True).begin() as conn:  # raw SQL through the login's view
        conn.execute(sa.text("UPDATE customer SET phone = phone, address = address, hot = true WHERE id = :i"),
                     {"i": cid})
    assert clear("customer", cid, ["phone", "address", "hot"]) == {"phone": "13887654321",
                                                                   "address": given["address"], "hot": True}
    # the duplicate rule compares the clear values (the login only sees masks)
    with pytest.raises(DuplicateError) as info:
        rep.create_customer("另一家数据有限公司", province="四川", city="成都市", phone="13887654321")
    assert info.value.field == "phone"
    with pytest.raises(DuplicateError) as info:
        rep.create_customer("第三家数据有限公司", province="四川", city="成都市", email="wang.wu@example.CN")
    assert info.value.field == "email"
    # … within the rep's scope only (as crm's rule in a classroom): another team's phone is neither
    # a duplicate nor answered by the database's lookup
    with firm.engine_of("销售代表", own_path=True).connect() as conn:
        mine = conn.execute(sa.text("SELECT array_agg(id) FROM customer")).scalar()
    with firm.store.engine.connect() as conn:
        foreign = conn.execute(sa.text("SELECT phone FROM customer WHERE NOT deleted AND phone IS NOT NULL "
                                       "AND NOT id = ANY(:m) ORDER BY id LIMIT 1"), {"m": mine}).scalar()
    assert foreign is not None
    with firm.engine_of("销售代表", own_path=True).connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM simcrm_customer_keys(ARRAY[:p], ARRAY[]::text[])"),
                            {"p": foreign}).scalar() == 0
        assert conn.execute(sa.text("SELECT count(*) FROM simcrm_customer_keys(ARRAY[:p], ARRAY[]::text[])"),
                            {"p": "13887654321"}).scalar() == 1
    rep.create_customer("范围外同号有限公司", province="四川", city="成都市", phone=foreign)
    contact = rep.add_contact(cid, "王五", mobile="13611112222", email="w5@example.cn")
    rep.update_contact(contact, department="采购部")
    assert clear("contact", contact, ["mobile", "email", "department"]) == {
        "mobile": "13611112222", "email": "w5@example.cn", "department": "采购部"}
    # an import writes many rows in one statement through the view: each id is its own row
    rows = pd.DataFrame({"name": ["导入一号有限公司", "导入二号有限公司", "导入三号有限公司"],
                         "province": ["四川"] * 3, "city": ["成都市"] * 3,
                         "phone": ["13500000001", "13500000002", "13887654321"]})
    report = rep.import_customers(rows)
    assert report["accepted"].tolist() == [True, True, False]  # the third phone is taken (clear values)
    for name, phone, new_id in zip(rows["name"], rows["phone"], report["id"]):
        if not pd.isna(new_id):
            assert clear("customer", int(new_id), ["name", "phone"]) == {"name": name, "phone": phone}
    history = CRM.system(firm.store).audit("customer", cid)
    assert not history["field"].fillna("").str.contains(r"_m\d$").any()
    changed = history.loc[history["field"] == "phone", ["old_value", "new_value"]].to_dict("records")
    assert changed == [{"old_value": "13912345678", "new_value": "13887654321"}]


def _clear(firm, table: str, row_id: int, cols) -> dict:
    """The teacher's (clear) values of one row."""
    with firm.store.engine.connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM {table} WHERE id = :i"),
                                 {"i": row_id}).mappings().one())


def test_a_masked_login_converts_a_lead_with_its_clear_mobile_and_email(firm):
    """A 销售代表 reads its leads' mobiles and e-mails masked (as crm masks them for its role
    type); converting a lead through simcrm still gives a contact — and, for a person without a
    company, an individual customer — whose stored values are the lead's clear ones (the
    database copies them). A second person with the same mobile is refused as a duplicate
    phone, compared on the clear values, naming the masked one; nothing of it is written."""
    from simcrm.errors import DuplicateError

    teacher = CRM.system(firm.store)
    rep_id = firm.people["销售代表"]
    u = sa.engine.make_url(firm.store.engine.url).set(username=firm.logins["销售代表"],
                                                      password=f"pw-{firm.logins['销售代表']}", query={})
    firm.release()
    rep_store = Store(u.render_as_string(hide_password=False), create=False)  # (closed at the end:
    try:                                                   # a login has 8 connections)
        _convert_as_masked_rep(firm, teacher, rep_id, CRM(rep_store, user=rep_id))
    finally:
        rep_store.close()


def _convert_as_masked_rep(firm, teacher, rep_id, rep):
    from simcrm.errors import DuplicateError

    assert {"lead.mobile", "lead.email"} <= rep.store.masked_by_database
    given = {"company": dict(name="周七", company="七星软件有限公司", mobile="13733334444", email="Zhou7@example.cn"),
             "person": dict(name="吴八", mobile="13755556666", email="wu8@example.cn")}
    leads = {k: teacher.create_lead(owner=rep_id, **v) for k, v in given.items()}
    for key, lead in leads.items():
        seen = rep.store.get("lead", lead)
        want = {c: _mask(rule, pd.Series([given[key][c]]))[0] for c, rule in (("mobile", "mobile"), ("email", "email"))}
        assert {c: seen[c] for c in want} == want and want["mobile"] != given[key]["mobile"]
        rep.qualify_lead(lead)
        result = rep.convert_lead(lead, province="四川", city="成都市")
        assert _clear(firm, "contact", result.contact_id, ["mobile", "email"]) == {
            "mobile": given[key]["mobile"], "email": given[key]["email"]}
        customer = _clear(firm, "customer", result.customer_id, ["kind", "phone", "name"])
        if key == "person":
            assert customer == {"kind": "个人", "phone": given[key]["mobile"], "name": "吴八"}
        else:
            assert customer == {"kind": "企业", "phone": None, "name": "七星软件有限公司"}
        # what the rep reads of the new records is masked, as everywhere
        assert rep.store.get("contact", result.contact_id)["mobile"] == want["mobile"]
    again = teacher.create_lead("吴八", mobile="13755556666", owner=rep_id)
    rep.qualify_lead(again)
    before = firm.store.snapshot()
    with pytest.raises(DuplicateError) as info:
        rep.convert_lead(again, province="四川", city="成都市")
    assert info.value.field == "phone" and info.value.value == _mask("mobile", pd.Series(["13755556666"]))[0]
    assert firm.store.snapshot() == before


def test_the_lead_copy_cannot_be_used_to_read_or_move_clear_values(firm):
    """Raw SQL as a masked 销售代表: the clear lead columns are refused; the database's copy of
    a lead's values works only for a converted lead in its scope, into that lead's own contact
    where it is empty; the duplicate lookup by record answers nothing for a lead outside its
    scope; the salted key hash cannot be called."""
    teacher = CRM.system(firm.store)
    rep_id = firm.people["销售代表"]
    others = [e for r, e in firm.people.items() if r != "销售代表" and r in ("销售主管", "总经理")]
    rep_path = firm.engine_of("销售代表", own_path=True)
    # a lead of another team's rep, with the mobile of a customer the rep sees
    with rep_path.connect() as conn:
        mine = conn.execute(sa.text("SELECT id FROM customer WHERE NOT deleted ORDER BY id LIMIT 1")).scalar()
    phone = "13744445555"
    teacher.update_customer(mine, phone=phone, allow_duplicate=True)
    with firm.store.engine.connect() as conn:
        foreign_owner = conn.execute(sa.text(
            "SELECT e.id FROM employee e JOIN role r ON r.id = e.role_id WHERE r.name = '销售代表' AND e.id <> :r "
            "AND e.department_id <> (SELECT department_id FROM employee WHERE id = :r) AND e.status = '正常' "
            "ORDER BY e.id LIMIT 1"), {"r": rep_id}).scalar()
    assert foreign_owner is not None and foreign_owner not in others
    foreign = teacher.create_lead("郑九", mobile=phone, owner=foreign_owner)
    own = teacher.create_lead("王十", mobile="13766667777", email="w10@example.cn", owner=rep_id)
    before = firm.store.snapshot()
    for sql in (f"SELECT mobile FROM {firm.schema_name}.lead", f"SELECT email FROM {firm.schema_name}.lead",
                f"SELECT id FROM {firm.schema_name}.lead WHERE mobile LIKE '137%%'",
                "SELECT simcrm_key_hash('phone', '13744445555')"):
        with pytest.raises(DBAPIError, match="permission denied"):
            with rep_path.connect() as conn:
                conn.exec_driver_sql(sql)
    with rep_path.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM simcrm_duplicates_of('lead', :l)"),
                            {"l": foreign}).scalar() == 0
    with firm.store.engine.connect() as conn:  # (the teacher's answer: the lookup itself works)
        assert conn.execute(sa.text("SELECT count(*) FROM simcrm_duplicates_of('lead', :l)"),
                            {"l": foreign}).scalar() >= 1
    # a lead outside the scope, or not converted: refused
    for lead, message in ((foreign, "不可用"), (own, "已转化")):
        with pytest.raises(DBAPIError, match=message):
            with rep_path.begin() as conn:
                conn.execute(sa.text("SELECT simcrm_copy_lead_contact(:l, true)"), {"l": lead})
    # a lead marked converted by hand towards an existing contact with values: nothing copied
    with rep_path.connect() as conn:
        contact, customer = conn.execute(sa.text(
            "SELECT id, customer_id FROM contact WHERE mobile IS NOT NULL ORDER BY id LIMIT 1")).one()
    kept = _clear(firm, "contact", contact, ["mobile", "email"])
    with rep_path.begin() as conn:
        conn.execute(sa.text("UPDATE lead SET status = '已转化', customer_id = :c, contact_id = :k WHERE id = :l"),
                     {"c": customer, "k": contact, "l": own})
        conn.execute(sa.text("SELECT simcrm_copy_lead_contact(:l, true)"), {"l": own})
    assert _clear(firm, "contact", contact, ["mobile", "email"]) == kept
    after = firm.store.snapshot()
    assert [t for t in after if after[t] != before[t]] == ["audit_log", "lead"]


def _lock_timeout(exc: BaseException) -> bool:
    from sqlalchemy.exc import OperationalError

    cause = exc if isinstance(exc, OperationalError) else exc.__cause__
    return isinstance(cause, OperationalError) and getattr(cause.orig, "sqlstate", None) == "55P03"


@pytest.mark.parametrize("change", ["undelete", "kind"])
def test_a_masked_logins_undelete_or_kind_change_locks_the_customers_phone(firm, pg_server, change):
    """A 销售代表 (phones read masked) brings back a deleted customer, or turns an individual into
    a company, in a transaction held open: the customer's clear phone is locked as a key of the
    duplicate rule, so the teacher creating a customer with that phone at the same time waits
    (its connection gives up after lock_timeout) and, once the rep committed, is refused. The
    other way round, the rep's undelete waits for the teacher's new customer with that phone and
    is then refused as a duplicate, leaving the customer deleted."""
    from simcrm.errors import DuplicateError

    rep_id = firm.people["销售代表"]
    teacher = CRM.system(firm.store)
    firm.release()
    timeout = "-c lock_timeout=1500"
    u = sa.engine.make_url(pg_server.url).set(username=firm.logins["销售代表"], password=f"pw-{firm.logins['销售代表']}",
                                              query={"options": timeout})
    rep_store = Store(u.render_as_string(hide_password=False), create=False)
    t = sa.engine.make_url(pg_server.url).set(query={"options": f"-csearch_path={firm.schema_name} {timeout}"})
    teacher_store = Store(t.render_as_string(hide_password=False), create=False)
    try:
        rep, other = CRM(rep_store, user=rep_id), CRM.system(teacher_store)
        assert "customer.phone" in rep_store.masked_by_database
        base = 13800000000 + 1000 * (change == "kind") + 10 * rep_id
        phones = [str(base + k) for k in (1, 2)]
        ids = [teacher.create_customer(f"回归客户{change}{k}", "个人", province="四川", city="成都市", phone=p,
                                       owner=rep_id) for k, p in enumerate(phones)]
        if change == "undelete":
            for cid in ids:
                teacher.delete_customer(cid)

        def act(cid):
            if change == "undelete":
                rep._update("customer", cid, {"deleted": False})
            else:
                rep.update_customer(cid, kind="企业")

        with rep_store.transaction():
            act(ids[0])
            with pytest.raises(Exception) as info:  # the same phone waits for the rep's lock
                other.create_customer(f"同号新客户{change}有限公司", province="四川", city="成都市", phone=phones[0], owner=rep_id)
            assert _lock_timeout(info.value), repr(info.value)
        with pytest.raises(DuplicateError) as info:
            other.create_customer(f"同号新客户{change}有限公司", province="四川", city="成都市", phone=phones[0], owner=rep_id)
        assert info.value.field == "phone"
        if change == "undelete":  # the other way round
            with teacher_store.transaction():
                other.create_customer("先到的客户有限公司", province="四川", city="成都市", phone=phones[1], owner=rep_id)
                with pytest.raises(Exception) as info:
                    act(ids[1])
                assert _lock_timeout(info.value), repr(info.value)
            with pytest.raises(DuplicateError) as info:
                act(ids[1])
            assert info.value.field == "phone" and info.value.value == _mask("mobile", pd.Series([phones[1]]))[0]
            assert _clear(firm, "customer", ids[1], ["deleted"]) == {"deleted": True}
    finally:
        rep_store.close()
        teacher_store.close()
