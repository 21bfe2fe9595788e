"""simcrm.analytics imports its submodules on first use; every public name is still what it says."""

from __future__ import annotations

import subprocess
import sys

import pytest

import simcrm.analytics as analytics


@pytest.mark.parametrize("first", ["simcrm.analytics.rfm", "simcrm.analytics.funnel", "simcrm.analytics.churn"])
def test_public_names_survive_a_submodule_imported_first(first):
    # a fresh interpreter, the submodule imported before the package's names are looked up:
    # rfm and funnel used to come back as modules ('module' object is not callable)
    code = (f"import importlib; importlib.import_module({first!r})\n"
            "import simcrm.analytics as a, types\n"
            "bad = [n for n in a.__all__ if isinstance(getattr(a, n), types.ModuleType)]\n"
            "print(bad); assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_public_name_resolves_to_its_submodule_object():
    import importlib

    for name, where in analytics._WHERE.items():
        assert getattr(analytics, name) is getattr(importlib.import_module(f"simcrm.analytics.{where}"), name), name
