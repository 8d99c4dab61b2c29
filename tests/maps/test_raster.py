"""The PNG encoder and the BNG -> Web Mercator resampling of a classed surface."""

from __future__ import annotations

import struct
import zlib

import numpy as np
from pyproj import Transformer

from geo_service.maps.raster import encode_png, surface_overlay


def _decode(png: bytes) -> tuple[np.ndarray, bytes, bytes]:
    """Minimal independent decoder for 8-bit paletted, filter-0 PNGs: indices, PLTE, tRNS."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        data = png[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", png[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks[kind] = chunks.get(kind, b"") + data
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 3)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, width + 1)
    assert np.all(raw[:, 0] == 0)
    return raw[:, 1:], chunks[b"PLTE"], chunks[b"tRNS"]


def test_encode_png_round_trip() -> None:
    indices = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    palette = [(0, 0, 0, 0), (255, 0, 0, 200), (0, 0, 255, 255)]
    decoded, plte, trns = _decode(encode_png(indices, palette))
    assert np.array_equal(decoded, indices)
    assert plte == bytes([0, 0, 0, 255, 0, 0, 0, 0, 255]) and trns == bytes([0, 200, 255])


def test_surface_overlay_puts_cells_where_they_are() -> None:
    # 100 x 100 cells of 100 m; class 2 only in the cell whose centre is (x_hot, y_hot).
    x_m = 500_050.0 + 100.0 * np.arange(100)
    y_m = 200_050.0 + 100.0 * np.arange(100)
    classes = np.zeros((100, 100), dtype=np.uint8)
    classes[:, :50] = 1  # west half class 1
    classes[70, 20] = 2
    image = surface_overlay(classes, x_m, y_m, colours=["#ffffb2", "#bd0026"])
    decoded, _plte, _trns = _decode(image.png)
    (south, west), (north, east) = image.bounds
    height, width = decoded.shape
    merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    to_merc = Transformer.from_crs("EPSG:27700", "EPSG:3857", always_xy=True)
    (mx0, mx1), (my0, my1) = merc.transform([west, east], [south, north])
    hx, hy = to_merc.transform(x_m[20], y_m[70])
    col = int((hx - mx0) / (mx1 - mx0) * width)
    row = int((my1 - hy) / (my1 - my0) * height)
    assert decoded[row, col] == 2
    # A point well inside the east half is transparent, one well inside the west half is class 1.
    ex, ey = to_merc.transform(x_m[80], y_m[30])
    wx, wy = to_merc.transform(x_m[10], y_m[30])
    assert (
        decoded[int((my1 - ey) / (my1 - my0) * height), int((ex - mx0) / (mx1 - mx0) * width)] == 0
    )
    assert (
        decoded[int((my1 - wy) / (my1 - my0) * height), int((wx - mx0) / (mx1 - mx0) * width)] == 1
    )
    assert len(image.png) < 50_000


def test_web_mercator_formulas_agree_with_proj() -> None:
    from geo_service.maps.raster import from_mercator, to_mercator

    lon = np.array([-6.4, -2.0, 0.0, 1.76, -0.4772])
    lat = np.array([49.9, 52.5, 51.4779, 60.86, 51.7537])
    x, y = to_mercator(lon, lat)
    px, py = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform(lon, lat)
    assert np.allclose(x, px, rtol=0, atol=1e-6) and np.allclose(y, py, rtol=0, atol=1e-6)
    back_lon, back_lat = from_mercator(px, py)
    assert np.allclose(back_lon, lon, rtol=0, atol=1e-11)
    assert np.allclose(back_lat, lat, rtol=0, atol=1e-11)
