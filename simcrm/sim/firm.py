"""The simulated firm: industry, departments, roles and rights, staff, products, rules.

The firm sells smart office equipment, supplies and services to enterprises and to
individuals, so both B2B (opportunities, contracts) and B2C (orders, Double Eleven) behaviour
appear in one world. Everything here is drawn once at the founding date from the firm's own
random stream; the catalogue and the organisation chart are data, not code paths.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import reference
from .identities import Identities

__all__ = ["Firm", "build_firm", "CATALOGUE", "CODE_FORMATS"]

#: numbering rules written to ``numbering_rule``: entity → (prefix, minimum width). Codes are
#: ``prefix + zero-padded serial`` (no date part); the width grows when a world needs more.
CODE_FORMATS: dict[str, tuple[str, int]] = {
    "department": ("BM", 2),
    "employee": ("YG", 3),
    "product_category": ("LB", 2),
    "product": ("CP", 4),
    "customer": ("KH", 5),
    "lead": ("XS", 6),
    "opportunity": ("SJ", 6),
    "quote": ("BJ", 6),
    "sales_order": ("DD", 6),
    "shipment": ("CK", 6),
    "payment": ("HK", 6),
    "invoice": ("FP", 8),
    "sales_return": ("TH", 6),
    "service_request": ("FW", 6),
    "complaint": ("TS", 6),
    "campaign": ("HD", 4),
}


def codes(entity: str, serials: np.ndarray, total: int | None = None) -> np.ndarray:
    """Codes for 1-based ``serials`` of ``entity`` (width grows with ``total``)."""
    prefix, width = CODE_FORMATS[entity]
    if len(serials) == 0:
        return np.zeros(0, dtype=object)
    if total is not None:
        width = max(width, len(str(int(total))))
    # prefix + the serial zero-filled to ``width`` (what f"{v:0{width}d}" gives), in numpy's string loops
    return np.strings.add(prefix, np.strings.zfill(np.asarray(serials).astype(np.int64).astype(str), width)).astype(object)


#: category tree: (code, name, parent code)
CATEGORIES = [
    ("01", "办公设备", None), ("0101", "打印复印", "01"), ("0102", "投影显示", "01"),
    ("02", "智能硬件", None), ("0201", "安防门禁", "02"), ("0202", "会议设备", "02"),
    ("03", "软件与服务", None), ("0301", "软件订阅", "03"), ("0302", "技术服务", "03"),
    ("04", "耗材配件", None), ("0401", "打印耗材", "04"), ("0402", "办公用品", "04"),
]

#: product catalogue: (category, name, model, unit, price, cost ratio, warranty months, B2C weight)
CATALOGUE = [
    ("0101", "激光打印机", "LP-2200", "台", 1899, 0.68, 12, 1.0),
    ("0101", "彩色激光多功能一体机", "MF-4800C", "台", 5699, 0.66, 12, 0.4),
    ("0101", "A3 数码复合机", "DC-6055", "台", 28600, 0.62, 24, 0.0),
    ("0101", "喷墨打印机", "IJ-520", "台", 899, 0.70, 12, 1.6),
    ("0101", "高速扫描仪", "SC-90D", "台", 3999, 0.65, 12, 0.2),
    ("0102", "商务投影仪", "PJ-X3", "台", 4599, 0.64, 24, 0.5),
    ("0102", "激光工程投影机", "PJ-L9K", "台", 39800, 0.60, 36, 0.0),
    ("0102", "86 英寸交互平板", "IFP-86", "台", 15800, 0.63, 36, 0.0),
    ("0102", "便携显示器", "PM-16", "台", 1299, 0.69, 12, 1.2),
    ("0201", "智能门锁", "SL-7", "套", 2399, 0.58, 24, 1.5),
    ("0201", "人脸识别考勤机", "FA-300", "台", 1699, 0.60, 12, 0.3),
    ("0201", "网络摄像头", "IPC-4M", "个", 499, 0.62, 12, 1.4),
    ("0201", "门禁系统（十门）", "AC-10", "套", 12800, 0.55, 24, 0.0),
    ("0202", "视频会议终端", "VC-500", "套", 9800, 0.57, 24, 0.0),
    ("0202", "全向麦克风", "MIC-360", "个", 1599, 0.60, 12, 0.4),
    ("0202", "无线投屏器", "WP-2", "个", 699, 0.55, 12, 0.9),
    ("0301", "云打印管理软件（年）", "CPM-Y", "年", 6800, 0.20, 0, 0.0),
    ("0301", "门禁考勤云平台（年）", "ACC-Y", "年", 4800, 0.22, 0, 0.0),
    ("0301", "会议预约系统（年）", "MRS-Y", "年", 3600, 0.25, 0, 0.0),
    ("0301", "个人云存储（年）", "PCS-Y", "年", 199, 0.30, 0, 1.3),
    ("0302", "上门安装调试", "SVC-INS", "次", 300, 0.45, 0, 0.6),
    ("0302", "年度维保服务", "SVC-AMC", "年", 8800, 0.40, 0, 0.0),
    ("0302", "设备巡检服务", "SVC-CHK", "次", 1200, 0.45, 0, 0.0),
    ("0302", "延长保修一年", "SVC-EXT", "年", 399, 0.30, 0, 0.7),
    ("0401", "原装硒鼓", "TN-2200", "个", 459, 0.55, 0, 1.2),
    ("0401", "彩色墨盒套装", "INK-4C", "套", 239, 0.50, 0, 1.8),
    ("0401", "复合机粉盒", "TN-6055", "个", 980, 0.52, 0, 0.0),
    ("0401", "打印纸 A4（箱）", "PA4-5", "箱", 129, 0.72, 0, 1.5),
    ("0402", "碎纸机", "SH-12", "台", 799, 0.62, 12, 0.7),
    ("0402", "装订机", "BD-30", "台", 459, 0.64, 12, 0.3),
    ("0402", "办公文具套装", "OS-01", "套", 89, 0.60, 0, 1.4),
    ("0402", "人体工学办公椅", "EC-8", "件", 1299, 0.58, 36, 1.0),
    ("0402", "升降办公桌", "SD-14", "件", 2599, 0.60, 36, 0.6),
    ("0201", "智能保险柜", "SS-60", "台", 3299, 0.61, 24, 0.5),
    ("0101", "标签打印机", "LB-10", "台", 699, 0.63, 12, 0.5),
    ("0102", "激光翻页笔", "PT-5", "个", 159, 0.50, 6, 1.3),
    ("0301", "电子签章服务（年）", "ES-Y", "年", 2400, 0.25, 0, 0.0),
    ("0202", "会议室中控系统", "MCS-1", "套", 16800, 0.56, 24, 0.0),
    ("0402", "保密文件柜", "FC-4", "件", 1899, 0.62, 24, 0.1),
    ("0401", "热敏标签纸（箱）", "TL-50", "箱", 199, 0.65, 0, 0.4),
]

#: departments: (code, name, parent code)
DEPARTMENTS = [
    ("01", "总经办", None), ("02", "销售部", "01"), ("03", "华东销售组", "02"),
    ("04", "华北销售组", "02"), ("05", "华南销售组", "02"), ("06", "市场部", "01"),
    ("07", "客服部", "01"), ("08", "财务部", "01"), ("09", "仓储部", "01"), ("10", "信息部", "01"),
]

#: roles: (name, role_type, data scope, description, rights {module: "crud"})
_ALL = {m: "crud" for m in reference.MODULES}
_READ = {m: "r" for m in reference.MODULES}
ROLES = [
    ("总经理", "老板", "全部", "公司负责人，查看全部数据", _ALL),
    ("系统管理员", "主管", "全部", "维护部门、员工、角色和数据字典", {**_READ, "system": "crud"}),
    ("销售主管", "主管", "本部门", "管理本组客户、销售机会和合同", {**_READ, **{m: "cru" for m in ("customer", "contact", "lead", "opportunity", "quote", "order", "activity", "care")}}),
    ("销售代表", "一般人员", "本人", "跟进本人的线索、客户和销售机会", {**{m: "r" for m in ("product", "analytics")}, **{m: "cru" for m in ("customer", "contact", "lead", "opportunity", "quote", "order", "activity", "care")}}),
    ("市场专员", "一般人员", "全部", "营销活动和线索", {**{m: "r" for m in ("customer", "contact", "product", "analytics")}, "campaign": "cru", "lead": "cru"}),
    # customer service answers whoever calls: it sees every customer (全部), changes only service data
    ("客服主管", "主管", "全部", "服务请求、投诉和回访", {**{m: "r" for m in ("customer", "contact", "product", "order", "analytics")}, **{m: "crud" for m in ("service", "complaint", "care")}}),
    ("客服专员", "一般人员", "全部", "受理服务请求和投诉", {**{m: "r" for m in ("customer", "contact", "product", "order")}, **{m: "cru" for m in ("service", "complaint", "care", "activity")}}),
    ("财务专员", "一般人员", "全部", "回款和开票", {**{m: "r" for m in ("customer", "order", "analytics")}, "finance": "cru"}),
    ("仓管员", "一般人员", "全部", "出入库和库存", {**{m: "r" for m in ("order",)}, "product": "cru"}),
]

#: staff plan: (department code, role name, title, how many, sales team region or None)
STAFF = [
    ("01", "总经理", "总经理", 1, None),
    ("02", "销售主管", "销售总监", 1, None),
    ("03", "销售主管", "华东销售经理", 1, "华东"),
    ("03", "销售代表", "销售代表", 4, "华东"),
    ("04", "销售主管", "华北销售经理", 1, "华北"),
    ("04", "销售代表", "销售代表", 3, "华北"),
    ("05", "销售主管", "华南销售经理", 1, "华南"),
    ("05", "销售代表", "销售代表", 3, "华南"),
    ("06", "市场专员", "市场经理", 1, None),
    ("06", "市场专员", "市场专员", 1, None),
    ("07", "客服主管", "客服经理", 1, None),
    ("07", "客服专员", "客服专员", 3, None),
    ("08", "财务专员", "财务经理", 1, None),
    ("08", "财务专员", "会计", 1, None),
    ("09", "仓管员", "仓库主管", 1, None),
    ("10", "系统管理员", "系统管理员", 1, None),
]

#: which sales team serves which of regions.csv's regions
TEAM_OF_REGION = {"华东": "华东", "华中": "华东", "华北": "华北", "东北": "华北", "西北": "华北",
                  "华南": "华南", "西南": "华南"}


@dataclass
class Firm:
    """The firm's static tables (internal frames: dictionary columns as text) and facts.

    Attributes:
        name: the firm's name, e.g. 杭州鑫博智能办公科技有限公司.
        industry: its industry (a value of the ``industry`` dictionary).
        city: where it is based.
        tables: ``{table: DataFrame}`` for department, role, role_right, employee,
            product_category, product (stock at founding), sla_policy.
        reps: employee ids of the sales representatives (owners of customers).
        rep_team: their team (华东/华北/华南), aligned with ``reps``.
        service_staff: employee ids of the service desk.
        weakness: per SERVQUAL dimension (``reference.SERVQUAL`` order), how weak the firm's
            operation behind it is (0 = sound, about 1 = clearly weak). One or two dimensions
            are weak; see :data:`WEAK_TRAITS` for what each weakness does to the records.
    """

    name: str
    industry: str
    city: str
    tables: dict[str, pd.DataFrame]
    reps: np.ndarray
    rep_team: np.ndarray
    rep_leave_day: np.ndarray
    service_staff: np.ndarray
    marketing_staff: np.ndarray
    finance_staff: np.ndarray
    warehouse_staff: np.ndarray
    boss: int
    manager_of_team: dict[str, int]
    weakness: np.ndarray = field(default_factory=lambda: np.zeros(len(reference.SERVQUAL)))

    def weak(self, code: str) -> float:
        """The weakness (0..1) of the SERVQUAL dimension ``code`` (e.g. ``"responsiveness"``)."""
        return float(self.weakness[SERVQUAL_CODES.index(code)])


#: SERVQUAL dimension codes in ``reference.SERVQUAL`` order
SERVQUAL_CODES = [d["code"] for d in reference.SERVQUAL]

#: the operating trait behind each SERVQUAL dimension, and what a weak one shows in the records
WEAK_TRAITS = {
    "tangibles": "发货包装和物流差：运输损坏的退货和“交付物流”投诉更多",
    "reliability": "产品故障多：每笔订单的服务请求更多，“产品质量”投诉更多",
    "responsiveness": "服务台人手慢：首次响应超出 SLA 的服务请求更多，投诉处理更慢，“售后维修”投诉更多",
    "assurance": "服务人员技能不足：服务请求满意度低、常需二次上门，“人员行为”投诉更多",
    "empathy": "不重视关怀：售后回访和生日关怀常常计划了却没做，“服务态度”投诉更多",
}


def draw_weakness(rng: np.random.Generator) -> np.ndarray:
    """One or two clearly weak SERVQUAL dimensions (a small firm cannot be good at everything)."""
    n = len(SERVQUAL_CODES)
    k = 1 + int(rng.random() < 0.5)
    w = np.zeros(n)
    pick = rng.choice(n, size=k, replace=False)
    w[pick] = rng.uniform(0.8, 1.0, size=k)
    return w


def build_firm(rng: np.random.Generator, ids: Identities, start: dt.date, today: dt.date) -> Firm:
    """Draw the firm at its founding date ``start``."""
    regions = _regions()
    home = regions.iloc[int(rng.integers(0, 12))]  # one of the largest cities
    prefix = ids.company_prefixes[int(rng.integers(0, len(ids.company_prefixes)))]
    name = f"{home['city'].removesuffix('市')}{prefix}智能办公科技有限公司"

    dept = pd.DataFrame(DEPARTMENTS, columns=["code", "name", "parent"])
    dept["id"] = np.arange(1, len(dept) + 1)
    code_to_id = dict(zip(dept["code"], dept["id"]))
    dept["parent_id"] = dept["parent"].map(code_to_id).astype("Int64")
    dept["code"] = codes("department", dept["id"].to_numpy())
    dept_code_id = {c: i for c, i in zip([d[0] for d in DEPARTMENTS], dept["id"])}

    roles = pd.DataFrame([r[:4] for r in ROLES], columns=["name", "role_type", "data_scope", "description"])
    roles["id"] = np.arange(1, len(roles) + 1)
    role_id = dict(zip(roles["name"], roles["id"]))
    rights = []
    for rname, _t, _s, _d, r in ROLES:
        for module in reference.MODULES:
            flags = r.get(module, "")
            rights.append((role_id[rname], module, "c" in flags, "r" in flags, "u" in flags, "d" in flags))
    role_right = pd.DataFrame(rights, columns=["role_id", "module", "can_create", "can_read", "can_update", "can_delete"])
    role_right.insert(0, "id", np.arange(1, len(role_right) + 1))

    rows = []
    for dcode, rname, title, count, team in STAFF:
        for _ in range(count):
            rows.append((dept_code_id[dcode], role_id[rname], rname, title, team))
    emp = pd.DataFrame(rows, columns=["department_id", "role_id", "role_name", "title", "team"])
    n = len(emp)
    emp["id"] = np.arange(1, n + 1)
    emp["role_type"] = emp["role_name"].map({r[0]: r[1] for r in ROLES})
    gender = rng.integers(0, 2, size=n)
    emp["gender"] = np.where(gender == 0, "男", "女")
    emp["name"] = ids.person_names(rng, gender)
    emp["code"] = codes("employee", emp["id"].to_numpy())
    emp["login"] = np.char.add("user", np.char.zfill(emp["id"].to_numpy().astype(str), 3))
    emp["mobile"] = ids.mobiles(rng, n)
    domain = "xb-office.com.cn"
    emp["email"] = np.char.add(emp["login"].to_numpy().astype(str), "@" + domain)
    start64 = np.datetime64(start, "D")
    hire = start64 - rng.integers(0, 400, size=n).astype("timedelta64[D]")
    emp["hire_date"] = hire
    # a few later hires replace reps who leave (set below)
    is_rep = (emp["role_name"] == "销售代表").to_numpy()
    rep_idx = np.flatnonzero(is_rep)
    leave_day = np.full(n, np.iinfo(np.int64).max)
    horizon = (today - start).days
    leavers = rng.choice(rep_idx, size=2, replace=False)
    leave_day[leavers] = rng.integers(int(horizon * 0.35), int(horizon * 0.8), size=2)
    # a customer-service agent leaves too
    svc = np.flatnonzero((emp["role_name"] == "客服专员").to_numpy())
    leave_day[svc[-1]] = int(horizon * 0.5)
    emp["_leave_day"] = leave_day
    # replacements hired for the leaving reps
    extra = []
    for j, li in enumerate(leavers):
        row = emp.iloc[li]
        extra.append((row["department_id"], row["role_id"], row["role_name"], row["title"], row["team"]))
    if extra:
        add = pd.DataFrame(extra, columns=["department_id", "role_id", "role_name", "title", "team"])
        k = len(add)
        add["id"] = np.arange(n + 1, n + k + 1)
        add["role_type"] = "一般人员"
        g2 = rng.integers(0, 2, size=k)
        add["gender"] = np.where(g2 == 0, "男", "女")
        add["name"] = ids.person_names(rng, g2)
        add["code"] = codes("employee", add["id"].to_numpy())
        add["login"] = np.char.add("user", np.char.zfill(add["id"].to_numpy().astype(str), 3))
        add["mobile"] = ids.mobiles(rng, k)
        add["email"] = np.char.add(add["login"].to_numpy().astype(str), "@" + domain)
        add["hire_date"] = start64 + (leave_day[leavers] - 20).astype("timedelta64[D]")
        add["_leave_day"] = np.iinfo(np.int64).max
        emp = pd.concat([emp, add], ignore_index=True)
    emp["_hire_day"] = (emp["hire_date"].to_numpy().astype("datetime64[D]") - start64).astype(np.int64)

    managers = {}
    for dcode, _n, _p in DEPARTMENTS:
        did = dept_code_id[dcode]
        heads = emp[(emp["department_id"] == did) & (emp["role_type"] != "一般人员")]
        managers[did] = int(heads["id"].iloc[0]) if len(heads) else None
    dept["manager_id"] = dept["id"].map(managers).astype("Int64")
    # 销售部 is led by the sales director; 总经办 by the boss
    dept = dept[["id", "code", "name", "parent_id", "manager_id"]]

    cats = pd.DataFrame(CATEGORIES, columns=["ccode", "name", "parent"])
    cats["id"] = np.arange(1, len(cats) + 1)
    cid = dict(zip(cats["ccode"], cats["id"]))
    cats["parent_id"] = cats["parent"].map(cid).astype("Int64")
    cats["code"] = codes("product_category", cats["id"].to_numpy())
    prod = pd.DataFrame(CATALOGUE, columns=["cat", "name", "model", "unit", "price", "cost_ratio", "warranty_months", "b2c"])
    m = len(prod)
    prod["id"] = np.arange(1, m + 1)
    prod["code"] = codes("product", prod["id"].to_numpy())
    prod["category_id"] = prod["cat"].map(cid)
    prod["price"] = prod["price"].astype(float)
    prod["cost"] = np.round(prod["price"] * prod["cost_ratio"] * rng.uniform(0.95, 1.05, size=m), 2)
    service = prod["unit"].isin(["年", "次"]).to_numpy()
    lower = np.where(service, np.nan, np.round(np.clip(2000 / np.sqrt(prod["price"]), 2, 300)))
    prod["stock_lower"] = lower
    prod["stock_upper"] = np.where(service, np.nan, lower * 5)
    prod["stock"] = np.where(service, 0.0, lower * 3)
    prod["status"] = "正常"
    prod["launched_on"] = start64 - rng.integers(30, 900, size=m).astype("timedelta64[D]")
    # two products are discontinued partway through (停售), one launched later
    prod["_stop_day"] = np.iinfo(np.int64).max
    prod.loc[[2, 28], "_stop_day"] = [int(horizon * 0.7), int(horizon * 0.85)]
    prod["_launch_day"] = 0
    prod.loc[m - 3, "_launch_day"] = int(horizon * 0.4)
    prod.loc[m - 3, "launched_on"] = start64 + np.timedelta64(int(horizon * 0.4), "D")
    prod["_quality"] = rng.beta(2, 30, size=m)  # latent failure propensity per unit
    prod["_b2c"] = prod["b2c"].astype(float)
    prod["_service"] = service

    sla = pd.DataFrame({"id": [1, 2, 3], "urgency": ["非常紧急", "紧急", "一般"],
                        "first_response_hours": [1.0, 4.0, 24.0], "resolution_hours": [8.0, 48.0, 120.0]})

    reps = emp.loc[emp["role_name"] == "销售代表", "id"].to_numpy()
    rep_team = emp.loc[emp["role_name"] == "销售代表", "team"].to_numpy()
    rep_leave = emp.loc[emp["role_name"] == "销售代表", "_leave_day"].to_numpy()
    mgr_of_team = {t: int(emp[(emp["role_name"] == "销售主管") & (emp["team"] == t)]["id"].iloc[0])
                   for t in ("华东", "华北", "华南")}
    return Firm(
        name=name,
        industry="批发和零售业",
        city=str(home["city"]),
        tables={"department": dept, "role": roles[["id", "name", "role_type", "data_scope", "description"]],
                "role_right": role_right, "employee": emp, "product_category": cats[["id", "code", "name", "parent_id"]],
                "product": prod, "sla_policy": sla},
        reps=reps,
        rep_team=rep_team,
        rep_leave_day=rep_leave,
        service_staff=emp.loc[emp["department_id"] == dept_code_id["07"], "id"].to_numpy(),
        marketing_staff=emp.loc[emp["department_id"] == dept_code_id["06"], "id"].to_numpy(),
        finance_staff=emp.loc[emp["department_id"] == dept_code_id["08"], "id"].to_numpy(),
        warehouse_staff=emp.loc[emp["department_id"] == dept_code_id["09"], "id"].to_numpy(),
        boss=int(emp["id"].iloc[0]),
        manager_of_team=mgr_of_team,
        weakness=draw_weakness(rng),
    )


def _regions() -> pd.DataFrame:
    r = reference.regions().copy()
    r["weight"] = r["weight"].astype(float)
    return r.sort_values("weight", ascending=False, kind="stable").reset_index(drop=True)
