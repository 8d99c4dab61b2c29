"""Transforming coordinates to British National Grid (EPSG:27700).

PROJ picks the most accurate transformation whose grids it can find. The OS OSTN15 grid
(``uk_os_OSTN15_NTv2_OSGBtoETRS.tif``, ~0.1 m) is used when it is in PROJ's data directory
(``PROJ_DATA``; PROJ is never allowed to download it at run time); without it PROJ falls back to a
Helmert transformation accurate to a few metres, which is below police.uk's own location
snapping. :func:`transformation_used` names the one in force so it can be recorded with the data.
"""

from __future__ import annotations

import threading
import warnings
from functools import lru_cache

import numpy as np
import pyproj
import shapely
from pyproj import Transformer
from pyproj.transformer import TransformerGroup

from geo_service.schema import CRS

_CREATING = threading.Lock()


@lru_cache(maxsize=16)
def _best_operation(source_crs: str) -> tuple[str, str]:
    """PROJ pipeline and description of the most accurate transformation whose grids are present."""
    # catch_warnings swaps process-wide filters, so threads take turns here.
    with _CREATING, warnings.catch_warnings():
        # PROJ warns that OSTN15 is missing when it is; the fallback is recorded, not an error.
        warnings.simplefilter("ignore", UserWarning)
        group = TransformerGroup(
            pyproj.CRS.from_user_input(source_crs), pyproj.CRS.from_user_input(CRS), always_xy=True
        )
    best = group.transformers[0]
    return str(best.definition), f"{best.description} (stated accuracy {best.accuracy} m)"


@lru_cache(maxsize=16)
def _transformer(source_crs: str) -> Transformer:
    """A transformer for the best operation, safe to share between threads.

    Loaders project files in parallel threads. TransformerGroup members are not thread-safe;
    a transformer built from the same pipeline is (pyproj gives each thread its own PROJ object).
    """
    return Transformer.from_pipeline(_best_operation(source_crs)[0])


def to_bng(
    x: np.ndarray, y: np.ndarray, *, source_crs: str = "EPSG:4326"
) -> tuple[np.ndarray, np.ndarray]:
    """Transform coordinate arrays (lon/lat for EPSG:4326) to EPSG:27700 eastings/northings."""
    if pyproj.CRS.from_user_input(source_crs) == pyproj.CRS.from_user_input(CRS):
        return np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    easting, northing = _transformer(source_crs).transform(
        np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    )
    return np.asarray(easting), np.asarray(northing)


def from_bng(
    easting: np.ndarray, northing: np.ndarray, *, target_crs: str = "EPSG:4326"
) -> tuple[np.ndarray, np.ndarray]:
    """Transform EPSG:27700 coordinate arrays to ``target_crs`` (lon/lat for EPSG:4326)."""
    x, y = transformer(CRS, target_crs).transform(
        np.asarray(easting, dtype=float), np.asarray(northing, dtype=float)
    )
    return np.asarray(x), np.asarray(y)


@lru_cache(maxsize=8)
def transformer(source: str, target: str) -> Transformer:
    """The always-xy transformer from ``source`` to ``target``, made once per process.

    Each ``Transformer.from_crs`` costs ~0.03 s CPU (a PROJ database search), and one page
    draws a dozen layers and overlays; pyproj's transformers are thread-safe since 3.1.
    """
    return Transformer.from_crs(source, target, always_xy=True)


def to_lonlat(geometries: np.ndarray) -> np.ndarray:
    """Shapely geometries in EPSG:27700 moved to lon/lat (EPSG:4326) with :func:`transformer`.

    What ``GeoSeries.to_crs("EPSG:4326")`` gives, without making a transformer per call.

    Parameters
    ----------
    geometries
        Array of shapely geometries (None allowed), EPSG:27700 metres.

    Returns
    -------
    numpy.ndarray
        The same shapes in lon/lat degrees; None stays None.
    """

    def move(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lon, lat = transformer(CRS, "EPSG:4326").transform(x, y)
        return np.asarray(lon), np.asarray(lat)

    return shapely.transform(np.asarray(geometries, dtype=object), move, interleaved=False)


def transformation_used(source_crs: str = "EPSG:4326") -> str:
    """Description of the transformation PROJ uses from ``source_crs`` to EPSG:27700."""
    return _best_operation(source_crs)[1]
