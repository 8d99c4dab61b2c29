"""A density surface as one small PNG image for a Leaflet image overlay.

The surface arrives as a grid of values in British National Grid metres. Leaflet stretches an
image between two lon/lat corners in Web Mercator, and the BNG grid is rotated against it by up
to a couple of degrees in England (hundreds of metres across a district), so the grid is resampled
(nearest cell) onto a Web Mercator-aligned pixel grid before encoding. Values are classed by fixed
breaks into a palette, so the image is a paletted PNG with a transparent lowest class: tens of kB
where the raw points would be megabytes. The encoder is a few lines of :mod:`zlib` and
:mod:`struct`, so no imaging library is needed.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from geo_service.projection import transformer
from geo_service.schema import CRS

_MAX_PIXELS = 640


@dataclass(frozen=True)
class OverlayImage:
    """A PNG and the lon/lat bounds it covers: ``((south, west), (north, east))``."""

    png: bytes
    bounds: tuple[tuple[float, float], tuple[float, float]]


def encode_png(indices: np.ndarray, palette: Sequence[tuple[int, int, int, int]]) -> bytes:
    """A paletted PNG of ``indices`` (rows top to bottom), colours and alphas from ``palette``.

    Parameters
    ----------
    indices
        2-D array of palette indices (0 .. len(palette) - 1), first row drawn at the top.
    palette
        RGBA tuples, 0-255 each.
    """
    rows = np.ascontiguousarray(indices, dtype=np.uint8)
    height, width = rows.shape
    raw = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 (None) per row
    raw[:, 1:] = rows
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    plte = b"".join(bytes(c[:3]) for c in palette)
    trns = bytes(c[3] for c in palette)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", plte)
        + _chunk(b"tRNS", trns)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def surface_overlay(
    classes: np.ndarray,
    x_m: np.ndarray,
    y_m: np.ndarray,
    *,
    colours: Sequence[str],
    max_pixels: int = _MAX_PIXELS,
) -> OverlayImage:
    """A Web Mercator-aligned PNG of a classed BNG grid surface.

    Parameters
    ----------
    classes
        Class of each cell, shape ``(len(y_m), len(x_m))``; row i is at northing ``y_m[i]``.
        Class 0 is transparent, class k is drawn in ``colours[k - 1]``.
    x_m, y_m
        Ascending cell-centre eastings and northings, equally spaced.
    colours
        ``#rrggbb`` colour of each class from 1.
    """
    cell_x = float(x_m[1] - x_m[0]) if len(x_m) > 1 else 1.0
    cell_y = float(y_m[1] - y_m[0]) if len(y_m) > 1 else 1.0
    west, south, east, north = _lonlat_bounds(x_m, y_m, cell_x, cell_y)
    width, height = _pixel_size(east - west, north - south, len(x_m), len(y_m), max_pixels)
    (mx0, mx1), (my0, my1) = to_mercator(np.array([west, east]), np.array([south, north]))
    px = np.linspace(mx0, mx1, width + 1)[:-1] + (mx1 - mx0) / width / 2
    py = np.linspace(my1, my0, height + 1)[:-1] - (my1 - my0) / height / 2
    gx, gy = np.meshgrid(px, py)
    # back to BNG through lon/lat with the one BNG <-> lon/lat transformer of the process,
    # run in reverse (each transformer made costs ~0.03 s CPU of a cold page)
    lon, lat = from_mercator(gx, gy)
    ex, ny = transformer(CRS, "EPSG:4326").transform(lon, lat, direction="INVERSE")
    col = np.floor((ex - (x_m[0] - cell_x / 2)) / cell_x).astype(int)
    row = np.floor((ny - (y_m[0] - cell_y / 2)) / cell_y).astype(int)
    inside = (col >= 0) & (col < len(x_m)) & (row >= 0) & (row < len(y_m))
    sampled = np.zeros(gx.shape, dtype=np.uint8)
    sampled[inside] = np.asarray(classes, dtype=np.uint8)[row[inside], col[inside]]
    palette = [(0, 0, 0, 0), *(_rgba(c) for c in colours)]
    return OverlayImage(png=encode_png(sampled, palette), bounds=((south, west), (north, east)))


#: Radius of the sphere Web Mercator (EPSG:3857) projects onto, metres (the WGS 84 semi-major
#: axis; EPSG:3857's "Popular Visualisation Pseudo-Mercator" method).
MERCATOR_RADIUS_M = 6378137.0


def to_mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator (EPSG:3857) metres of lon/lat degrees: ``x = R lon``,
    ``y = R ln tan(pi/4 + lat/2)`` (IOGP Guidance Note 7-2, method 1024), as PROJ computes it."""
    lam, phi = np.radians(lon), np.radians(lat)
    return MERCATOR_RADIUS_M * lam, MERCATOR_RADIUS_M * np.log(np.tan(np.pi / 4 + phi / 2))


def from_mercator(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lon/lat degrees of Web Mercator (EPSG:3857) metres: the inverse of :func:`to_mercator`."""
    lon = np.degrees(np.asarray(x) / MERCATOR_RADIUS_M)
    lat = np.degrees(2 * np.arctan(np.exp(np.asarray(y) / MERCATOR_RADIUS_M)) - np.pi / 2)
    return lon, lat


def _lonlat_bounds(
    x_m: np.ndarray, y_m: np.ndarray, cell_x: float, cell_y: float
) -> tuple[float, float, float, float]:
    xs = np.array([x_m[0] - cell_x / 2, x_m[-1] + cell_x / 2])
    ys = np.array([y_m[0] - cell_y / 2, y_m[-1] + cell_y / 2])
    cx, cy = np.meshgrid(np.linspace(xs[0], xs[1], 9), np.linspace(ys[0], ys[1], 9))
    lon, lat = transformer(CRS, "EPSG:4326").transform(cx, cy)
    return float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())


def _pixel_size(dlon: float, dlat: float, nx: int, ny: int, max_pixels: int) -> tuple[int, int]:
    # About one pixel per grid cell, capped so the image stays a few tens of kB.
    aspect = dlon / dlat * np.cos(np.radians(52.0)) if dlat > 0 else 1.0
    longest = int(min(max(nx, ny) * 1.5, max_pixels))
    if aspect >= 1:
        return max(longest, 1), max(round(longest / aspect), 1)
    return max(round(longest * aspect), 1), max(longest, 1)


def _rgba(colour: str) -> tuple[int, int, int, int]:
    text = colour.lstrip("#")
    return int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16), 200
