"""Tests for the forecast methods and their choice by the backtest (no look-ahead)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis.evaluation import backtest
from geo_service.analysis.forecast import (
    FORECAST,
    blend_method,
    choose_default,
    eb_method,
    eb_rates,
    ewma_counts_method,
    forecast_candidates,
    select_per_origin,
    time_weighted_counts,
)
from geo_service.analysis.grid import Grid, grid_for
from geo_service.analysis.hotspot_methods import History
from geo_service.boundaries import read_layer
from geo_service.projection import to_bng


def grid5() -> Grid:
    """A 5 x 5 grid of 100 m cells from (0, 0), all inside."""
    return Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=5, ny=5, inside=np.ones((5, 5), dtype=bool))


def history_of(cube: np.ndarray, grid: Grid) -> History:
    months = tuple(f"2021-{m + 1:02d}" for m in range(cube.shape[0]))
    empty = np.zeros(0)
    return History(grid, months, cube, empty, empty, np.zeros(0, dtype=int))


CUBE = np.zeros((3, 5, 5), dtype=int)
CUBE[0, 2, 2] = 4  # two months before the origin
CUBE[1, 0, 0] = 2
CUBE[2, 2, 2] = 1  # the origin month
CUBE[2, 4, 4] = 3


def test_time_weighted_counts_by_hand() -> None:
    counts, exposure = time_weighted_counts(CUBE, half_life_months=1.0)
    # weights 0.25, 0.5, 1 for lags 2, 1, 0
    assert counts[2, 2] == pytest.approx(4 * 0.25 + 1 * 1.0)
    assert counts[0, 0] == pytest.approx(2 * 0.5)
    assert counts[4, 4] == pytest.approx(3.0)
    assert exposure == pytest.approx(1.75)
    ewma = ewma_counts_method(half_life_months=1.0)(history_of(CUBE, grid5()))
    np.testing.assert_allclose(ewma, counts)


def quartic_weights(bandwidth_m: float, cell_m: float) -> dict[tuple[int, int], float]:
    """Quartic kernel at whole-cell offsets, normalised to sum 1, by a plain double loop."""
    reach = math.floor(bandwidth_m / cell_m)
    raw = {}
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            u2 = (math.hypot(dx, dy) * cell_m / bandwidth_m) ** 2
            raw[dy, dx] = (1 - u2) ** 2 if u2 < 1 else 0.0
    total = sum(raw.values())
    return {k: v / total for k, v in raw.items()}


def direct_smooth(values: np.ndarray, bandwidth_m: float, cell_m: float) -> np.ndarray:
    kernel = quartic_weights(bandwidth_m, cell_m)
    out = np.zeros_like(values, dtype=float)
    ny, nx = values.shape
    for r in range(ny):
        for c in range(nx):
            for (dy, dx), w in kernel.items():
                if 0 <= r - dy < ny and 0 <= c - dx < nx:
                    out[r, c] += w * values[r - dy, c - dx]
    return out


def test_blend_equals_direct_computation() -> None:
    grid = grid5()
    counts, _ = time_weighted_counts(CUBE, half_life_months=2.0)
    smooth = direct_smooth(counts, 250.0, 100.0)
    expected = 0.7 * counts + 0.3 * smooth
    got = blend_method(half_life_months=2.0, kernel_share=0.3, bandwidth_m=250.0)(
        history_of(CUBE, grid)
    )
    np.testing.assert_allclose(got, expected, atol=1e-8)
    # the kernel orders cells that counts alone tie: (2, 3) touches the busy (2, 2), (0, 4) none
    assert counts[2, 3] == counts[0, 4] == 0
    assert got[2, 3] > got[0, 4]


def test_eb_rates_equal_marshall_by_hand() -> None:
    grid = grid5()
    counts, exposure = time_weighted_counts(CUBE, half_life_months=6.0)
    rate = counts / exposure
    mean = direct_smooth(rate, 300.0, 100.0)
    second = direct_smooth(rate**2, 300.0, 100.0)
    variance = np.maximum(second - mean**2 - mean / exposure, 0)
    weight = np.where(variance + mean / exposure > 0, variance / (variance + mean / exposure), 0)
    expected = mean + weight * (rate - mean)
    got = eb_rates(counts, exposure, grid, bandwidth_m=300.0)
    np.testing.assert_allclose(got, expected, atol=1e-8)
    method = eb_method(half_life_months=6.0, bandwidth_m=300.0)(history_of(CUBE, grid))
    np.testing.assert_allclose(method, got)
    # the busiest cell is pulled towards its quiet neighbourhood, not past it
    assert mean[2, 2] < got[2, 2] < rate[2, 2]


def test_shared_counts_give_the_same_maps_as_own() -> None:
    grid = grid5()
    history = history_of(CUBE, grid)
    candidates = forecast_candidates(cell_m=100.0)
    alone = blend_method(half_life_months=6, kernel_share=0.5, bandwidth_m=250.0)(history)
    np.testing.assert_array_equal(candidates["blend-h6-a0.5"](history), alone)
    other = history_of(CUBE[:2], grid)  # a different origin: the cache must not be reused
    np.testing.assert_array_equal(
        candidates["ewma-h6"](other), ewma_counts_method(half_life_months=6)(other)
    )


def scored(rates: dict[str, list[float]]) -> pd.DataFrame:
    rows = [
        {"method": name, "origin": f"2021-{i + 1:02d}", "coverage": 5.0, "hit_rate": r}
        for name, values in rates.items()
        for i, r in enumerate(values)
    ]
    return pd.DataFrame(rows)


def test_select_per_origin_uses_only_origins_already_scored() -> None:
    table = scored(
        {
            "previous-12-months": [0.9, 0.1, 0.1, 0.1],
            "previous-month": [0.0, 0.0, 0.0, 0.0],
            "blend-h6-a0.2": [0.6, 0.5, 0.5, 0.5],
            "ewma-h3": [0.0, 0.9, 0.9, 0.9],
        }
    )
    chosen = select_per_origin(table, horizon_months=1)
    # origin 1: nothing scored yet -> the fixed first choice; origin 2: only origin 1 known
    # (prev-12 0.9 best); origin 3: means over origins 1-2: blend 0.55 > prev-12 0.5 > ewma 0.45;
    # origin 4: over 1-3: ewma 0.6 > blend 0.53 > prev-12 0.37
    assert chosen["chosen"].tolist() == [
        "blend-h6-a0.2",
        "previous-12-months",
        "blend-h6-a0.2",
        "ewma-h3",
    ]
    assert chosen["hit_rate"].tolist() == [0.6, 0.1, 0.5, 0.9]
    assert set(chosen["method"]) == {FORECAST}
    # a two-month horizon: origin 2's targets are not known at origin 2
    later = select_per_origin(table, horizon_months=2)
    assert later["chosen"].tolist()[:3] == ["blend-h6-a0.2", "blend-h6-a0.2", "previous-12-months"]


def test_choose_default_is_the_baseline_when_the_forecast_does_not_beat_it() -> None:
    table = scored(
        {
            "previous-12-months": [0.6, 0.6, 0.6],
            "previous-month": [0.2, 0.2, 0.2],
            "blend-h6-a0.2": [0.5, 0.5, 0.7],
        }
    )
    forecast = select_per_origin(table)
    choice = choose_default(table, forecast)
    assert choice.forecast_hit_rate == pytest.approx((0.5 + 0.6 + 0.6) / 3)
    assert choice.method == "previous-12-months"
    assert choice.hit_rate == pytest.approx(0.6)
    winning = scored(
        {
            "previous-12-months": [0.4, 0.4, 0.4],
            "previous-month": [0.2, 0.2, 0.2],
            "blend-h6-a0.2": [0.5, 0.5, 0.5],
        }
    )
    choice = choose_default(winning, select_per_origin(winning))
    assert (choice.method, choice.map_method) == (FORECAST, "blend-h6-a0.2")
    assert choice.hit_rate == pytest.approx(0.5)
    assert choice.best_baseline == "previous-12-months"


# ------------------------------------------------------------------ the real Hertfordshire months
FREQUENT = 50  # incidents a month


@pytest.fixture(scope="module")
def dacorum(shared_data: Path) -> tuple[pd.DataFrame, Grid]:
    folder = shared_data / "police-uk-hertfordshire-street"
    wards = shared_data / "ons-boundaries-uk-geojson/hertfordshire/wards/E07000096_wards.geojson"
    if not folder.is_dir() or not wards.is_file():
        pytest.skip("the Hertfordshire police.uk months or Dacorum wards are not in shared data")
    files = sorted(folder.glob("*-hertfordshire-street.csv.gz"))
    columns = ["Month", "Crime type", "Longitude", "Latitude"]
    raw = pd.concat([pd.read_csv(f, usecols=columns) for f in files], ignore_index=True)
    raw = raw.dropna(subset=["Longitude", "Latitude"])
    x, y = to_bng(raw["Longitude"].to_numpy(), raw["Latitude"].to_numpy())
    frame = pd.DataFrame({"month": raw["Month"], "category": raw["Crime type"], "x": x, "y": y})
    frame["incident_id"] = [f"h:{i}" for i in range(len(frame))]
    grid = grid_for(read_layer(wards)[0], cell_m=100.0)
    cell = grid.cell_index(frame["x"].to_numpy(), frame["y"].to_numpy())
    inside = (cell >= 0) & grid.inside.ravel()[np.maximum(cell, 0)]
    return schema.conform(frame.loc[inside].reset_index(drop=True)), grid


def test_default_beats_both_baselines_for_frequent_categories_in_dacorum(dacorum) -> None:
    incidents, grid = dacorum
    per_month = incidents.groupby("category").size() / incidents["month"].nunique()
    frequent = sorted(per_month[per_month >= FREQUENT].index)
    assert {"Anti-social behaviour", "Violence and sexual offences"} <= set(frequent)
    candidates = forecast_candidates(cell_m=grid.cell_m)
    choices = {}
    for category in frequent:
        frame = incidents[incidents["category"] == category]
        table = backtest(
            frame, grid, methods=candidates, first_origin="2021-01", last_origin="2021-12",
            coverages=(5,),
        )  # fmt: skip
        choice = choices[category] = choose_default(table, select_per_origin(table))
        assert choice.method == FORECAST, category
        for name, rate in choice.baseline_hit_rates.items():
            assert choice.hit_rate > rate, (category, name)
    # the case the issue names: ASB, where last year's counts (77.7 % at 5 %) beat every KDE
    choice = choices["Anti-social behaviour"]
    assert choice.baseline_hit_rates["previous-12-months"] == pytest.approx(0.7768, abs=5e-4)
    assert choice.hit_rate == pytest.approx(0.8207, abs=5e-4)
