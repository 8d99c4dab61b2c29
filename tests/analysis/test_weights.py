"""Tests for the spatial weights: grid contiguity (queen, rook, hexagons), distance bands
(against a brute-force distance matrix) and area contiguity."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
from shapely.geometry import box

from geo_service.analysis.gistar import gi_star_grid
from geo_service.analysis.grid import grid_for, hex_grid_for
from geo_service.analysis.weights import contiguity_weights, distance_band_weights, grid_weights
from geo_service.schema import CRS


def test_weights_builders() -> None:
    grid = grid_for(box(0, 0, 400, 300), cell_m=100)  # 3 rows x 4 columns, all inside
    queen = grid_weights(grid)
    rook = grid_weights(grid, queen=False)
    degree = np.asarray(queen.sum(axis=1)).ravel().reshape(3, 4)
    np.testing.assert_array_equal(degree, [[3, 5, 5, 3], [5, 8, 8, 5], [3, 5, 5, 3]])
    np.testing.assert_array_equal(
        np.asarray(rook.sum(axis=1)).ravel().reshape(3, 4),
        [[2, 3, 3, 2], [3, 4, 4, 3], [2, 3, 3, 2]],
    )
    assert (queen != queen.T).nnz == 0
    rng = np.random.default_rng(8)
    x, y = rng.uniform(0, 1000, 200), rng.uniform(0, 1000, 200)
    band = distance_band_weights(x, y, 150).toarray()
    d = np.hypot(x[:, None] - x[None], y[:, None] - y[None])
    np.testing.assert_array_equal(band, ((d <= 150) & (d > 0)).astype(float))
    inverse = distance_band_weights(x, y, 150, binary=False).toarray()
    np.testing.assert_allclose(inverse[band > 0], 1 / d[band > 0])
    squares = gpd.GeoDataFrame(
        {"code": list("ABCD")},
        geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 1, 2), box(1, 1, 2, 2)],
        crs=CRS,
    )
    np.testing.assert_array_equal(contiguity_weights(squares).toarray(), 1 - np.eye(4))
    np.testing.assert_array_equal(
        contiguity_weights(squares, queen=False).toarray(),
        [[0, 1, 1, 0], [1, 0, 0, 1], [1, 0, 0, 1], [0, 1, 1, 0]],
    )


def test_hexagon_weights_link_the_six_neighbours() -> None:
    hexes = hex_grid_for(box(0, 0, 1000, 1000), cell_m=100)
    weights = grid_weights(hexes)
    assert weights.shape[0] == hexes.inside.sum()
    assert (weights != weights.T).nnz == 0
    assert np.asarray(weights.sum(axis=1)).max() == 6
    xc, yc = (c.ravel()[hexes.inside.ravel()] for c in hexes.centres())
    i, j = weights.nonzero()
    np.testing.assert_allclose(np.hypot(xc[i] - xc[j], yc[i] - yc[j]), 100.0)
    frame = gi_star_grid(hexes, np.ones(hexes.shape), permutations=0)
    assert len(frame) == hexes.inside.sum()
