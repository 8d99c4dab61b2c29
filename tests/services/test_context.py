"""The study layer default and the study grid every hotspot, shift and backtest use."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_service.errors import NotFoundError
from geo_service.services.context import study_grid, study_layer_name
from geo_service.store import LayerInfo, Store
from tests.cli.conftest import two_wards

X0, Y0 = 500000.0, 200000.0


def test_layer_name_prefers_beat_ward_district(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    assert study_layer_name(store, None) is None
    wards = two_wards(X0, Y0, 1000.0)
    store.write_layer("lsoa", wards, info=LayerInfo(path="squares"))
    assert study_layer_name(store, None) == "lsoa"  # the only one
    store.write_layer("ward", wards, info=LayerInfo(path="squares"))
    assert study_layer_name(store, None) == "ward"
    assert study_layer_name(store, "lsoa") == "lsoa"
    with pytest.raises(NotFoundError, match="beat"):
        study_layer_name(store, "beat")


def test_grid_without_layer_is_the_box_of_98_percent(caplog: pytest.LogCaptureFixture) -> None:
    # 101 points 0, 10, ..., 1000 m east and north of (X0, Y0), plus one without a location:
    # the 1 % and 99 % quantiles are 10 m and 990 m, so the box is 980 m square.
    steps = np.arange(0.0, 1001.0, 10.0)
    frame = pd.DataFrame({"x": np.append(X0 + steps, np.nan), "y": np.append(Y0 + steps, np.nan)})
    with caplog.at_level(logging.INFO, logger="geo_service.services.context"):
        grid = study_grid(None, frame, cell_m=10.0)
    assert (grid.x0, grid.y0) == (X0 + 10, Y0 + 10) and grid.shape == (98, 98)
    assert grid.inside.all() and "98 % of the incidents" in caplog.text
    with pytest.raises(NotFoundError, match="no located incidents"):
        study_grid(None, frame.iloc[[-1]], cell_m=10.0)


def test_grid_over_the_layer() -> None:
    wards = two_wards(X0, Y0, 1000.0)
    empty = pd.DataFrame({"x": [], "y": []})  # the layer alone decides the grid
    grid = study_grid(wards, empty, cell_m=100.0)
    assert (grid.x0, grid.y0, grid.shape) == (X0, Y0, (10, 20)) and grid.inside.sum() == 200
