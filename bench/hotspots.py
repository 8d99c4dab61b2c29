"""Hotspot benchmarks: kernel density, DBSCAN on snapped points, and Getis-Ord Gi*.

Each is compared in the same run with the straightforward library call:

- **KDE** (:func:`geo_service.analysis.kde.kde_surface`, binned + FFT): 100k points on a 50 m
  grid and 1M points on a 100 m grid (target < 0.1 s at 1M). scikit-learn's ``KernelDensity``
  is timed on a subsample (10k points scored at 5k cell centres) and extrapolated linearly in
  points x cells to the full problem - stated as an extrapolation in the result.
- **DBSCAN** (:func:`geo_service.analysis.clusters.dbscan_labels`, ties collapsed and weighted)
  on 100k and 1M police.uk-style points (12,000 map points, lognormal weights; target < 1 s at
  1M) against plain ``sklearn.cluster.DBSCAN`` on the expanded points with the same parameters
  (at 100k; at 1M only in a full run: it takes tens of seconds and several GB).
- **Gi*** (:func:`geo_service.analysis.gistar.gi_star`): analytical on 90k cells (target
  < 0.1 s), 999 permutations on 14,400 cells (target < 2 s) with esda's exact draws and with
  the fast draws; esda's ``G_Local(star=True)`` analytical on the same 90k cells, and with 999
  permutations on 3,600 cells (without numba esda loops over sites in Python, so it is timed
  there and its quadratic cost extrapolated to 14,400 cells).

Correctness checks (raise on failure): KDE equals scikit-learn's Gaussian density within the
binning error; weighted DBSCAN gives the same noise and clusters as plain DBSCAN; Gi* z equals
esda's and pseudo p-values are identical for the same seed.
"""

from __future__ import annotations

import resource
import warnings
from typing import Any

import numpy as np
import scipy.sparse as sp
from shapely.geometry import box
from sklearn.cluster import DBSCAN
from sklearn.neighbors import KernelDensity

from bench import timed
from geo_service.analysis.clusters import dbscan_clusters, dbscan_labels
from geo_service.analysis.gistar import gi_star
from geo_service.analysis.grid import grid_for
from geo_service.analysis.kde import kde_surface
from geo_service.analysis.weights import grid_weights

SEED = 20_130_701
TARGETS = {
    "kde_1m_100m_seconds_max": 0.1,
    "dbscan_1m_seconds_max": 1.0,
    "gistar_analytical_90k_seconds_max": 0.1,
    "gistar_999_permutations_14k_seconds_max": 2.0,
}


def run(*, quick: bool) -> dict[str, Any]:
    """Run the three benchmarks; raises if a correctness check fails."""
    kde = _kde(quick)
    dbscan = _dbscan(quick)
    gistar = _gistar(quick)
    met = {}
    if not quick:
        met = {
            "kde_1m_100m_seconds_max": kde["1m_100m"]["ours_seconds"]
            <= TARGETS["kde_1m_100m_seconds_max"],
            "dbscan_1m_seconds_max": dbscan["1m"]["labels_seconds"]
            <= TARGETS["dbscan_1m_seconds_max"],
            "gistar_analytical_90k_seconds_max": gistar["analytical"]["ours_seconds"]
            <= TARGETS["gistar_analytical_90k_seconds_max"],
            "gistar_999_permutations_14k_seconds_max": gistar["permutations"][
                "ours_esda_draws_seconds"
            ]
            <= TARGETS["gistar_999_permutations_14k_seconds_max"],
        }
    return {
        "quick": quick,
        "seed": SEED,
        "kde": kde,
        "dbscan": dbscan,
        "gistar": gistar,
        "targets": TARGETS,
        "targets_met": met,
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2),
    }


# ----------------------------------------------------------------------------------------- KDE
def _kde(quick: bool) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    sizes = {"100k_50m": (100_000, 50.0, 20_000.0), "1m_100m": (1_000_000, 100.0, 50_000.0)}
    if quick:
        sizes = {"20k_100m": (20_000, 100.0, 10_000.0)}
    out: dict[str, Any] = {}
    for name, (n, cell_m, side_m) in sizes.items():
        grid = grid_for(box(0, 0, side_m, 0.9 * side_m), cell_m=cell_m)
        x, y = _clustered_points(rng, n, side_m)
        kde_surface(x[:1000], y[:1000], grid, bandwidth_m=400)  # warm-up (FFT plans, imports)
        seconds = min(timed(kde_surface, x, y, grid, bandwidth_m=400)[0] for _ in range(3))
        out[name] = {
            "points": n,
            "cells": grid.nx * grid.ny,
            "cell_m": cell_m,
            "bandwidth_m": 400,
            "ours_seconds": round(seconds, 4),
            **_sklearn_kde(rng, grid, x, y, quick),
        }
    return out


def _sklearn_kde(rng: np.random.Generator, grid, x, y, quick: bool) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    n_fit, n_eval = (2_000, 1_000) if quick else (10_000, 5_000)
    pick = rng.choice(len(x), n_fit, replace=False)
    xc, yc = grid.centres()
    cells = rng.choice(xc.size, n_eval, replace=False)
    at = np.column_stack([xc.ravel()[cells], yc.ravel()[cells]])
    h = 400.0  # Gaussian sd; binning to cells of at most h / 4 moves the density < 1 %
    model = KernelDensity(kernel="gaussian", bandwidth=h).fit(np.column_stack([x[pick], y[pick]]))
    seconds, log_density = timed(model.score_samples, at)
    theirs = np.exp(log_density) * n_fit * 1e6
    ours = kde_surface(x[pick], y[pick], grid, bandwidth_m=h, kernel="gaussian").ravel()[cells]
    big = theirs > 0.05 * theirs.max()
    error = float(np.median(np.abs(ours[big] / theirs[big] - 1)))
    if error > 0.02:
        raise AssertionError(f"KDE differs from scikit-learn by {error:.3%} (median, dense cells)")
    scale = (len(x) / n_fit) * (grid.nx * grid.ny / n_eval)
    return {
        "sklearn_subsample": f"{n_fit} points scored at {n_eval} cell centres",
        "sklearn_subsample_seconds": round(seconds, 3),
        "sklearn_extrapolated_seconds": round(seconds * scale, 1),
        "sklearn_extrapolation": "linear in points x cells (not run at full size)",
        "sklearn_kernel": "gaussian, sd 400 m (ours compared with the same kernel)",
        "median_relative_difference_vs_sklearn": round(error, 5),
    }


def _clustered_points(
    rng: np.random.Generator, n: int, side_m: float
) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.uniform(0.1 * side_m, 0.8 * side_m, (40, 2))
    which = rng.integers(0, 40, n)
    xy = centres[which] + rng.normal(0, 0.03 * side_m, (n, 2))
    return xy[:, 0], xy[:, 1]


# -------------------------------------------------------------------------------------- DBSCAN
def _dbscan(quick: bool) -> dict[str, Any]:
    rng = np.random.default_rng(SEED + 1)
    sites = np.concatenate(
        [rng.normal(c, 1500, (400, 2)) for c in rng.uniform(5_000, 45_000, (30, 2))]
    ).round()
    weight = rng.lognormal(0, 1.2, len(sites))
    weight /= weight.sum()
    sizes = {"20k": 20_000} if quick else {"100k": 100_000, "1m": 1_000_000}
    out: dict[str, Any] = {}
    for name, n in sizes.items():
        xy = sites[rng.choice(len(sites), n, p=weight)]
        clusters_seconds, frame = timed(dbscan_clusters, xy[:, 0], xy[:, 1])
        eps, min_samples = frame.attrs["eps_m"], frame.attrs["min_samples"]
        seconds, labels = timed(
            dbscan_labels, xy[:, 0], xy[:, 1], eps_m=eps, min_samples=min_samples
        )
        result: dict[str, Any] = {
            "points": n,
            "distinct_locations": len(np.unique(xy[:, 0] + 1j * xy[:, 1])),
            "eps_m": round(eps, 1),
            "min_samples": min_samples,
            "clusters": int(labels.max() + 1),
            "labels_seconds": round(seconds, 3),
            "clusters_with_polygons_seconds": round(clusters_seconds, 3),
        }
        result.update(_plain_dbscan(xy, labels, eps, min_samples))
        out[name] = result
    return out


def _plain_dbscan(
    xy: np.ndarray, labels: np.ndarray, eps: float, min_samples: int
) -> dict[str, Any]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    seconds, model = timed(DBSCAN(eps=eps, min_samples=min_samples).fit, xy)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    plain = model.labels_
    if not np.array_equal(plain < 0, labels < 0):
        raise AssertionError("weighted DBSCAN marks different points as noise than plain DBSCAN")
    # A border point within reach of two clusters joins either (DBSCAN's order dependence).
    clustered = labels >= 0
    pairs, together = np.unique(
        np.column_stack([labels, plain])[clustered], axis=0, return_counts=True
    )
    majority = np.zeros(labels.max() + 1 if clustered.any() else 0, dtype=np.int64)
    np.maximum.at(majority, pairs[:, 0], together)
    disagreeing = int(clustered.sum() - majority.sum())
    if disagreeing > 0.001 * clustered.sum():
        raise AssertionError(f"weighted and plain DBSCAN disagree on {disagreeing} points")
    return {
        "plain_sklearn_seconds": round(seconds, 2),
        "plain_sklearn_peak_rss_growth_gb": round(max(after - before, 0) / 1e6, 2),
        "same_noise_as_plain": True,
        "border_points_in_another_cluster": disagreeing,
    }


# ----------------------------------------------------------------------------------------- Gi*
def _gistar(quick: bool) -> dict[str, Any]:
    rng = np.random.default_rng(SEED + 2)
    big_side, perm_side, esda_side = (100, 60, 30) if quick else (300, 120, 60)
    big = grid_for(box(0, 0, big_side * 100, big_side * 100), cell_m=100)
    w_big = grid_weights(big)
    values = rng.poisson(2.0, w_big.shape[0]).astype(float)
    gi_star(values, w_big, permutations=0)  # warm-up
    ours = min(timed(gi_star, values, w_big, permutations=0)[0] for _ in range(3))
    esda_seconds, esda_result = timed(_esda, values, _esda_weights(w_big), 0, 0)
    z = gi_star(values, w_big, permutations=0).z
    if not np.allclose(z, esda_result.Zs, atol=1e-10):
        raise AssertionError("Gi* z differs from esda G_Local(star=True)")
    analytical = {
        "cells": int(w_big.shape[0]),
        "ours_seconds": round(ours, 4),
        "esda_seconds": round(esda_seconds, 3),
    }
    grid = grid_for(box(0, 0, perm_side * 100, perm_side * 100), cell_m=100)
    weights = grid_weights(grid)
    counts = rng.poisson(2.0, weights.shape[0]).astype(float)
    exact_seconds, _ = timed(gi_star, counts, weights, permutations=999, seed=3)
    fast_seconds, _ = timed(gi_star, counts, weights, permutations=999, seed=3, draws="fast")
    permutations = {
        "cells": int(weights.shape[0]),
        "permutations": 999,
        "ours_esda_draws_seconds": round(exact_seconds, 3),
        "ours_fast_draws_seconds": round(fast_seconds, 3),
        **_esda_permutations(rng, esda_side, perm_side),
    }
    return {"analytical": analytical, "permutations": permutations}


def _esda_permutations(rng: np.random.Generator, side: int, full_side: int) -> dict[str, Any]:
    grid = grid_for(box(0, 0, side * 100, side * 100), cell_m=100)
    weights = grid_weights(grid)
    counts = rng.poisson(2.0, weights.shape[0]).astype(float)
    seconds, theirs = timed(_esda, counts, _esda_weights(weights), 999, 3)
    ours = gi_star(counts, weights, permutations=999, seed=3)
    assert ours.p_sim is not None
    if not np.allclose(ours.p_sim, theirs.p_sim, rtol=1e-6):
        raise AssertionError("Gi* pseudo p-values differ from esda's with the same seed")
    factor = (full_side / side) ** 4  # cells squared
    return {
        "esda_cells": int(weights.shape[0]),
        "esda_seconds": round(seconds, 2),
        "esda_extrapolated_seconds": round(seconds * factor, 1),
        "esda_extrapolation": "quadratic in cells from the smaller grid (not run at full size)",
        "identical_pseudo_p_to_esda": True,
    }


def _esda_weights(weights: sp.csr_array):  # type: ignore[no-untyped-def]
    from libpysal.weights import WSP

    return WSP(sp.csr_matrix(weights)).to_W(silence_warnings=True)


def _esda(values: np.ndarray, w, permutations: int, seed: int):  # type: ignore[no-untyped-def]
    from esda.getisord import G_Local

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return G_Local(
            values, w, star=True, transform="B", permutations=permutations, seed=seed, n_jobs=1
        )
