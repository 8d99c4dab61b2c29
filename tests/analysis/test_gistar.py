"""Tests for Getis-Ord Gi*: equal to esda's G_Local(star=True) (z, p and pseudo p with the same
seed), the general-weights formula by hand, tie-aware p, bins, and FDR
(the weights builders are tested in test_weights.py)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import scipy.sparse as sp
from esda.getisord import G_Local
from libpysal.weights import WSP
from scipy import stats
from shapely.geometry import Point, box

from geo_service.analysis.gistar import confidence_bins, gi_star, gi_star_areas, gi_star_grid
from geo_service.analysis.grid import grid_for
from geo_service.analysis.significance import bh_qvalues
from geo_service.analysis.weights import contiguity_weights, distance_band_weights, grid_weights
from geo_service.errors import InputError
from geo_service.schema import CRS


def _esda(values: np.ndarray, weights: sp.csr_array, *, permutations: int, seed: int) -> G_Local:
    w = WSP(sp.csr_matrix(weights)).to_W(silence_warnings=True)
    with warnings.catch_warnings():
        # esda warns that its default alternative hypothesis will change; we compare with it.
        warnings.simplefilter("ignore")
        return G_Local(
            values, w, star=True, transform="B", permutations=permutations, seed=seed, n_jobs=1
        )


def _grid_case() -> tuple[np.ndarray, sp.csr_array]:
    grid = grid_for(Point(0, 0).buffer(1500), cell_m=100)
    rng = np.random.default_rng(0)
    counts = rng.poisson(1.5, grid.shape)
    counts[10:14, 12:16] += 6  # a planted hot spot
    return counts.ravel()[grid.inside.ravel()].astype(float), grid_weights(grid)


def test_equals_esda_on_grid_contiguity_weights() -> None:
    values, weights = _grid_case()
    ours = gi_star(values, weights, permutations=199, seed=11)
    theirs = _esda(values, weights, permutations=199, seed=11)
    np.testing.assert_allclose(ours.z, theirs.Zs, atol=1e-12)
    np.testing.assert_allclose(ours.p, 2 * theirs.p_norm, atol=1e-14)  # esda's p_norm is 1-sided
    # Same draws, same statistic: identical pseudo p (esda stores them as float32).
    np.testing.assert_allclose(ours.p_sim, theirs.p_sim, rtol=1e-6)
    assert (ours.bins > 0).any()


def test_equals_esda_on_distance_band_weights_with_varying_neighbour_counts() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0, 5000, 500), rng.uniform(0, 5000, 500)
    values = rng.poisson(3, 500).astype(float)
    weights = distance_band_weights(x, y, 600)
    ours = gi_star(values, weights, permutations=99, seed=5)
    theirs = _esda(values, weights, permutations=99, seed=5)
    np.testing.assert_allclose(ours.z, theirs.Zs, atol=1e-12)
    np.testing.assert_allclose(ours.p_sim, theirs.p_sim, rtol=1e-6)


def test_general_weights_follow_getis_ord_formula_by_hand() -> None:
    values = np.array([4.0, 1.0, 0.0, 7.0, 2.0])
    dense = np.array(
        [
            [0, 0.5, 0, 2, 0],
            [0.5, 0, 1, 0, 0],
            [0, 1, 0, 0, 0],
            [2, 0, 0, 0, 0.25],
            [0, 0, 0, 0.25, 0],
        ]
    )
    result = gi_star(values, sp.csr_array(dense), permutations=0)
    n, mean = 5, values.mean()
    sd = math.sqrt(np.mean(values**2) - mean**2)
    star = dense + np.eye(5)
    for i in range(5):
        wi = star[i]
        expected = (wi @ values - mean * wi.sum()) / (
            sd * math.sqrt((n * (wi**2).sum() - wi.sum() ** 2) / (n - 1))
        )
        assert result.z[i] == pytest.approx(expected)
    assert result.p_sim is None
    np.testing.assert_allclose(result.p, 2 * stats.norm.sf(np.abs(result.z)))


def test_a_given_diagonal_is_replaced_by_weight_one() -> None:
    values, weights = _grid_case()
    with_diagonal = weights + sp.diags_array(np.full(weights.shape[0], 5.0))
    np.testing.assert_allclose(
        gi_star(values, with_diagonal, permutations=0).z, gi_star(values, weights, permutations=0).z
    )


def test_empty_cells_are_not_cold_spots_by_ties() -> None:
    values = np.zeros(400)
    values[:40] = np.arange(40) % 3  # sparse counts: most neighbourhoods sum to 0
    grid = grid_for(box(0, 0, 2000, 2000), cell_m=100)
    weights = grid_weights(grid)
    result = gi_star(values, weights, permutations=199, seed=1, inference="permutation")
    empty = np.flatnonzero((weights @ values + values) == 0)
    assert empty.size > 200
    # esda's folded p gives every all-tied empty neighbourhood the smallest p...
    np.testing.assert_allclose(result.p_sim[empty], 1 / 200)
    # ...the tie-aware p counts random sums <= 0 too (about half of the draws here, where 40
    # of 400 cells are non-empty), so they are unremarkable and not binned.
    assert result.p_tied[empty].min() > 0.25
    assert (result.bins[empty] == 0).all()


def test_bins_and_fdr_by_hand() -> None:
    z = np.array([3.0, 2.0, 1.7, 0.5, -1.7, -2.0, -3.0, 0.0])
    p = np.array([0.005, 0.03, 0.08, 0.6, 0.08, 0.03, 0.005, 1.0])
    np.testing.assert_array_equal(confidence_bins(z, p), [3, 2, 1, 0, -1, -2, -3, 0])
    values, weights = _grid_case()
    raw = gi_star(values, weights, permutations=0, fdr=False)
    adjusted = gi_star(values, weights, permutations=0, fdr=True)
    np.testing.assert_allclose(adjusted.q, bh_qvalues(raw.p))
    np.testing.assert_array_equal(raw.bins, confidence_bins(raw.z, raw.p))
    np.testing.assert_array_equal(adjusted.bins, confidence_bins(adjusted.z, adjusted.q))
    assert np.abs(adjusted.bins).sum() <= np.abs(raw.bins).sum()


def test_fast_draws_agree_with_esda_draws_within_monte_carlo_error() -> None:
    values, weights = _grid_case()
    exact = gi_star(values, weights, permutations=999, seed=2)
    fast = gi_star(values, weights, permutations=999, seed=2, draws="fast")
    # Each pseudo p estimates the same probability from 999 draws: sd <= sqrt(.25 / 999) = 0.016.
    difference = fast.p_sim - exact.p_sim
    assert np.abs(difference).max() < 6 * 0.016
    assert abs(difference.mean()) < 0.005


def test_grid_frame_and_errors() -> None:
    grid = grid_for(Point(0, 0).buffer(1500), cell_m=100)
    counts = np.zeros(grid.shape)
    counts[14:16, 14:16] = 20
    counts[3, 12] = 1
    frame = gi_star_grid(grid, counts, permutations=0)
    assert len(frame) == grid.inside.sum()
    hot = frame.loc[frame["bin"] == 3]
    assert set(zip(hot["row"], hot["col"], strict=True)) >= {(14, 14), (15, 15)}
    assert frame["label"].iloc[hot.index[0]] == "hot spot, 99 % confidence"
    with pytest.raises(InputError, match="grid's shape"):
        gi_star_grid(grid, np.zeros(3))
    with pytest.raises(InputError, match="allowed: normal, permutation"):
        gi_star(np.ones(3), sp.csr_array(np.ones((3, 3))), inference="bootstrap")
    with pytest.raises(InputError, match="3 x 3"):
        gi_star(np.ones(3), sp.csr_array(np.ones((2, 2))))


def test_area_gi_star_on_dacorum_wards_equals_esda_with_libpysal_queen(shared_data: Path) -> None:
    from libpysal.weights import Queen

    path = shared_data / "ons-boundaries-uk-geojson/dacorum/dacorum_wards.geojson"
    wards = gpd.read_file(path).to_crs(CRS).rename(columns={"WD13CD": "code", "WD13NM": "name"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal's notes on islands and IDs
        queen = Queen.from_dataframe(wards, use_index=False)
    ours = contiguity_weights(wards)
    np.testing.assert_array_equal(ours.toarray(), queen.sparse.toarray())
    counts = np.random.default_rng(9).poisson(40, len(wards)).astype(float)
    frame = gi_star_areas(wards, counts, permutations=99, seed=4)
    theirs = _esda(counts, ours, permutations=99, seed=4)
    np.testing.assert_allclose(frame["z"], theirs.Zs, atol=1e-12)
    np.testing.assert_allclose(frame["p_sim"], theirs.p_sim, rtol=1e-6)
    assert frame["code"].tolist() == wards["code"].tolist()
    with pytest.raises(InputError, match="one value per area"):
        gi_star_areas(wards, counts[:3])
