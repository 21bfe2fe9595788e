"""Kernels of a student's JupyterLab forked from a preloaded zygote (``simcrm lab``).

A plain notebook kernel is a new Python process that imports IPython, ipykernel, pandas,
SQLAlchemy, ipywidgets and simcrm before a lab's first cell can show anything: most of what a
student waits for when opening a lab whose world is already built. ``simcrm lab`` configures its
JupyterLab (:mod:`simcrm.lab.workspace`) with this server extension, which

* starts a kernel **zygote** (:mod:`simcrm.lab.kernels`, the same one autograde uses, with
  :data:`~simcrm.lab.kernels.STUDENT_PRELOAD`) as the server starts, so its imports run while the
  browser opens and the student reads the lab's opening text; and
* makes every kernel of this project's Python a fork of that zygote
  (:class:`ForkedServerKernelManager`): a new process, a copy of one in which no notebook ever ran,
  with the working directory, environment and connection file the server gives it; interrupt,
  restart and shut down work as for any kernel. Any other kernel (another Python, another
  language), a notebook folder holding a file that would shadow a preloaded module, or a zygote
  that died, starts the ordinary way.

The zygote belongs to the student (it runs as them, in their session); it only reads launch
requests from the server's pipe and never runs notebook code. A simcrm updated while JupyterLab
is open is seen by kernels after JupyterLab is restarted (the zygote holds the modules it loaded).
Set ``SIMCRM_NO_ZYGOTE=1`` to start kernels the ordinary way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jupyter_server.services.kernels.kernelmanager import ServerKernelManager

from .kernels import STUDENT_PRELOAD, ForkLaunch, zygote

__all__ = ["ForkedServerKernelManager", "KERNEL_MANAGER", "EXTENSION"]

#: the dotted names the student session's configuration uses
KERNEL_MANAGER = "simcrm.lab.jupyter_ext.ForkedServerKernelManager"
EXTENSION = "simcrm.lab.jupyter_ext"


class ForkedServerKernelManager(ForkLaunch, ServerKernelManager):
    """jupyter_server's kernel manager, with kernels forked from the session's zygote."""


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": EXTENSION}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Start the zygote now (it imports in the background; the first kernel waits for it only if
    it is opened before the imports are done)."""
    root = Path(getattr(serverapp, "root_dir", ".") or ".")
    state = root / ".simcrm"
    log = state / "zygote.log" if state.is_dir() else None
    zygote(log=log, preload=STUDENT_PRELOAD)
