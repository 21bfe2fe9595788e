"""``simcrm course …`` and ``simcrm build-labs``: the teacher's commands, thin over simcrm.lab.grading.

Registered in :mod:`simcrm.cli` with ``main.add_command(course)`` and
``main.add_command(build_labs)``. nbgrader is imported only when a command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_errors import Failed, Group
from .errors import SimCRMError

__all__ = ["course", "build_labs", "labs_command"]

REPO_ROOT = Path(__file__).resolve().parent.parent

_course_option = click.option(
    "--course", "course_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
    show_default=True, help="课程目录（含 nbgrader_config.py）。",
)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def course() -> None:
    """教师用：用 nbgrader 管理一门课的作业——建课、名单、发布、收取、评分、反馈、导出成绩。

    Teacher commands over nbgrader: create a course, import the roster, release, collect,
    autograde (damaged submissions are repaired and reported, never stop the batch), feedback,
    export grades.

    \b
    Example:
        simcrm course create --course ./course --solutions ./solutions
        simcrm course roster --course ./course 名单.xlsx
        simcrm course release --course ./course ch04_customers
        simcrm course collect --course ./course ch04_customers 提交.zip
        simcrm course autograde --course ./course ch04_customers
        simcrm course export --course ./course 成绩.csv
    """


@course.command("create")
@_course_option
@click.option("--solutions", "solutions_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="教师版作业目录（默认：仓库中的 solutions/）。")
@click.option("--course-id", default="simcrm", show_default=True, help="nbgrader 课程 id。")
@click.option("--exchange", "exchange_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="nbgrader exchange 目录（仅 Linux/macOS，如 JupyterHub 上的 /srv/nbgrader/exchange）。")
@click.option("--timeout", type=int, default=60, show_default=True, help="自动评分时每个单元格最多运行的秒数。")
@click.option("--assignment", "assignments", multiple=True, help="只复制这些作业（可重复）。")
def create_cmd(course_dir: Path, solutions_dir: Path | None, course_id: str, exchange_dir: Path | None,
               timeout: int, assignments: tuple[str, ...]) -> None:
    """建立课程目录：把教师版作业复制到 source/，写好 nbgrader_config.py（中文提示、超时）。

    Creates the course directory: copies solutions/<assignment>/ to source/ and writes
    nbgrader_config.py (Chinese stubs, SQLite gradebook, per-cell timeout).

    \b
    Example:
        simcrm course create --course ./course
        simcrm course create --course ./course --solutions ./my_solutions --exchange /srv/nbgrader/exchange
    """
    from .lab.grading import create_course

    solutions = solutions_dir or REPO_ROOT / "solutions"
    path = create_course(course_dir, solutions, course_id, exchange_dir=exchange_dir, timeout=timeout,
                         assignments=list(assignments) or None)
    names = sorted(p.name for p in (path / "source").iterdir() if p.is_dir())
    click.echo(f"课程目录：{path}")
    click.echo("课程盐值在 simcrm_course.json 中（每门课随机生成；不要发给学生，自动评分靠它确定每位学生的世界）。")
    click.echo(f"作业（{len(names)}）：{'、'.join(names) or '无'}")


@course.command("roster")
@_course_option
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def roster_cmd(course_dir: Path, roster: Path) -> None:
    """导入学生名单（CSV 或 Excel，列：学号、姓名；或 id、name）到成绩库。

    Imports a roster (CSV in UTF-8 or GBK, or .xlsx; columns 学号, 姓名 or id, name).

    \b
    Example:
        simcrm course roster --course ./course 名单.xlsx
    """
    from .lab.grading import import_roster

    table = import_roster(course_dir, roster)
    click.echo(f"已导入 {len(table)} 名学生。")


@course.command("worlds")
@_course_option
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
def worlds_cmd(course_dir: Path, out_dir: Path) -> None:
    """为名单中每位学生写出“世界文件”（学号和世界种子，不含课程盐值）。

    Writes <out_dir>/<学号>/simcrm_world.json for every student of the roster: the student's
    world seed without the course salt. Put it next to the released notebook or in the
    student's hub home (~/.simcrm/simcrm_world.json).

    \b
    Example:
        simcrm course worlds --course ./course ./世界文件
    """
    from .lab.course import world_tickets

    files = world_tickets(course_dir, out_dir)
    click.echo(f"已写出 {len(files)} 位学生的世界文件，在 {out_dir}/<学号>/simcrm_world.json。")


@course.command("release")
@_course_option
@click.argument("assignment")
@click.option("--no-exchange", is_flag=True, help="只生成学生版，不发布到 exchange。")
def release_cmd(course_dir: Path, assignment: str, no_exchange: bool) -> None:
    """生成学生版（release/<作业>/），有 exchange 时同时发布给学生（exchange 仅限 Linux/macOS）。

    Generates the student version and releases it to the nbgrader exchange when one works.

    \b
    Example:
        simcrm course release --course ./course ch04_customers
    """
    from .lab.grading import release

    result = release(course_dir, assignment, to_exchange=False if no_exchange else None)
    click.echo(f"学生版：{result['release_dir']}")
    click.echo(result["message_zh"])


@course.command("collect")
@_course_option
@click.argument("assignment")
@click.argument("source", type=click.Path(exists=True, path_type=Path))
def collect_cmd(course_dir: Path, assignment: str, source: Path) -> None:
    """收取学生提交：文件夹或 zip（<学号>/<作业>/*.ipynb，或 <学号>_*.ipynb）。

    Imports submissions from a folder or a zip into submitted/<student_id>/<assignment>/.

    \b
    Example:
        simcrm course collect --course ./course ch04_customers ./下载的作业.zip
    """
    from .lab.grading import collect

    table = collect(course_dir, assignment, source)
    imported = table[table["status"] == "imported"]
    click.echo(f"已收取 {imported['student'].nunique()} 名学生的 {len(imported)} 个笔记本。")
    for row in table[table["status"] != "imported"].itertuples():
        click.echo(f"  {row.source}: {row.detail_zh}")


@course.command("autograde")
@_course_option
@click.argument("assignment")
@click.option("--student", "students", multiple=True, help="只评这些学生（可重复）。")
@click.option("--timeout", type=int, default=None, help="每个单元格最多运行的秒数（默认取课程配置）。")
@click.option("--quiet", is_flag=True, help="不显示进度条。")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="同时评分的提交数（默认：CPU 核数）。成绩库只由主进程写入。")
@click.option("--changed", is_flag=True, help="只评提交文件、作业或课程设置有变化的提交（未变的沿用上次结果）。")
def autograde_cmd(course_dir: Path, assignment: str, students: tuple[str, ...], timeout: int | None,
                  quiet: bool, jobs: int | None, changed: bool) -> None:
    """自动评分：修复并评分提交（可并行）；损坏或卡死的提交会被报告，绝不中断整批评分。

    Repairs and autogrades every submission, several at once (--jobs, default: the number of
    cores); a damaged or hanging one is reported and never stops the batch. Scores of tests
    whose hidden part hands answers to the referee come from the referee's own record. An
    interrupted batch (Ctrl-C, crash) continues where it stopped when run again; --changed
    grades only what changed since the last run.

    \b
    Example:
        simcrm course autograde --course ./course ch04_customers
        simcrm course autograde --course ./course ch04_customers --jobs 2 --changed
        simcrm course autograde --course ./course ch04_customers --student 2023001 --timeout 30
    """
    from .lab.grading import autograde

    try:
        table = autograde(course_dir, assignment, students=list(students) or None, progress=not quiet,
                          timeout=timeout, jobs=jobs, changed=changed)
    except KeyboardInterrupt:
        raise click.ClickException("已中断：已评完的提交都已保存；再次运行同一命令会从中断处继续。") from None
    for row in table.itertuples():
        note = "（未变化，沿用上次结果）" if row.skipped else ""
        click.echo(f"{row.student}\t{row.name}\t{row.score:g}/{row.max_score:g}{note}")
        if row.problems:
            click.echo(f"\t问题：{row.problems}")
    damaged = int((table["problems"] != "").sum())
    skipped = int(table["skipped"].sum())
    click.echo(f"共 {len(table)} 份（重新评分 {len(table) - skipped} 份），其中 {damaged} 份有问题（见上）。"
               "需要人工评分的题目请在 Formgrader 中评阅。")


@course.command("feedback")
@_course_option
@click.argument("assignment")
def feedback_cmd(course_dir: Path, assignment: str) -> None:
    """生成反馈（HTML），有 exchange 时同时发还给学生。

    Generates HTML feedback and releases it through the exchange when one works.

    \b
    Example:
        simcrm course feedback --course ./course ch04_customers
    """
    from .lab.grading import feedback

    files = feedback(course_dir, assignment)
    click.echo(f"已生成 {len(files)} 份反馈，在 feedback/<学号>/{assignment}/ 下。")


@course.command("export")
@_course_option
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--assignment", default=None, help="只导出这个作业。")
def export_cmd(course_dir: Path, path: Path, assignment: str | None) -> None:
    """导出成绩：.xlsx（主文件，学号为文本）和给 Excel 打开的 CSV，列为 学号、姓名、作业、得分、满分、问题。

    Exports the grade sheet as .xlsx (学号 as text) and as a CSV for Excel (UTF-8 with BOM,
    学号 written ="0123" so Excel keeps the leading zeros).

    \b
    Example:
        simcrm course export --course ./course 成绩.csv
    """
    from .lab.grading import export_grades

    sheet = export_grades(course_dir, path, assignment)
    click.echo(f"已导出 {len(sheet)} 行：{path.with_suffix('.csv')}、{path.with_suffix('.xlsx')}")


@course.command("league")
@_course_option
@click.argument("assignment")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="输出目录（默认：课程目录下 league/<作业>/）。")
def league_cmd(course_dir: Path, assignment: str, out_dir: Path | None) -> None:
    """挽留联赛（ch10）：全班的挽留决策并排比较——净价值、ROI、胜过随机方案多少、实际结果、名次。

    The class's retention league: from the referee's records of an autograded ch10 assignment,
    one row per student (net value of the plan on their own world, money kept and pushed away,
    cost, ROI, the same-size random plans' mean, the realised quarter in the referee's replay),
    ranked by net value; written as league.csv/.xlsx, an SVG chart and an HTML page. `course
    export` adds the same table to the grade file as the sheet 挽留联赛.

    \b
    Example:
        simcrm course league --course ./course ch10
        simcrm course league --course ./course ch10_retention --out ./联赛
    """
    import pandas as pd

    from .lab.league import COLUMNS, league_table, resolve_assignment, write_league

    name = resolve_assignment(course_dir, assignment)
    paths = write_league(course_dir, name, out_dir)
    table = league_table(course_dir, name)
    click.echo(f"{name} 挽留联赛（按净价值排名）：")
    click.echo("名次\t学号\t姓名\t净价值（元）\tROI\t胜过随机（元）\t本季增量收入（元）\t说明")
    for r in table.itertuples(index=False):
        row = dict(zip(COLUMNS, r))

        def fmt(v, spec=",.0f"):
            return "" if pd.isna(v) else format(v, spec)
        rank = "" if pd.isna(row["名次"]) else str(row["名次"])
        click.echo(f"{rank}\t{row['学号']}\t{row['姓名'] or ''}\t{fmt(row['净价值（元）'])}\t{fmt(row['ROI'], '.1f')}\t"
                   f"{fmt(row['胜过随机（元）'])}\t{fmt(row['本季增量收入（元）'])}\t{row['说明']}")
    click.echo("已写出：" + "、".join(str(p) for p in paths.values()))


@click.command("build-labs")
@click.option("--solutions", "solutions_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              default=None, help="教师版目录（默认：仓库中的 solutions/）。")
@click.option("--labs", "labs_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="学生版目录（默认：仓库中的 labs/）。")
@click.option("--check", is_flag=True, help="只检查 labs/ 是否为最新，不写文件；过期时退出码为 1。")
@click.argument("assignments", nargs=-1)
def labs_command(solutions_dir: Path | None, labs_dir: Path | None, check: bool, assignments: tuple[str, ...]) -> None:
    """由 solutions/ 重新生成学生版 labs/（中文提示、无输出、字节稳定）。

    Regenerates the student notebooks in labs/ from solutions/ through nbgrader; with --check,
    only lists the stale files.

    \b
    Example:
        simcrm build-labs
        simcrm build-labs --check
        simcrm build-labs ch04_customers
    """
    from .lab.grading import generate_labs, labs_are_current

    solutions = solutions_dir or REPO_ROOT / "solutions"
    labs = labs_dir or REPO_ROOT / "labs"
    try:
        if check:
            stale = labs_are_current(solutions, labs, list(assignments) or None)
            for rel in stale:
                click.echo(f"过期：{rel}")
            if stale:
                raise click.exceptions.Exit(1)
            click.echo("labs/ 是最新的。")
            return
        changed = generate_labs(solutions, labs, list(assignments) or None)
    except SimCRMError as exc:
        raise Failed(exc.short()) from exc
    for path in changed:
        click.echo(f"已更新：{path}")
    click.echo(f"完成，{len(changed)} 个文件有变化。")


build_labs = labs_command
