"""The ``simcrm`` command: a thin front over the API.

Every command's help ends with an ``Example:`` block (tests/test_cli.py checks it). Errors
from the API are :class:`~simcrm.errors.SimCRMError` and are shown as a plain message.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click

from . import __version__
from .errors import SimCRMError

REPO_ROOT = Path(__file__).resolve().parent.parent


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SimCRMError as exc:
            raise click.ClickException(str(exc)) from exc


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
@click.option("--seed", type=int, default=2026, show_default=True, help="随机种子：同一种子生成完全相同的世界。")
@click.option("--customers", type=int, default=2000, show_default=True, help="客户数量。")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="SQLite 文件路径。")
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
    try:
        from .sim import generate as _generate
    except ImportError as exc:  # the simulation module arrives with its own issue
        raise click.ClickException(f"模拟模块不可用: {exc}") from exc
    if out and db:
        raise click.UsageError("--out 与 --db 只能选一个 (choose one of --out and --db)")
    target = db or out or "world.sqlite"
    world = _generate(seed=seed, customers=customers, db=target, locale=locale, progress=progress)
    counts = {name: world.store.count(name) for name in ("customer", "sales_order", "activity", "complaint")}
    click.echo(f"已生成: {world.firm['name'] if isinstance(world.firm, dict) else world.firm} → {target}")
    click.echo("  " + "，".join(f"{k} {v}" for k, v in counts.items()))


@main.command()
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="实训笔记本所在目录（默认：仓库的 labs/）。")
@click.option("--no-browser", is_flag=True, help="不自动打开浏览器。")
@click.option("--port", type=int, default=None, help="JupyterLab 端口。")
def lab(directory: str | None, no_browser: bool, port: int | None) -> None:
    """在 JupyterLab 中打开实训笔记本。

    Opens the lab notebooks in JupyterLab.

    \b
    Example:
        simcrm lab
        simcrm lab --dir labs --no-browser --port 8899
    """
    target = Path(directory) if directory else REPO_ROOT / "labs"
    if not target.is_dir():
        raise click.ClickException(f"找不到实训目录 {target}（labs directory not found）")
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={target}"]
    if no_browser:
        cmd.append("--no-browser")
    if port:
        cmd.append(f"--port={port}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    click.echo("正在启动 JupyterLab … 按 Ctrl+C 退出。")
    env = dict(os.environ)
    raise SystemExit(subprocess.call(cmd, env=env))


@main.command()
def doctor() -> None:
    """检查本机环境：Python 版本、依赖、中文字体、PostgreSQL。

    Checks this machine: Python version, dependencies, PostgreSQL binaries.

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
    pg = shutil.which("pg_ctl") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))), None)
    click.echo(f"PostgreSQL 服务器: {pg or '未安装（只影响共享世界和 PostgreSQL 测试）'}")
    if not ok:
        raise SystemExit(1)


from .cli_course import build_labs, course  # noqa: E402  (teacher commands live in their own module)

main.add_command(course)
main.add_command(build_labs)

if __name__ == "__main__":  # pragma: no cover
    main()
