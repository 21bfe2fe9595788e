"""The README keeps its promises: two commands first, and CI runs exactly the second one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _first_block() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"```bash\n(.*?)```", text, re.S)
    assert m, "README.md must open with a bash block of the two commands"
    assert text.index(m.group(0)) < 200, "the two commands belong in the README's first lines"
    return [line for line in m.group(1).splitlines() if line.strip()]


def test_readme_opens_with_install_and_test_commands():
    lines = _first_block()
    assert len(lines) == 2
    install, test = lines
    assert "pip install" in install and "simcrm lab" in install
    assert "pip install" in test and "[test]" in test and "pytest" in test


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in script and "bash -c \"$test_cmd\"" in script
    extracted = subprocess.run(
        ["bash", "-c", re.search(r"test_cmd=\$\((.*)\)\n", script).group(1)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert extracted == _first_block()[1]


def test_every_dependency_is_explained_in_the_readme():
    import tomllib

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for dep in meta["project"]["dependencies"]:
        name = re.split(r"[<>=!\[ ]", dep)[0]
        assert name in readme, f"README.md should say why {name} is a dependency"
