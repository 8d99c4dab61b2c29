"""The hotspot benchmark's quick run: result shape, and our code agreeing with the peers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from bench import MODULES
from bench.hotspots import SEED, TARGETS, _paired, _same_partition, markdown
from tests.bench.conftest import json_round_trip


def test_quick_result_shape(hotspots_quick: dict[str, Any]) -> None:
    result = json_round_trip(hotspots_quick)
    assert result["quick"] is True and result["seed"] == SEED
    assert set(result) >= {"kde", "dbscan", "gistar", "targets", "targets_met"}
    assert result["targets"] == TARGETS
    kde = result["kde"]
    assert (kde["points"], kde["cells"], kde["cell_m"]) == (20_000, 9_000, 100)
    assert result["dbscan"]["unsnapped"]["20k"]["points"] == 20_000
    assert result["gistar"]["analytical"]["cells"] == 100 * 100
    assert result["gistar"]["permutations"]["cells"] == 40 * 40
    assert all(result[part]["peak_rss_mb"] > 0 for part in ("kde", "dbscan", "gistar"))
    assert MODULES["hotspots"] == "bench.hotspots"
    table = markdown(result)
    assert f"{kde['ours']['cpu_seconds']} s" in table and table.count("\n") == 7


def test_quick_run_agrees_with_the_peers(hotspots_quick: dict[str, Any]) -> None:
    kde = hotspots_quick["kde"]
    assert kde["ours"]["max_error_share_of_peak"] < 0.01
    assert kde["plain_binned_fft"]["max_error_share_of_peak"] > 0.01  # cell-centre binning
    assert kde["sklearn_rtol"]["max_difference_share_of_peak"] < 0.01
    assert hotspots_quick["dbscan"]["identical_labels_to_sklearn_20k_unsnapped"] is True
    unsnapped = hotspots_quick["dbscan"]["unsnapped"]["20k"]
    assert unsnapped["identical_labels_to_sklearn"] is True
    assert unsnapped["map_and_backtest_cpu_seconds"] == pytest.approx(
        unsnapped["map_cpu_seconds"] + unsnapped["backtest_cpu_seconds"], abs=0.011
    )
    assert hotspots_quick["gistar"]["permutations"]["identical_pseudo_p_to_esda"] is True


def test_partition_check_and_paired_ratio() -> None:
    labels = np.array([0, 0, 1, 1, -1])
    assert _same_partition(labels, np.array([1, 1, 0, 0, -1]))
    assert not _same_partition(labels, np.array([0, 0, 0, 0, -1]))
    assert not _same_partition(labels, np.array([0, 0, 1, -1, -1]))
    paired = _paired(lambda: sum(range(200_000)), lambda: sum(range(400_000)), pairs=5)
    assert 1.3 < paired["median_ratio_b_over_a"] < 3.5
    with pytest.raises(KeyError):
        markdown({})
