"""Tests for the plausibility checks: month bounds, coordinates against their CRS, text."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from geo_service.errors import InputError
from geo_service.sources._guards import input_limits
from geo_service.sources._plausible import (
    check_crs_fit,
    check_file_month,
    current_month,
    month_bounds_masks,
    normalise_text,
    shown,
)


def test_normalise_text_by_hand(caplog: pytest.LogCaptureFixture) -> None:
    values = pa.array(
        ["Burglary  ", " Burg\x00lary", "Cafe\u0301", "a\t\tb", "   ", None, "Drugs"],
        pa.large_string(),
    )
    with caplog.at_level(logging.WARNING):
        out = normalise_text(Path("f.csv"), "Crime type", values)
    assert out.to_pylist() == ["Burglary", "Burglary", "Café", "a b", None, None, "Drugs"]
    assert "column Crime type: 5 value(s) normalised" in caplog.text
    assert "e.g. 'Burglary  ' -> 'Burglary'" in caplog.text


def test_clean_text_is_returned_unchanged(caplog: pytest.LogCaptureFixture) -> None:
    values = pa.array(["Burglary", "Drugs", None], pa.large_string())
    with caplog.at_level(logging.WARNING):
        assert normalise_text(Path("f.csv"), "c", values) is values
    assert caplog.text == ""


def test_month_bounds() -> None:
    months = pa.array(["2010-11", "2010-12", "2021-01", "2021-02", "2099-01", "0000-01", None])
    early, late, future = month_bounds_masks(months, first="2010-12", last="2021-01")
    assert early.tolist() == [True, False, False, False, False, True, False]
    assert late.tolist() == [False, False, False, True, False, False, False]
    assert future.tolist() == [False, False, False, False, True, False, False]
    assert len(current_month()) == 7


def test_file_month_refused_only_when_most_rows_disagree() -> None:
    path = Path("2021-02-x-street.csv")
    check_file_month(path, pa.array(["2021-02", "2021-02", "2019-05"]), "Month", "2021-02")
    check_file_month(path, pa.array(["2019-05"]), "Month", None)  # no month in the name
    with pytest.raises(InputError, match=r"name says 2021-02 but 2 of 3 rows .* 2019-05 \(2 rows"):
        check_file_month(path, pa.array(["2019-05", "2019-05", "2021-02"]), "Month", "2021-02")


def test_crs_fit() -> None:
    a = np.array([-0.47, 504000.0, 0.0, np.nan, 1e9])
    b = np.array([51.75, 206000.0, 0.0, np.nan, 1e9])
    bad, reason = check_crs_fit(a, b, geographic=True, crs="EPSG:4326")
    assert bad.tolist() == [False, True, False, False, True]
    assert "fit no CRS used in Great Britain" in reason  # 1e9 is not BNG either
    bad, reason = check_crs_fit(a[:2], b[:2], geographic=True, crs="EPSG:4326")
    assert "look like British National Grid metres" in reason
    bad, reason = check_crs_fit(a, b, geographic=False, crs="EPSG:27700")
    assert bad.tolist() == [True, False, False, False, False]
    assert "off the Isles of Scilly" in reason


def test_shown_cuts_long_values() -> None:
    assert shown("x" * 80) == "x" * 80
    assert shown("x" * 81) == "x" * 80 + "... (81 characters)"
    assert shown(None) == ""


def test_input_limits_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEO_SERVICE_MAX_INPUT_MB", raising=False)
    monkeypatch.setenv("GEO_SERVICE_MAX_LINE_KB", "4")
    limits = input_limits()
    assert (limits.max_bytes, limits.max_line_bytes) == (2048 * 2**20, 4096)
    monkeypatch.setenv("GEO_SERVICE_MAX_INPUT_MB", "-1")
    with pytest.raises(InputError, match="expected a positive whole number"):
        input_limits()


def test_the_byte_check_never_misses_a_value_the_regex_would_normalise() -> None:
    from geo_service.sources._plausible import _NEEDS_WORK, _may_need_work

    rng = np.random.default_rng(3)
    alphabet = ["a", "b", " ", "\t", "\n", "\x01", "\x7f", "é", "\u00a0", "Z", "-"]
    for _ in range(3000):
        size = int(rng.integers(0, 5))
        texts = [
            None if rng.random() < 0.1 else "".join(rng.choice(alphabet, int(rng.integers(0, 4))))
            for _ in range(size)
        ]
        for kind in (pa.string(), pa.large_string()):
            values = pa.array(texts, kind)
            for part in (values, values.slice(1), pa.chunked_array([values, values])):
                regex = pc.any(pc.fill_null(pc.match_substring_regex(part, _NEEDS_WORK), False))
                if regex.as_py():
                    assert _may_need_work(part), (texts, kind)
    # clean text is seen as clean, without the regex
    assert not _may_need_work(pa.array(["Burglary", "On or near Park Road", None, ""]))
    assert _may_need_work(pa.array(["On or near  Park Road"]))
    assert _may_need_work(pa.array(["Burglary "]))
    assert _may_need_work(pa.array([" Burglary"], pa.large_string()))
    assert _may_need_work(pa.array(["Café"]))


def test_a_test_per_distinct_value_equals_the_test_per_row() -> None:
    from geo_service.sources._plausible import by_distinct

    rng = np.random.default_rng(8)
    pool = ["2021-01", "2021-02", "2099-01", "2021-13", "", "01/2021", None]
    for size in (0, 1, 5, 200):
        values = pa.array([pool[int(i)] for i in rng.integers(0, len(pool), size)], pa.string())
        for given in (values, pa.chunked_array([values[: size // 2], values[size // 2 :]])):
            distinct, rows = by_distinct(given)
            answer = pc.fill_null(pc.greater(distinct, "2021-01"), False).to_numpy(
                zero_copy_only=False
            )
            expected = pc.fill_null(pc.greater(values, "2021-01"), False).to_numpy(
                zero_copy_only=False
            )
            np.testing.assert_array_equal(rows(np.asarray(answer, bool)), expected)
            assert len(distinct) == len(set(values.to_pylist()) - {None})
