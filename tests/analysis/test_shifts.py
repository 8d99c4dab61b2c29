"""Tests for year-on-year shifts per cell and per area: counts against a plain groupby, p-values
against the exact conditional Poisson test row by row, BH q-values and labels."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from shapely.geometry import box

from geo_service.analysis.grid import grid_for
from geo_service.analysis.periods import Period
from geo_service.analysis.shifts import area_shifts, cell_shifts, shift_table
from geo_service.analysis.significance import bh_qvalues, poisson_change_p
from geo_service.errors import InputError
from geo_service.schema import CRS, conform

PREVIOUS = Period("2021-01", "2021-03")
CURRENT = Period("2021-04", "2021-06")


def test_shift_table_against_the_exact_test_row_by_row() -> None:
    before = np.array([0, 5, 10, 3, 5, 40, 0])
    after = np.array([0, 15, 2, 3, 15, 20, 9])
    table = shift_table(before, after)
    expected_p = [poisson_change_p(int(a), int(b)) for a, b in zip(before, after, strict=True)]
    np.testing.assert_allclose(table["p"], expected_p)
    np.testing.assert_allclose(table["q"], bh_qvalues(expected_p))
    assert table["change"].tolist() == [0, 10, -8, 0, 10, -20, 9]
    assert table["pct_change"].iloc[1] == pytest.approx(200.0)
    assert np.isnan(table["pct_change"].iloc[0]) and np.isnan(table["pct_change"].iloc[6])
    # 40 -> 20: scipy's exact binomial test of 20 of 60 at 1/2; 0 -> 9: p = 2 * .5^9 = 0.0039
    assert table["p"].iloc[5] == pytest.approx(stats.binomtest(20, 60, 0.5).pvalue)
    assert table["p"].iloc[6] == pytest.approx(2 * 0.5**9)
    labels = table["label"].tolist()
    assert labels[5] == "significant decrease" and labels[6] == "significant increase"
    assert labels[0] == "no incidents" and labels[3] == "no significant change"


def test_unequal_periods_are_compared_per_month() -> None:
    table = shift_table(np.array([12]), np.array([12]), exposure_previous=12, exposure_current=6)
    # Twice the monthly rate: 12 of 24 in the previous period, expected share 12 / 18 = 2/3.
    assert table["p"].iloc[0] == pytest.approx(stats.binomtest(12, 24, 2 / 3).pvalue)
    assert table["p"].iloc[0] < shift_table(np.array([12]), np.array([12]))["p"].iloc[0]
    with pytest.raises(InputError, match="counts"):
        shift_table(np.array([1, -1]), np.array([1, 1]))


def _incidents() -> pd.DataFrame:
    rng = np.random.default_rng(4)
    n = 600
    frame = pd.DataFrame(
        {
            "incident_id": [f"t:{i}" for i in range(n)],
            "source": "t",
            "category": rng.choice(["Burglary", "Drugs"], n),
            "month": rng.choice([f"2021-{m:02d}" for m in range(1, 7)], n),
            "x": rng.uniform(0, 1000, n),
            "y": rng.uniform(0, 600, n),
        }
    )
    hot = (frame["x"] < 200) & (frame["y"] < 200) & (frame["month"] >= "2021-04")
    extra = [
        frame.loc[hot].assign(incident_id=frame.loc[hot, "incident_id"] + f"b{k}") for k in range(3)
    ]
    frame = pd.concat([frame, *extra], ignore_index=True)
    frame.loc[frame.index[:5], "x"] = np.nan  # no location
    frame = conform(frame)
    frame["area_ward"] = np.where(frame["x"] < 500, "W", "E")
    frame.loc[frame["x"].isna(), "area_ward"] = None
    return frame


def test_cell_shifts_counts_match_a_plain_groupby() -> None:
    incidents = _incidents()
    grid = grid_for(box(0, 0, 1000, 600), cell_m=200)
    frame = cell_shifts(incidents, grid, group="Burglary", previous=PREVIOUS, current=CURRENT)
    burglary = incidents.loc[(incidents["category"] == "Burglary") & incidents["x"].notna()]
    cell = (burglary["y"] // 200).astype(int) * 5 + (burglary["x"] // 200).astype(int)
    when = np.where(burglary["month"] <= "2021-03", "previous", "current")
    expected = pd.crosstab(cell, when).reindex(range(15), fill_value=0)
    np.testing.assert_array_equal(frame["previous"], expected["previous"].to_numpy())
    np.testing.assert_array_equal(frame["current"], expected["current"].to_numpy())
    np.testing.assert_allclose(frame["q"], bh_qvalues(frame["p"]))
    corner = frame.loc[frame["cell"] == 0].iloc[0]
    assert corner["label"] == "significant increase"
    assert frame.crs == CRS


def test_area_shifts_list_every_area_with_its_polygon() -> None:
    incidents = _incidents()
    wards = gpd.GeoDataFrame(
        {"code": ["W", "E", "Z"], "name": ["West", "East", "Empty"]},
        geometry=[box(0, 0, 500, 600), box(500, 0, 1000, 600), box(2000, 0, 2100, 100)],
        crs=CRS,
    )
    frame = area_shifts(
        incidents, wards, layer="ward", group="Drugs", previous=PREVIOUS, current=CURRENT
    )
    drugs = incidents.loc[incidents["category"] == "Drugs"]
    for code in ("W", "E"):
        mine = drugs.loc[drugs["area_ward"] == code, "month"]
        row = frame.loc[frame["code"] == code].iloc[0]
        assert row["previous"] == (mine <= "2021-03").sum()
        assert row["current"] == (mine >= "2021-04").sum()
    empty = frame.loc[frame["code"] == "Z"].iloc[0]
    assert (empty["previous"], empty["current"], empty["p"]) == (0, 0, 1.0)
    assert frame.geometry.iloc[0].equals(wards.geometry.iloc[0])
