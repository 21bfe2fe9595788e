"""Check helpers: right answers pass, wrong ones get the specific Chinese hint."""

from __future__ import annotations

import pandas as pd
import pytest

from simcrm.errors import ConfigError
from simcrm.lab import compare, resolve_student, world_seed
from simcrm.lab.identity import DEFAULT_SEED


@pytest.mark.parametrize("value,expected,fragment", [
    (3.0, 21.0, "按周"),
    (21.0, 3.0, "按天计算"),
    (85.0, 0.85, "不是百分数"),
    (-2.5, 2.5, "符号相反"),
    (100.4, 100.0, "四舍五入"),
    ("abc", 3.0, "应是数字"),
    (None, 3.0, "还没有作答"),
    (float("nan"), 3.0, "NaN"),
])
def test_number_hints(value, expected, fragment):
    result = compare(value, expected, what="recency")
    assert not result.ok
    assert fragment in result.hint


def test_numbers_within_tolerance_pass():
    assert compare(1 / 3, 0.3333333333).ok
    assert compare(12, 12.0).ok
    assert compare("12.0", 12.0).ok


def test_collection_hints_name_extra_and_missing():
    result = compare([1, 2, 4], [1, 2, 3])
    assert not result.ok and "多了 1 项（如 4）" in result.hint and "漏了 1 项（如 3）" in result.hint
    assert compare([3, 2, 1], [1, 2, 3]).ok
    assert "顺序不对" in compare([3, 2, 1], [1, 2, 3], ordered=True).hint
    assert "重复项" in compare([1, 1, 2], [1, 2]).hint
    everything = compare(list(range(10)), [2, 5], universe=range(10), what="重复行")
    assert "不能把全部 10 项都算作重复行" in everything.hint


def test_frames_match_on_key_regardless_of_order_and_extra_columns():
    expected = pd.DataFrame({"customer_id": [1, 2, 3], "score": [5, 3, 1]})
    student = pd.DataFrame({"score": [1, 5, 3], "customer_id": [3, 1, 2], "note": ["x", "y", "z"]})
    assert compare(student, expected, key="customer_id").ok


def test_frame_hints():
    expected = pd.DataFrame({"customer_id": [1, 2, 3], "recency_days": [7.0, 14.0, 21.0]})
    weeks = expected.assign(recency_days=expected.recency_days / 7)
    result = compare(weeks, expected, key="customer_id")
    assert not result.ok and "按周" in result.hint and "recency_days" in result.hint
    missing_row = expected.iloc[:2]
    assert "漏了 1 行（如 3）" in compare(missing_row, expected, key="customer_id").hint
    assert "缺少列：recency_days" in compare(expected[["customer_id"]], expected, key="customer_id").hint


def test_series_and_dict_answers():
    expected = pd.Series({"华东": 10.0, "华北": 5.0})
    assert compare({"华北": 5, "华东": 10}, expected).ok
    assert not compare({"华北": 5, "华东": 11}, expected).ok
    assert "缺少这些键" in compare({"a": 1}, {"a": 1, "b": 2}).hint


def test_identity_order_and_autograde_lockdown():
    autograde = {"NBGRADER_EXECUTION": "autograde", "JUPYTERHUB_USER": "hubuser"}
    s = resolve_student("friend", environ=autograde, cwd="/c/autograded/s001/ch04")
    assert (s.id, s.source, s.assignment) == ("s001", "autograde", "ch04")
    with pytest.raises(ConfigError) as info:
        resolve_student(None, environ=autograde, cwd="/tmp/elsewhere")
    assert "autograded" in str(info.value)
    assert resolve_student("me", environ={"JUPYTERHUB_USER": "hub"}, cwd="/").source == "jupyterhub"
    assert resolve_student("me", environ={"SIMCRM_STUDENT": "env"}, cwd="/").id == "me"
    assert resolve_student(None, environ={"SIMCRM_STUDENT": "env1"}, cwd="/").source == "env"
    assert resolve_student(None, environ={}, cwd="/").is_default
    with pytest.raises(ConfigError):
        resolve_student("张三 的学号", environ={}, cwd="/")


def test_seeds_differ_by_student_and_salt_and_are_stable():
    a = world_seed("2024001", salt="秋季")
    assert a == world_seed("2024001", salt="秋季")
    assert a != world_seed("2024002", salt="秋季")
    assert a != world_seed("2024001", salt="春季")
    assert world_seed(None) == DEFAULT_SEED
    # the documented derivation, recomputed independently
    import hashlib
    assert a == int.from_bytes(hashlib.sha256("秋季\x002024001".encode()).digest()[:8], "big") >> 1
    assert a.bit_length() > 32 and a < 2**63  # 63-bit seeds: a signed 64-bit integer in the tables


def test_missing_text_values_match_each_other_only():
    expected = pd.DataFrame({"id": [1, 2], "mobile": ["138****1234", None]})
    assert compare(pd.DataFrame({"id": [1, 2], "mobile": ["138****1234", float("nan")]}), expected, key="id").ok
    assert not compare(pd.DataFrame({"id": [1, 2], "mobile": ["138****1234", "nan"]}), expected, key="id").ok
    assert not compare(pd.DataFrame({"id": [1, 2], "mobile": [None, None]}), expected, key="id").ok


def test_repeated_keys_get_a_hint_not_a_crash():
    expected = pd.DataFrame({"customer_id": [1, 2], "c": [1.0, 0.9]})
    doubled = pd.DataFrame({"customer_id": [1, 1, 2], "c": [1.0, 1.0, 0.9]})
    result = compare(doubled, expected, key="customer_id")
    assert not result.ok and "重复" in result.hint and "merge" in result.hint


# --- how a failed check and simcrm's errors show in a notebook ----------------------------------


def test_a_failed_check_renders_as_short_chinese_lines():
    from simcrm.lab.checks import CheckFailed, CheckResult

    err = CheckFailed("ch04.import", CheckResult(False, "导入了 5 条，应为 3 条。", ["多了 2 行"]), redo=True)
    assert isinstance(err, AssertionError) and str(err) == "ch04.import: 导入了 5 条，应为 3 条。"
    lines = err._render_traceback_()
    text = "\n".join(lines)
    assert "检查未通过（ch04.import）" in text and "多了 2 行" in text and 'lab.undo("ch04.import")' in text
    assert "Traceback" not in text and len(lines) == 3
    plain = CheckFailed("ch04.dup_rows", CheckResult(False, "漏了 1 行。"))._render_traceback_()
    assert len(plain) == 1 and "lab.undo" not in plain[0]


def test_debug_and_english_are_one_switch_away(monkeypatch):
    import simcrm
    from simcrm.errors import ValidationError

    try:
        raise ValidationError(field="mobile", value="139", label="手机", allowed="11 位数字")
    except ValidationError as exc:
        err = exc
    short = "\n".join(err._render_traceback_())
    assert "手机（mobile）的值 '139'" in short and "[en]" not in short and "Traceback" not in short
    assert "simcrm.debug(True)" in short  # says how to see more
    monkeypatch.setenv("SIMCRM_LANG", "en")
    assert "[en] invalid value '139'" in "\n".join(err._render_traceback_())
    monkeypatch.delenv("SIMCRM_LANG")
    simcrm.debug(True)
    try:
        assert "Traceback" in "".join(err._render_traceback_())
    finally:
        simcrm.debug(False)
    monkeypatch.setenv("SIMCRM_TRACEBACK", "1")
    import simcrm.errors as E

    E._DEBUG = None
    assert "Traceback" in "".join(err._render_traceback_())


def test_only_a_cells_own_blank_answer_is_explained():
    """A NotImplementedError raised inside a library is a real error: no 还没有作答."""
    import sys
    import types

    from simcrm.lab.checks import explain_cell_error

    shell = types.SimpleNamespace(compile=types.SimpleNamespace(_filename_map={}))
    try:
        exec(compile("raise NotImplementedError()", "<ipython-input-1>", "exec"))  # noqa: S102
    except NotImplementedError:
        etype, value, tb = sys.exc_info()
    import linecache

    linecache.cache["<ipython-input-1>"] = (27, None, ["raise NotImplementedError()\n"], "<ipython-input-1>")
    assert "还没有作答" in "".join(explain_cell_error(shell, etype, value, tb))
    try:
        import json

        json.JSONEncoder().default(object())  # raises TypeError inside the library
    except TypeError:
        etype, value, tb = sys.exc_info()
    assert explain_cell_error(shell, etype, value, tb) is None
    try:
        exec(compile("lab.check('x', answer)", "<ipython-input-2>", "exec"),  # noqa: S102
             {"lab": types.SimpleNamespace(check=print)})
    except NameError:
        etype, value, tb = sys.exc_info()
    linecache.cache["<ipython-input-2>"] = (30, None, ["lab.check('x', answer)\n"], "<ipython-input-2>")
    assert "请先在上面的单元格中计算 answer" in "".join(explain_cell_error(shell, etype, value, tb))
