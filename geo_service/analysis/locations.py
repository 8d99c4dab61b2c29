"""Coincident points merged into distinct locations, in one order however the points come.

police.uk snaps every incident to one of a fixed set of anonymous map points, so a month of a
district's crime (thousands of incidents) lies on a few hundred distinct locations, and a store's
density cube (:mod:`geo_service.store.grid_cube`) hands the same incidents over as counted
locations. DBSCAN runs once per distinct location, weighted by the incidents there: cheaper,
and, with the locations sorted, the same array in the same order from the rows and from the
cube, so the same clusters (it gives a border location to the first cluster reaching it).
"""

from __future__ import annotations

import numpy as np


def distinct_locations(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct ``(x, y)`` pairs sorted by x then y, each point's index among them, and
    the points (or the sum of their ``weights``) at each.

    Parameters
    ----------
    x, y
        Finite coordinates (EPSG:27700 metres), 1-D, one length ``n``.
    weights
        Weight per point (shape ``(n,)``); None: one each.

    Returns
    -------
    xy : numpy.ndarray
        float64, shape ``(k, 2)``: the distinct locations, sorted by x then y.
    inverse : numpy.ndarray
        int64, shape ``(n,)``: the row of ``xy`` holding each point.
    totals : numpy.ndarray
        Shape ``(k,)``: int64 points per location, or float64 summed ``weights`` (summed in the
        points' order within a location).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    order = _sorted_order(x, y)
    xs, ys = x[order], y[order]
    first = np.ones(len(xs), dtype=bool)  # the first point of each location, in sorted order
    np.not_equal(xs[1:], xs[:-1], out=first[1:])
    first[1:] |= ys[1:] != ys[:-1]
    starts = np.flatnonzero(first)
    inverse = np.empty(len(xs), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    if weights is None:
        totals = np.diff(np.append(starts, len(xs)))
    elif len(xs):
        totals = np.add.reduceat(np.asarray(weights, dtype=float)[order], starts)
    else:
        totals = np.zeros(0)
    return np.column_stack([xs[starts], ys[starts]]), inverse, totals


def _sorted_order(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The stable order sorting the points by x then y: one sort of x when no two x are equal
    (unsnapped points), else both keys (a sort of two keys costs about four of one)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    if len(xs) > 1 and bool((xs[1:] == xs[:-1]).any()):
        return np.lexsort((y, x))
    return order
