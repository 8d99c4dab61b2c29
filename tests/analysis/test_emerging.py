"""Tests for emerging hot spots: Mann-Kendall against scipy's Kendall tau and by hand, each
pattern on hand-built bin series, and planted patterns found on a grid."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from shapely.geometry import box

from geo_service.analysis.emerging import (
    NO_PATTERN,
    classify_patterns,
    emerging_hotspots,
    mann_kendall,
)
from geo_service.analysis.grid import grid_for
from geo_service.analysis.weights import grid_weights
from geo_service.errors import InputError


def test_mann_kendall_by_hand_and_against_scipy() -> None:
    series = np.array([1.0, 3.0, 2.0, 5.0, 5.0])
    # Pairs (i<j): 1<3,1<2,1<5,1<5 (+4); 3>2 (-1), 3<5, 3<5 (+2); 2<5, 2<5 (+2); 5=5 (0) -> S=7.
    # Var = (5*4*15 - 2*1*9) / 18 = (300 - 18) / 18 = 15.667
    result = mann_kendall(series)
    assert result.s[0] == 7
    assert result.var_s[0] == pytest.approx(282 / 18)
    assert result.z[0] == pytest.approx(6 / np.sqrt(282 / 18))  # continuity: S - 1
    rng = np.random.default_rng(0)
    data = rng.poisson(3, (12, 40)).astype(float)  # many ties
    plain = mann_kendall(data, continuity=False)
    for j in range(40):
        tau = stats.kendalltau(np.arange(12), data[:, j], method="asymptotic")
        assert plain.p[j] == pytest.approx(tau.pvalue, rel=1e-9)
    constant = mann_kendall(np.ones((6, 2)))
    np.testing.assert_array_equal(constant.z, [0, 0])
    np.testing.assert_array_equal(constant.p, [1, 1])
    with pytest.raises(InputError, match="at least 3 time steps"):
        mann_kendall(np.ones(2))


def _column(*bins: int) -> np.ndarray:
    return np.array(bins)[:, None]


@pytest.mark.parametrize(
    ("bins", "trend", "expected"),
    [
        ((0, 0, 0, 0, 0, 0, 0, 0, 0, 2), 0, "new hot spot"),
        ((0, 0, 0, 0, 0, 0, 0, 1, 3, 2), 0, "consecutive hot spot"),
        ((1, 1, 1, 2, 2, 2, 3, 3, 3, 3), 1, "intensifying hot spot"),
        ((3, 3, 3, 3, 2, 2, 2, 1, 1, 1), -1, "diminishing hot spot"),
        ((2, 2, 2, 2, 0, 2, 2, 2, 2, 2), 0, "persistent hot spot"),
        ((0, 2, 0, 1, 0, 0, 3, 0, 0, 1), 0, "sporadic hot spot"),
        ((0, -2, 0, 1, 0, 0, 3, 0, 0, 1), 0, "oscillating hot spot"),
        ((2, 2, 2, 2, 2, 2, 2, 2, 2, 0), 0, "historical hot spot"),
        ((0, 0, 0, 0, 0, 0, 0, 0, 0, -3), 0, "new cold spot"),
        ((-1, -1, -1, -2, -2, -2, -3, -3, -3, -3), -1, "intensifying cold spot"),
        ((0, 1, 0, 0, 0, 0, 0, 0, 0, 0), 0, NO_PATTERN),
        ((1, 1, 1, 1, 1, 1, 1, 1, 0, 0), 0, NO_PATTERN),  # 8 of 10 < 90 %, not hot at the end
    ],
)
def test_pattern_definitions(bins: tuple[int, ...], trend: int, expected: str) -> None:
    assert classify_patterns(_column(*bins), np.array([trend]))[0] == expected


def test_consecutive_needs_no_earlier_hot_step() -> None:
    # A final run of 2 after an earlier hot step is sporadic, not consecutive.
    assert classify_patterns(_column(1, 0, 0, 0, 0, 0, 0, 0, 2, 2), np.array([0]))[0] == (
        "sporadic hot spot"
    )


def test_planted_patterns_are_found_on_a_grid() -> None:
    grid = grid_for(box(0, 0, 2000, 2000), cell_m=100)
    weights = grid_weights(grid)
    rng = np.random.default_rng(1)
    counts = rng.poisson(1.0, (12, 20, 20)).astype(float)
    counts[:, 3:6, 3:6] += 8  # always hot
    counts[-1, 14:17, 14:17] += 12  # hot only in the last month
    table = emerging_hotspots(counts.reshape(12, -1), weights)
    pattern = table["pattern"].to_numpy().reshape(20, 20)
    assert pattern[4, 4] in {"persistent hot spot", "intensifying hot spot", "diminishing hot spot"}
    assert pattern[15, 15] == "new hot spot"
    assert table["hot_steps"].to_numpy().reshape(20, 20)[4, 4] >= 11
    assert (pattern == NO_PATTERN).mean() > 0.7
    with pytest.raises(InputError, match="at least 3 steps"):
        emerging_hotspots(counts.reshape(12, -1)[:2], weights)
