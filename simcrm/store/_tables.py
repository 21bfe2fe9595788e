"""The definitions of every table of :mod:`simcrm.store.schema` (built only when needed).

:mod:`simcrm.store.schema` is the one place the rest of simcrm reads the schema from; this
module is what it runs when its cached copy of the metadata is missing or outdated (see
``schema._load``). Building the 42 tables through SQLAlchemy takes about 0.05 s of CPU time;
loading the pickled result takes a third of that. Edit the tables here; the cache key hashes
this file (with the rest of ``simcrm/store`` and ``simcrm/reference``), so the next import
builds and caches them afresh.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
)

from .. import reference

metadata = MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def col(
    name: str,
    type_: Any,
    label: str,
    *,
    fk: str | None = None,
    required: bool = False,
    unique: bool = False,
    states: str | None = None,
    dictionary: str | None = None,
    min: float | None = None,
    max: float | None = None,
    sensitive: str | None = None,
    index: bool = False,
    default: Any = None,
    use_alter: bool = False,
) -> tuple[Column, list[CheckConstraint]]:
    """One column with its label and the CHECK constraints it implies."""
    info: dict[str, Any] = {"label": label}
    args: list[Any] = []
    checks: list[CheckConstraint] = []
    if dictionary is not None:
        if dictionary not in reference.DICTIONARIES:
            raise KeyError(f"unknown dictionary {dictionary!r}")
        info["dictionary"] = dictionary
        fk = "dictionary.id"
    if fk is not None:
        args.append(ForeignKey(fk, use_alter=use_alter))
    if states is not None:
        values = reference.state_values(states)
        info["states"] = states
        checks.append(
            CheckConstraint(
                f"{name} IN ({', '.join(_sql_literal(v) for v in values)})",
                name=f"{name}",  # completed with the table name in tbl()
            )
        )
    if min is not None:
        info["min"] = min
        checks.append(CheckConstraint(f"{name} >= {min}", name=f"{name}_min"))
    if max is not None:
        info["max"] = max
        checks.append(CheckConstraint(f"{name} <= {max}", name=f"{name}_max"))
    if sensitive is not None:
        info["sensitive"] = sensitive
    column = Column(
        name,
        type_,
        *args,
        nullable=not required,
        unique=unique,
        index=index or fk is not None,
        info=info,
        default=default,
    )
    return column, checks


def pk(label: str = "编号") -> tuple[Column, list[CheckConstraint]]:
    return Column("id", Integer, primary_key=True, autoincrement=True, info={"label": label}), []


def tbl(name: str, label: str, *cols: tuple[Column, list[CheckConstraint]], extra=(), doc: str = "") -> Table:
    columns: list[Any] = []
    checks: list[CheckConstraint] = []
    for column, cks in cols:
        columns.append(column)
        for ck in cks:
            ck.name = f"ck_{name}_{ck.name}"
            checks.append(ck)
    return Table(name, metadata, *columns, *checks, *extra, info={"label": label, "doc": doc})


MONEY = Float  # yuan, rounded to 2 decimals by the writers (SQLite has no exact decimal type)
TEXT = String(200)
CODE = String(40)

# --- organisation and administration -------------------------------------------------------

tbl(
    "dictionary", "数据字典",
    pk(),
    col("list_name", String(40), "字典名称", required=True, index=True),
    col("value", String(100), "字典值", required=True),
    col("is_default", Boolean, "是否默认", required=True, default=False),
    col("in_use", Boolean, "是否启用", required=True, default=True),
    col("sort_order", Integer, "排序", required=True, default=0),
    extra=(UniqueConstraint("list_name", "value"),),
    doc="用户可扩展的下拉列表（来源、行业、等级、渠道……）",
)

tbl(
    "numbering_rule", "编号规则",
    pk(),
    col("entity", String(40), "适用对象", required=True, unique=True),
    col("prefix", String(10), "前缀", required=True),
    col("date_format", String(20), "日期格式"),
    col("width", Integer, "流水号位数", required=True, min=1, max=12),
    col("next_value", Integer, "下一个流水号", required=True, min=1),
)

tbl(
    "department", "部门",
    pk(),
    col("code", CODE, "部门编号", required=True, unique=True),
    col("name", String(60), "部门名称", required=True),
    col("parent_id", Integer, "上级部门", fk="department.id"),
    col("manager_id", Integer, "部门负责人", fk="employee.id", use_alter=True),
)

tbl(
    "role", "角色",
    pk(),
    col("name", String(40), "角色名称", required=True, unique=True),
    col("role_type", String(10), "角色类型", required=True, states="role_type"),
    col("data_scope", String(10), "数据范围", required=True, states="data_scope"),
    col("description", TEXT, "说明"),
)

tbl(
    "role_right", "角色权限",
    pk(),
    col("role_id", Integer, "角色", fk="role.id", required=True),
    col("module", String(20), "模块", required=True),
    col("can_create", Boolean, "新建", required=True, default=False),
    col("can_read", Boolean, "查看", required=True, default=True),
    col("can_update", Boolean, "修改", required=True, default=False),
    col("can_delete", Boolean, "删除", required=True, default=False),
    extra=(UniqueConstraint("role_id", "module"),),
)

tbl(
    "employee", "员工",
    pk(),
    col("code", CODE, "员工编号", required=True, unique=True),
    col("name", String(40), "姓名", required=True, sensitive="name"),
    col("login", String(40), "登录名", required=True, unique=True),
    col("gender", String(2), "性别", states="gender"),
    col("department_id", Integer, "所属部门", fk="department.id", required=True),
    col("role_id", Integer, "角色", fk="role.id", required=True),
    col("role_type", String(10), "角色类型", required=True, states="role_type"),
    col("title", String(40), "职位"),
    col("mobile", String(20), "手机", sensitive="mobile"),
    col("email", String(100), "电子邮件", sensitive="email"),
    col("hire_date", Date, "入职日期", required=True),
    col("leave_date", Date, "离职日期"),
    col("status", String(4), "员工状态", required=True, states="employee_status"),
)

# --- products ------------------------------------------------------------------------------

tbl(
    "product_category", "产品类别",
    pk(),
    col("code", CODE, "类别编号", required=True, unique=True),
    col("name", String(60), "类别名称", required=True),
    col("parent_id", Integer, "上级类别", fk="product_category.id"),
)

tbl(
    "product", "产品",
    pk(),
    col("code", CODE, "产品编号", required=True, unique=True),
    col("name", String(100), "产品名称", required=True),
    col("model", String(60), "型号"),
    col("category_id", Integer, "产品类别", fk="product_category.id", required=True),
    col("unit", Integer, "计量单位", dictionary="product_unit", required=True),
    col("price", MONEY, "标准售价", required=True, min=0),
    col("cost", MONEY, "成本价", required=True, min=0),
    col("stock", Float, "库存数量", required=True, min=0, default=0),
    col("stock_lower", Float, "库存下限", min=0),
    col("stock_upper", Float, "库存上限", min=0),
    col("warranty_months", Integer, "保修期(月)", min=0),
    col("status", String(4), "产品状态", required=True, states="product_status"),
    col("launched_on", Date, "上市日期"),
)

# --- customers, contacts, leads -------------------------------------------------------------

tbl(
    "customer", "客户",
    pk(),
    col("code", CODE, "客户编号", required=True, unique=True),
    col("name", String(100), "客户名称", required=True, sensitive="name"),
    col("kind", String(4), "客户类型", required=True, states="customer_kind"),
    col("industry", Integer, "所属行业", dictionary="industry"),
    col("size", Integer, "企业规模", dictionary="customer_size"),
    col("source", Integer, "客户来源", dictionary="source", required=True),
    col("province", String(20), "省份", required=True),
    col("city", String(30), "城市", required=True),
    col("address", TEXT, "地址", sensitive="address"),
    col("phone", String(20), "电话", sensitive="mobile", index=True),  # the duplicate check looks it up
    col("email", String(100), "电子邮件", sensitive="email"),
    col("id_number", String(18), "身份证号", sensitive="id_number"),
    col("credit_code", String(18), "统一社会信用代码"),
    col("owner_id", Integer, "负责人", fk="employee.id", required=True),
    col("level", Integer, "客户等级", dictionary="customer_level"),
    col("credit_rating", Integer, "信用等级", dictionary="credit_rating"),
    col("credit_limit", MONEY, "信用额度", min=0),
    col("relationship_level", Integer, "关系等级", dictionary="relationship_level"),
    col("first_contract_date", Date, "首次签约日期"),
    col("hot", Boolean, "热点客户", required=True, default=False),
    col("lifecycle", String(4), "生命周期", required=True, states="lifecycle"),
    col("lifecycle_date", Date, "生命周期变更日期"),
    col("lost_reason", Integer, "流失原因", dictionary="lost_reason"),
    col("created_at", DateTime, "创建时间", required=True),
    col("created_by", Integer, "创建人", fk="employee.id"),
    col("deleted", Boolean, "已删除", required=True, default=False),
    col("merged_into", Integer, "合并到", fk="customer.id"),
)
# the duplicate check compares e-mails case-insensitively (crm.customers)
Index("ix_customer_email_lower", func.lower(metadata.tables["customer"].c.email))

tbl(
    "customer_share", "客户共享",
    pk(),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("employee_id", Integer, "共享给", fk="employee.id", required=True),
    col("shared_at", DateTime, "共享时间", required=True),
    col("shared_by", Integer, "共享人", fk="employee.id"),
    extra=(UniqueConstraint("customer_id", "employee_id"),),
)

tbl(
    "owner_history", "负责人变更记录",
    pk(),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("owner_id", Integer, "负责人", fk="employee.id", required=True),
    col("from_date", DateTime, "开始时间", required=True),
    col("to_date", DateTime, "结束时间"),
    col("reason", TEXT, "变更原因"),
)

tbl(
    "contact", "联系人",
    pk(),
    col("customer_id", Integer, "所属客户", fk="customer.id", required=True),
    col("name", String(40), "姓名", required=True, sensitive="name"),
    col("gender", String(2), "性别", states="gender"),
    col("title", Integer, "职务", dictionary="contact_title"),
    col("department", String(40), "部门"),
    col("mobile", String(20), "手机", sensitive="mobile"),
    col("phone", String(20), "办公电话"),
    col("email", String(100), "电子邮件", sensitive="email"),
    col("birthday", Date, "生日"),
    col("buying_role", Integer, "购买角色", dictionary="buying_role"),
    col("status", String(4), "联系人状态", required=True, states="contact_status"),
    col("created_at", DateTime, "创建时间", required=True),
)

tbl(
    "lead", "线索",
    pk(),
    col("code", CODE, "线索编号", required=True, unique=True),
    col("name", String(40), "联系人姓名", required=True, sensitive="name"),
    col("company", String(100), "公司名称"),
    col("title", String(40), "职务"),
    col("mobile", String(20), "手机", sensitive="mobile"),
    col("email", String(100), "电子邮件", sensitive="email"),
    col("province", String(20), "省份"),
    col("city", String(30), "城市"),
    col("source", Integer, "线索来源", dictionary="source", required=True),
    col("owner_id", Integer, "负责人", fk="employee.id"),
    col("score", Integer, "线索评分", min=0, max=100),
    col("status", String(4), "线索状态", required=True, states="lead_status"),
    col("invalid_reason", Integer, "无效原因", dictionary="lead_invalid_reason"),
    col("created_at", DateTime, "创建时间", required=True),
    col("converted_at", DateTime, "转化时间"),
    col("customer_id", Integer, "转化客户", fk="customer.id"),
    col("contact_id", Integer, "转化联系人", fk="contact.id"),
    col("opportunity_id", Integer, "转化销售机会", fk="opportunity.id"),
)

# --- sales: opportunities, quotes, orders ----------------------------------------------------

tbl(
    "opportunity", "销售机会",
    pk(),
    col("code", CODE, "销售机会编号", required=True, unique=True),
    col("name", String(100), "销售机会名称", required=True),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("contact_id", Integer, "联系人", fk="contact.id"),
    col("owner_id", Integer, "负责人", fk="employee.id", required=True),
    col("source", Integer, "来源", dictionary="source"),
    col("amount", MONEY, "预计金额", required=True, min=0),
    col("expected_close", Date, "预计成交日期"),
    col("stage", String(10), "销售阶段", required=True, states=None),
    col("probability", Float, "赢单概率(%)", required=True, min=0, max=100),
    col("probability_override", Float, "手工概率(%)", min=0, max=100),
    col("status", String(4), "销售机会状态", required=True, states="opportunity_status"),
    col("created_at", DateTime, "创建时间", required=True),
    col("closed_at", DateTime, "结束时间"),
    col("lost_reason", TEXT, "失败原因"),
    extra=(
        CheckConstraint(
            "stage IN (" + ", ".join(_sql_literal(s) for s in reference.STAGES) + ")",
            name="ck_opportunity_stage",
        ),
        CheckConstraint("status <> '成功' OR probability = 100", name="ck_opportunity_won_100"),
        CheckConstraint("status <> '失败' OR probability = 0", name="ck_opportunity_lost_0"),
        # the board and the dashboard: open opportunities per stage, largest first, from the index
        Index("ix_opportunity_status_stage_amount", "status", "stage", "amount", "probability"),
    ),
)
metadata.tables["opportunity"].c.stage.info["states_list"] = reference.STAGES

tbl(
    "opportunity_stage_history", "销售机会阶段历史",
    pk(),
    col("opportunity_id", Integer, "销售机会", fk="opportunity.id", required=True),
    col("stage", String(10), "销售阶段", required=True),
    col("status", String(4), "销售机会状态", required=True, states="opportunity_status"),
    col("probability", Float, "赢单概率(%)", required=True, min=0, max=100),
    col("entered_at", DateTime, "进入时间", required=True),
    col("left_at", DateTime, "离开时间"),
    col("changed_by", Integer, "操作人", fk="employee.id"),
    # the funnel's furthest stage per opportunity, from this index alone
    extra=(Index("ix_opportunity_stage_history_opportunity_stage", "opportunity_id", "stage"),),
)

tbl(
    "quota", "销售指标",
    pk(),
    col("employee_id", Integer, "销售人员", fk="employee.id", required=True),
    col("period", String(7), "期间", required=True),
    col("amount", MONEY, "指标金额", required=True, min=0),
    extra=(UniqueConstraint("employee_id", "period"),),
)

tbl(
    "quote", "报价单",
    pk(),
    col("code", CODE, "报价单号", required=True, unique=True),
    col("opportunity_id", Integer, "销售机会", fk="opportunity.id"),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("owner_id", Integer, "负责人", fk="employee.id", required=True),
    col("quote_date", Date, "报价日期", required=True),
    col("valid_until", Date, "有效期至"),
    col("status", String(4), "报价状态", required=True, states="quote_status"),
    col("total_amount", MONEY, "报价总额", required=True, min=0, default=0),
)

tbl(
    "quote_line", "报价明细",
    pk(),
    col("quote_id", Integer, "报价单", fk="quote.id", required=True),
    col("product_id", Integer, "产品", fk="product.id", required=True),
    col("quantity", Float, "数量", required=True, min=0),
    col("unit_price", MONEY, "单价", required=True, min=0),
    col("discount", Float, "折扣率", required=True, min=0, max=1, default=0),
    col("tax_rate", Float, "税率", required=True, min=0, max=1, default=0.13),
    col("amount", MONEY, "金额", required=True, min=0),
)

tbl(
    "sales_order", "合同/订单",
    pk(),
    col("code", CODE, "合同/订单号", required=True, unique=True),
    col("kind", String(4), "单据类型", required=True, states="order_kind"),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("contact_id", Integer, "联系人", fk="contact.id"),
    col("owner_id", Integer, "负责人", fk="employee.id", required=True),
    col("opportunity_id", Integer, "销售机会", fk="opportunity.id"),
    col("quote_id", Integer, "报价单", fk="quote.id"),
    col("order_date", Date, "签订日期", required=True),
    col("end_date", Date, "合同到期日"),
    col("total_amount", MONEY, "总金额", required=True, min=0, default=0),
    col("payment_terms", Integer, "付款方式", dictionary="payment_terms"),
    col("status", String(4), "执行状态", required=True, states="order_status"),
    col("approval", String(4), "审批状态", required=True, states="approval"),
    col("shipping", String(4), "出库状态", required=True, states="shipping"),
    col("approved_by", Integer, "审批人", fk="employee.id"),
    col("approved_at", DateTime, "审批时间"),
    # the dashboard's sales per customer (pyramid, RFM) and a user's orders read from this index alone
    extra=(Index("ix_sales_order_customer_sales", "customer_id", "approval", "status", "order_date",
                 "total_amount"),
           # the dashboard's sales per day in date order, from this index alone (no sort)
           Index("ix_sales_order_date_sales", "order_date", "approval", "status", "total_amount")),
)

tbl(
    "order_line", "订单明细",
    pk(),
    col("order_id", Integer, "合同/订单", fk="sales_order.id", required=True),
    col("product_id", Integer, "产品", fk="product.id", required=True),
    col("quantity", Float, "数量", required=True, min=0),
    col("unit_price", MONEY, "单价", required=True, min=0),
    col("discount", Float, "折扣率", required=True, min=0, max=1, default=0),
    col("tax_rate", Float, "税率", required=True, min=0, max=1, default=0.13),
    col("amount", MONEY, "金额", required=True, min=0),
    col("shipped_quantity", Float, "已出库数量", required=True, min=0, default=0),
)

tbl(
    "shipment", "出库单",
    pk(),
    col("code", CODE, "出库单号", required=True, unique=True),
    col("order_id", Integer, "合同/订单", fk="sales_order.id", required=True),
    col("ship_date", Date, "出库日期", required=True),
    col("handled_by", Integer, "经办人", fk="employee.id"),
)

tbl(
    "stock_move", "库存变动",
    pk(),
    col("product_id", Integer, "产品", fk="product.id", required=True),
    col("move_date", Date, "日期", required=True),
    col("kind", String(6), "出入库类型", required=True, states="stock_move_kind"),
    col("quantity", Float, "数量", required=True),
    col("shipment_id", Integer, "出库单", fk="shipment.id"),
    col("order_line_id", Integer, "订单明细", fk="order_line.id"),
    col("return_id", Integer, "退货单", fk="sales_return.id"),
    col("note", TEXT, "备注"),
)

tbl(
    "payment_plan", "回款计划",
    pk(),
    col("order_id", Integer, "合同/订单", fk="sales_order.id", required=True),
    col("instalment", Integer, "期次", required=True, min=1),
    col("due_date", Date, "计划回款日期", required=True),
    col("amount", MONEY, "计划金额", required=True, min=0),
    # receivables by SQL read (order, due date, amount) from this index alone
    extra=(UniqueConstraint("order_id", "instalment"),
           Index("ix_payment_plan_order_due_amount", "order_id", "due_date", "amount")),
)

tbl(
    "payment", "回款记录",
    pk(),
    col("code", CODE, "回款单号", required=True, unique=True),
    col("order_id", Integer, "合同/订单", fk="sales_order.id", required=True),
    col("plan_id", Integer, "回款计划", fk="payment_plan.id"),
    col("paid_date", Date, "回款日期", required=True),
    col("amount", MONEY, "回款金额", required=True, min=0),
    col("method", String(20), "付款方式"),
    # receivables by SQL read (order, payment date, amount) from this index alone
    extra=(Index("ix_payment_order_paid_amount", "order_id", "paid_date", "amount"),),
)

tbl(
    "invoice", "发票",
    pk(),
    col("invoice_no", CODE, "发票号码", required=True, unique=True),
    col("order_id", Integer, "合同/订单", fk="sales_order.id", required=True),
    col("invoice_date", Date, "开票日期", required=True),
    col("amount", MONEY, "开票金额", required=True, min=0),
    col("tax_amount", MONEY, "税额", required=True, min=0, default=0),
)

tbl(
    "sales_return", "退货单",
    pk(),
    col("code", CODE, "退货单号", required=True, unique=True),
    col("order_id", Integer, "合同/订单", fk="sales_order.id", required=True),
    col("return_date", Date, "退货日期", required=True),
    col("reason", TEXT, "退货原因", required=True),
    col("amount", MONEY, "退货金额", required=True, min=0, default=0),
)

tbl(
    "return_line", "退货明细",
    pk(),
    col("return_id", Integer, "退货单", fk="sales_return.id", required=True),
    col("order_line_id", Integer, "订单明细", fk="order_line.id", required=True),
    col("quantity", Float, "数量", required=True, min=0),
    col("amount", MONEY, "金额", required=True, min=0),
)

tbl(
    "refund", "退款记录",
    pk(),
    col("code", CODE, "退款单号", required=True, unique=True),
    col("order_id", Integer, "合同/订单", fk="sales_order.id", required=True),
    col("return_id", Integer, "退货单", fk="sales_return.id"),
    col("refund_date", Date, "退款日期", required=True),
    col("amount", MONEY, "退款金额", required=True, min=0),
    col("reason", TEXT, "退款原因"),
    doc="Money paid back to the customer: a return after the order was (over)paid leaves the "
        "customer in credit; the refund brings the order's outstanding amount back to 0.",
)

tbl(
    "credit_note", "红字发票",
    pk(),
    col("code", CODE, "红字发票号码", required=True, unique=True),
    col("order_id", Integer, "合同/订单", fk="sales_order.id", required=True),
    col("invoice_id", Integer, "原蓝字发票", fk="invoice.id", required=True),
    col("return_id", Integer, "退货单", fk="sales_return.id"),
    col("credit_date", Date, "开具日期", required=True),
    col("amount", MONEY, "冲减金额", required=True, min=0),
    col("tax_amount", MONEY, "冲减税额", required=True, min=0, default=0),
    col("reason", TEXT, "红冲原因", required=True),
    col("created_by", Integer, "开票人", fk="employee.id"),
    doc="A red-letter invoice (红字发票): reverses part or all of one issued (blue) invoice, e.g. "
        "when goods are returned after invoicing. Amounts are positive and mean the amount "
        "reversed; an order's invoiced amount is its invoices minus its credit notes. Filled by "
        "the CRM only (the generated worlds leave it empty).",
)

# --- relationship: activities, care, service, complaints, surveys ------------------------

tbl(
    "activity", "客户沟通记录",
    pk(),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("contact_id", Integer, "联系人", fk="contact.id"),
    col("employee_id", Integer, "员工", fk="employee.id", required=True),
    col("channel", Integer, "沟通渠道", dictionary="channel", required=True),
    col("kind", String(4), "活动类型", required=True, states="activity_kind"),
    col("subject", TEXT, "主题", required=True),
    col("activity_time", DateTime, "时间", required=True),
    col("outcome", TEXT, "结果"),
    col("opportunity_id", Integer, "销售机会", fk="opportunity.id"),
    col("campaign_id", Integer, "营销活动", fk="campaign.id"),
)

tbl(
    "care", "客户关怀",
    pk(),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("contact_id", Integer, "联系人", fk="contact.id"),
    col("employee_id", Integer, "负责人", fk="employee.id", required=True),
    col("care_type", String(6), "关怀类型", required=True, states="care_type"),
    col("channel", Integer, "关怀渠道", dictionary="channel"),
    col("subject", TEXT, "关怀内容", required=True),
    col("planned_date", Date, "计划日期", required=True),
    col("done_date", Date, "执行日期"),
    col("feedback", TEXT, "客户反馈"),
    col("satisfaction", Integer, "反馈满意度", min=1, max=5),
    col("campaign_id", Integer, "营销活动", fk="campaign.id"),
)

tbl(
    "sla_policy", "服务等级协议",
    pk(),
    col("urgency", String(4), "紧急程度", required=True, unique=True, states="urgency"),
    col("first_response_hours", Float, "首次响应时限(小时)", required=True, min=0),
    col("resolution_hours", Float, "解决时限(小时)", required=True, min=0),
)

tbl(
    "service_request", "服务请求",
    pk(),
    col("code", CODE, "服务单号", required=True, unique=True),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("contact_id", Integer, "联系人", fk="contact.id"),
    col("product_id", Integer, "产品", fk="product.id"),
    col("order_id", Integer, "合同/订单", fk="sales_order.id"),
    col("assignee_id", Integer, "处理人", fk="employee.id"),
    col("channel", Integer, "受理渠道", dictionary="channel"),
    col("urgency", String(4), "紧急程度", required=True, states="urgency"),
    col("description", TEXT, "问题描述", required=True),
    col("in_warranty", Boolean, "保修期内", required=True, default=False),
    col("opened_at", DateTime, "受理时间", required=True),
    col("first_response_at", DateTime, "首次响应时间"),
    col("resolved_at", DateTime, "解决时间"),
    col("closed_at", DateTime, "关闭时间"),
    col("status", String(4), "服务状态", required=True, states="service_status"),
    col("satisfaction", Integer, "服务满意度", min=1, max=5),
)

tbl(
    "complaint", "投诉",
    pk(),
    col("code", CODE, "投诉单号", required=True, unique=True),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("contact_id", Integer, "联系人", fk="contact.id"),
    col("order_id", Integer, "合同/订单", fk="sales_order.id"),
    col("product_id", Integer, "产品", fk="product.id"),
    col("category", Integer, "投诉类别", dictionary="complaint_category", required=True),
    col("gap_type", String(4), "满意度差距", states="gap_type"),
    col("urgency", String(4), "紧急程度", required=True, states="urgency"),
    col("channel", Integer, "投诉渠道", dictionary="channel"),
    col("description", TEXT, "投诉内容", required=True),
    col("first_receiver_id", Integer, "首问接待人", fk="employee.id", required=True),
    col("department_id", Integer, "责任部门", fk="department.id"),
    col("handler_id", Integer, "处理人", fk="employee.id"),
    col("handling_notes", Text, "处理过程"),
    col("solution", Text, "处理方案"),
    col("customer_feedback", Text, "客户反馈"),
    col("return_visit_confirmed", Boolean, "回访确认", required=True, default=False),
    col("satisfaction", Integer, "处理满意度", min=1, max=5),
    col("status", String(4), "投诉状态", required=True, states="complaint_status"),
    col("received_at", DateTime, "受理时间", required=True),
    col("closed_at", DateTime, "归档时间"),
)

tbl(
    "complaint_history", "投诉处理记录",
    pk(),
    col("complaint_id", Integer, "投诉", fk="complaint.id", required=True),
    col("status", String(4), "投诉状态", required=True, states="complaint_status"),
    col("at", DateTime, "时间", required=True),
    col("employee_id", Integer, "操作人", fk="employee.id"),
    col("note", TEXT, "说明"),
)

tbl(
    "complaint_policy", "投诉处理规则",
    pk(),
    col("category", Integer, "投诉类别", dictionary="complaint_category", required=True, unique=True),
    col("response_days", Integer, "首次响应时限(天)", required=True, min=0, max=30),
    col("resolve_days", Integer, "回访解决时限(天)", required=True, min=1, max=180),
    col("remedy", String(8), "处理方式", required=True, states="complaint_remedy"),
    col("handler_id", Integer, "处理人", fk="employee.id"),
    col("note", TEXT, "说明"),
    doc="服务策略：每类投诉多少天内首次响应、多少天回访解决、处理方式（补偿水平）和处理人；模拟对此后受理的该类投诉照此处理",
)

tbl(
    "return_visit", "回访记录",
    pk(),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("complaint_id", Integer, "投诉", fk="complaint.id"),
    col("service_request_id", Integer, "服务请求", fk="service_request.id"),
    col("employee_id", Integer, "回访人", fk="employee.id", required=True),
    col("visit_date", Date, "回访日期", required=True),
    col("channel", Integer, "回访渠道", dictionary="channel"),
    col("satisfaction", Integer, "满意度", min=1, max=5),
    col("notes", TEXT, "回访记录"),
)

tbl(
    "survey", "满意度调查",
    pk(),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("survey_date", Date, "调查日期", required=True),
    *[
        col(f"{kind}_{d['code']}", Float, f"{d['name']}{'期望' if kind == 'exp' else '感知'}", min=1, max=7)
        for kind in ("exp", "per")
        for d in reference.SERVQUAL
    ],
    col("overall", Integer, "总体满意度", required=True, min=1, max=5),
    col("would_recommend", Boolean, "愿意推荐"),
    col("comment", TEXT, "意见"),
)

# --- marketing -------------------------------------------------------------------------------

tbl(
    "campaign", "营销活动",
    pk(),
    col("code", CODE, "活动编号", required=True, unique=True),
    col("name", String(100), "活动名称", required=True),
    col("campaign_type", Integer, "活动类型", dictionary="campaign_type", required=True),
    col("channel", Integer, "渠道", dictionary="channel"),
    col("owner_id", Integer, "负责人", fk="employee.id", required=True),
    col("start_date", Date, "开始日期", required=True),
    col("end_date", Date, "结束日期"),
    col("cost_per_contact", MONEY, "单位接触成本", required=True, min=0, default=0),
    col("budget", MONEY, "预算", required=True, min=0, default=0),
    col("status", String(4), "活动状态", required=True, states="campaign_status"),
    col("control_share", Float, "对照组比例", min=0, max=1),
    col("seed", Integer, "随机种子"),
)

tbl(
    "campaign_member", "活动对象",
    pk(),
    col("campaign_id", Integer, "营销活动", fk="campaign.id", required=True),
    col("customer_id", Integer, "客户", fk="customer.id", required=True),
    col("group_name", String(4), "分组", required=True, states="campaign_group"),
    col("contacted_at", DateTime, "接触时间"),
    col("responded", Boolean, "是否响应"),
    extra=(UniqueConstraint("campaign_id", "customer_id"),),
)

# --- governance --------------------------------------------------------------------------------

tbl(
    "audit_log", "操作日志",
    pk(),
    col("at", DateTime, "时间", required=True),
    col("employee_id", Integer, "操作人", fk="employee.id"),
    col("action", String(6), "操作类型", required=True, states="audit_action"),
    col("table_name", String(40), "数据表", required=True),
    col("row_id", Integer, "记录编号"),
    col("field", String(40), "字段"),
    col("old_value", Text, "原值"),
    col("new_value", Text, "新值"),
)

tbl(
    "export_log", "导出记录",
    pk(),
    col("at", DateTime, "时间", required=True),
    col("employee_id", Integer, "导出人", fk="employee.id", required=True),
    col("table_name", String(40), "数据表", required=True),
    col("row_count", Integer, "记录数", required=True, min=0),
    col("masked_fields", TEXT, "脱敏字段"),
    col("purpose", TEXT, "用途"),
)
