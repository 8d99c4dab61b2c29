"""Kernel density surfaces on a grid, in incidents per square kilometre.

The points are binned onto the grid and the bin counts convolved (by FFT) with the kernel sampled
at whole-cell offsets, so the surface at a cell centre is exactly the sum of kernels centred on
the binned points. That is the standard "binned KDE": it costs one histogram and one FFT however
many points there are (1M points take milliseconds), where a per-point sum such as scikit-learn's
``KernelDensity`` takes minutes at 100k points. Binning moves a point at most half a cell
diagonal, which is below the bandwidths used here.

Units: the kernels integrate to 1 over square metres and the surface is multiplied by 1e6, so it
is in incidents per km^2 and integrates over the plane to the number (or summed weights) of
points.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np
from scipy.signal import fftconvolve

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
        default :func:`auto_bandwidth_m` (a quartic radius never below ``min_bandwidth_m``; for
        the Gaussian kernel the standard deviation of the same spread, ``sqrt(0.125)`` times that
        radius).
    kernel
        ``"quartic"`` (biweight, ``3/(pi h^2) (1 - d^2/h^2)^2`` within ``h``, as in CrimeStat and
        ArcGIS) or ``"gaussian"`` (cut off at 4 standard deviations).
    weights
        Optional weight per point (e.g. casualties), same shape as ``x``; the surface then sums
        weights.
    min_bandwidth_m
        Floor in metres applied to the automatic bandwidth only. police.uk snaps every incident to
        one of a fixed set of anonymous "map points" (roughly one per street segment, often
        100-300 m apart in suburbs), so a narrower kernel draws the map points rather than the
        crime; the 300 m default keeps the surface about the incidents. Use 0 for exact locations
        (fire, STATS19). An explicit ``bandwidth_m`` is honoured as given.

    Returns
    -------
    numpy.ndarray
        Density of shape ``grid.shape``, incidents per km^2 (non-negative).

    Raises
    ------
    InputError
        ``x``, ``y`` and ``weights`` differ in shape; ``kernel`` is unknown; ``bandwidth_m`` is
        not a positive number.
    """
    x, y, w = _checked_points(x, y, weights)
    if kernel not in KERNELS:
        raise InputError(f"unknown kernel {kernel!r}; allowed: {', '.join(KERNELS)}")
    h = _bandwidth(x, y, bandwidth_m, kernel, min_bandwidth_m)
    stencil = kernel_stencil(h, grid.cell_m, kernel=kernel)
    reach = stencil.shape[0] // 2
    padded = grid.padded(reach)
    binned = padded.counts(x, y, w).astype(float)
    smooth = fftconvolve(binned, stencil, mode="same")
    surface = smooth[reach : reach + grid.ny, reach : reach + grid.nx]
    # FFT round-off leaves tiny values (even negative ones) where the true density is 0.
    tolerance = 1e-12 * float(stencil.max()) * max(float(binned.sum()), 1.0)
    surface = np.where(surface < tolerance, 0.0, surface)
    return surface * _M2_PER_KM2


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


def auto_bandwidth_m(
    x: np.ndarray, y: np.ndarray, *, min_bandwidth_m: float = POLICE_UK_MIN_BANDWIDTH_M
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

    Returns
    -------
    float
        The radius in metres, at least 1 m; with fewer than 2 points ``min_bandwidth_m``, or
        1000 m when that is 0.
    """
    ok = np.isfinite(x) & np.isfinite(y)
    px, py = np.asarray(x, dtype=float)[ok], np.asarray(y, dtype=float)[ok]
    if px.size < 2:
        return float(min_bandwidth_m) if min_bandwidth_m > 0 else 1000.0
    dist = np.hypot(px - px.mean(), py - py.mean())
    sd = math.sqrt(float(np.mean(dist**2)))
    dm = float(np.median(dist))
    h = 0.9 * min(sd, math.sqrt(1.0 / math.log(2.0)) * dm) * px.size**-0.2
    return max(h, float(min_bandwidth_m), 1.0)


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
    x: np.ndarray, y: np.ndarray, bandwidth_m: float | None, kernel: str, floor_m: float
) -> float:
    if bandwidth_m is not None:
        if not (math.isfinite(bandwidth_m) and bandwidth_m > 0):
            raise InputError(f"bandwidth must be a positive number of metres, got {bandwidth_m!r}")
        return float(bandwidth_m)
    radius = auto_bandwidth_m(x, y, min_bandwidth_m=floor_m)
    # Same spread as the quartic kernel of that radius.
    return radius if kernel == "quartic" else radius * QUARTIC_SD_PER_RADIUS
