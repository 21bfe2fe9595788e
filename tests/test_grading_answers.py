"""Answers travel to the referee as data (JSON), never as pickles."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from simcrm.lab.checks import compare
from simcrm.lab.referee import decode_answer, encode_answer


def _trip(obj):
    return decode_answer(json.loads(json.dumps(encode_answer(obj))))


FRAME = pd.DataFrame({
    "customer_id": [3, 1, 2],
    "x": [1.1, np.nan, 1 / 3],
    "s": ["a", None, "c"],
    "d": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
    "b": [True, False, True],
    "c": pd.Categorical(["a", "b", "a"]),
    "i": pd.array([1, None, 3], dtype="Int64"),
}).set_index("customer_id")


@pytest.mark.parametrize("obj", [1, 2.5, 1 / 3, "客户", None, True, [1, "a"], (1, "a"), {1, 2},
                                 {"目标客户": "A", "流失客户": "D"}, {(1, 2): 3}, dt.date(2024, 1, 1),
                                 pd.Timestamp("2024-01-01 10:00"), pd.Timedelta(days=3)])
def test_plain_values_come_back_equal(obj):
    back = _trip(obj)
    assert back == obj
    assert type(back) is type(obj)


def test_tables_come_back_with_index_dtypes_and_exact_floats():
    back = _trip(FRAME)
    pd.testing.assert_frame_equal(back, FRAME, check_index_type=False)
    assert back["x"].iloc[2] == 1 / 3  # not rounded by the transport
    series = FRAME["x"].rename("score")
    pd.testing.assert_series_equal(_trip(series), series, check_index_type=False)
    multi = FRAME.reset_index().set_index(["customer_id", "s"])
    pd.testing.assert_frame_equal(_trip(multi), multi)
    assert compare(_trip(FRAME.reset_index()), FRAME.reset_index(), key="customer_id").ok
    assert _trip(np.array([1, 2])) == [1, 2] and _trip(np.int64(7)) == 7


def test_objects_that_are_not_data_are_refused():
    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    for obj in (Evil(), object(), lambda: 1, open):
        with pytest.raises(TypeError):
            encode_answer(obj)
    with pytest.raises(TypeError):
        encode_answer(pd.DataFrame([[1, 2]], columns=["a", "a"]))


def test_crafted_data_decodes_to_data_or_fails():
    # a student's own dict that looks like a tag is sent as a dict, and comes back as that dict
    looks_like_a_tag = {"__t": "frame", "v": "not a frame"}
    assert _trip(looks_like_a_tag) == looks_like_a_tag
    with pytest.raises(ValueError):
        decode_answer({"__t": "pickle", "v": "gASV"})
