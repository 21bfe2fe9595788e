"""Doctest set-up for simcrm.analytics: a wide, stable pandas display."""

import pandas as pd
import pytest


@pytest.fixture(autouse=True)
def _wide_display():
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        yield
