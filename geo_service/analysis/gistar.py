"""Getis-Ord Gi* hot and cold spots on grid-cell or area counts, with permutation inference.

Gi* (the "star" form: each location counts itself, with weight 1) compares the weighted sum of
the counts around a location with what the whole study area's mean would give:

``z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1)))``, with
``W_i = sum_j w_ij``, ``S1_i = sum_j w_ij^2``, ``xbar`` the mean and ``S`` the population standard
deviation of ``x`` (Getis and Ord 1992; Ord and Getis 1995; ArcGIS "Hot Spot Analysis"). With
binary weights this is exactly esda's ``G_Local(y, w, star=True, transform="B").Zs``; note that
esda's default (``star=False``) is the non-star Gi, which leaves the location out.

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

The spatial weights (grid cells, areas, distance bands) are built in :mod:`.weights`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np

from geo_service.analysis.grid import Grid, HexGrid
from geo_service.analysis.significance import bh_qvalues
from geo_service.analysis.weights import contiguity_weights, grid_weights
from geo_service.errors import InputError
from geo_service.progress import Progress, quiet

if TYPE_CHECKING:
    import scipy.sparse as sp

__all__ = [
    "BIN_LABELS",
    "BIN_LEVELS",
    "CHUNK_ELEMENTS",
    "INFERENCES",
    "GiStarResult",
    "confidence_bins",
    "gi_star",
    "gi_star_areas",
    "gi_star_grid",
]

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
    """Gi* per location: z, two-sided p, pseudo p (esda's and tie-aware), q and bins.

    Attributes
    ----------
    z
        Gi* z-score per location, shape ``(n,)`` (0 where undefined, e.g. constant values).
    p
        Two-sided normal p-value of ``z``.
    p_sim, p_tied
        esda's folded pseudo p and the tie-aware one-sided pseudo p (module docstring); None
        without permutations.
    q
        Benjamini-Hochberg (1995) q-values of the p-values the bins use.
    bins
        +3..-3 confidence bins (:func:`confidence_bins`), int64.
    permutations, seed, fdr
        The arguments the result was computed with.
    """

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
    progress: Progress | None = None,
) -> GiStarResult:
    """Getis-Ord Gi* of ``values`` with spatial ``weights`` (see the module docstring).

    Gi* after Getis & Ord (1992) and Ord & Getis (1995); FDR control by Benjamini & Hochberg
    (1995).

    Parameters
    ----------
    values
        One value per location (counts, rates), ``n`` values (flattened).
    weights
        Square sparse ``n`` x ``n`` matrix of neighbour weights; the diagonal is ignored and
        replaced by 1.
    permutations
        Conditional permutations for ``p_sim`` (default 999; 0 for analytical inference only).
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
    progress
        Shows progress over the permutation chunks (:mod:`geo_service.progress`).

    Returns
    -------
    GiStarResult
        Arrays of shape ``(n,)``; a location without neighbours has ``p_sim = p_tied = 1``.

    Raises
    ------
    InputError
        ``weights`` is not ``n`` x ``n``; ``inference`` or ``draws`` is unknown;
        ``inference="permutation"`` without permutations.
    """
    from scipy.special import ndtr  # norm.sf(x) is ndtr(-x): scipy.stats costs 0.8 s to import

    x = np.asarray(values, dtype=float).ravel()
    w = _star_weights(weights, x.size)
    z = _z_scores(x, w)
    p = 2.0 * ndtr(-np.abs(z))
    if inference not in INFERENCES:
        raise InputError(f"unknown inference {inference!r}; allowed: {', '.join(INFERENCES)}")
    p_sim: np.ndarray | None = None
    p_tied: np.ndarray | None = None
    chosen = p
    if permutations > 0:
        p_sim, p_tied = _pseudo_p(x, w, permutations, seed, draws, progress)
        if inference == "permutation":
            chosen = np.minimum(1.0, 2.0 * p_tied)
    elif inference == "permutation":
        raise InputError("inference='permutation' needs permutations > 0")
    q = bh_qvalues(chosen)
    bins = confidence_bins(z, q if fdr else chosen)
    return GiStarResult(z, p, p_sim, p_tied, q, bins, int(permutations), int(seed), bool(fdr))


def confidence_bins(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """+3..-3 hot/cold bins from z-scores and (two-sided) p- or q-values.

    Parameters
    ----------
    z
        z-scores; the sign gives hot (> 0) or cold (< 0); 0 or missing gives bin 0.
    p
        p- or q-values, same shape; missing counts as 1.

    Returns
    -------
    numpy.ndarray
        int64 bins, same shape: +-3, +-2, +-1 below 0.01, 0.05, 0.10 (:data:`BIN_LEVELS`),
        else 0.
    """
    z = np.asarray(z, dtype=float)
    p = np.asarray(p, dtype=float)
    level = np.zeros(z.shape, dtype=np.int64)
    for value, limit in reversed(BIN_LEVELS):
        level[np.nan_to_num(p, nan=1.0) < limit] = value
    return np.where(z > 0, level, -level) * (np.nan_to_num(z) != 0)


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
    progress: Progress | None = None,
) -> gpd.GeoDataFrame:
    """Gi* of grid-cell ``counts`` over the inside cells, with grid contiguity weights.

    Parameters
    ----------
    grid
        Square or hexagonal grid; only its inside cells are locations.
    counts
        Counts per cell, shape ``grid.shape`` (outside cells ignored).
    queen
        Queen (8 neighbours, default) or rook (4) contiguity of squares; hexagons always have 6.
    permutations, seed, fdr, inference, draws, progress
        As for :func:`gi_star`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per inside cell, the cell polygons (squares or hexagons) in the grid's CRS
        (EPSG:27700): ``cell``, ``row``, ``col``, ``count``, ``z``, ``p``, ``p_sim``,
        ``p_tied`` (NaN without permutations), ``q``, ``bin``, ``label`` (:data:`BIN_LABELS`),
        ``neighbour_count`` (incidents in the neighbouring inside cells), ``neighbours`` (their
        number),
        geometry.

    Raises
    ------
    InputError
        ``counts`` is not of the grid's shape, or :func:`gi_star` refuses its arguments.
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
        progress=progress,
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
    # A cell can be hot with no incident of its own: Gi* sums the cell and its neighbours.
    frame["neighbour_count"] = np.rint(weights @ values).astype(np.int64)
    frame["neighbours"] = np.diff(weights.indptr).astype(np.int64)
    return frame


def gi_star_areas(
    areas: gpd.GeoDataFrame,
    counts: np.ndarray,
    *,
    queen: bool = True,
    permutations: int = 999,
    seed: int = 0,
    fdr: bool = True,
    progress: Progress | None = None,
) -> gpd.GeoDataFrame:
    """Gi* of per-area ``counts`` (in the layer's row order) with contiguity weights.

    Parameters
    ----------
    areas
        A standard area layer (``code``, ``name``, polygons).
    counts
        One value per area, shape ``(len(areas),)``.
    queen
        Queen contiguity (any shared boundary point, default) or rook (a shared line).
    permutations, seed, fdr, progress
        As for :func:`gi_star` (normal inference, esda draws).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per area, in ``areas``' CRS: ``code``, ``name``, ``count``, ``z``, ``p``,
        ``p_sim``, ``p_tied`` (NaN without permutations), ``q``, ``bin``, ``label`` and the area
        polygons. An area with no neighbour (an island) has only itself in its sum, so its z is
        its own standardised value and its pseudo p-values are 1.

    Raises
    ------
    InputError
        ``counts`` does not hold one value per area.
    """
    values = np.asarray(counts, dtype=float)
    if values.shape != (len(areas),):
        raise InputError(f"counts must hold one value per area ({len(areas)}), got {values.shape}")
    result = gi_star(
        values, contiguity_weights(areas, queen=queen), permutations=permutations, seed=seed,
        fdr=fdr, progress=progress,
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
    import scipy.sparse as sp

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
    x: np.ndarray,
    others: sp.csr_array,
    permutations: int,
    seed: int,
    draws: str,
    progress: Progress | None = None,
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
    starts = range(0, n, chunk)
    for start in (progress or quiet)(starts, what="permutations", total=len(starts), unit="chunk"):
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
