"""The ``simcrm`` command: a thin front over the API.

Every command's help ends with an ``Example:`` block (tests/test_cli.py checks it). Errors
from the API are :class:`~simcrm.errors.SimCRMError` and are shown as a plain message.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import click

from . import __version__
from .cli_errors import Misuse, _Group  # one error handling for every command group

REPO_ROOT = Path(__file__).resolve().parent.parent


#: the smallest world the simulation builds reliably (smaller firms lack a week of every kind)
MIN_CUSTOMERS = 50
MAX_SEED = 2**32 - 1


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="simcrm")
def main() -> None:
    """simcrm — 客户关系管理实训模拟器 (a simulated CRM for the CRM course).

    \b
    Example:
        simcrm info                 # 查看固定状态、字典和阶段概率
        simcrm generate --seed 7 --customers 500 --out world.sqlite
        simcrm lab                  # 在 JupyterLab 中打开实训
    """


@main.command()
@click.option("--list", "list_name", default=None, help="只显示这个字典或状态列表（如 source、lifecycle）。")
def info(list_name: str | None) -> None:
    """显示参考数据：数据字典、固定状态、销售机会阶段与默认赢单概率。

    Shows the reference data: dictionaries, fixed states, opportunity stages.

    \b
    Example:
        simcrm info
        simcrm info --list complaint_status
    """
    from . import reference

    if list_name:
        spec = reference.DICTIONARIES.get(list_name) or reference.STATES.get(list_name)
        if spec is None:
            from .errors import UnknownValueError

            raise UnknownValueError(field="--list", value=list_name, label="列表名",
                                    allowed="、".join([*reference.DICTIONARIES, *reference.STATES]))
        click.echo(f"{list_name}（{spec['label']}）: " + "、".join(spec["values"]))
        for state, targets in (spec.get("transitions") or {}).items():
            click.echo(f"  {state} → {'、'.join(targets) or '（终态）'}")
        return
    click.echo("数据字典（可扩展）:")
    for name, spec in reference.DICTIONARIES.items():
        click.echo(f"  {name:20s} {spec['label']}: {'、'.join(spec['values'])}")
    click.echo("固定状态:")
    for name, spec in reference.STATES.items():
        click.echo(f"  {name:20s} {spec['label']}: {'、'.join(spec['values'])}")
    click.echo("销售机会阶段与默认赢单概率:")
    for stage in reference.STAGES:
        click.echo(f"  {stage}: {reference.stage_probability(stage)}%")


@main.command()
@click.option("--seed", type=int, default=2026, show_default=True,
              help=f"随机种子（0–{MAX_SEED} 的整数）：同一种子生成完全相同的世界。")
@click.option("--customers", type=int, default=2000, show_default=True, help=f"客户数量（至少 {MIN_CUSTOMERS}）。")
@click.option("--out", type=click.Path(dir_okay=False), default=None,
              help="SQLite 文件路径（必填，除非用 --db）；文件已存在时不覆盖。")
@click.option("--db", default=None, help="任意 SQLAlchemy URL（如 PostgreSQL），代替 --out。")
@click.option("--locale", default="zh_CN", show_default=True, help="Faker 区域设置。")
@click.option("--progress/--no-progress", default=True, help="长时间运行时显示进度条。")
def generate(seed: int, customers: int, out: str | None, db: str | None, locale: str, progress: bool) -> None:
    """生成一个模拟企业及其客户历史，写入数据库。

    Generates a simulated firm and its customers' history into a database.

    \b
    Example:
        simcrm generate --seed 7 --customers 500 --out world.sqlite
        simcrm generate --seed 7 --db postgresql+psycopg://crm@127.0.0.1/crm
    """
    if out and db:
        raise Misuse("--out 与 --db 只能选一个：--out 写 SQLite 文件，--db 写任意 SQLAlchemy 数据库")
    if not out and not db:
        raise Misuse("缺少 --out：请指定要写入的 SQLite 文件，如 --out world.sqlite（或用 --db 指定数据库地址）")
    if customers < MIN_CUSTOMERS:
        raise Misuse(f"--customers 的值 {customers} 太小：客户数量至少 {MIN_CUSTOMERS}")
    if not 0 <= seed <= MAX_SEED:
        raise Misuse(f"--seed 的值 {seed} 无效：应为 0–{MAX_SEED} 的整数")
    from .locales import available_locales

    if locale not in available_locales():
        raise Misuse(f"--locale 的值 {locale!r} 不可用：可选 {'、'.join(available_locales())}")
    if out:
        _check_out(Path(out))
    from sqlalchemy.exc import SQLAlchemyError

    from .sim import generate as _generate

    target = db or out
    try:
        world = _generate(seed=seed, customers=customers, db=target, locale=locale, progress=progress)
    except (SQLAlchemyError, sqlite3.Error, OSError) as exc:
        # a full disk or an I/O error while writing: the world file is not there (built aside,
        # moved into place only when complete), so the same command works once there is room
        option = "--db" if db else "--out"
        reason = (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0]
        raise Misuse(f"{option} 的数据库 {target} 无法写入（{reason}）：请检查地址、权限或磁盘空间") from exc
    counts = {name: world.store.count(name) for name in ("customer", "sales_order", "activity", "complaint")}
    click.echo(f"已生成: {world.firm['name'] if isinstance(world.firm, dict) else world.firm} → {target}")
    click.echo("  " + "，".join(f"{k} {v}" for k, v in counts.items()))


def _check_out(path: Path) -> None:
    """``--out`` must be a new file in an existing folder the user may write to."""
    if path.is_dir():
        raise Misuse(f"--out 的值 {path} 是一个文件夹：请给出文件名，如 {path / 'world.sqlite'}")
    if path.exists():
        raise Misuse(f"--out 的文件 {path} 已存在：为免覆盖已有数据，请换一个文件名或先删除它")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise Misuse(f"--out 的文件夹 {parent} 不存在：请先建立它，或换一个路径")
    if not os.access(parent, os.W_OK):
        raise Misuse(f"--out 的文件夹 {parent} 不可写：请换一个你有写权限的路径")


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="你的实训文件夹（默认：$SIMCRM_LABS_DIR 或 ~/simcrm-labs）。首次运行时把实训复制进去，以后不覆盖。")
@click.option("--no-browser", is_flag=True, help="不自动打开浏览器。")
@click.option("--port", type=int, default=None, help="JupyterLab 端口。")
@click.option("--prepare-only", is_flag=True, help="只准备实训文件夹（复制实训、写入学生端配置），不启动 JupyterLab。")
def lab(directory: str | None, no_browser: bool, port: int | None, prepare_only: bool) -> None:
    """在 JupyterLab 中打开你的实训（在自己的实训文件夹中的副本上作答）。

    Opens the labs in JupyterLab, on the student's own copies (never the git checkout): the
    first run copies them into the lab folder; an updated lab arrives beside the old copy.
    The session has Chinese menus and only the student's nbgrader tools.

    \b
    Example:
        simcrm lab
        simcrm lab --dir ~/我的实训 --no-browser --port 8899
    """
    from .lab.workspace import default_folder, jupyter_command, jupyter_env, prepare

    source = REPO_ROOT / "labs"
    if not source.is_dir():
        raise click.ClickException(f"找不到随 simcrm 提供的实训目录 {source}")
    folder = Path(directory).expanduser() if directory else default_folder()
    try:
        done = prepare(source, folder)
    except OSError as exc:
        raise Misuse(f"--dir：无法在 {folder} 中建立实训文件夹（{exc.strerror or exc}）；"
                               "请换一个你有写权限的文件夹") from exc
    click.echo(done.summary())
    if prepare_only:
        return
    from .lab.prebuild import start_prebuild

    if start_prebuild() is not None:  # the student's worlds are built while JupyterLab opens
        click.echo("正在后台准备你的实训世界（第一次约需十几秒；之后打开实训只需一两秒）。")
    click.echo("正在启动 JupyterLab … 按 Ctrl+C 退出。")
    raise SystemExit(_run_forwarding_signals(jupyter_command(folder, no_browser=no_browser, port=port),
                                             env=jupyter_env(folder), cwd=folder))


def _run_forwarding_signals(command: list[str], **kwargs) -> int:
    """Run JupyterLab and wait for it; a SIGTERM or SIGHUP sent to this process (a process
    manager, a hub, ``kill``) is passed on, so JupyterLab shuts its kernels down and ends with
    us instead of running on as an orphan. Ctrl+C reaches both from the terminal anyway."""
    import signal

    proc = subprocess.Popen(command, **kwargs)
    forwarded = [sig for sig in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if sig]
    saved = {sig: signal.signal(sig, lambda signum, _frame: proc.send_signal(signum)) for sig in forwarded}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # JupyterLab got it too and is shutting down: wait for it
                continue
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@main.command()
def doctor() -> None:
    """检查本机环境：Python 版本、依赖（含 JupyterLab 中文语言包）、PostgreSQL。

    Checks this machine: Python version, dependencies (including the JupyterLab Chinese
    language pack), PostgreSQL binaries. No font check is needed: charts are drawn by the
    browser with its own Chinese fonts.

    \b
    Example:
        simcrm doctor
    """
    ok = sys.version_info >= (3, 11)
    click.echo(f"Python {sys.version.split()[0]}: {'可用' if ok else '需要 3.11 或更高版本'}")
    for mod in ("pandas", "numpy", "faker", "sqlalchemy", "ipywidgets", "jupyterlab", "nbgrader"):
        try:
            m = __import__(mod)
            click.echo(f"  {mod} {getattr(m, '__version__', getattr(m, 'VERSION', '?'))}")
        except ImportError:
            ok = False
            click.echo(f"  {mod}: 未安装")
    try:
        from importlib.metadata import version

        click.echo(f"  jupyterlab-language-pack-zh-CN {version('jupyterlab-language-pack-zh-CN')}（JupyterLab 中文界面）")
    except Exception:  # noqa: BLE001 - PackageNotFoundError
        ok = False
        click.echo("  jupyterlab-language-pack-zh-CN: 未安装（JupyterLab 菜单将是英文）")
    click.echo("中文字体：不需要检查——图表由浏览器用它自带的中文字体绘制。")
    pg = shutil.which("pg_ctl") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))), None)
    click.echo(f"PostgreSQL 服务器: {pg or '未安装（只影响共享世界和 PostgreSQL 测试）'}")
    if not ok:
        raise SystemExit(1)


@main.group(cls=_Group)
def student() -> None:
    """学生用：设置一次学号（和教师发的世界文件），以后每个实训的 start() 都打开你的世界。

    Students: set your 学号 once (and install the teacher's world ticket); every later lab's
    start() opens your world. Stored in ~/.simcrm/ (or $SIMCRM_HOME).

    \b
    Example:
        simcrm student set 230101001 --ticket simcrm_world.json
        simcrm student show
        simcrm student forget
    """


@student.command("set")
@click.argument("student_id", metavar="学号")
@click.option("--ticket", type=click.Path(dir_okay=False), default=None,
              help="教师发给你的世界文件 simcrm_world.json（simcrm course worlds 生成）。")
def student_set(student_id: str, ticket: str | None) -> None:
    """记住你的学号；有 --ticket 时安装教师发的世界文件（计分用的世界）。

    \b
    Example:
        simcrm student set 230101001 --ticket simcrm_world.json
        simcrm student set 230101001          # 没有世界文件：练习世界
    """
    from .errors import ConfigError
    from .lab.session import set_student

    if ticket is not None and not Path(ticket).is_file():
        raise Misuse(f"--ticket 的文件不存在：{ticket}；应为教师发给你的 simcrm_world.json")
    try:
        set_student(student_id, ticket)
    except ConfigError as exc:
        raise Misuse(exc.short()) from exc
    from .lab.prebuild import start_prebuild

    if start_prebuild(student=student_id) is not None:
        click.echo("正在后台准备你的实训世界，打开实训时就不用再等。")


@student.command("show")
def student_show() -> None:
    """显示已保存的学号和世界文件（start() 将打开哪个世界）。

    \b
    Example:
        simcrm student show
    """
    from .lab.identity import STUDENT_FILE, saved_student, student_home
    from .lab.session import world_ticket

    sid = saved_student()
    home = student_home()
    if sid:
        click.echo(f"学号：{sid}（{home / STUDENT_FILE}）")
    elif (home / STUDENT_FILE).is_file():
        click.echo(f"学号：无——已选择自学模式（默认世界，{home / STUDENT_FILE}）")
    else:
        click.echo("学号：未设置（默认世界，自学模式；在笔记本中第一次 start() 时会询问）")
    ticket = world_ticket()
    if ticket is None:
        click.echo("世界文件：没有" + ("（练习世界；计分作业以教师的世界为准）" if sid else ""))
    else:
        click.echo(f"世界文件：学号 {ticket['student']}，世界种子 {ticket['seed']}")


@student.command("forget")
def student_forget() -> None:
    """删除已保存的学号（或“自学模式”的选择）和世界文件：下一个实训的 start() 会重新询问。

    \b
    Example:
        simcrm student forget
    """
    from .lab.firstrun import forget_student

    forget_student()


@main.command()
@click.argument("chapters", nargs=-1, metavar="[章节…]")
@click.option("--student", "student_id", default=None, help="学号（默认：已保存的学号或世界文件，否则默认世界）。")
@click.option("--wait", is_flag=True, help="在前台生成，完成后再返回（默认在后台进行）。")
def prebuild(chapters: tuple[str, ...], student_id: str | None, wait: bool) -> None:
    """提前生成你的实训世界，第一次打开实训时不用等待。

    Builds the student's worlds (and the chapters' files) into the world cache ahead of the
    first start(): in the background by default, in the foreground with --wait.

    \b
    Example:
        simcrm prebuild                 # 全部章节，后台进行
        simcrm prebuild ch04 --wait     # 只生成第 4 章的世界，完成后返回
    """
    from .errors import ConfigError
    from .lab.prebuild import prebuild as build_now, start_prebuild
    from .sim import cache

    if cache.cache_dir() is None:
        raise Misuse("世界缓存已关闭（SIMCRM_CACHE=0 或 SIMCRM_CACHE_DIR 为空）：无法提前生成；请先打开缓存")
    try:
        if wait:
            done = build_now(list(chapters), student_id)
            click.echo(f"已生成：{'、'.join(done)}（保存在 {cache.cache_dir()}）")
        else:
            start_prebuild(list(chapters), student_id)
            click.echo("已在后台开始生成你的实训世界。")
    except ConfigError as exc:
        raise Misuse(exc.short()) from exc


from .cli_course import build_labs, course  # noqa: E402  (teacher commands live in their own module)

main.add_command(course)
main.add_command(build_labs)

from .cli_classroom import classroom  # noqa: E402  (shared classroom world on PostgreSQL)

main.add_command(classroom)

if __name__ == "__main__":  # pragma: no cover
    main()
