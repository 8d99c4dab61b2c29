"""Coincident points merged into distinct locations, in one order however the points come.

police.uk snaps every incident to one of a fixed set of anonymous map points, so a month of a
district's crime (thousands of incidents) lies on a few hundred distinct locations, and a store's
density cube (:mod:`geo_service.store.grid_cube`) hands the same incidents over as counted
locations. Methods that sum or visit the points (kernel density, DBSCAN) run once per distinct
location, weighted by the incidents there: cheaper, and, with the locations sorted, the same
array in the same order from the rows and from the cube, so the same result to the last bit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


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
        Shape ``(k,)``: int64 points per location, or float64 summed ``weights``.
    """
    # A complex number is an exact, hashable key for an (x, y) pair; hashing beats sorting.
    inverse, unique = pd.factorize(np.asarray(x, dtype=float) + 1j * np.asarray(y, dtype=float))
    order = np.lexsort((unique.imag, unique.real))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    inverse = rank[inverse]
    unique = unique[order]
    if weights is None:
        totals = np.bincount(inverse, minlength=len(unique))
    else:
        totals = np.bincount(
            inverse, weights=np.asarray(weights, dtype=float), minlength=len(unique)
        )
    return np.column_stack([unique.real, unique.imag]), inverse, totals
