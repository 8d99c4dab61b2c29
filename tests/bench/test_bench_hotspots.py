"""The hotspot benchmark's quick run: result shape, and our code agreeing with the libraries."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import MODULES
from bench.hotspots import SEED, TARGETS, _clustered_points, _plain_dbscan
from geo_service.analysis.clusters import dbscan_labels
from tests.bench.conftest import json_round_trip


def test_quick_result_shape(hotspots_quick: dict[str, Any]) -> None:
    result = json_round_trip(hotspots_quick)
    assert result["quick"] is True and result["seed"] == SEED
    assert set(result) >= {"kde", "dbscan", "gistar", "targets", "targets_met", "peak_rss_gb"}
    assert result["targets"] == TARGETS and result["targets_met"] == {}  # quick: no targets
    (kde,) = result["kde"].values()
    assert (kde["points"], kde["cells"], kde["cell_m"]) == (20_000, 9_000, 100.0)
    (dbscan,) = result["dbscan"].values()
    assert dbscan["points"] == 20_000 and dbscan["clusters"] > 0
    assert result["gistar"]["analytical"]["cells"] == 100 * 100
    assert result["gistar"]["permutations"]["cells"] == 60 * 60
    assert MODULES["hotspots"] == "bench.hotspots"


def test_quick_run_agrees_with_the_libraries(hotspots_quick: dict[str, Any]) -> None:
    (kde,) = hotspots_quick["kde"].values()
    assert kde["median_relative_difference_vs_sklearn"] < 0.02  # the module's own bound
    (dbscan,) = hotspots_quick["dbscan"].values()
    assert dbscan["same_noise_as_plain"] is True
    assert dbscan["border_points_in_another_cluster"] == 0
    assert hotspots_quick["gistar"]["permutations"]["identical_pseudo_p_to_esda"] is True


def test_dbscan_check_fails_when_labels_differ() -> None:
    x, y = _clustered_points(np.random.default_rng(3), 3_000, 10_000.0)
    xy = np.column_stack([x, y]).round()
    labels = dbscan_labels(xy[:, 0], xy[:, 1], eps_m=150.0, min_samples=10)
    assert labels.max() >= 1  # several clusters, some noise: the tampering below changes things
    assert _plain_dbscan(xy, labels, 150.0, 10)["border_points_in_another_cluster"] <= 3
    merged = np.where(labels >= 0, 0, labels)
    with pytest.raises(AssertionError, match="disagree on"):
        _plain_dbscan(xy, merged, 150.0, 10)
    one_less = labels.copy()
    one_less[np.flatnonzero(labels >= 0)[0]] = -1
    with pytest.raises(AssertionError, match="different points as noise"):
        _plain_dbscan(xy, one_less, 150.0, 10)
