"""Getis-Ord Gi* hot and cold spots on grid-cell or area counts, with permutation inference.

Gi* (the "star" form: each location counts itself, with weight 1) compares the weighted sum of
the counts around a location with what the whole study area's mean would give:

``z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1)))``, with
``W_i = sum_j w_ij``, ``S1_i = sum_j w_ij^2``, ``xbar`` the mean and ``S`` the population standard
deviation of ``x`` (Getis and Ord 1995; ArcGIS "Hot Spot Analysis"). With binary weights this is
exactly esda's ``G_Local(y, w, star=True, transform="B").Zs``; note that esda's default
(``star=False``) is the non-star Gi, which leaves the location out.

Inference: ``p`` is the two-sided normal p-value of z (esda's ``p_norm`` is one-sided:
``p = 2 * p_norm``). ``p_sim`` is the conditional-permutation pseudo p-value exactly as esda
computes it (the other locations' values are shuffled while location i keeps its own;
``(min(larger, P - larger) + 1) / (P + 1)`` with ``larger`` the random values >= the observed
one), reproducing esda's draws for the same ``seed``: the same ``numpy.random.RandomState(seed)``
sequence of ``choice(n - 1, max_neighbours, replace=False)``. The permutations are vectorised in
chunks of locations, so memory stays bounded.

Ties: on sparse counts most random neighbourhood sums of an empty cell are 0 too, i.e. tied
with the observed 0; esda's formula then gives ``larger = P``, folds it to 0 and reports the
smallest possible p, calling every empty cell a 99 % cold spot. The bins therefore use the
tie-aware one-sided p ``(min(#random >= observed, #random <= observed) + 1) / (P + 1)``, which
equals ``p_sim`` whenever no random value ties the observed one. ``q`` are Benjamini-Hochberg
q-values of the two-sided p used for the bins: ``p`` by default, or ``min(1, 2 * p_tied)`` with
``inference="permutation"``.

Bins: +3/+2/+1 hot spot at 99/95/90 % confidence (q, or p with ``fdr=False``, below
0.01/0.05/0.10 and z > 0), -3/-2/-1 cold spots likewise, 0 not significant.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
from scipy import stats
from scipy.spatial import cKDTree

from geo_service.analysis.grid import Grid, HexGrid
from geo_service.analysis.significance import bh_qvalues
from geo_service.errors import InputError

INFERENCES = ("normal", "permutation")
#: Confidence levels of the bins, as (bin, largest p or q) from the most confident down.
BIN_LEVELS: tuple[tuple[int, float], ...] = ((3, 0.01), (2, 0.05), (1, 0.10))
#: Bound on the elements of one chunk of permuted neighbour values (8 bytes each).
CHUNK_ELEMENTS = 4_000_000
BIN_LABELS = {
    3: "hot spot, 99 % confidence",
    2: "hot spot, 95 % confidence",
    1: "hot spot, 90 % confidence",
    0: "not significant",
    -1: "cold spot, 90 % confidence",
    -2: "cold spot, 95 % confidence",
    -3: "cold spot, 99 % confidence",
}


@dataclass(frozen=True, eq=False)
class GiStarResult:
    """Gi* per location: z, two-sided p, pseudo p (esda's and tie-aware), q and bins."""

    z: np.ndarray
    p: np.ndarray
    p_sim: np.ndarray | None
    p_tied: np.ndarray | None
    q: np.ndarray
    bins: np.ndarray
    permutations: int
    seed: int
    fdr: bool


def gi_star(
    values: np.ndarray,
    weights: sp.spmatrix | sp.sparray,
    *,
    permutations: int = 999,
    seed: int = 0,
    fdr: bool = True,
    inference: str = "normal",
    draws: str = "esda",
) -> GiStarResult:
    """Getis-Ord Gi* of ``values`` with spatial ``weights`` (see the module docstring).

    Parameters
    ----------
    values
        One value per location (counts, rates).
    weights
        Square sparse matrix of neighbour weights; the diagonal is ignored and replaced by 1.
    permutations
        Conditional permutations for ``p_sim`` (0 for analytical inference only).
    seed
        Seed of the permutations (esda's ``seed``).
    fdr
        Bin by Benjamini-Hochberg q-values (default) rather than raw p-values.
    inference
        The p-values the bins (and q) use: ``"normal"`` (default, as ArcGIS does), or
        ``"permutation"`` (tie-aware pseudo p). A pseudo p is never below ``1 / (P + 1)``, so
        under FDR across thousands of cells it can only be significant with many more
        permutations than cells / 20; with 999 permutations on a district grid nothing passes.
    draws
        ``"esda"`` (default): esda's exact draws for ``seed``, which cost one shuffle of all
        n - 1 values per permutation (about 1 s for 999 permutations of 14k cells). ``"fast"``:
        distinct neighbours drawn directly from ``numpy.random.default_rng(seed)`` - the same
        distribution of pseudo p-values, not the same values.
    """
    x = np.asarray(values, dtype=float).ravel()
    w = _star_weights(weights, x.size)
    z = _z_scores(x, w)
    p = 2.0 * stats.norm.sf(np.abs(z))
    if inference not in INFERENCES:
        raise InputError(f"unknown inference {inference!r}; allowed: {', '.join(INFERENCES)}")
    p_sim: np.ndarray | None = None
    p_tied: np.ndarray | None = None
    chosen = p
    if permutations > 0:
        p_sim, p_tied = _pseudo_p(x, w, permutations, seed, draws)
        if inference == "permutation":
            chosen = np.minimum(1.0, 2.0 * p_tied)
    elif inference == "permutation":
        raise InputError("inference='permutation' needs permutations > 0")
    q = bh_qvalues(chosen)
    bins = confidence_bins(z, q if fdr else chosen)
    return GiStarResult(z, p, p_sim, p_tied, q, bins, int(permutations), int(seed), bool(fdr))


def confidence_bins(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """+3..-3 hot/cold bins from z-scores and (two-sided) p- or q-values."""
    z = np.asarray(z, dtype=float)
    p = np.asarray(p, dtype=float)
    level = np.zeros(z.shape, dtype=np.int64)
    for value, limit in reversed(BIN_LEVELS):
        level[np.nan_to_num(p, nan=1.0) < limit] = value
    return np.where(z > 0, level, -level) * (np.nan_to_num(z) != 0)


def distance_band_weights(
    x: np.ndarray, y: np.ndarray, threshold_m: float, *, binary: bool = True
) -> sp.csr_array:
    """Neighbours within ``threshold_m`` metres (self excluded), via a KD-tree.

    Binary weights (1) by default; ``binary=False`` gives inverse-distance weights ``1 / d``
    (coincident points get the weight of 1 m).
    """
    if not threshold_m > 0:
        raise InputError(f"threshold must be a positive distance in metres, got {threshold_m}")
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    tree = cKDTree(xy)
    pairs = tree.query_pairs(threshold_m, output_type="ndarray")
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    distance_m = np.hypot(*(xy[i] - xy[j]).T)
    data = np.ones(i.size) if binary else 1.0 / np.maximum(distance_m, 1.0)
    w = sp.csr_array((data, (i, j)), shape=(len(xy), len(xy)))
    w.sort_indices()
    return w


def grid_weights(grid: Grid | HexGrid, *, queen: bool = True) -> sp.csr_array:
    """Binary contiguity between the grid's inside cells, in flat-index order of those cells.

    Queen (8 neighbours, default) or rook (4) adjacency of squares; the 6 neighbours of
    hexagons. Cells outside the study area are neither locations nor neighbours.
    """
    if isinstance(grid, HexGrid):
        return _hex_weights(grid)
    cells = np.flatnonzero(grid.inside.ravel())
    position = np.full(grid.nx * grid.ny, -1, dtype=np.int64)
    position[cells] = np.arange(cells.size)
    row, col = np.divmod(cells, grid.nx)
    steps = [(-1, 0), (1, 0), (0, -1), (0, 1)]
    if queen:
        steps += [(-1, -1), (-1, 1), (1, -1), (1, 1)]
    rows, cols = [], []
    for dr, dc in steps:
        r, c = row + dr, col + dc
        ok = (r >= 0) & (r < grid.ny) & (c >= 0) & (c < grid.nx)
        target = np.full(cells.size, -1, dtype=np.int64)
        target[ok] = position[r[ok] * grid.nx + c[ok]]
        keep = target >= 0
        rows.append(np.flatnonzero(keep))
        cols.append(target[keep])
    i, j = np.concatenate(rows), np.concatenate(cols)
    w = sp.csr_array((np.ones(i.size), (i, j)), shape=(cells.size, cells.size))
    w.sort_indices()
    return w


def _hex_weights(grid: HexGrid) -> sp.csr_array:
    cells = np.flatnonzero(grid.inside.ravel())
    position = np.full(grid.nx * grid.ny, -1, dtype=np.int64)
    position[cells] = np.arange(cells.size)
    around = grid.neighbours()[cells]
    target = np.where(around >= 0, position[np.maximum(around, 0)], -1)
    i = np.repeat(np.arange(cells.size), 6)[target.ravel() >= 0]
    j = target.ravel()[target.ravel() >= 0]
    w = sp.csr_array((np.ones(i.size), (i, j)), shape=(cells.size, cells.size))
    w.sort_indices()
    return w


def contiguity_weights(layer: gpd.GeoDataFrame, *, queen: bool = True) -> sp.csr_array:
    """Binary contiguity between the areas of a layer, in row order.

    Queen: areas sharing any boundary point; rook: sharing a boundary line of positive length.
    """
    geoms = layer.geometry.to_numpy()
    left, right = layer.sindex.query(geoms, predicate="touches")
    if not queen:
        shared = np.array(
            [geoms[a].intersection(geoms[b]).length > 0 for a, b in zip(left, right, strict=True)],
            dtype=bool,
        )
        left, right = left[shared], right[shared]
    # Overlapping neighbours (slivers of imperfect boundaries) count too.
    o_left, o_right = layer.sindex.query(geoms, predicate="overlaps")
    i = np.concatenate([left, o_left])
    j = np.concatenate([right, o_right])
    n = len(layer)
    w = sp.csr_array((np.ones(i.size), (i, j)), shape=(n, n))
    w.data[:] = 1.0
    w.sort_indices()
    return w


def gi_star_grid(
    grid: Grid | HexGrid,
    counts: np.ndarray,
    *,
    queen: bool = True,
    permutations: int = 999,
    seed: int = 0,
    fdr: bool = True,
    inference: str = "normal",
    draws: str = "esda",
) -> gpd.GeoDataFrame:
    """Gi* of grid-cell ``counts`` (shape ``grid.shape``) over the inside cells, as squares.

    Columns: ``cell``, ``row``, ``col``, ``count``, ``z``, ``p``, ``p_sim``, ``p_tied``, ``q``,
    ``bin``, ``label``, geometry.
    """
    if np.shape(counts) != grid.shape:
        raise InputError(f"counts must have the grid's shape {grid.shape}, got {np.shape(counts)}")
    inside = grid.inside.ravel()
    values = np.asarray(counts, dtype=float).ravel()[inside]
    weights = grid_weights(grid, queen=queen)
    result = gi_star(
        values,
        weights,
        permutations=permutations,
        seed=seed,
        fdr=fdr,
        inference=inference,
        draws=draws,
    )
    frame = grid.to_geodataframe({"count": counts})
    frame["z"] = result.z
    frame["p"] = result.p
    missing = np.full(values.size, np.nan)
    frame["p_sim"] = missing if result.p_sim is None else result.p_sim
    frame["p_tied"] = missing if result.p_tied is None else result.p_tied
    frame["q"] = result.q
    frame["bin"] = result.bins
    frame["label"] = [BIN_LABELS[int(b)] for b in result.bins]
    return frame


def gi_star_areas(
    areas: gpd.GeoDataFrame,
    counts: np.ndarray,
    *,
    queen: bool = True,
    permutations: int = 999,
    seed: int = 0,
    fdr: bool = True,
) -> gpd.GeoDataFrame:
    """Gi* of per-area ``counts`` (in the layer's row order) with contiguity weights.

    Columns: ``code``, ``name``, ``count``, ``z``, ``p``, ``p_sim``, ``p_tied``, ``q``, ``bin``,
    ``label`` and the area polygons. An area with no neighbour (an island) keeps z = 0.
    """
    values = np.asarray(counts, dtype=float)
    if values.shape != (len(areas),):
        raise InputError(f"counts must hold one value per area ({len(areas)}), got {values.shape}")
    result = gi_star(
        values, contiguity_weights(areas, queen=queen), permutations=permutations, seed=seed,
        fdr=fdr,
    )  # fmt: skip
    missing = np.full(values.size, np.nan)
    frame = gpd.GeoDataFrame(
        {
            "code": areas["code"].astype(str).to_numpy(),
            "name": areas["name"].astype(str).to_numpy(),
            "count": values,
            "z": result.z,
            "p": result.p,
            "p_sim": missing if result.p_sim is None else result.p_sim,
            "p_tied": missing if result.p_tied is None else result.p_tied,
            "q": result.q,
            "bin": result.bins,
            "label": [BIN_LABELS[int(b)] for b in result.bins],
        },
        geometry=areas.geometry.to_numpy(),
        crs=areas.crs,
    )
    return frame


def _star_weights(weights: sp.spmatrix | sp.sparray, n: int) -> sp.csr_array:
    w = sp.csr_array(weights, dtype=float)
    if w.shape != (n, n):
        raise InputError(f"weights must be {n} x {n} for {n} values, got {w.shape}")
    if not w.diagonal().any():
        w.eliminate_zeros()
        w.sort_indices()
        return w
    coo = w.tocoo()
    off = coo.row != coo.col
    w = sp.csr_array((coo.data[off], (coo.row[off], coo.col[off])), shape=(n, n))
    w.sum_duplicates()
    w.eliminate_zeros()
    w.sort_indices()
    return w


def _z_scores(x: np.ndarray, others: sp.csr_array) -> np.ndarray:
    """Gi* z with self-weight 1 added to ``others`` (which has an empty diagonal)."""
    n = x.size
    mean = x.mean()
    sd = np.sqrt(np.mean(x * x) - mean * mean)
    rows = np.repeat(np.arange(n), np.diff(others.indptr))
    weight_sum = np.bincount(rows, weights=others.data, minlength=n) + 1.0
    weight_sq = np.bincount(rows, weights=others.data**2, minlength=n) + 1.0
    local = others @ x + x
    spread = np.sqrt(np.maximum(n * weight_sq - weight_sum**2, 0.0) / (n - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (local - mean * weight_sum) / (sd * spread)
    return np.where(np.isfinite(z), z, 0.0)


def _pseudo_p(
    x: np.ndarray, others: sp.csr_array, permutations: int, seed: int, draws: str
) -> tuple[np.ndarray, np.ndarray]:
    """esda's pseudo p-values and the tie-aware ones (see the module docstring)."""
    n = x.size
    cardinality = np.diff(others.indptr)
    max_card = int(cardinality.max()) if n else 0
    if max_card == 0:
        return np.ones(n), np.ones(n)
    drawn = _draws(n, max_card, permutations, seed, draws)
    padded = _padded_rows(others, cardinality, max_card)
    observed = others @ x
    larger = np.empty(n, dtype=np.int64)
    smaller = np.empty(n, dtype=np.int64)
    # Chunks small enough that few draws fall inside one (see _random_sums).
    chunk = max(16, min(CHUNK_ELEMENTS // permutations, n // (8 * max_card) + 1))
    below = x[drawn]
    delta = x[drawn + 1] - below
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        random_sums = _random_sums(padded[start:stop], drawn, below, delta, start, stop)
        larger[start:stop] = (random_sums >= observed[start:stop, None]).sum(axis=1)
        smaller[start:stop] = (random_sums <= observed[start:stop, None]).sum(axis=1)
    folded = np.minimum(larger, permutations - larger)
    p_sim = (folded + 1.0) / (permutations + 1.0)
    p_tied = (np.minimum(larger, smaller) + 1.0) / (permutations + 1.0)
    p_sim[cardinality == 0] = 1.0
    p_tied[cardinality == 0] = 1.0
    return np.minimum(p_sim, 1.0), np.minimum(p_tied, 1.0)


def _random_sums(
    padded: np.ndarray,
    drawn: np.ndarray,
    below: np.ndarray,
    delta: np.ndarray,
    start: int,
    stop: int,
) -> np.ndarray:
    """Weighted sums of the drawn values of locations ``start..stop-1``, shape (sites, draws).

    For location i, drawn index d means the d-th of the *other* values: ``x[d]`` when d < i,
    ``x[d + 1]`` when d >= i. Draws at or past the chunk's last location shift for all of it
    and draws before its first for none (two matrix products); only the few draws inside the
    chunk are resolved location by location.
    """
    all_shift = drawn >= stop - 1
    resolved = below + delta * all_shift
    cardinality = np.count_nonzero(padded, axis=1)
    if np.all(padded[padded != 0] == 1.0):
        # Binary weights: a location's sum is a prefix sum of its first `cardinality` draws.
        prefix = np.cumsum(resolved, axis=1).T
        sums = prefix[np.maximum(cardinality - 1, 0)]
    else:
        sums = padded @ resolved.T
    k, j = np.nonzero((drawn >= start) & ~all_shift)
    if k.size:
        site = np.arange(start, stop)[:, None]
        part = (site <= drawn[k, j][None, :]) * padded[:, j] * delta[k, j][None, :]
        np.add.at(sums.T, k, part.T)
    return sums


def _draws(n: int, max_card: int, permutations: int, seed: int, scheme: str) -> np.ndarray:
    """(permutations, max_card) distinct indices into the n - 1 other values, per draw."""
    if scheme == "esda":
        return _esda_draws(n, max_card, permutations, seed)
    if scheme == "fast":
        return _fast_draws(n, max_card, permutations, seed)
    raise InputError(f"unknown permutation scheme {scheme!r}; allowed: esda, fast")


def _fast_draws(n: int, max_card: int, permutations: int, seed: int) -> np.ndarray:
    """Distinct indices by drawing with replacement and redrawing rows with a repeat."""
    rng = np.random.default_rng(seed)
    if max_card * 4 > n - 1:
        return np.argsort(rng.random((permutations, n - 1)), axis=1)[:, :max_card]
    drawn = rng.integers(0, n - 1, size=(permutations, max_card))
    while True:
        ordered = np.sort(drawn, axis=1)
        repeat = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        if not repeat.any():
            return drawn
        drawn[repeat] = rng.integers(0, n - 1, size=(int(repeat.sum()), max_card))


def _esda_draws(n: int, max_card: int, permutations: int, seed: int) -> np.ndarray:
    """The (permutations, max_card) indices into the n - 1 other values that esda draws."""
    rng = np.random.RandomState(seed)
    draws = np.empty((permutations, max_card), dtype=np.int64)
    for k in range(permutations):
        draws[k] = rng.choice(n - 1, size=max_card, replace=False)
    return draws


def _padded_rows(w: sp.csr_array, cardinality: np.ndarray, width: int) -> np.ndarray:
    """Each row's neighbour weights in stored order, left-aligned and zero-padded."""
    padded = np.zeros((len(cardinality), width))
    row = np.repeat(np.arange(len(cardinality)), cardinality)
    position = np.arange(w.nnz) - np.repeat(w.indptr[:-1], cardinality)
    padded[row, position] = w.data
    return padded
