"""Tests for the hotspot methods of the backtest: prospective, the naive baselines, KDE, Gi*."""

from __future__ import annotations

import numpy as np

from geo_service.analysis.gistar import gi_star_grid
from geo_service.analysis.grid import Grid
from geo_service.analysis.hotspot_methods import (
    History,
    gistar_method,
    kde_method,
    prospective_method,
    recent_counts_method,
)
from geo_service.analysis.kde import kde_surface


def _history(
    points: list[tuple[float, float, int]], months: tuple[str, ...], grid: Grid
) -> History:
    x = np.array([p[0] for p in points], dtype=float)
    y = np.array([p[1] for p in points], dtype=float)
    month_index = np.array([p[2] for p in points], dtype=int)
    cube = np.stack([grid.counts(x[month_index == i], y[month_index == i]) for i in range(3)])
    return History(grid, months, cube, x, y, month_index)


def test_prospective_weights_by_hand() -> None:
    line = Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=11, ny=1, inside=np.ones((1, 11), dtype=bool))
    months = ("2021-01", "2021-02", "2021-03")
    # cell 5 in the origin month, cell 5 the month before, cell 0 two months before (too old)
    history = _history([(550, 50, 2), (550, 50, 1), (50, 50, 0)], months, line)
    score = prospective_method(radius_m=400.0, window_months=2)(history)[0]
    space = np.array([0, 1 / 5, 1 / 4, 1 / 3, 1 / 2, 1, 1 / 2, 1 / 3, 1 / 4, 1 / 5, 0])
    np.testing.assert_allclose(score, space * (1 + 1 / 2), atol=1e-9)


def test_naive_baselines_and_kde_see_only_the_past() -> None:
    grid = Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=4, ny=4, inside=np.ones((4, 4), dtype=bool))
    months = ("2021-01", "2021-02", "2021-03")
    history = _history([(50, 50, 0), (50, 50, 2), (350, 350, 2), (150, 50, 1)], months, grid)
    last = recent_counts_method(months=1)(history)
    assert last[0, 0] == 1 and last[3, 3] == 1 and last.sum() == 2
    assert recent_counts_method(months=12)(history).sum() == 4
    kde = kde_method(bandwidth_m=150.0, months=2)(history)
    expected = kde_surface(
        np.array([50.0, 350.0, 150.0]), np.array([50.0, 350.0, 50.0]), grid, bandwidth_m=150.0
    )
    np.testing.assert_allclose(kde, expected)


def test_gistar_method_scores_the_hot_bins() -> None:
    inside = np.ones((6, 6), dtype=bool)
    inside[0, 0] = False
    grid = Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=6, ny=6, inside=inside)
    # one incident per cell, plus 8 more in each cell of the 2 x 2 block at rows 3-4, cols 2-3
    points = [(100.0 * c + 50, 100.0 * r + 50, (r + c) % 3) for r in range(6) for c in range(6)]
    points += [(x, y, 2) for x in (250.0, 350.0) for y in (350.0, 450.0)] * 8
    history = _history(points, ("2021-01", "2021-02", "2021-03"), grid)
    score = gistar_method(months=12)(history)
    reference = gi_star_grid(grid, history.monthly_counts.sum(axis=0), permutations=0)
    expected = np.zeros(36)
    expected[reference["cell"]] = np.maximum(reference["bin"], 0)
    np.testing.assert_array_equal(score.ravel(), expected)
    assert score[3:5, 2:4].tolist() == [[3, 3], [3, 3]] and score.sum() == 12


def test_weighted_history_scores_as_its_points_repeated() -> None:
    """A history of counted cells (weights) gives the KDE and prospective scores of the same
    points repeated, one per incident."""
    grid = Grid(x0=0.0, y0=0.0, cell_m=100.0, nx=12, ny=12, inside=np.ones((12, 12), dtype=bool))
    months = ("2021-01", "2021-02", "2021-03")
    points = [(250.0, 350.0, 0), (650.0, 650.0, 1), (950.0, 150.0, 2), (650.0, 650.0, 2)]
    n = np.array([3, 1, 2, 4])
    weighted = _history(points, months, grid)
    weighted = History(grid, months, weighted.monthly_counts * 0, weighted.x, weighted.y,
                       weighted.month_index, weights=n.astype(float))  # fmt: skip
    repeated = _history([p for p, k in zip(points, n, strict=True) for _ in range(k)], months, grid)
    for method in (kde_method(bandwidth_m=400.0, months=2),
                   prospective_method(radius_m=300.0, window_months=2)):  # fmt: skip
        np.testing.assert_allclose(method(weighted), method(repeated), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(weighted.recent_weights(2), [1.0, 2.0, 4.0])
