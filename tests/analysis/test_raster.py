"""Raster pieces and dilation: the same answers as scipy.ndimage, the independent reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from geo_service.analysis.raster import dilated, raster_labels

QUEEN = np.ones((3, 3), dtype=int)


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("diagonal", [False, True])
def test_pieces_are_numbered_as_scipy_ndimage_numbers_them(seed: int, diagonal: bool) -> None:
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 40, size=2))
    share = [0.0, 1.0, *rng.uniform(0.05, 0.95, size=58)][seed]
    mask = rng.random(shape) < share
    expected, count = ndimage.label(mask, structure=QUEEN if diagonal else None)
    labels, found = raster_labels(mask, diagonal=diagonal)
    assert found == count
    np.testing.assert_array_equal(labels, expected)


def test_a_serpentine_piece_is_one_piece() -> None:
    # rows joined alternately at the right and the left end: one piece 30 rows long
    mask = np.zeros((59, 12), dtype=bool)
    mask[::2] = True
    mask[1::4, -1] = True
    mask[3::4, 0] = True
    labels, count = raster_labels(mask, diagonal=False)
    assert count == 1
    assert set(np.unique(labels)) == {0, 1}


def test_corners_join_pieces_only_when_diagonal() -> None:
    mask = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=bool)
    assert raster_labels(mask, diagonal=False)[1] == 3
    labels, count = raster_labels(mask, diagonal=True)
    assert count == 1
    np.testing.assert_array_equal(labels, mask.astype(int))


@pytest.mark.parametrize("seed", range(20))
def test_dilation_is_scipy_ndimage_binary_dilation(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random(tuple(int(n) for n in rng.integers(1, 30, size=2))) < 0.1
    expected = ndimage.binary_dilation(mask, structure=QUEEN.astype(bool))
    np.testing.assert_array_equal(dilated(mask), expected)
