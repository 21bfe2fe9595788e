"""服务台 (service desk): service requests and complaints through their states, SLA clocks, 回访.

The state buttons offered are exactly the allowed next states of ``simcrm.reference``'s state
machines for the selected record (nothing else is clickable), each calling its CRM operation:
service request 新建 → 处理中 (``respond_service_request``), 处理中 → 已解决
(``resolve_service_request``), 已解决 → 已关闭 (``close_service_request``) or → 处理中
(``reopen_service_request``); a complaint moves with ``advance_complaint`` (the note, the
responsible department and the solution come from the fields above the buttons). The SLA
table is ``crm.sla_status()`` with the elapsed hours against the targets.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import pandas as pd

from .. import reference
from ._base import Screen, api_call, frame_html

__all__ = ["ServiceDesk", "REQUEST_ACTIONS"]

#: (current state, next state) of a service request → the CRM operation
REQUEST_ACTIONS = {
    ("新建", "处理中"): "respond_service_request",
    ("处理中", "已解决"): "resolve_service_request",
    ("已解决", "已关闭"): "close_service_request",
    ("已解决", "处理中"): "reopen_service_request",
}
_OPEN_REQUEST = ("新建", "处理中", "已解决")
#: records offered by each picker (the newest ones)
_MAX_ITEMS = 300


class ServiceDesk(Screen):
    """Service requests, complaints and return visits of the customers the user may see.

    Attributes:
        request_picker, complaint_picker: drop-downs of the newest ``max_items`` service
            requests and complaints the user may see (``requests``, ``complaints``: their rows).
        request_buttons, complaint_buttons: ``{next state: Button}`` for the selected record.
        note, department, solution: inputs used by the complaint buttons.
        sla: the ``crm.sla_status()`` table shown.
    """

    def __init__(self, crm: Any, *, max_items: int = _MAX_ITEMS):
        super().__init__()
        self.crm = crm
        self.max_items = int(max_items)
        self._sla_all: pd.DataFrame | None = None
        self.request_picker = w.Dropdown(description="服务请求", layout=w.Layout(width="460px"))
        self.request_info = w.HTML()
        self.request_box = w.HBox()
        self.request_buttons: dict[str, w.Button] = {}
        self.sla_html = w.HTML()
        self.complaint_picker = w.Dropdown(description="投诉", layout=w.Layout(width="460px"))
        self.complaint_info = w.HTML()
        self.note = w.Text(description="处理说明", layout=w.Layout(width="460px"))
        depts = crm.store.read("department", columns=["id", "name"])
        self.department = w.Dropdown(options=[("", None)] + [(n, int(i)) for i, n in zip(depts["id"], depts["name"])],
                                     description="责任部门")
        self.solution = w.Text(description="处理方案", layout=w.Layout(width="460px"))
        self.complaint_box = w.HBox()
        self.complaint_buttons: dict[str, w.Button] = {}
        self.visit_satisfaction = w.Dropdown(options=[("", None)] + [(str(i), i) for i in range(1, 6)],
                                             description="满意度")
        self.visit_notes = w.Text(description="回访记录", layout=w.Layout(width="460px"))
        self.visit_button = w.Button(description="记录回访", icon="phone")
        self.visit_button.on_click(self.guard(lambda _b: self.record_visit()))
        self.request_picker.observe(self.guard(lambda _c: self._show_request()), names="value")
        self.complaint_picker.observe(self.guard(lambda _c: self._show_complaint()), names="value")
        requests = w.VBox([self.request_picker, self.request_info, self.request_box,
                           w.HTML("<b>SLA 时钟</b>（未解决的请求；已用时间 / 目标，小时）"), self.sla_html])
        complaints = w.VBox([self.complaint_picker, self.complaint_info, self.note, self.department, self.solution,
                             self.complaint_box, w.HTML("<b>回访</b>"),
                             w.HBox([self.visit_satisfaction, self.visit_notes, self.visit_button])])
        self.tabs = w.Tab(children=[requests, complaints])
        self.tabs.set_title(0, "服务请求")
        self.tabs.set_title(1, "投诉处理")
        self.widget = w.VBox([w.HTML("<h4>服务台</h4>"), self.tabs, self.status, self.code])
        self.refresh()

    # -- data --------------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read requests, complaints and the SLA table."""
        req = self._newest("service_request", self.request_picker.value)
        self.requests = req
        keep_r = self.request_picker.value
        self.request_picker.options = [(f"{r.code} [{r.status}] {r.description}", int(r.id))
                                       for r in req.sort_values("id", ascending=False).itertuples()]
        if keep_r in set(req["id"]):
            self.request_picker.value = keep_r
        elif self.request_picker.options:
            self.request_picker.value = self.request_picker.options[0][1]
        cp = self._newest("complaint", self.complaint_picker.value)
        self.complaints = cp
        keep_c = self.complaint_picker.value
        self.complaint_picker.options = [(f"{r.code} [{r.status}] {r.description}", int(r.id))
                                         for r in cp.sort_values("id", ascending=False).itertuples()]
        if keep_c in set(cp["id"]):
            self.complaint_picker.value = keep_c
        elif self.complaint_picker.options:
            self.complaint_picker.value = self.complaint_picker.options[0][1]
        self._sla()
        self._show_request()
        self._show_complaint()

    def _newest(self, table: str, keep: Any) -> pd.DataFrame:
        """The newest :attr:`max_items` rows of ``table`` the user may see (``ORDER BY id DESC
        LIMIT`` in the database), plus row ``keep`` if it is older."""
        rows = self.crm.list(table, order_by="id", descending=True, limit=self.max_items)
        if keep is not None and int(keep) not in set(int(i) for i in rows["id"]):
            older = self.crm.list(table, where={"id": int(keep)})
            if len(older):
                rows = pd.concat([rows, older], ignore_index=True)
        return rows

    def _with_hours(self, sla: pd.DataFrame) -> pd.DataFrame:
        """``sla`` plus the elapsed hours (until resolved, or now) and the resolution target."""
        now = pd.Timestamp(self.crm.now)
        policy = self.crm.store.read("sla_policy").set_index("urgency")
        end = sla["resolved_at"].where(sla["resolved_at"].notna(), now)
        return sla.assign(elapsed_hours=((end - sla["opened_at"]).dt.total_seconds() / 3600).round(1),
                          target_hours=sla["urgency"].map(policy["resolution_hours"]))

    @property
    def sla(self) -> pd.DataFrame:
        """``crm.sla_status()`` of every visible request with ``elapsed_hours`` and ``target_hours``
        (read when first used: the clock table itself reads only the requests it shows)."""
        if self._sla_all is None:
            self._sla_all = self._with_hours(self.crm.sla_status())
        return self._sla_all

    def _sla(self) -> None:
        self._sla_all = None
        # the clocks still running are what a desk watches (新建, 处理中); the resolved and closed
        # requests (hundreds a year) stay in crm.sla_status(). The database picks the first
        # max_items unresolved ones (in id order, as sla_status lists them) and counts them all:
        # a table of thousands of rows helps no one and is slow to draw.
        crm = self.crm
        rows = crm.list("service_request", where={"resolved_at": None}, limit=self.max_items)
        running = len(rows) if len(rows) < self.max_items else crm.count("service_request", where={"resolved_at": None})
        sla = self._with_hours(crm._sla_table(rows))
        shown = pd.DataFrame({
            "编号": sla["code"], "紧急程度": sla["urgency"], "状态": sla["status"],
            "已用 / 目标（小时）": [f"{e:g} / {t:g}" if pd.notna(t) else f"{e:g}" for e, t in
                               zip(sla["elapsed_hours"], sla["target_hours"])],
            "响应期限": sla["response_due"], "解决期限": sla["resolution_due"],
            "超时": sla["breached"].map({True: "是", False: ""})})
        more = f"<div>共 {running:,} 个未解决的请求，显示前 {len(sla):,} 个。</div>" if running > len(sla) else ""
        self.sla_html.value = more + frame_html(shown, highlight=sla["breached"].astype(bool))

    def _show_request(self) -> None:
        rid = self.request_picker.value
        self.request_buttons = {}
        if rid is None:
            self.request_info.value, self.request_box.children = "（没有服务请求）", []
            return
        row = self.requests.set_index("id").loc[rid]
        self.request_info.value = (f"状态：<b>{row['status']}</b> · 紧急程度 {row['urgency']} · "
                                   f"受理 {row['opened_at']} · {'保修期内' if row['in_warranty'] else '保修期外'}")
        for nxt in reference.allowed_transitions("service_status", row["status"]):
            label = {"处理中": "开始处理" if row["status"] == "新建" else "重新打开", "已解决": "已解决",
                     "已关闭": "关闭"}[nxt]
            button = w.Button(description=f"{label} → {nxt}", button_style="info")
            button.on_click(self.guard(lambda _b, n=nxt: self.move_request(n)))
            self.request_buttons[nxt] = button
        self.request_box.children = list(self.request_buttons.values())

    def _show_complaint(self) -> None:
        cid = self.complaint_picker.value
        self.complaint_buttons = {}
        if cid is None:
            self.complaint_info.value, self.complaint_box.children = "（没有投诉）", []
            return
        row = self.complaints.set_index("id").loc[cid]
        path = " → ".join(f"<b>{s}</b>" if s == row["status"] else s for s in reference.state_values("complaint_status"))
        self.complaint_info.value = (f"{path}<br>类别 {row['category']} · 紧急程度 {row['urgency']} · "
                                     f"方案：{row['solution'] if isinstance(row['solution'], str) else '（未定）'}")
        for nxt in reference.allowed_transitions("complaint_status", row["status"]):
            button = w.Button(description=f"→ {nxt}", button_style="info")
            button.on_click(self.guard(lambda _b, n=nxt: self.move_complaint(n)))
            self.complaint_buttons[nxt] = button
        self.complaint_box.children = list(self.complaint_buttons.values())

    # -- actions -------------------------------------------------------------------------------------

    def move_request(self, status: str) -> None:
        """Move the selected service request to ``status`` through its CRM operation."""
        rid = int(self.request_picker.value)
        current = str(self.requests.set_index("id").loc[rid, "status"])
        method = REQUEST_ACTIONS[(current, status)]
        if self.run(api_call(method, rid), lambda: getattr(self.crm, method)(rid) or True,
                    f"服务请求 {rid}：{current} → {status}。"):
            self.refresh()

    def move_complaint(self, status: str) -> None:
        """Advance the selected complaint to ``status`` (``crm.advance_complaint``)."""
        cid = int(self.complaint_picker.value)
        fields = {}
        if status == "已分派" and self.department.value is not None:
            fields["department_id"] = self.department.value
        if status in ("方案待批", "处理中") and self.solution.value.strip():
            fields["solution"] = self.solution.value.strip()
        note = self.note.value.strip() or None
        if self.run(api_call("advance_complaint", cid, status, note=note, **fields),
                    lambda: self.crm.advance_complaint(cid, status, note=note, **fields) or True,
                    f"投诉 {cid} 已进入“{status}”。"):
            self.note.value = ""
            self.refresh()

    def record_visit(self) -> Any:
        """Record a confirmed return visit for the selected complaint (``crm.record_return_visit``)."""
        cid = int(self.complaint_picker.value)
        customer = int(self.complaints.set_index("id").loc[cid, "customer_id"])
        kw = dict(complaint_id=cid, satisfaction=self.visit_satisfaction.value,
                  notes=self.visit_notes.value.strip() or None, confirmed=True)
        result = self.run(api_call("record_return_visit", customer, **kw),
                          lambda: self.crm.record_return_visit(customer, **kw), "回访已记录。")
        if result is not None:
            self.refresh()
        return result
