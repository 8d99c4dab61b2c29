"""Hotspot methods for the backtest: what is known at an origin month and the scores built on it.

A method is any function from a :class:`History` (the located incidents up to the origin month)
to a score per grid cell. :func:`default_methods` gives kernel density at several bandwidths
(:mod:`.kde`), the naive baselines (last month's and last 12 months' counts per cell),
prospective hotspotting and Gi* hot cells (:mod:`.gistar`). :mod:`.evaluation` ranks cells by
these scores and counts the incidents that follow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from geo_service.analysis.gistar import gi_star
from geo_service.analysis.grid import Grid
from geo_service.analysis.kde import kde_surface
from geo_service.analysis.weights import grid_weights

if TYPE_CHECKING:
    import scipy.sparse as sp


@dataclass(frozen=True, eq=False)
class History:
    """What is known at an origin month: located incidents of every month up to it.

    Parameters
    ----------
    grid
        The square grid the methods score.
    months
        Months ``"YYYY-MM"`` from the first held to the origin, oldest first.
    monthly_counts
        Incidents per month and cell, shape ``(len(months), ny, nx)``; ``monthly_counts[i]``
        counts month ``months[i]``.
    x, y
        Located incidents in EPSG:27700 metres, including those off the grid.
    month_index
        Index into ``months`` of each incident.
    weights
        Incidents each point stands for (counted cells of the grid cube), same shape as ``x``;
        None: one each.
    """

    grid: Grid
    months: tuple[str, ...]
    monthly_counts: np.ndarray
    x: np.ndarray
    y: np.ndarray
    month_index: np.ndarray
    weights: np.ndarray | None = None

    @property
    def origin(self) -> str:
        """The last month known."""
        return self.months[-1]

    def recent(self, months: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``x``, ``y`` and lag in months (0 = origin month) of incidents of the last ``months``.

        Parameters
        ----------
        months
            Number of months up to and including the origin.

        Returns
        -------
        tuple of numpy.ndarray
            ``(x, y, lag)``, one element per incident kept.
        """
        keep = self.month_index >= len(self.months) - months
        lag = len(self.months) - 1 - self.month_index[keep]
        return self.x[keep], self.y[keep], lag

    def recent_weights(self, months: int) -> np.ndarray | None:
        """:attr:`weights` of the points :meth:`recent` gives (None: one incident each)."""
        if self.weights is None:
            return None
        return self.weights[self.month_index >= len(self.months) - months]


#: A hotspot method: a score per grid cell (shape ``grid.shape``) from what is known at an origin.
Method = Callable[[History], np.ndarray]


def kde_method(*, bandwidth_m: float, kernel: str = "quartic", months: int = 12) -> Method:
    """Kernel density of the last ``months`` months' incidents (see :func:`.kde.kde_surface`).

    Parameters
    ----------
    bandwidth_m
        Kernel radius (quartic) or standard deviation (Gaussian) in metres.
    kernel
        ``"quartic"`` (default) or ``"gaussian"``.
    months
        Months of history used, up to and including the origin (default 12).

    Returns
    -------
    Method
        Scores in incidents per km^2, shape ``grid.shape``.
    """

    def score(history: History) -> np.ndarray:
        x, y, _ = history.recent(months)
        return kde_surface(
            x, y, history.grid, bandwidth_m=bandwidth_m, kernel=kernel,
            weights=history.recent_weights(months),
        )  # fmt: skip

    return score


def recent_counts_method(*, months: int = 1) -> Method:
    """Naive baseline: each cell's count over the last ``months`` months.

    Parameters
    ----------
    months
        Months up to and including the origin (default 1: the origin month).

    Returns
    -------
    Method
        Scores (incident counts as float), shape ``grid.shape``.
    """

    def score(history: History) -> np.ndarray:
        return np.asarray(history.monthly_counts[-months:].sum(axis=0), dtype=float)

    return score


def prospective_method(*, radius_m: float = 400.0, window_months: int = 2) -> Method:
    """Prospective hotspotting (Bowers, Johnson and Pease 2004).

    Each incident of the last ``window_months`` months adds ``1 / (1 + d) * 1 / (1 + lag)`` to
    every cell whose centre is within ``radius_m`` of the incident's cell, where ``d`` is the
    distance in cells and ``lag`` the age in months (0 for the origin month). The original uses
    weeks and 8 weeks; police.uk dates are monthly, so 2 months of month lags stand in for them.
    Computed as one FFT convolution of the lag-weighted counts with the distance kernel.

    Parameters
    ----------
    radius_m
        Reach of an incident in metres, between cell centres (default 400).
    window_months
        Months of history used, up to and including the origin (default 2).

    Returns
    -------
    Method
        Scores (non-negative, rounded to 9 decimals), shape ``grid.shape``.
    """

    def score(history: History) -> np.ndarray:
        grid = history.grid
        reach = math.floor(radius_m / grid.cell_m)
        offsets = np.arange(-reach, reach + 1)
        distance = np.hypot(*np.meshgrid(offsets, offsets))
        stencil = np.where(distance * grid.cell_m <= radius_m, 1.0 / (1.0 + distance), 0.0)
        padded = grid.padded(reach)
        x, y, lag = history.recent(window_months)
        counts = history.recent_weights(window_months)
        by_lag = 1.0 / (1.0 + lag.astype(float))
        weighted = padded.counts(x, y, weights=by_lag if counts is None else by_lag * counts)
        from scipy.signal import fftconvolve

        smooth = fftconvolve(weighted, stencil, mode="same")
        smooth = smooth[reach : reach + grid.ny, reach : reach + grid.nx]
        # FFT round-off would otherwise break ties between cells that should score exactly 0.
        return np.where(smooth < 1e-9, 0.0, np.round(smooth, 9))

    return score


def gistar_method(*, months: int = 12, queen: bool = True) -> Method:
    """Getis-Ord Gi* hot cells of the last ``months`` months' counts (see :mod:`.gistar`).

    The score is the hot-spot bin (3/2/1 for 99/95/90 % confidence, analytical p-values with
    Benjamini-Hochberg FDR; 0 elsewhere), so the map is the hot cells as a Gi* map shows them and
    cells within a bin are tied.

    Parameters
    ----------
    months
        Months of counts summed, up to and including the origin (default 12).
    queen
        Queen (default) or rook contiguity between inside cells.

    Returns
    -------
    Method
        Scores 0..3, shape ``grid.shape`` (0 outside the study area and for cold spots).
    """

    # The weights depend only on the grid: build them once per grid, not once per origin.

    weights_for: dict[int, tuple[Grid, sp.csr_array]] = {}

    def score(history: History) -> np.ndarray:
        grid = history.grid
        if id(grid) not in weights_for or weights_for[id(grid)][0] is not grid:
            weights_for.clear()
            weights_for[id(grid)] = (grid, grid_weights(grid, queen=queen))
        counts = history.monthly_counts[-months:].sum(axis=0)
        inside = grid.inside.ravel()
        weights = weights_for[id(grid)][1]
        result = gi_star(counts.ravel()[inside].astype(float), weights, permutations=0)
        flat = np.zeros(grid.nx * grid.ny)
        flat[inside] = np.maximum(result.bins, 0)
        return flat.reshape(grid.shape)

    return score


def default_bandwidths_m(cell_m: float) -> tuple[float, ...]:
    """Three KDE bandwidths from 250, 500, 1000, 2000, 4000 m, none below the cell size.

    Parameters
    ----------
    cell_m
        Grid cell size in metres.

    Returns
    -------
    tuple of float
        The first three usable bandwidths in metres (fewer above 1000 m cells); ``(cell_m,)``
        when none is usable.
    """
    usable = [b for b in (250.0, 500.0, 1000.0, 2000.0, 4000.0) if b >= cell_m]
    return tuple(usable[:3]) or (float(cell_m),)


def default_methods(
    *, cell_m: float = 100.0, bandwidths_m: Sequence[float] | None = None
) -> dict[str, Method]:
    """KDE (quartic, last 12 months) at each bandwidth, the naive baselines, prospective, Gi*.

    Parameters
    ----------
    cell_m
        Grid cell size in metres (default 100), for the default bandwidths.
    bandwidths_m
        KDE bandwidths in metres; default :func:`default_bandwidths_m` of ``cell_m``.

    Returns
    -------
    dict
        Name -> method: ``"kde-<b>m"`` per bandwidth, ``"previous-month"``,
        ``"previous-12-months"``, ``"prospective"`` (400 m, 2 months) and ``"gistar"``
        (12 months).
    """
    chosen = default_bandwidths_m(cell_m) if bandwidths_m is None else tuple(bandwidths_m)
    methods: dict[str, Method] = {f"kde-{b:g}m": kde_method(bandwidth_m=float(b)) for b in chosen}
    methods["previous-month"] = recent_counts_method(months=1)
    methods["previous-12-months"] = recent_counts_method(months=12)
    methods["prospective"] = prospective_method()
    methods["gistar"] = gistar_method()
    return methods
