"""``simcrm classroom …``: a shared classroom world on a PostgreSQL server (teacher commands).

Thin over :mod:`simcrm.classroom`; registered in :mod:`simcrm.cli` with
``main.add_command(classroom)``. Errors are one Chinese line and a non-zero exit code
(:class:`simcrm.cli_errors.Group`, the class of every simcrm command group).
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_errors import Group

__all__ = ["classroom"]


_server_option = click.option("--server", required=True, metavar="URL",
                              help="PostgreSQL 地址，如 postgresql://teacher:密码@127.0.0.1:5432/crm（教师账号，可创建角色）。")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def classroom() -> None:
    """教师用：在 PostgreSQL 服务器上建一个全班共享的企业，每个学生一个数据库账号。

    Teacher commands: one firm shared by the whole class on a PostgreSQL server, one database
    login per student; the database enforces each role's data scope (row-level security), module
    rights (privileges) and the audit log's masks.

    \b
    Example:
        simcrm classroom create --server postgresql://teacher:pw@127.0.0.1:5432/crm --roster 名单.xlsx --out 课堂
        simcrm classroom password --server postgresql://teacher:pw@127.0.0.1:5432/crm --student 2023001 --out 课堂
        simcrm classroom rights --server postgresql://teacher:pw@127.0.0.1:5432/crm
        simcrm classroom drop --server postgresql://teacher:pw@127.0.0.1:5432/crm
    """


@classroom.command("create")
@_server_option
@click.option("--roster", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="学生名单（CSV 或 Excel，列：学号、姓名，可选 身份：销售代表/销售主管/客服专员）。")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="账号表 credentials.csv 和每个学生的连接文件 students/<学号>.json 写到这里。")
@click.option("--customers", type=click.IntRange(50, 20000), default=300, show_default=True, help="企业的客户数。")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=2026, show_default=True, help="企业的随机种子。")
@click.option("--prefix", default=None, help="数据库用户名前缀（默认 crm_<数据库>_<模式>）。")
@click.option("--student-host", default=None, help="学生连接服务器时使用的主机名（默认与 --server 相同）。")
def create(server: str, roster: Path, out: Path, customers: int, seed: int, prefix: str | None,
           student_host: str | None) -> None:
    """建课堂世界：生成企业、按名单为每个学生建员工和数据库账号、写出账号表。

    \b
    Example:
        simcrm classroom create --server postgresql://teacher:pw@127.0.0.1:5432/crm --roster 名单.xlsx --out 课堂
    """
    from .classroom import CREDENTIALS, create as make

    sheet = make(server, roster, out, seed=seed, customers=customers, prefix=prefix, student_host=student_host)
    counts = sheet["身份"].value_counts()
    click.echo(f"已建课堂世界：{len(sheet)} 个学生账号（" + "，".join(f"{k} {v}" for k, v in counts.items()) + "）")
    click.echo(f"账号表：{out / CREDENTIALS}（含密码，请勿公开）")
    click.echo(f"连接文件：{out / 'students'}/<学号>.json —— 发给对应的学生，学生运行 start(\"ch01\", shared=\"<学号>.json\")")


@classroom.command("password")
@_server_option
@click.option("--student", required=True, metavar="学号", help="要换新密码的学生。")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="课堂的账号目录（create 的 --out）：新的连接文件写到 students/<学号>.json，账号表同步更新。")
@click.option("--student-host", default=None, help="学生连接服务器时使用的主机名（默认与 --server 相同）。")
def password(server: str, student: str, out: Path, student_host: str | None) -> None:
    """给一个学生换新密码（连接文件丢失或泄露时），旧密码立即失效。

    \b
    Example:
        simcrm classroom password --server postgresql://teacher:pw@127.0.0.1:5432/crm --student 2023001 --out 课堂
    """
    from .classroom import reset_password

    file = reset_password(server, student, out, student_host=student_host)
    click.echo(f"已为学号 {student} 设置新密码，新的连接文件：{file}（旧密码已失效）")


@classroom.command("rights")
@_server_option
def rights(server: str) -> None:
    """角色权限改动后（改了模块权限、加了角色或调整了学生的角色），按当前权限重新授予数据库权限。

    \b
    Example:
        simcrm classroom rights --server postgresql://teacher:pw@127.0.0.1:5432/crm
    """
    from .classroom import apply_rights

    n = apply_rights(server)
    click.echo(f"已按 {n} 个角色的当前模块权限重新授予数据库权限。")


@classroom.command("drop")
@_server_option
def drop(server: str) -> None:
    """删除课堂世界：全部数据表和学生数据库账号（不可恢复）。

    \b
    Example:
        simcrm classroom drop --server postgresql://teacher:pw@127.0.0.1:5432/crm
    """
    from .classroom import drop as remove

    names = remove(server)
    click.echo(f"已删除课堂世界和 {len(names)} 个学生账号。")
