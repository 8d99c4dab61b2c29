"""Tests for the shared row checks: the fast duplicate test and distinct-point projection."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo_service.projection import to_bng
from geo_service.sources._checks import _project_distinct, repeated_ids


def test_repeated_ids_matches_pandas_duplicated() -> None:
    rng = np.random.default_rng(7)
    hexes = [f"{v:064x}" for v in rng.integers(0, 300, 2_000)]
    shorts = [str(v) for v in rng.integers(0, 50, 300)]
    # Same length and same last 16 bytes, different start: equal keys, different ids.
    lookalikes = [f"{c}-0123456789abcdef" for c in "abcab"]
    values = pd.Series(["", "", *hexes, *shorts, *lookalikes], dtype="str")
    values = values.sample(frac=1, random_state=3).reset_index(drop=True)
    expected = values.duplicated(keep="first").to_numpy()
    assert (repeated_ids(values) == expected).all()
    assert expected.sum() > 1_000  # the case really has repeats


def test_repeated_ids_without_repeats_and_tiny_inputs() -> None:
    values = pd.Series([f"police_uk:{i:064x}" for i in range(5_000)], dtype="str")
    assert not repeated_ids(values).any()
    assert repeated_ids(pd.Series([], dtype="str")).tolist() == []
    assert repeated_ids(pd.Series(["a"], dtype="str")).tolist() == [False]


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
