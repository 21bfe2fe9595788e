"""List view of any table: search, filter by dictionary and state fields, sort, paginate.

Only the visible page is ever loaded into the widget: the query runs in the database with
``LIMIT``/``OFFSET`` (or on a DataFrame held in Python, never in the widget), so a list of
50,000 orders stays responsive.

    >>> from simcrm.store import Store
    >>> store = Store()
    >>> view = ListView(store, "dictionary", page_size=5)
    >>> view.total == store.count("dictionary"), len(view.page)
    (True, 5)
    >>> view.search.value = "微信"
    >>> view.total, view.page["字典值"].tolist()
    (1, ['微信'])

Given a :class:`~simcrm.crm.CRM` instead of a store, the list shows only what that user may
see (module right and data scope, as ``crm.list``), and opening a customer shows its
客户视图 (:class:`~simcrm.ui.customer360.Customer360`), any other row a read-only record view.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w
import pandas as pd
from sqlalchemy import String, Text, and_, asc, desc, false, func, or_, select

from ..store import Store, schema
from ._base import Screen
from ._scope import can_read, scope_condition

__all__ = ["ListView"]


class ListView(Screen):
    """A paginated, searchable, filterable, sortable list of one table's rows.

    Args:
        source: a :class:`~simcrm.crm.CRM` (rows it may see, queried page by page), a
            :class:`~simcrm.store.Store` (every row, page by page) or a DataFrame.
        table: the table name (required with a Store; gives labels with a DataFrame).
        page_size: rows per page.
        columns: columns to show (default: all, or the table's first 12).
        filters: columns to offer as drop-down filters (default: the dictionary and state
            columns among ``columns``).
        scope: a SQLAlchemy condition restricting the rows (e.g. a user's data scope).
        on_open: called with the row id when the user opens a row (default with a CRM: show
            the 360° view of a customer, or the record, under the list).
    """

    def __init__(self, source: Any, table: str | None = None, *, page_size: int = 20,
                 columns: Sequence[str] | None = None, filters: Sequence[str] | None = None,
                 scope: Any = None, on_open: Callable[[int], Any] | None = None, title: str | None = None):
        super().__init__()
        self.crm = None
        if not isinstance(source, (Store, pd.DataFrame)) and hasattr(source, "store"):
            self.crm = source
            source = source.store
        if isinstance(source, Store) and table is None:
            raise ValueError("ListView(store, table): a table name is needed with a Store")
        self.source = source
        self.table = table
        self.allowed = self.crm is None or can_read(self.crm, table)
        crm_scope = scope_condition(self.crm, table) if self.crm is not None else None
        self.scope = crm_scope if scope is None else (scope if crm_scope is None else and_(crm_scope, scope))
        # the count joins up to the customer where that is cheaper (CRM.count_from, asked at each
        # count: whether the scope holds every customer can change); same rows
        self._extra_scope = scope
        self.on_open = on_open if on_open is not None or self.crm is None else self._open_detail
        self.detail = w.VBox()
        self.opened: Screen | None = None
        self.page_size = int(page_size)
        self._t = schema.metadata.tables[table] if table else None
        all_cols = list(self._t.columns.keys()) if self._t is not None else list(source.columns)
        self.columns = list(columns) if columns is not None else all_cols[:12]
        if "id" in all_cols and "id" not in self.columns:
            self.columns.insert(0, "id")
        choices = self._filter_choices(filters)
        self.search = w.Text(placeholder="搜索（名称、编号、电话……）", description="搜索",
                             layout=w.Layout(width="320px"))
        self.filter_widgets: dict[str, w.Dropdown] = {
            col: w.Dropdown(options=[("（全部）", None)] + [(v, v) for v in values],
                            description=self._label(col), layout=w.Layout(width="240px"))
            for col, values in choices.items()
        }
        self.sort_by = w.Dropdown(options=[(self._label(c), c) for c in self.columns],
                                  value="id" if "id" in self.columns else self.columns[0], description="排序")
        self.descending = w.Checkbox(value=False, description="降序", indent=False)
        self.prev_button = w.Button(description="上一页", icon="arrow-left")
        self.next_button = w.Button(description="下一页", icon="arrow-right")
        self.page_label = w.HTML()
        self.table_html = w.HTML()
        self.row_picker = w.Dropdown(description="打开记录", options=[], layout=w.Layout(width="360px"))
        self.open_button = w.Button(description="打开", button_style="info")
        self.page_number = 0
        self.total = 0
        self.page = pd.DataFrame()

        for widget in [self.search, self.sort_by, self.descending, *self.filter_widgets.values()]:
            widget.observe(self.guard(self._changed), names="value")
        self.prev_button.on_click(self.guard(lambda _b: self.go(self.page_number - 1)))
        self.next_button.on_click(self.guard(lambda _b: self.go(self.page_number + 1)))
        self.open_button.on_click(self.guard(self._open))

        header = w.HTML(f"<h4>{html.escape(title or self._table_label())}</h4>")
        self.widget = w.VBox([
            header,
            w.HBox([self.search, self.sort_by, self.descending]),
            w.HBox(list(self.filter_widgets.values())),
            self.table_html,
            w.HBox([self.prev_button, self.page_label, self.next_button]),
            w.HBox([self.row_picker, self.open_button]),
            self.status,
            self.code,
            self.detail,
        ])
        self.refresh()

    # -- helpers ------------------------------------------------------------------------------

    def _table_label(self) -> str:
        return schema.table_label(self.table) if self.table else "列表"

    def _label(self, col: str) -> str:
        if self._t is not None and col in self._t.c:
            return self._t.c[col].info.get("label", col)
        return col

    def _filter_choices(self, filters: Sequence[str] | None) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if self._t is None:
            frame = self.source
            for col in filters or []:
                out[col] = sorted(str(v) for v in frame[col].dropna().unique())
            return out
        states = schema.state_columns(self.table)
        dicts = schema.dictionary_columns(self.table)
        wanted = list(filters) if filters is not None else [c for c in self.columns if c in states or c in dicts]
        for col in wanted:
            if col in states:
                out[col] = list(states[col])
            elif col in dicts and isinstance(self.source, Store):
                out[col] = self.source.dictionary_values(dicts[col], include_disabled=True)
        return out

    def _changed(self, _change: Any = None) -> None:
        self.page_number = 0
        self.refresh()

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def go(self, page: int) -> None:
        """Show page ``page`` (0-based, clipped to the valid range)."""
        self.page_number = min(max(0, page), self.pages - 1)
        self.refresh()

    # -- querying -------------------------------------------------------------------------------

    def _query_store(self) -> tuple[int, pd.DataFrame]:
        t = self._t
        store: Store = self.source
        conditions = [] if self.allowed else [false()]
        if self.scope is not None:
            conditions.append(self.scope)
        term = self.search.value.strip()
        if term:
            text_cols = [c for c in t.columns if isinstance(c.type, (String, Text))]
            # the term is text, not a pattern: % and _ match themselves
            conditions.append(or_(*[c.contains(term, autoescape=True) for c in text_cols]))
        dicts = schema.dictionary_columns(self.table)
        for col, widget in self.filter_widgets.items():
            if widget.value is None:
                continue
            if col in dicts:
                conditions.append(t.c[col] == store.dictionary_id(dicts[col], widget.value))
            else:
                conditions.append(t.c[col] == widget.value)
        count_from, count_scope = (self.crm.count_from(self.table) if self.crm is not None and self.table
                                   else (None, None))
        if self._extra_scope is not None:
            count_scope = self._extra_scope if count_scope is None else and_(count_scope, self._extra_scope)
        count_q = select(func.count()).select_from(t if count_from is None else count_from)
        for cond in conditions:
            cond = count_scope if cond is self.scope else cond
            if cond is not None:
                count_q = count_q.where(cond)
        order = desc if self.descending.value else asc
        page_q = select(*[t.c[c] for c in self.columns])
        for cond in conditions:
            page_q = page_q.where(cond)
        page_q = page_q.order_by(order(t.c[self.sort_by.value]), t.c.id).limit(self.page_size).offset(
            self.page_number * self.page_size)
        with store.engine.connect() as conn:
            total = int(conn.execute(count_q).scalar_one())
            rows = conn.execute(page_q).fetchall()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=self.columns)
        for col in self.columns:
            if col in dicts:
                frame[col] = [None if pd.isna(v) else store.dictionary_value(int(v)) for v in frame[col]]
        return total, frame

    def _query_frame(self) -> tuple[int, pd.DataFrame]:
        frame: pd.DataFrame = self.source
        mask = pd.Series(True, index=frame.index)
        term = self.search.value.strip()
        if term:
            text = frame.select_dtypes(include=["object", "string", "str"])
            hit = pd.Series(False, index=frame.index)
            for col in text.columns:
                hit |= text[col].astype(str).str.contains(term, regex=False)
            mask &= hit
        for col, widget in self.filter_widgets.items():
            if widget.value is not None:
                mask &= frame[col].astype(str) == widget.value
        chosen = frame.loc[mask, self.columns]
        chosen = chosen.sort_values(self.sort_by.value, ascending=not self.descending.value, kind="stable")
        start = self.page_number * self.page_size
        return len(chosen), chosen.iloc[start:start + self.page_size].reset_index(drop=True)

    def refresh(self) -> None:
        """Re-run the query for the current page and redraw."""
        total, frame = self._query_store() if isinstance(self.source, Store) else self._query_frame()
        self.total = total
        if self.page_number >= self.pages:
            self.page_number = self.pages - 1
            total, frame = self._query_store() if isinstance(self.source, Store) else self._query_frame()
        labelled = frame.rename(columns={c: self._label(c) for c in frame.columns})
        self.page = labelled
        self.page_label.value = f"&nbsp;第 {self.page_number + 1} / {self.pages} 页，共 {self.total} 条&nbsp;"
        self.prev_button.disabled = self.page_number == 0
        self.next_button.disabled = self.page_number >= self.pages - 1
        self.table_html.value = self._display(frame).to_html(index=False, na_rep="", border=0,
                                                             classes="simcrm-list", max_rows=self.page_size)
        if "id" in frame.columns:
            name_col = next((c for c in ("name", "code", "subject", "value") if c in frame.columns), None)
            options = [(f"{r['id']} {r[name_col] if name_col else ''}".strip(), int(r["id"]))
                       for _, r in frame.iterrows()]
        else:
            options = []
        self.row_picker.options = options
        self.show_call(self._api_call())
        if not self.allowed:
            self.say(f"当前用户的角色没有“{self._table_label()}”所属模块的查看权限。", error=True)

    def _display(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The page as shown: employees by name, empty cells blank, Chinese headings."""
        shown = frame.astype(object).where(frame.notna(), "")
        if self._t is not None and isinstance(self.source, Store) and len(shown):
            for col in shown.columns:
                if col in self._t.c and any(fk.column.table.name == "employee" for fk in self._t.c[col].foreign_keys):
                    ids = {int(v) for v in shown[col] if v != ""}
                    if ids:
                        emp = self.source.read("employee", columns=["id", "name"])
                        names = dict(zip(emp["id"], emp["name"]))
                        shown[col] = [names.get(int(v), v) if v != "" else "" for v in shown[col]]
        return shown.rename(columns={c: self._label(c) for c in shown.columns})

    def _api_call(self) -> str:
        if not isinstance(self.source, Store):
            return "# 数据来自 DataFrame"
        where = {col: wdg.value for col, wdg in self.filter_widgets.items() if wdg.value is not None}
        args = f'"{self.table}"' + (f", where={where!r}" if where else "")
        if self.crm is not None:
            return "crm.customers()" if self.table == "customer" and not where else f"crm.list({args})"
        return f"store.read({args})"

    def _open_detail(self, row_id: int) -> None:
        if self.table == "customer":
            from .customer360 import Customer360

            self.opened = Customer360(self.crm, row_id)
        else:
            from .record import RecordView

            self.opened = RecordView(self.crm, self.table, row_id)
        self.detail.children = [self.opened.widget]

    def _open(self, _button: Any = None) -> None:
        if self.row_picker.value is None:
            self.say("请先在“打开记录”中选择一行。", error=True)
            return
        if self.on_open is not None:
            self.on_open(int(self.row_picker.value))

    def visible_row_count(self) -> int:
        """Rows the widget holds right now (the page, never the whole table)."""
        return len(self.page)
