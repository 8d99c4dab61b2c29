"""The backtest benchmark's quick run: result shape, PAI against hit rate, the reference check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely

from bench import MODULES
from bench.evaluation import (
    LAST_ORIGIN,
    QUICK_SIZES,
    SEED,
    TARGETS,
    _check_against_reference,
    _inside,
    synthetic_incidents,
)
from geo_service.analysis.evaluation import backtest
from geo_service.analysis.grid import Grid
from geo_service.analysis.hotspot_methods import default_methods, kde_method
from tests.bench.conftest import json_round_trip


def test_quick_result_shape(evaluation_quick: dict[str, Any]) -> None:
    result = json_round_trip(evaluation_quick)
    assert result["quick"] is True and result["seed"] == SEED and result["origins"] == 12
    assert result["targets"] == TARGETS and result["targets_met"] == {}  # quick: no targets
    (size,) = result["results"]
    n, nx, ny = QUICK_SIZES[0]
    assert (size["incidents"], size["cells"]) == (n, nx * ny)
    names = set(default_methods(cell_m=100.0))
    assert set(size["seconds_per_method_alone"]) == set(size["mean_at_5_percent"]) == names
    assert MODULES["evaluation"] == "bench.evaluation"


def test_inside_cells_are_the_ellipse(evaluation_quick: dict[str, Any]) -> None:
    """The study area: cells whose centre is in the ellipse inscribed in the grid (shapely)."""
    _, nx, ny = QUICK_SIZES[0]
    ellipse = shapely.affinity.scale(shapely.Point(nx / 2, ny / 2).buffer(1.0, 256), nx / 2, ny / 2)
    yy, xx = np.mgrid[0:ny, 0:nx] + 0.5
    expected = shapely.contains_xy(ellipse, xx, yy)
    assert evaluation_quick["results"][0]["inside_cells"] == int(expected.sum())
    assert np.array_equal(_inside(nx, ny), expected)


def test_pai_is_hit_rate_over_area_share(evaluation_quick: dict[str, Any]) -> None:
    size = evaluation_quick["results"][0]
    share = np.floor(0.05 * size["inside_cells"]) / size["inside_cells"]
    for name, row in size["mean_at_5_percent"].items():
        # Both are means over the origins of the same share, rounded to 4 places.
        assert row["pai"] == pytest.approx(row["hit_rate"] / share, abs=5e-4 / share), name


def test_reference_check_fails_on_a_wrong_hit_rate() -> None:
    n, nx, ny = QUICK_SIZES[0]
    grid = Grid(x0=500_000.0, y0=200_000.0, cell_m=100.0, nx=nx, ny=ny, inside=_inside(nx, ny))
    incidents = synthetic_incidents(n, grid, seed=SEED)
    table = backtest(
        incidents, grid, methods={"kde-500m": kde_method(bandwidth_m=500.0)},
        first_origin=LAST_ORIGIN, last_origin=LAST_ORIGIN,
    )  # fmt: skip
    _check_against_reference(incidents, grid, table)
    wrong = table.assign(hit_rate=table["hit_rate"] + 0.01)
    with pytest.raises(RuntimeError, match="!= reference"):
        _check_against_reference(incidents, grid, wrong)
