"""The risk matrix: scores from the packaged TOML, levels at the thresholds, bad files."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from geo_service.analysis.risk import risk_rating, risk_table
from geo_service.errors import InputError
from geo_service.risk_matrix import load_risk_matrix

#: The packaged risk matrix.
MATRIX = load_risk_matrix()


def test_packaged_matrix_values() -> None:
    matrix = load_risk_matrix()
    assert matrix.harm("dwelling burglary") == 3
    assert matrix.harm("Something new") == matrix.harm_default == 2
    assert (matrix.low_max, matrix.high_min) == (6, 8)


def test_burglary_rating_adds_volume_trend_and_harm() -> None:
    p = stats.binomtest(430, 837, 0.5).pvalue  # 430 -> 407: not significant
    rating = risk_rating("Dwelling burglary", previous=430, current=407, p=p, matrix=MATRIX)
    # volume unknown 2 + no significant change 2 + harm 3 = 7 -> Medium
    assert (rating.volume_score, rating.trend_score, rating.harm_weight) == (2, 2, 3)
    assert (rating.score, rating.level) == (7, "Medium")
    assert rating.pct_change == pytest.approx(-5.3488, abs=1e-4)
    low = risk_rating(
        "Dwelling burglary", previous=430, current=407, p=p, volume_ratio=0.8, matrix=MATRIX
    )
    assert (low.volume_score, low.score, low.level) == (1, 6, "Low")


def test_significant_increase_above_peers_is_high() -> None:
    rating = risk_rating(
        "Drugs offences", previous=100, current=200, p=1e-9, volume_ratio=1.5, matrix=MATRIX
    )
    assert (rating.volume_score, rating.trend_score, rating.harm_weight) == (3, 3, 1)
    assert rating.level == "Medium"
    rating = risk_rating(
        "Robbery", previous=100, current=200, p=1e-9, volume_ratio=1.1, matrix=MATRIX
    )
    assert (rating.score, rating.level) == (9, "High")


def test_risk_table_keeps_inputs_next_to_the_rating() -> None:
    looking_back = pd.DataFrame(
        {
            "group": ["ASB incidents", "Robbery"],
            "previous": [5690, 0],
            "current": [3917, 3],
            "p": [1e-50, 0.25],
        }
    )
    table = risk_table(looking_back, volume_ratios={"ASB incidents": 0.95}, matrix=MATRIX)
    assert table.columns[:3].tolist() == ["group", "level", "score"]
    asb = table.set_index("group").loc["ASB incidents"]
    assert (asb["volume_score"], asb["trend_score"], asb["harm_weight"], asb["level"]) == (
        2,
        1,
        2,
        "Low",
    )
    assert math.isnan(table.set_index("group").loc["Robbery", "pct_change"])


def test_incomplete_matrix_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "risk.toml"
    path.write_text("[volume]\nlow_below = 0.9\n", encoding="utf-8")
    with pytest.raises(InputError, match="risk matrix incomplete"):
        load_risk_matrix(path)
    with pytest.raises(InputError, match="cannot read risk matrix"):
        load_risk_matrix(tmp_path / "missing.toml")


def test_rows_without_both_totals_are_not_rated() -> None:
    table = pd.DataFrame(
        {
            "group": ["Drugs offences", "Dwelling burglary"],
            "previous": pd.array([pd.NA, 47], dtype="Int64"),
            "current": pd.array([297, 63], dtype="Int64"),
            "p": [math.nan, stats.binomtest(47, 110, 0.5).pvalue],
            "label": ["earlier period partly covered (1 of 12 months)", "no significant change"],
        }
    )
    rated = risk_table(table, matrix=MATRIX).set_index("group")
    assert rated.loc["Drugs offences", "level"] == "Not rated"
    assert rated.loc["Drugs offences", "trend_label"] == (
        "earlier period partly covered (1 of 12 months)"
    )
    assert pd.isna(rated.loc["Drugs offences", "score"])
    # 47 -> 63, not significant: volume 2 + trend 2 + harm 3 = 7, Medium.
    assert (rated.loc["Dwelling burglary", "level"], rated.loc["Dwelling burglary", "score"]) == (
        "Medium",
        7,
    )
