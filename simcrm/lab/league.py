"""The class's retention league (ch10): every student's retention decision side by side.

The referee of each submission keeps, next to its verdicts, the numbers of the two ch10
decision questions (``figures`` in ``simcrm_repair/<作业>/<学号>/referee.json``, see
:mod:`simcrm.lab.referee`): the plan's valuation on the student's own world
(``ch10.plan_margin``: money kept, pushed away, cost, net value, ROI, and the same-size random
and recency plans) and the realised quarter in the referee's replay (``ch10.outcome``:
target vs control, incremental revenue, realised ROI). Nothing is recomputed here and nothing
comes from the student's notebook: a number a student typed in cannot enter the league.

:func:`league_table` puts them in one table, ranked by net value; :func:`write_league` writes
it as CSV/XLSX and as a self-contained SVG bar chart and HTML page (no plotting library
needed); :func:`simcrm.lab.course.export_grades` adds it to the grade file as a sheet.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["PLAN_QUESTION", "OUTCOME_QUESTION", "league_table", "league_assignments", "league_svg", "write_league",
           "resolve_assignment"]

PLAN_QUESTION = "ch10.plan_margin"
OUTCOME_QUESTION = "ch10.outcome"

#: league columns: source figure → Chinese column
_PLAN_COLUMNS = {"value": "净价值（元）", "kept": "保住的收入（元）", "pushed_away": "推走的收入（元）",
                 "cost": "成本（元）", "roi": "ROI", "random_value": "随机方案均值（元）",
                 "recency_value": "只看最近购买时间（元）"}
_OUTCOME_COLUMNS = {"incremental_revenue": "本季增量收入（元）", "realised_roi": "实际 ROI", "diff": "留住率差（目标−对照）",
                    "ci_low": "差的 95% 下限", "ci_high": "差的 95% 上限"}
COLUMNS = (["名次", "学号", "姓名"] + list(_PLAN_COLUMNS.values()) + ["胜过随机（元）"] + list(_OUTCOME_COLUMNS.values())
           + ["得分", "说明"])


def _record(course: Path, assignment: str, student: str) -> list[dict[str, Any]] | None:
    from .course import REPAIR_DIR

    path = course / REPAIR_DIR / assignment / student / "referee.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, list) else None


def resolve_assignment(course_dir: str | Path, name: str) -> str:
    """``ch10`` → the course's ch10 assignment (``ch10_retention``); an assignment name as is."""
    from ..errors import UnknownValueError
    from .course import _course

    course = _course(course_dir)
    names = sorted(p.name for p in (course / "source").iterdir() if p.is_dir()) if (course / "source").is_dir() else []
    if name in names:
        return name
    hits = [n for n in names if n.split("_", 1)[0] == name]
    if len(hits) == 1:
        return hits[0]
    raise UnknownValueError(field="assignment", value=name, label="作业", allowed=names or "课程 source/ 中的作业")


def league_table(course_dir: str | Path, assignment: str) -> pd.DataFrame:
    """One row per student of the gradebook: the referee's figures of the retention decision.

    Ranked (``名次``, 1 = best) by the plan's net value on the student's own world; students
    without a valid plan (none recorded, over budget, no control group, not submitted) come
    last without a rank, with the reason in ``说明``. ``胜过随机`` = net value − the mean of
    the same-size random plans on the same world (what the decision added over luck).
    """
    from .course import _course, grade_table

    course = _course(course_dir)
    grades = grade_table(course, assignment)
    rows = []
    for g in grades.itertuples():
        row: dict[str, Any] = {c: None for c in COLUMNS}
        row.update({"学号": str(g.student), "姓名": g.name, "得分": float(g.score), "说明": ""})
        record = _record(course, assignment, str(g.student))
        by_q = {e.get("question"): e for e in record or [] if isinstance(e, dict)}
        plan = (by_q.get(PLAN_QUESTION) or {}).get("figures")
        done = (by_q.get(OUTCOME_QUESTION) or {}).get("figures")
        if plan:
            for k, col in _PLAN_COLUMNS.items():
                row[col] = plan.get(k)
            row["胜过随机（元）"] = plan["value"] - plan["random_value"]
        if done:
            for k, col in _OUTCOME_COLUMNS.items():
                row[col] = done.get(k)
        if not g.submitted:
            row["说明"] = "未提交"
        elif record is None:
            row["说明"] = "没有评分进程的记录（未自动评分？）"
        elif not plan:
            row["说明"] = "没有有效的挽留方案（练习 5.1 未通过）"
        elif not done:
            row["说明"] = "没有下一季度的结果（练习 6.1 未运行）"
        rows.append(row)
    table = pd.DataFrame(rows, columns=COLUMNS)
    value = pd.to_numeric(table["净价值（元）"], errors="coerce")
    table["名次"] = value.rank(ascending=False, method="min").astype("Int64")
    order = value.fillna(float("-inf")).sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)


def league_assignments(course_dir: str | Path) -> list[str]:
    """The course's assignments whose referee records hold league figures."""
    from .course import REPAIR_DIR, _course

    course = _course(course_dir)
    out = []
    root = course / REPAIR_DIR
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        for student in sorted(p for p in folder.iterdir() if p.is_dir()):
            rec = _record(course, folder.name, student.name)
            if rec and any(isinstance(e, dict) and e.get("question") == PLAN_QUESTION and e.get("figures") for e in rec):
                out.append(folder.name)
                break
    return out


def _money(x: float) -> str:
    return f"{x / 10000:,.1f} 万"


def league_svg(table: pd.DataFrame, title: str = "挽留联赛") -> str:
    """A horizontal bar chart (SVG): each ranked student's net value beside their random plans' mean."""
    ranked = table[table["名次"].notna()]
    bar_h, gap, left, right, top = 14, 10, 150, 140, 56
    width = 760
    height = top + len(ranked) * (2 * bar_h + gap) + 40
    vals = pd.concat([ranked["净价值（元）"], ranked["随机方案均值（元）"]]).astype(float)
    lo, hi = min(0.0, float(vals.min()) if len(vals) else 0.0), max(1.0, float(vals.max()) if len(vals) else 1.0)
    span = hi - lo
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + (v - lo) / span * plot_w

    esc = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="22" font-size="16" font-weight="bold">{esc(title)}：挽留方案的净价值</text>',
             f'<rect x="{left}" y="32" width="12" height="10" fill="#2b7bb9"/><text x="{left + 16}" y="41">'
             '方案净价值（可挽回客户保住的收入 − 被推走的收入 − 成本）</text>',
             f'<rect x="{left}" y="46" width="12" height="10" fill="#bbbbbb"/><text x="{left + 16}" y="55">'
             '同一世界上同样规模的随机方案（均值）</text>']
    zero = x(0.0)
    y = top + 8
    for r in ranked.itertuples(index=False):
        rank, sid, name = r[0], r[1], r[2]
        v, rv = float(r[COLUMNS.index("净价值（元）")]), float(r[COLUMNS.index("随机方案均值（元）")])
        label = f"{rank}. {sid} {name or ''}".strip()
        parts.append(f'<text x="{left - 6}" y="{y + bar_h}" text-anchor="end">{esc(label)}</text>')
        for val, colour, dy in ((v, "#2b7bb9", 0), (rv, "#bbbbbb", bar_h)):
            x0, x1 = sorted((zero, x(val)))
            parts.append(f'<rect x="{x0:.1f}" y="{y + dy}" width="{max(x1 - x0, 0.5):.1f}" height="{bar_h - 1}" '
                         f'fill="{colour}"/>')
        parts.append(f'<text x="{max(x(v), zero) + 4:.1f}" y="{y + bar_h - 3}">{esc(_money(v))}（ROI {r[COLUMNS.index("ROI")]:.0f}）</text>')
        y += 2 * bar_h + gap
    parts.append(f'<line x1="{zero:.1f}" y1="{top}" x2="{zero:.1f}" y2="{y}" stroke="#333"/>')
    parts.append(f'<text x="{zero:.1f}" y="{y + 16}" text-anchor="middle">0</text>')
    parts.append(f'<text x="{x(hi):.1f}" y="{y + 16}" text-anchor="end">{esc(_money(hi))} 元</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def write_league(course_dir: str | Path, assignment: str, out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write the league of ``assignment``: ``league.csv`` (Excel-friendly), ``league.xlsx``,
    ``league.svg`` (the chart) and ``league.html`` (table and chart on one page).

    Default folder: ``<course>/league/<assignment>/``. Returns the paths by kind.
    """
    from .course import _course

    course = _course(course_dir)
    table = league_table(course, assignment)
    out = Path(out_dir) if out_dir is not None else course / "league" / assignment
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "league.csv", "xlsx": out / "league.xlsx", "svg": out / "league.svg", "html": out / "league.html"}
    table.assign(学号=['="' + s + '"' for s in table["学号"]]).to_csv(paths["csv"], index=False, encoding="utf-8-sig")
    with pd.ExcelWriter(paths["xlsx"], engine="openpyxl") as writer:
        table.to_excel(writer, index=False, sheet_name="挽留联赛")
        for row in writer.sheets["挽留联赛"].iter_rows(min_row=2, min_col=2, max_col=2):
            for cell in row:
                cell.number_format = "@"
    svg = league_svg(table, f"{assignment} 挽留联赛")
    paths["svg"].write_text(svg, encoding="utf-8")
    shown = table.copy()
    shown["名次"] = [("" if pd.isna(v) else str(v)) for v in shown["名次"]]
    for col in COLUMNS[3:-2]:
        shown[col] = pd.to_numeric(shown[col], errors="coerce").map(
            lambda v: "" if pd.isna(v) else (f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"))
    page = ("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(assignment)} 挽留联赛</title>"
            "<style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse;font-size:13px}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f3f3f3}"
            "td:last-child{text-align:left;min-width:16em}</style></head><body>"
            f"<h1>{html.escape(assignment)} 挽留联赛</h1>"
            "<p>每位学生的方案都在自己的世界上由评分程序评估（与同样规模的随机方案比较，共同随机数）；"
            "本季增量收入和实际 ROI 来自评分程序对学生决定的重放。</p>"
            + svg + shown.to_html(index=False, na_rep="", escape=True) + "</body></html>")
    paths["html"].write_text(page, encoding="utf-8")
    return paths
