"""Spatial weights for Gi*: contiguity of grid cells and of areas, and distance bands.

All weights are ``scipy.sparse`` CSR arrays with sorted indices, locations in the order of the
grid's inside cells (flat index) or of the layer's rows, and no self-weights (Gi* adds them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np

from geo_service.analysis.grid import Grid, HexGrid
from geo_service.errors import InputError

if TYPE_CHECKING:
    import scipy.sparse as sp


def distance_band_weights(
    x: np.ndarray, y: np.ndarray, threshold_m: float, *, binary: bool = True
) -> sp.csr_array:
    """Neighbours within ``threshold_m`` metres (self excluded), via a KD-tree.

    Parameters
    ----------
    x, y
        Point coordinates in metres (EPSG:27700), one length ``n``.
    threshold_m
        Distance band in metres; pairs at most this far apart are neighbours.
    binary
        True (default): weight 1; False: inverse-distance weights ``1 / d`` (d in metres;
        coincident points get the weight of 1 m).

    Returns
    -------
    scipy.sparse.csr_array
        ``n`` x ``n``, symmetric, sorted indices, empty diagonal.

    Raises
    ------
    InputError
        ``threshold_m`` is not positive.
    """
    if not threshold_m > 0:
        raise InputError(f"threshold must be a positive distance in metres, got {threshold_m}")
    xy = np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])
    from scipy.spatial import cKDTree

    tree = cKDTree(xy)
    pairs = tree.query_pairs(threshold_m, output_type="ndarray")
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    distance_m = np.hypot(*(xy[i] - xy[j]).T)
    data = np.ones(i.size) if binary else 1.0 / np.maximum(distance_m, 1.0)
    return _sparse(i, j, len(xy), data=data)


def grid_weights(grid: Grid | HexGrid, *, queen: bool = True) -> sp.csr_array:
    """Binary contiguity between the grid's inside cells, in flat-index order of those cells.

    Queen (8 neighbours, default) or rook (4) adjacency of squares; the 6 neighbours of
    hexagons. Cells outside the study area are neither locations nor neighbours.

    Parameters
    ----------
    grid
        Square or hexagonal grid.
    queen
        Queen (default) or rook adjacency of squares; ignored for hexagons.

    Returns
    -------
    scipy.sparse.csr_array
        ``m`` x ``m`` for the ``m`` inside cells, binary, sorted indices, empty diagonal.
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
    return _sparse(np.concatenate(rows), np.concatenate(cols), cells.size)


def _hex_weights(grid: HexGrid) -> sp.csr_array:
    cells = np.flatnonzero(grid.inside.ravel())
    position = np.full(grid.nx * grid.ny, -1, dtype=np.int64)
    position[cells] = np.arange(cells.size)
    around = grid.neighbours()[cells]
    target = np.where(around >= 0, position[np.maximum(around, 0)], -1)
    i = np.repeat(np.arange(cells.size), 6)[target.ravel() >= 0]
    j = target.ravel()[target.ravel() >= 0]
    return _sparse(i, j, cells.size)


def contiguity_weights(layer: gpd.GeoDataFrame, *, queen: bool = True) -> sp.csr_array:
    """Binary contiguity between the areas of a layer, in row order.

    Queen: areas sharing any boundary point; rook: sharing a boundary line of positive length.
    Overlapping areas (slivers of imperfect boundaries) are neighbours either way.

    Parameters
    ----------
    layer
        Area polygons (a projected CRS, e.g. EPSG:27700).
    queen
        Queen (default) or rook contiguity.

    Returns
    -------
    scipy.sparse.csr_array
        ``n`` x ``n`` for the layer's ``n`` rows, binary, sorted indices, empty diagonal.
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
    w = _sparse(i, j, len(layer))
    w.data[:] = 1.0  # a pair both touching and overlapping is still one neighbour
    return w


def _sparse(
    i: np.ndarray, j: np.ndarray, n: int, *, data: np.ndarray | None = None
) -> sp.csr_array:
    """An ``n`` x ``n`` CSR array with ``data`` (ones by default) at ``(i, j)``, indices sorted."""
    import scipy.sparse as sp

    values = np.ones(i.size) if data is None else data
    w = sp.csr_array((values, (i, j)), shape=(n, n))
    w.sort_indices()
    return w
