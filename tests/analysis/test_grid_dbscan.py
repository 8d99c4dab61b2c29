"""Tests for the exact grid DBSCAN: labels identical, point for point, to scikit-learn's DBSCAN
(same eps, min_samples and sample_weight), and the neighbour-weight quantile equal to sorting
every point's exact count."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from sklearn.cluster import DBSCAN

from geo_service.analysis.grid_dbscan import (
    NeighbourWeights,
    grid_dbscan,
    neighbour_weight_quantile,
)


def _sklearn(
    xy: np.ndarray, eps: float, min_samples: float, weight: np.ndarray | None = None
) -> np.ndarray:
    model = DBSCAN(eps=eps, min_samples=min_samples)  # type: ignore[arg-type]
    return np.asarray(model.fit(xy, sample_weight=weight).labels_)


def _clustered(rng: np.random.Generator, n: int, side_m: float = 20_000.0) -> np.ndarray:
    """Half the points around 30 centres (sd 400 m), half spread evenly: dense, edge and noise."""
    centres = rng.uniform(0.1 * side_m, 0.9 * side_m, (30, 2))
    near = centres[rng.integers(0, 30, n // 2)] + rng.normal(0, 400, (n // 2, 2))
    return np.concatenate([near, rng.uniform(0, side_m, (n - n // 2, 2))]) + np.array([4.5e5, 2e5])


def test_20k_unsnapped_points_match_sklearn() -> None:
    xy = _clustered(np.random.default_rng(13), 20_000)
    ours = grid_dbscan(xy, eps=150.0, min_samples=12)
    theirs = _sklearn(xy, 150.0, 12)
    assert theirs.max() >= 20 and (theirs == -1).sum() > 1_000  # many clusters and noise
    np.testing.assert_array_equal(ours, theirs)


def test_exact_duplicates_and_weights_match_sklearn() -> None:
    rng = np.random.default_rng(7)
    sites = np.round(_clustered(rng, 2_000) / 50) * 50  # police.uk-like snapping, many ties
    xy = sites[rng.integers(0, len(sites), 15_000)]
    assert len(np.unique(xy, axis=0)) < 2_000
    np.testing.assert_array_equal(grid_dbscan(xy, eps=120.0, min_samples=20), _sklearn(xy, 120, 20))
    unique, counts = np.unique(xy, axis=0, return_counts=True)
    np.testing.assert_array_equal(
        grid_dbscan(unique, eps=120.0, min_samples=20, sample_weight=counts),
        _sklearn(unique, 120, 20, counts.astype(float)),
    )


@pytest.mark.parametrize("a_first", [True, False])
def test_border_point_reachable_from_two_clusters_joins_the_first_numbered(a_first: bool) -> None:
    # Two chains of 6 points 0.1 apart (each point core at min_samples 6), 1.9 apart; the point at
    # x = 0.95 reaches one core of each (0.95 away) but only 3 points in all, so it is a border.
    a = np.column_stack([-0.1 * np.arange(6), np.zeros(6)])
    b = np.column_stack([1.9 + 0.1 * np.arange(6), np.zeros(6)])
    border = np.array([[0.95, 0.0]])
    xy = np.concatenate([a, b, border] if a_first else [b, a, border])
    ours = grid_dbscan(xy, eps=1.0, min_samples=6)
    np.testing.assert_array_equal(ours, _sklearn(xy, 1.0, 6))
    np.testing.assert_array_equal(ours, [0] * 6 + [1] * 6 + [0])
    # The border's cluster is the one whose points come first, whichever chain that is.
    first_x = xy[0, 0]
    assert (first_x < 0.5) == a_first


def test_min_samples_one_makes_every_point_core() -> None:
    xy = _clustered(np.random.default_rng(3), 5_000)
    ours = grid_dbscan(xy, eps=80.0, min_samples=1)
    np.testing.assert_array_equal(ours, _sklearn(xy, 80.0, 1))
    assert (ours >= 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
def test_random_parameters_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(1_000 + seed)
    n = int(rng.integers(1, 6_000))
    xy = _clustered(rng, n, side_m=float(rng.uniform(2_000, 30_000)))
    if seed % 3 == 0:
        xy = np.round(xy / 25) * 25
    weight = rng.integers(1, 5, n).astype(float) if seed % 2 else None
    eps = float(rng.uniform(20, 600))
    min_samples = int(rng.integers(1, 40))
    ours = grid_dbscan(xy, eps=eps, min_samples=min_samples, sample_weight=weight)
    np.testing.assert_array_equal(ours, _sklearn(xy, eps, min_samples, weight))


def test_degenerate_inputs() -> None:
    assert grid_dbscan(np.zeros((0, 2)), eps=1.0, min_samples=2).shape == (0,)
    np.testing.assert_array_equal(grid_dbscan(np.zeros((1, 2)), eps=1.0, min_samples=2), [-1])
    one_spot = np.full((5, 2), 3.0)
    np.testing.assert_array_equal(grid_dbscan(one_spot, eps=1.0, min_samples=5), [0] * 5)
    # A radius too fine for a grid over this extent falls back to scikit-learn's KD-tree DBSCAN
    # (whose distances the grid reproduces; the brute-force one loses 2**-31 m next to 1e6 m).
    far = np.array([[0.0, 0.0], [2.0**-31, 0.0], [1e6, 1e6], [1e6, 1e6 + 2.0**-31], [5.0, 5.0]])
    theirs = DBSCAN(eps=1e-9, min_samples=2, algorithm="kd_tree").fit(far).labels_
    np.testing.assert_array_equal(theirs, [0, 0, 1, 1, -1])
    np.testing.assert_array_equal(grid_dbscan(far, eps=1e-9, min_samples=2), theirs)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_neighbour_weight_quantile_equals_sorting_exact_counts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xy = _clustered(rng, int(rng.integers(1, 8_000)))
    weight = rng.integers(1, 6, len(xy)).astype(float)
    eps = float(rng.uniform(50, 400))
    tree = cKDTree(xy)
    pairs = tree.sparse_distance_matrix(tree, eps * (1 + 1e-9), output_type="coo_matrix")
    d = xy[pairs.row] - xy[pairs.col]
    close = d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1] <= eps * eps
    around = np.bincount(pairs.row[close], weights=weight[pairs.col[close]], minlength=len(xy))
    order = np.argsort(around)
    cumulative = np.cumsum(weight[order]) / weight.sum()
    expected = around[order][np.searchsorted(cumulative, 0.8)]
    got = neighbour_weight_quantile(xy, eps=eps, share=0.8, sample_weight=weight)
    assert got == expected


def test_quantile_does_not_depend_on_its_first_guess(monkeypatch: pytest.MonkeyPatch) -> None:
    # From 3 sample points the guess is poor, so the band must widen until it holds the answer.
    import geo_service.analysis.neighbour_weights as module

    rng = np.random.default_rng(42)
    xy = _clustered(rng, 6_000)
    exact = neighbour_weight_quantile(xy, eps=200.0, share=0.8)
    monkeypatch.setattr(module, "QUANTILE_SAMPLE", 3)
    assert neighbour_weight_quantile(xy, eps=200.0, share=0.8) == exact
    assert neighbour_weight_quantile(xy, eps=200.0, share=0.05) < exact


def test_labels_reuse_the_quantiles_neighbour_weights() -> None:
    # The default map picks min_samples as a quantile, then clusters with the same counts.
    rng = np.random.default_rng(5)
    xy = _clustered(rng, 12_000)
    weight = rng.integers(1, 3, len(xy)).astype(float)
    neighbours = NeighbourWeights(xy, eps=150.0, sample_weight=weight)
    min_samples = int(np.ceil(neighbours.quantile(0.8)))
    ours = grid_dbscan(
        xy, eps=150.0, min_samples=min_samples, sample_weight=weight, neighbours=neighbours
    )
    np.testing.assert_array_equal(ours, _sklearn(xy, 150.0, min_samples, weight))
    assert ours.max() >= 5


@pytest.mark.parametrize("table_keys", [0, 1 << 24])
def test_cell_search_and_cell_table_agree(monkeypatch: pytest.MonkeyPatch, table_keys: int) -> None:
    # Sparse points over a wide extent: cells found by search (0) or by a table over every key.
    import geo_service.analysis.neighbour_weights as module

    monkeypatch.setattr(module, "DENSE_LOOKUP_KEYS", table_keys)
    rng = np.random.default_rng(11)
    xy = np.concatenate([_clustered(rng, 3_000), rng.uniform(0, 100_000, (500, 2)) + 4e5])
    np.testing.assert_array_equal(grid_dbscan(xy, eps=60.0, min_samples=4), _sklearn(xy, 60.0, 4))


@pytest.mark.parametrize("eps", [100.0, 150.0])
def test_cell_centres_with_counts_match_sklearn(eps: float) -> None:
    # The backtest's input: incidents moved to 100 m cell centres, weighted by their number;
    # neighbours lie at exactly eps (100 m), the background is decided by its block alone and
    # the densest cells by their own weight.
    rng = np.random.default_rng(8)
    i, j = np.meshgrid(np.arange(120), np.arange(90), indexing="ij")
    centres = np.column_stack([i.ravel(), j.ravel()]) * 100.0 + np.array([4.5e5 + 50, 2e5 + 50])
    peak = np.exp(-(((i - 40) ** 2 + (j - 30) ** 2) / 60.0)).ravel()
    counts = rng.poisson(0.3 + 40 * peak)
    keep = counts > 0
    xy, weight = centres[keep], counts[keep].astype(float)
    neighbours = NeighbourWeights(xy, eps=eps, sample_weight=weight)
    min_samples = int(np.ceil(neighbours.quantile(0.8)))
    ours = grid_dbscan(
        xy, eps=eps, min_samples=min_samples, sample_weight=weight, neighbours=neighbours
    )
    theirs = _sklearn(xy, eps, min_samples, weight)
    np.testing.assert_array_equal(ours, theirs)
    assert theirs.max() >= 0 and (theirs == -1).sum() > 1_000  # a cluster and a background
