"""The student's own lab folder and the JupyterLab that ``simcrm lab`` opens on it.

Students work on **copies**, never on the notebooks of the git checkout (their answers would
show in ``git status`` and conflict with the next ``git pull`` of updated labs):

* the first run copies every lab into the student folder (default ``~/simcrm-labs``);
* a copy is never overwritten: when a lab is updated, the new version arrives beside the old
  one (``ch04_customers.更新-<版本>.ipynb``) and the student's answers stay where they were;
* ``.simcrm/labs.json`` remembers which version of each file was copied.

The JupyterLab session is a student's: Simplified Chinese menus (the language pack is a
dependency), only the student's side of nbgrader (Validate, Assignments — not Create
Assignment, Formgrader or Courses), and no start-up noise that is not the student's business
(nbgrader's "No nbgrader_config.py file found", the kernels' TCP-encryption warning), and
kernels forked from a preloaded zygote (:mod:`simcrm.lab.jupyter_ext`) so a lab opens fast. All of
it through a configuration folder inside the student folder, added with ``JUPYTER_CONFIG_PATH``;
nothing in the user's own Jupyter settings changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DEFAULT_FOLDER", "Prepared", "default_folder", "prepare", "jupyter_command", "jupyter_env",
           "TEACHER_PLUGINS", "TEACHER_SERVER_EXTENSIONS"]

DEFAULT_FOLDER = "simcrm-labs"
_STATE = ".simcrm"

#: nbgrader's teacher tools, hidden in a student session
TEACHER_PLUGINS = ("@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader",
                   "@jupyter/nbgrader:course-list")
TEACHER_SERVER_EXTENSIONS = ("nbgrader.server_extensions.formgrader", "nbgrader.server_extensions.course_list")
#: the server extension and kernel manager of :mod:`simcrm.lab.jupyter_ext` (named, not imported:
#: they load jupyter_server)
ZYGOTE_EXTENSION = "simcrm.lab.jupyter_ext"
ZYGOTE_KERNEL_MANAGER = "simcrm.lab.jupyter_ext.ForkedServerKernelManager"


def default_folder() -> Path:
    """``$SIMCRM_LABS_DIR`` or ``~/simcrm-labs``."""
    env = os.environ.get("SIMCRM_LABS_DIR")
    return Path(env).expanduser() if env else Path.home() / DEFAULT_FOLDER


@dataclass
class Prepared:
    """What :func:`prepare` did: files copied the first time, updates put beside old copies."""

    folder: Path
    copied: list[Path] = field(default_factory=list)
    updates: list[tuple[Path, Path]] = field(default_factory=list)  # (student's copy, new version)

    def summary(self) -> str:
        lines = [f"实训文件夹：{self.folder}"]
        if self.copied:
            lines.append(f"  复制了 {len(self.copied)} 个实训文件（首次使用）。")
        for old, new in self.updates:
            lines.append(f"  实训有更新：新版本 {new.name} 放在 {old.name} 旁边；你在 {old.name} 中的答案没有改动。")
        return "\n".join(lines)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def prepare(source: Path, folder: Path) -> Prepared:
    """Copy the labs of ``source`` into the student ``folder`` (see the module docstring)."""
    source, folder = Path(source), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / _STATE
    state.mkdir(exist_ok=True)
    book_path = state / "labs.json"
    book: dict[str, str] = json.loads(book_path.read_text(encoding="utf-8")) if book_path.exists() else {}
    done = Prepared(folder)
    for src in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = src.relative_to(source)
        if any(part.startswith(".") or part in ("__pycache__",) for part in rel.parts) or rel.name == "README.md":
            continue
        data = src.read_bytes()
        version = _digest(data)
        key = rel.as_posix()
        target = folder / rel
        if not target.exists() and key not in book:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            _trust(target)
            book[key] = version
            done.copied.append(target)
            continue
        if book.get(key) == version:
            continue  # the student has this version (perhaps with answers in it)
        if target.exists() and _digest(target.read_bytes()) == version:
            book[key] = version
            continue
        beside = target.with_name(f"{target.stem}.更新-{version[:8]}{target.suffix}")
        if not beside.exists():
            beside.parent.mkdir(parents=True, exist_ok=True)
            beside.write_bytes(data)
            _trust(beside)
            done.updates.append((target, beside))
        book[key] = version
    book_path.write_text(json.dumps(book, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")
    _write_config(state / "jupyter")
    return done


def _trust(path: Path) -> None:
    """Sign a copied lab as trusted (it comes from the course), as ``jupyter trust`` does, so
    opening it does not log "Notebook … is not trusted"; the student's later saves keep it so."""
    if path.suffix != ".ipynb":
        return
    try:
        import nbformat
        from nbformat.sign import NotebookNotary

        NotebookNotary().sign(nbformat.read(path, as_version=4))
    except Exception:  # noqa: BLE001 - trust is a convenience; an untrusted lab still works
        pass


def _write_config(config: Path) -> None:
    """The student session's Jupyter configuration (added with ``JUPYTER_CONFIG_PATH``)."""
    (config / "labconfig").mkdir(parents=True, exist_ok=True)
    files = {
        config / "jupyter_server_config.json": {
            "ServerApp": {"jpserver_extensions": {**dict.fromkeys(TEACHER_SERVER_EXTENSIONS, False),
                                                  # kernels forked from a preloaded zygote
                                                  # (simcrm.lab.jupyter_ext): a lab opens faster
                                                  ZYGOTE_EXTENSION: True},
                          # no keep-alive pings on the kernel websockets of this local (loopback)
                          # session. jupyter_server's defaults (every 30 s, 90 s timeout) make tornado
                          # warn on every websocket; a timeout equal to the interval is worse: jupyter_server
                          # checks for a pong before it has sent its first ping, so it closed every kernel
                          # connection 30 s after it opened ("WebSocket ping timeout after 30001 ms"),
                          # and a cell run across the reconnection never finished in the browser
                          "tornado_settings": {"ws_ping_interval": 0}},
            "MappingKernelManager": {"kernel_manager_class": ZYGOTE_KERNEL_MANAGER},
        },
        config / "labconfig" / "page_config.json": {"disabledExtensions": dict.fromkeys(TEACHER_PLUGINS, True)},
        config / "labconfig" / "default_setting_overrides.json": {
            "@jupyterlab/translation-extension:plugin": {"locale": "zh_CN"},
        },
    }
    for path, content in files.items():
        path.write_text(json.dumps(content, ensure_ascii=False, indent=1), encoding="utf-8")
    # nbgrader looks for this file in every configuration folder and warns when there is none
    (config / "nbgrader_config.py").write_text(
        "# 学生端的 nbgrader 配置（由 simcrm lab 生成）：学生只用“验证”和“作业列表”，无需设置。\n"
        "c = get_config()  # noqa: F821\n", encoding="utf-8")


def jupyter_env(folder: Path, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of the student session: the student configuration folder first."""
    env = dict(os.environ if base is None else base)
    config = str(Path(folder) / _STATE / "jupyter")
    paths = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p and p != config]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([config, *paths])
    env.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning")
    return env


def jupyter_command(folder: Path, *, no_browser: bool = False, port: int | None = None) -> list[str]:
    """The ``jupyter lab`` command line of the student session."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--notebook-dir={folder}", "--ServerApp.log_level=WARN",
           "--LabApp.log_level=WARN"]
    if os.name == "posix":  # kernels talk over local sockets: no TCP-encryption warning per kernel
        cmd.append("--KernelManager.transport=ipc")
    if no_browser:
        cmd.append("--no-browser")
    if port:
        cmd.append(f"--port={port}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd

