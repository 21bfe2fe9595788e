"""线索导入与查重: upload a CSV/Excel lead file, see the row-by-row report; merge duplicates.

The upload goes to :meth:`simcrm.crm.CRM.import_leads` unchanged (the file is saved under its
own name in a temporary folder, so CSV/GBK/Excel detection is the CRM's own); the report is
the one ``import_leads`` returns, with Chinese headings and the rejected rows highlighted.
The duplicate groups come from ``crm.duplicate_report()``; each group has a “保留” choice and
a 合并 button calling ``crm.merge_customers(keep, others)``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import ipywidgets as w
import pandas as pd

from ..errors import SimCRMError
from ._base import Screen, api_call, error_text, frame_html

__all__ = ["LeadImport", "DuplicateGroup", "REPORT_LABELS"]

REPORT_LABELS = {"row": "行号", "accepted": "已导入", "id": "线索编号", "field": "字段", "value": "值", "reason": "原因"}
DUPLICATE_LABELS = {"customer_id": "客户编号", "code": "客户编码", "name": "客户名称", "phone": "电话", "email": "电子邮件",
                    "owner_id": "负责人", "matched_on": "相同字段"}
_MATCH_ZH = {"name": "名称", "phone": "电话", "email": "邮箱"}


class DuplicateGroup:
    """One group of look-alike customers: its table, a “保留” drop-down and a 合并 button."""

    def __init__(self, screen: "LeadImport", number: int, rows: pd.DataFrame):
        self.number = number
        self.customer_ids = [int(i) for i in rows["customer_id"]]
        self.keep = w.Dropdown(options=[(f"{r.name}（{r.customer_id}）", int(r.customer_id)) for r in rows.itertuples()],
                               value=self.customer_ids[0], description="保留", layout=w.Layout(width="360px"))
        if "visible" in rows:
            rows = rows.drop(columns="visible")
        self.merge_button = w.Button(description="合并", button_style="warning", icon="compress")
        self.merge_button.on_click(screen.guard(lambda _b: screen.merge(self)))
        shown = rows.assign(matched_on=rows["matched_on"].map(
            lambda s: "、".join(_MATCH_ZH.get(x, x) for x in str(s).split("、"))))
        self.widget = w.VBox([w.HTML(f"<b>重复组 {number}</b>" + frame_html(shown.drop(columns="group").rename(
            columns=DUPLICATE_LABELS))), w.HBox([self.keep, self.merge_button])],
            layout=w.Layout(border="1px solid #e3c66b", padding="4px", margin="4px 0"))


class LeadImport(Screen):
    """Lead import (FileUpload → ``crm.import_leads``) and duplicate customers (merge per group).

    Attributes:
        upload: the ``FileUpload`` (``.csv``, ``.xlsx``); ``import_button``: 导入.
        report: the last import report (``crm.import_leads``'s DataFrame, unchanged).
        groups: the duplicate groups shown on the current page (:class:`DuplicateGroup`);
            ``duplicates``: the whole report; ``show_page(n)`` / 上一页 / 下一页 turn the pages.
    """

    #: duplicate groups drawn per page (a large firm has thousands: each group is a dozen widgets)
    PAGE_SIZE = 10

    def __init__(self, crm: Any):
        super().__init__()
        self.crm = crm
        self.report: pd.DataFrame | None = None
        self.groups: list[DuplicateGroup] = []
        self.page = 0
        self.upload = w.FileUpload(accept=".csv,.xlsx,.txt", multiple=False, description="选择文件")
        self.import_button = w.Button(description="导入", button_style="primary", icon="upload")
        self.import_button.on_click(self.guard(lambda _b: self.import_upload()))
        self.report_summary = w.HTML()
        self.report_html = w.HTML()
        self.dup_summary = w.HTML()
        self.dup_box = w.VBox()
        self.refresh_button = w.Button(description="重新查重", icon="refresh")
        self.refresh_button.on_click(self.guard(lambda _b: self.find_duplicates()))
        self.prev_button = w.Button(description="上一页", icon="chevron-left", layout=w.Layout(width="90px"))
        self.next_button = w.Button(description="下一页", icon="chevron-right", layout=w.Layout(width="90px"))
        self.prev_button.on_click(self.guard(lambda _b: self.show_page(self.page - 1)))
        self.next_button.on_click(self.guard(lambda _b: self.show_page(self.page + 1)))
        self.page_label = w.HTML()
        self.pager = w.HBox([self.prev_button, self.page_label, self.next_button])
        imp = w.VBox([w.HTML("上传线索文件（CSV：UTF-8 或 GBK；Excel .xlsx），表头可用中文字段名。"),
                      w.HBox([self.upload, self.import_button]), self.report_summary, self.report_html])
        dup = w.VBox([w.HBox([self.refresh_button, self.dup_summary]), self.dup_box, self.pager])
        self.tabs = w.Tab(children=[imp, dup])
        self.tabs.set_title(0, "线索导入")
        self.tabs.set_title(1, "重复客户")
        self.widget = w.VBox([w.HTML("<h4>线索导入与客户查重</h4>"), self.tabs, self.status, self.code])
        self.find_duplicates()

    # -- import ---------------------------------------------------------------------------------

    def import_upload(self) -> pd.DataFrame | None:
        """Import the uploaded file (the 导入 button)."""
        files = self.upload.value
        if not files:
            self.say("请先选择要导入的文件。", error=True)
            return None
        item = files[0]
        return self.import_file(item["name"], bytes(item["content"]))

    def import_file(self, name: str, content: bytes) -> pd.DataFrame | None:
        """Import ``content`` as a file called ``name`` through ``crm.import_leads``; show the report."""
        with tempfile.TemporaryDirectory(prefix="simcrm-upload-") as tmp:
            path = Path(tmp) / Path(name).name
            path.write_bytes(content)
            report = self.run(api_call("import_leads", Path(name).name),
                              lambda: self.crm.import_leads(path))
        if report is None:
            self.report_html.value = ""
            self.report_summary.value = ""
            return None
        self.report = report
        accepted = report.drop_duplicates("row")
        n_ok = int(accepted["accepted"].sum())
        n_bad = int((~accepted["accepted"]).sum())
        self.report_summary.value = f"共 {len(accepted)} 行：导入 <b>{n_ok}</b> 行，拒绝 <b style='color:#b3261e'>{n_bad}</b> 行。"
        shown = report.assign(accepted=report["accepted"].map({True: "是", False: "否"})).rename(columns=REPORT_LABELS)
        self.report_html.value = frame_html(shown, highlight=~report["accepted"].astype(bool))
        self.say(f"导入完成：{n_ok} 行已导入，{n_bad} 行被拒绝（原因见表）。", error=False)
        self.find_duplicates(record=False)
        return report

    # -- duplicates -------------------------------------------------------------------------------

    def find_duplicates(self, record: bool = True) -> pd.DataFrame:
        """Re-run ``crm.duplicate_report()`` and redraw the groups."""
        if record:
            self.show_call("crm.duplicate_report()")
        try:
            with self.crm._remembering():  # (whether the scope holds every customer: asked once)
                report, hidden = self._report()
        except SimCRMError as exc:
            self.say(error_text(exc), error=True)
            report, hidden = pd.DataFrame(columns=["group", "customer_id"]), 0
        self.duplicates = report
        self.n_groups = int(report["group"].nunique()) if len(report) else 0
        self.show_page(self.page)
        text = (f"&nbsp;发现 {self.n_groups} 组疑似重复客户（共 {len(report)} 个）。"
                if self.n_groups else "&nbsp;没有发现疑似重复的客户。")
        if hidden:
            text += (f"其中 {hidden} 个客户不在你的数据范围内（其他销售负责）：只显示编码和“相同字段”，"
                     "你无权打开或合并它们，请交给主管处理。")
        self.dup_summary.value = text
        return report

    @property
    def pages(self) -> int:
        """How many pages of :attr:`PAGE_SIZE` groups the last report has (at least 1)."""
        return max(1, -(-self.n_groups // self.PAGE_SIZE))

    def show_page(self, page: int) -> list[DuplicateGroup]:
        """Draw the groups of page ``page`` (0-based, kept within the pages there are): only the
        groups shown have widgets, so a firm with thousands of look-alikes opens as fast as a small one."""
        self.page = min(max(0, int(page)), self.pages - 1)
        first = self.page * self.PAGE_SIZE + 1  # groups are numbered 1, 2, … in the report
        shown = self.duplicates[self.duplicates["group"].between(first, first + self.PAGE_SIZE - 1)]
        self.groups = [DuplicateGroup(self, int(g), rows) for g, rows in shown.groupby("group", sort=True)]
        self.dup_box.children = [g.widget for g in self.groups]
        self.page_label.value = (f"&nbsp;第 {self.page + 1} / {self.pages} 页（每页 {self.PAGE_SIZE} 组）&nbsp;"
                                 if self.n_groups else "")
        self.prev_button.disabled = self.page == 0
        self.next_button.disabled = self.page >= self.pages - 1
        self.pager.layout.display = None if self.pages > 1 else "none"
        return self.groups

    def _report(self) -> tuple[pd.DataFrame, int]:
        """The user's duplicate groups: ``crm.duplicate_report()`` — or, for a user whose data
        scope leaves out some customers, the firm's groups that involve at least one customer the
        user may see, including look-alikes outside the scope (masked: code, owner and matching
        fields only).

        A rep's own report only compares the rep's customers with each other, so a new customer
        that duplicates a colleague's would go unnoticed; the data scope still hides who that
        customer is. Returns the groups and how many members are masked.
        """
        crm = self.crm
        if crm.is_system or crm._scope_owner_ids() is None or crm.sees_every_customer():
            return crm.duplicate_report(), 0  # (nobody's customers are out of sight)
        from ..crm import CRM

        # the user's own read first: a user who may not read customers is refused here
        visible = set(int(i) for i in crm.list("customer", columns=["id"])["id"])
        everyone = CRM.system(crm.store, now=crm._now).duplicate_report()
        touched = everyone["group"].isin(everyone.loc[everyone["customer_id"].isin(visible), "group"])
        groups = everyone[touched].copy()
        groups["group"] = groups["group"].rank(method="dense").astype(int)
        unseen = ~groups["customer_id"].isin(visible)
        for column in ("name", "phone", "email"):
            if column in groups:
                groups[column] = groups[column].astype(object)
                groups.loc[unseen, column] = "（无权查看）"
        groups = groups.assign(visible=~unseen)
        return groups.reset_index(drop=True), int(unseen.sum())

    def merge(self, group: DuplicateGroup) -> Any:
        """Merge a group into its chosen “保留” customer (``crm.merge_customers``)."""
        keep = int(group.keep.value)
        others = [i for i in group.customer_ids if i != keep]
        result = self.run(api_call("merge_customers", keep, others),
                          lambda: self.crm.merge_customers(keep, others),
                          f"已将客户 {others} 合并到客户 {keep}。")
        if result is not None:
            self.find_duplicates(record=False)
        return result


