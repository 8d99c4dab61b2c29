"""Kernel density surfaces on a grid, in incidents per square kilometre.

The surface at a cell centre is the sum of kernels centred on the real points, evaluated one of
two ways, chosen by cost (``evaluation="auto"``):

- **binned**: linear binning (each point's weight shared among the four surrounding nodes of a
  lattice, in proportion to its nearness) and one FFT convolution with the kernel sampled on that
  lattice. The lattice is the cell centres, subdivided so that its spacing is at most a twelfth
  of the quartic radius (a sixth of a Gaussian's standard deviation); the surface then equals the
  direct sum to within 1 % of its peak however the points fall (the worst case, one isolated
  point between lattice nodes, is 0.7 %). It costs one histogram and one FFT however many points
  there are.
- **direct**: the exact sum, each point adding its kernel to the cells within its reach. Its
  cost grows with points times cells reached, so it serves small data and narrow kernels; every
  bandwidth below :data:`MIN_BINNED_BANDWIDTH_CELLS` cells is computed this way (binning would
  need a lattice many times finer than the grid).

Points are never moved to their cell centre (which put the surface off by 19 % of its peak at a
300 m bandwidth on 100 m cells).

Units: the kernels integrate to 1 over square metres and the surface is multiplied by 1e6, so it
is in incidents per km^2 and integrates over the plane to the number (or summed weights) of
points.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from geo_service.analysis.grid import Grid
from geo_service.errors import InputError

log = logging.getLogger(__name__)

KERNELS = ("quartic", "gaussian")
#: Floor on the automatic bandwidth (quartic radius) for police.uk data, in metres.
POLICE_UK_MIN_BANDWIDTH_M = 300.0
#: The Gaussian kernel is cut off at this many standard deviations (mass beyond: 3e-4).
GAUSSIAN_CUTOFF_SD = 4.0
#: Standard deviation of the quartic kernel along one axis, as a fraction of its radius.
QUARTIC_SD_PER_RADIUS = math.sqrt(0.125)
#: Ways to evaluate the surface (see the module docstring).
EVALUATIONS = ("auto", "binned", "direct")
#: Bandwidths (quartic radius, or 2.8 Gaussian standard deviations) below this many cells are
#: always summed directly.
MIN_BINNED_BANDWIDTH_CELLS = 2.0
#: Binning lattice spacing at most the quartic radius divided by this (bilinear binning error of
#: one point at most ``(spacing / radius)^2`` of its kernel's peak: 0.7 %).
QUARTIC_BINS_PER_RADIUS = 12.0
#: The same for the Gaussian kernel, per standard deviation (error ``(spacing / sd)^2 / 4``).
GAUSSIAN_BINS_PER_SD = 6.0
#: "auto" sums directly while points x cells reached is below this many times the lattice nodes.
DIRECT_COST_PER_NODE = 2.0
_M2_PER_KM2 = 1e6


def kde_surface(
    x: np.ndarray,
    y: np.ndarray,
    grid: Grid,
    *,
    bandwidth_m: float | None = None,
    kernel: str = "quartic",
    weights: np.ndarray | None = None,
    min_bandwidth_m: float = POLICE_UK_MIN_BANDWIDTH_M,
    evaluation: str = "auto",
) -> np.ndarray:
    """Kernel density of the points at every cell centre of ``grid``, in incidents per km^2.

    Parameters
    ----------
    x, y
        Point coordinates in EPSG:27700 metres; non-finite points are ignored. Points outside the
        grid but within the kernel's reach still contribute.
    grid
        The grid to evaluate on (every cell, inside the study area or not).
    bandwidth_m
        The quartic kernel's radius, or the Gaussian kernel's standard deviation, in metres. By
        default :func:`auto_bandwidth_m` of the points and their ``weights`` (a quartic radius
        never below ``min_bandwidth_m``; for the Gaussian kernel the standard deviation of the
        same spread, ``sqrt(0.125)`` times that radius).
    kernel
        ``"quartic"`` (biweight, ``3/(pi h^2) (1 - d^2/h^2)^2`` within ``h``, as in CrimeStat and
        ArcGIS) or ``"gaussian"`` (cut off at 4 standard deviations).
    weights
        Optional weight per point (e.g. casualties, or the incidents a counted location stands
        for), same shape as ``x``; the surface then sums weights. Whole-number weights count as
        that many points in the choice of evaluation, so rows and counted locations choose alike.
    min_bandwidth_m
        Floor in metres applied to the automatic bandwidth only. police.uk snaps every incident to
        one of a fixed set of anonymous "map points" (roughly one per street segment, often
        100-300 m apart in suburbs), so a narrower kernel draws the map points rather than the
        crime; the 300 m default keeps the surface about the incidents. Use 0 for exact locations
        (fire, STATS19). An explicit ``bandwidth_m`` is honoured as given.
    evaluation
        ``"auto"`` (default): the cheaper of the two below; ``"binned"``: linear binning on a
        lattice fine enough for 1 % of peak and an FFT (bandwidths below
        :data:`MIN_BINNED_BANDWIDTH_CELLS` cells are summed directly all the same);
        ``"direct"``: the exact sum over the points.

    Returns
    -------
    numpy.ndarray
        Density of shape ``grid.shape``, incidents per km^2 (non-negative).

    Raises
    ------
    InputError
        ``x``, ``y`` and ``weights`` differ in shape; ``kernel`` is unknown; ``bandwidth_m`` is
        not a positive number; ``evaluation`` is unknown.
    """
    x, y, w = _checked_points(x, y, weights)
    if kernel not in KERNELS:
        raise InputError(f"unknown kernel {kernel!r}; allowed: {', '.join(KERNELS)}")
    if evaluation not in EVALUATIONS:
        raise InputError(f"unknown evaluation {evaluation!r}; allowed: {', '.join(EVALUATIONS)}")
    h = _bandwidth(x, y, w, bandwidth_m, kernel, min_bandwidth_m)
    refine = _lattice_refinement(h, grid.cell_m, kernel)
    reach = _reach_cells(h, grid.cell_m, kernel)
    if (
        refine is None
        or evaluation == "direct"
        or (evaluation == "auto" and _direct_is_cheaper(_incidents(x, w), reach, refine, grid))
    ):
        surface = _direct_sum(x, y, w, grid, h, kernel, reach)
    else:
        surface = _binned_sum(x, y, w, grid, h, kernel, reach, refine)
    return surface * _M2_PER_KM2


def _reach_cells(bandwidth_m: float, cell_m: float, kernel: str) -> int:
    reach_m = bandwidth_m if kernel == "quartic" else GAUSSIAN_CUTOFF_SD * bandwidth_m
    return math.ceil(reach_m / cell_m)


def _lattice_refinement(bandwidth_m: float, cell_m: float, kernel: str) -> int | None:
    """Lattice nodes per cell side for 1 % binning error; None below the binned minimum."""
    if kernel == "quartic":
        radius_cells, spacing_m = bandwidth_m / cell_m, bandwidth_m / QUARTIC_BINS_PER_RADIUS
    else:
        radius_cells = bandwidth_m / QUARTIC_SD_PER_RADIUS / cell_m
        spacing_m = bandwidth_m / GAUSSIAN_BINS_PER_SD
    if radius_cells < MIN_BINNED_BANDWIDTH_CELLS:
        return None
    return max(1, math.ceil(cell_m / spacing_m))


def _incidents(x: np.ndarray, w: np.ndarray | None) -> int:
    """The points' count for the choice of evaluation: the sum of whole-number weights (the
    incidents counted locations stand for), else the points. Rows and a cube's counted
    locations so make the same choice, and their surfaces differ only by the order of the sums
    (a choice by the number of points had a cube's few locations summed exactly and the rows
    binned, up to 1 % of peak apart)."""
    if w is None:
        return int(x.size)
    total = float(w.sum())
    return round(total) if np.all(w == np.round(w)) else int(x.size)


def _direct_is_cheaper(n_points: int, reach: int, refine: int, grid: Grid) -> bool:
    nodes = refine * refine * (grid.nx + 2 * reach) * (grid.ny + 2 * reach)
    return n_points * (2 * reach + 1) ** 2 < DIRECT_COST_PER_NODE * nodes


def _direct_sum(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    grid: Grid,
    bandwidth_m: float,
    kernel: str,
    reach: int,
) -> np.ndarray:
    """The exact kernel sum at the cell centres (per m^2), one pass per cell offset."""
    col = np.floor((x - grid.x0) / grid.cell_m).astype(np.int64)
    row = np.floor((y - grid.y0) / grid.cell_m).astype(np.int64)
    near = (col >= -reach) & (col < grid.nx + reach) & (row >= -reach) & (row < grid.ny + reach)
    col, row, px, py = col[near], row[near], x[near], y[near]
    pw = None if w is None else w[near]
    # Offsets of the point from its own cell's centre; each cell offset adds whole cells.
    fx = px - (grid.x0 + (col + 0.5) * grid.cell_m)
    fy = py - (grid.y0 + (row + 0.5) * grid.cell_m)
    total = np.zeros(grid.nx * grid.ny)
    for di in range(-reach, reach + 1):
        c = col + di
        in_col = (c >= 0) & (c < grid.nx)
        dx2 = (fx - di * grid.cell_m) ** 2
        for dj in range(-reach, reach + 1):
            r = row + dj
            ok = in_col & (r >= 0) & (r < grid.ny)
            if not ok.any():
                continue
            d = np.sqrt(dx2[ok] + (fy[ok] - dj * grid.cell_m) ** 2)
            value = kernel_value(d, bandwidth_m, kernel=kernel)
            if pw is not None:
                value = value * pw[ok]
            total += np.bincount(r[ok] * grid.nx + c[ok], weights=value, minlength=total.size)
    return total.reshape(grid.shape)


def _binned_sum(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    grid: Grid,
    bandwidth_m: float,
    kernel: str,
    reach: int,
    refine: int,
) -> np.ndarray:
    """Linear binning on a lattice ``refine`` times finer than the cells, then one FFT."""
    spacing = grid.cell_m / refine
    # Node 0 lies ``reach`` cells (plus one node) before the first cell centre, so every point
    # whose kernel reaches a cell centre falls between two nodes of the lattice.
    pad = reach * refine + 1
    ox = grid.x0 + 0.5 * grid.cell_m - pad * spacing
    oy = grid.y0 + 0.5 * grid.cell_m - pad * spacing
    mx = (grid.nx - 1) * refine + 2 * pad + 1
    my = (grid.ny - 1) * refine + 2 * pad + 1
    fx, fy = (x - ox) / spacing, (y - oy) / spacing
    i, j = np.floor(fx), np.floor(fy)
    ok = (i >= 0) & (i < mx - 1) & (j >= 0) & (j < my - 1)
    tx, ty = fx[ok] - i[ok], fy[ok] - j[ok]
    base = j[ok].astype(np.int64) * mx + i[ok].astype(np.int64)
    weight = np.ones(tx.size) if w is None else w[ok]
    flat = np.zeros(mx * my)
    for shift, share in (
        (0, (1 - tx) * (1 - ty)),
        (1, tx * (1 - ty)),
        (mx, (1 - tx) * ty),
        (mx + 1, tx * ty),
    ):
        flat += np.bincount(base + shift, weights=weight * share, minlength=flat.size)
    lattice = flat.reshape(my, mx)
    reach_nodes = math.floor(
        (bandwidth_m if kernel == "quartic" else GAUSSIAN_CUTOFF_SD * bandwidth_m) / spacing
    )
    offsets = np.arange(-reach_nodes, reach_nodes + 1) * spacing
    dx, dy = np.meshgrid(offsets, offsets)
    stencil = kernel_value(np.hypot(dx, dy), bandwidth_m, kernel=kernel)
    smooth = convolve_same(lattice, stencil)
    surface = smooth[pad : pad + (grid.ny - 1) * refine + 1 : refine,
                     pad : pad + (grid.nx - 1) * refine + 1 : refine]  # fmt: skip
    # FFT round-off leaves tiny values (even negative ones) where the true density is 0.
    tolerance = 1e-12 * float(stencil.max()) * max(float(lattice.sum()), 1.0)
    return np.where(surface < tolerance, 0.0, surface)


def kernel_stencil(bandwidth_m: float, cell_m: float, *, kernel: str = "quartic") -> np.ndarray:
    """The kernel (per m^2) at whole-cell offsets, a square array of odd side centred on 0.

    Parameters
    ----------
    bandwidth_m
        Quartic radius or Gaussian standard deviation in metres; a value below ``cell_m`` is
        logged as a warning.
    cell_m
        Grid cell size in metres.
    kernel
        ``"quartic"`` (default) or ``"gaussian"``.

    Returns
    -------
    numpy.ndarray
        Shape ``(2 r + 1, 2 r + 1)`` with ``r`` the kernel's reach (radius, or 4 standard
        deviations) in whole cells.

    Raises
    ------
    InputError
        ``bandwidth_m`` is not positive or ``kernel`` is unknown.
    """
    if not bandwidth_m > 0:
        raise InputError(f"bandwidth must be a positive number of metres, got {bandwidth_m!r}")
    if bandwidth_m < cell_m:
        log.warning(
            "bandwidth %.0f m is below the %.0f m cell size; the surface is barely smoothed",
            bandwidth_m,
            cell_m,
        )
    reach_m = bandwidth_m if kernel == "quartic" else GAUSSIAN_CUTOFF_SD * bandwidth_m
    reach = math.floor(reach_m / cell_m)
    offsets = np.arange(-reach, reach + 1) * cell_m
    dx, dy = np.meshgrid(offsets, offsets)
    return kernel_value(np.hypot(dx, dy), bandwidth_m, kernel=kernel)


def kernel_value(distance_m: np.ndarray, bandwidth_m: float, *, kernel: str) -> np.ndarray:
    """The 2-D kernel (per m^2) at ``distance_m`` from its centre.

    Parameters
    ----------
    distance_m
        Distances in metres.
    bandwidth_m
        Quartic radius or Gaussian standard deviation in metres.
    kernel
        ``"quartic"`` or ``"gaussian"`` (0 beyond 4 standard deviations).

    Returns
    -------
    numpy.ndarray
        Kernel values per square metre, the shape of ``distance_m``.

    Raises
    ------
    InputError
        ``kernel`` is unknown.
    """
    d = np.asarray(distance_m, dtype=float)
    h = float(bandwidth_m)
    if kernel == "quartic":
        u2 = (d / h) ** 2
        return np.where(u2 < 1.0, 3.0 / (math.pi * h * h) * (1.0 - u2) ** 2, 0.0)
    if kernel == "gaussian":
        value = np.exp(-0.5 * (d / h) ** 2) / (2.0 * math.pi * h * h)
        return np.where(d <= GAUSSIAN_CUTOFF_SD * h, value, 0.0)
    raise InputError(f"unknown kernel {kernel!r}; allowed: {', '.join(KERNELS)}")


def convolve_same(image: np.ndarray, stencil: np.ndarray) -> np.ndarray:
    """``scipy.signal.fftconvolve(image, stencil, mode="same")`` for an odd-sided stencil.

    numpy's FFT, because importing scipy.signal costs more (0.3-0.5 s) than the whole density.
    """
    ky, kx = stencil.shape
    full_y, full_x = image.shape[0] + ky - 1, image.shape[1] + kx - 1
    shape = (_fast_length(full_y), _fast_length(full_x))
    spectrum = np.fft.rfft2(image, shape) * np.fft.rfft2(stencil, shape)
    full = np.fft.irfft2(spectrum, shape)
    oy, ox = (ky - 1) // 2, (kx - 1) // 2
    return full[oy : oy + image.shape[0], ox : ox + image.shape[1]]


def _fast_length(n: int) -> int:
    """The smallest ``2^a 3^b 5^c`` not below ``n`` (sizes the FFT is fastest at)."""
    best = 1 << max(n - 1, 0).bit_length()
    power5 = 1
    while power5 < best:
        power35 = power5
        while power35 < best:
            candidate = power35
            while candidate < n:
                candidate *= 2
            best = min(best, candidate)
            power35 *= 3
        power5 *= 5
    return best


def auto_bandwidth_m(
    x: np.ndarray,
    y: np.ndarray,
    *,
    min_bandwidth_m: float = POLICE_UK_MIN_BANDWIDTH_M,
    weights: np.ndarray | None = None,
) -> float:
    """The automatic quartic radius in metres (ArcGIS Pro's Kernel Density default rule).

    ``h = 0.9 * min(SD, sqrt(1 / ln 2) * Dm) * n ** -0.2``, where SD is the standard distance of
    the points from their mean centre, Dm the median distance from it and n the number of points
    (Silverman's rule of thumb made robust to outliers by Dm), floored at ``min_bandwidth_m``.

    Parameters
    ----------
    x, y
        Point coordinates in EPSG:27700 metres; non-finite points are ignored.
    min_bandwidth_m
        Floor in metres (default :data:`POLICE_UK_MIN_BANDWIDTH_M`, 300 m).
    weights
        Whole-number count of incidents at each point (counted cells of the grid cube), same
        shape as ``x``; None: one each. The rule is then that of the points repeated so
        often: weighted mean centre, standard distance and median distance, ``n`` their sum.

    Returns
    -------
    float
        The radius in metres, at least 1 m; with fewer than 2 points ``min_bandwidth_m``, or
        1000 m when that is 0.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    px, py = np.asarray(x, dtype=float)[ok], np.asarray(y, dtype=float)[ok]
    w = np.ones(px.size) if weights is None else np.asarray(weights, dtype=float)[ok]
    count = float(w.sum())
    if count < 2:
        return float(min_bandwidth_m) if min_bandwidth_m > 0 else 1000.0
    dist = np.hypot(px - np.average(px, weights=w), py - np.average(py, weights=w))
    sd = math.sqrt(float(np.average(dist**2, weights=w)))
    dm = float(np.median(dist)) if weights is None else _weighted_median(dist, w)
    h = 0.9 * min(sd, math.sqrt(1.0 / math.log(2.0)) * dm) * count**-0.2
    return max(h, float(min_bandwidth_m), 1.0)


def _weighted_median(values: np.ndarray, counts: np.ndarray) -> float:
    """:func:`numpy.median` of ``values`` each repeated ``counts`` times (whole numbers), without
    repeating them: the middle value, or the mean of the two middle values of an even count."""
    order = np.argsort(values, kind="stable")
    ranked, cumulative = values[order], np.cumsum(counts[order])
    total = round(float(cumulative[-1]))
    lower = ranked[np.searchsorted(cumulative, (total - 1) // 2, side="right")]
    upper = ranked[np.searchsorted(cumulative, total // 2, side="right")]
    return float((lower + upper) / 2)


def class_breaks(
    surfaces: Sequence[np.ndarray] | np.ndarray, *, n_classes: int = 5, method: str = "quantile"
) -> np.ndarray:
    """Class edges shared by several surfaces (months), so their maps can be compared.

    Parameters
    ----------
    surfaces
        The surfaces (any shapes; pass only inside cells to ignore the rest). Pooled.
    n_classes
        Number of classes of positive density (default 5).
    method
        ``"quantile"`` (default): equal numbers of pooled positive values per class.
        ``"head_tail"``: Jiang's (2013) head/tail breaks (repeatedly split at the mean, keep the
        head), which suits the heavy-tailed densities of crime; gives at most ``n_classes``
        classes.

    Returns
    -------
    numpy.ndarray
        Increasing edges ``[0, b1, ..., max]``; class k holds values in ``(edges[k-1], edges[k]]``.
        Tied quantiles are merged, so fewer than ``n_classes`` classes may come back; ``[0.0]``
        when no value is positive.

    Raises
    ------
    InputError
        ``n_classes`` is below 1 or ``method`` is unknown.
    """
    if n_classes < 1:
        raise InputError(f"n_classes must be at least 1, got {n_classes}")
    arrays = [surfaces] if isinstance(surfaces, np.ndarray) else list(surfaces)
    pooled = np.concatenate([np.zeros(0), *(np.asarray(s, dtype=float).ravel() for s in arrays)])
    positive = pooled[np.isfinite(pooled) & (pooled > 0)]
    if positive.size == 0:
        return np.array([0.0])
    if method == "quantile":
        inner = np.quantile(positive, np.arange(1, n_classes) / n_classes)
    elif method == "head_tail":
        inner = _head_tail(positive, n_classes)
    else:
        raise InputError(f"unknown class break method {method!r}; allowed: quantile, head_tail")
    return np.unique(np.concatenate([[0.0], inner, [positive.max()]]))


def classify(surface: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Class of each value: 0 for no density, 1..len(edges)-1 by ``edges``, top class above max.

    Parameters
    ----------
    surface
        Density values, any shape.
    edges
        Edges from :func:`class_breaks`.

    Returns
    -------
    numpy.ndarray
        Integer classes, the shape of ``surface``.
    """
    values = np.asarray(surface, dtype=float)
    classes = np.searchsorted(edges, values, side="left")
    classes = np.minimum(classes, len(edges) - 1)
    return np.where(values > 0, np.maximum(classes, 1), 0)


def _head_tail(values: np.ndarray, n_classes: int) -> np.ndarray:
    breaks: list[float] = []
    head = values
    while len(breaks) < n_classes - 1 and head.size > 1:
        mean = float(head.mean())
        breaks.append(mean)
        head = head[head > mean]
        if head.size == 0 or (head.size / values.size > 0.4 and len(breaks) > 1):
            break
    return np.array(breaks)


def _checked_points(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or (weights is not None and np.shape(weights) != x.shape):
        raise InputError(
            f"x, y and weights must have the same length, got {x.shape}, {y.shape}"
            f"{'' if weights is None else ', ' + str(np.shape(weights))}"
        )
    ok = np.isfinite(x) & np.isfinite(y)
    w = None if weights is None else np.asarray(weights, dtype=float)
    if ok.all():
        return x, y, w
    return x[ok], y[ok], None if w is None else w[ok]


def _bandwidth(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray | None,
    bandwidth_m: float | None,
    kernel: str,
    floor_m: float,
) -> float:
    if bandwidth_m is not None:
        if not (math.isfinite(bandwidth_m) and bandwidth_m > 0):
            raise InputError(f"bandwidth must be a positive number of metres, got {bandwidth_m!r}")
        return float(bandwidth_m)
    # weighted: counted locations get the bandwidth of the incidents they stand for
    radius = auto_bandwidth_m(x, y, weights=w, min_bandwidth_m=floor_m)
    # Same spread as the quartic kernel of that radius.
    return radius if kernel == "quartic" else radius * QUARTIC_SD_PER_RADIUS
