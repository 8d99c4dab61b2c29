"""Connected pieces and dilation of boolean rasters, in numpy.

The same answers as ``scipy.ndimage.label`` and ``scipy.ndimage.binary_dilation`` with a
3 x 3 structure, without importing scipy.ndimage (~0.3-0.5 s CPU, more than the work itself
on the rasters the area join and the patrol zones use: an ingest or a cold page would pay it).
"""

from __future__ import annotations

import numpy as np

#: Neighbours later in raster order: right and below (rook), and the two lower diagonals.
_ROOK_LATER = ((0, 1), (1, 0))
_DIAGONAL_LATER = ((1, -1), (1, 1))


def raster_labels(mask: np.ndarray, *, diagonal: bool) -> tuple[np.ndarray, int]:
    """Number the connected pieces of ``mask`` 1, 2, ... in raster order of their first cell.

    Parameters
    ----------
    mask
        2-D boolean array (ny, nx); True cells are grouped.
    diagonal
        Whether cells touching at a corner are connected (queen, ``scipy.ndimage.label`` with a
        3 x 3 structure) or only at an edge (rook, its default cross structure).

    Returns
    -------
    labels : numpy.ndarray
        int64 (ny, nx): the piece of each True cell, 0 elsewhere.
    count : int
        The number of pieces.

    Notes
    -----
    Union-find over the runs of True cells along the rows and the pairs of runs of adjacent
    rows that touch: a piece's smallest run is its first in raster order.
    """
    mask = np.asarray(mask, dtype=bool)
    nx = mask.shape[1]
    row, start, stop = _runs(mask)
    head, tail = _touching_runs(row, start, stop, width=nx + 2, reach=int(diagonal))
    parent = _roots(row.size, head, tail)
    root = parent == np.arange(row.size)
    number = np.cumsum(root)[parent]
    length = stop - start
    first = row * nx + start  # flat index of each run's first cell
    offset = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    labels = np.zeros(mask.shape, dtype=np.int64)
    labels.flat[np.repeat(first, length) + offset] = np.repeat(number, length)
    return labels, int(root.sum())


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, first column, column after the last) of each run of True cells along the rows,
    in raster order."""
    ny, nx = mask.shape
    framed = np.zeros((ny, nx + 2), dtype=np.int8)
    framed[:, 1:-1] = mask
    step = np.diff(framed, axis=1)  # +1 where a run starts, -1 after it ends
    row, start = np.nonzero(step == 1)
    _, stop = np.nonzero(step == -1)
    return row.astype(np.int64), start.astype(np.int64), stop.astype(np.int64)


def _touching_runs(
    row: np.ndarray, start: np.ndarray, stop: np.ndarray, *, width: int, reach: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (run, run of the row above) that share an edge, or with ``reach=1`` a corner.

    Runs of one row are disjoint and sorted, so those of the row above touching run
    ``[s, e)`` are one stretch: ends after ``s - reach`` and starts before ``e + reach``.
    Keys ``row * width + column`` (``width`` > columns + 1) order every run of a row after the
    previous row's.
    """
    above = (row - 1) * width
    lo = np.searchsorted(row * width + stop, above + start - reach, side="right")
    hi = np.searchsorted(row * width + start, above + stop + reach, side="left")
    count = np.maximum(hi - lo, 0)
    head = np.repeat(np.arange(row.size), count)
    tail = np.repeat(lo - np.cumsum(count) + count, count) + np.arange(int(count.sum()))
    return head, tail


def _roots(size: int, head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """The root (smallest member) of each node's component of the graph of edges
    ``head``-``tail``: union-find, vectorised. Each round hooks every root touching a smaller
    root onto the smallest it touches, then follows parents to their roots (pointer jumping),
    until no edge joins two roots."""
    parent = np.arange(size)
    while head.size:
        a, b = parent[head], parent[tail]
        apart = a != b
        head, tail, a, b = head[apart], tail[apart], a[apart], b[apart]
        if not head.size:
            break
        np.minimum.at(parent, np.maximum(a, b), np.minimum(a, b))
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return parent


def dilated(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one cell in all eight directions (cells beyond the edge are False).

    Parameters
    ----------
    mask
        2-D boolean array (ny, nx).

    Returns
    -------
    numpy.ndarray
        bool (ny, nx): True where ``mask`` or a cell of its 3 x 3 neighbourhood is True.
    """
    mask = np.asarray(mask, dtype=bool)
    ny, nx = mask.shape
    padded = np.pad(mask, 1)
    out = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy : dy + ny, dx : dx + nx]
    return out
