"""Tests for the shared row checks: distinct-point projection."""

from __future__ import annotations

import numpy as np

from geo_service.projection import to_bng
from geo_service.sources._checks import _project_distinct


def test_distinct_point_projection_equals_direct_transform() -> None:
    rng = np.random.default_rng(11)
    points = np.round(rng.uniform([-1.0, 51.0], [0.5, 52.5], size=(40, 2)), 6)
    chosen = points[rng.integers(0, 40, 5_000)]
    x, y = _project_distinct(chosen[:, 0], chosen[:, 1], crs="EPSG:4326")
    ex, ey = to_bng(chosen[:, 0], chosen[:, 1])
    assert np.array_equal(x, ex) and np.array_equal(y, ey)


def test_distinct_projection_of_values_with_more_than_six_decimals() -> None:
    rng = np.random.default_rng(5)
    lon = rng.uniform(-1.0, 0.5, 50).repeat(30)  # full-precision floats: the general path
    lat = rng.uniform(51.0, 52.5, 50).repeat(30)
    x, y = _project_distinct(lon, lat, crs="EPSG:4326")
    ex, ey = to_bng(lon, lat)
    assert np.array_equal(x, ex) and np.array_equal(y, ey)
