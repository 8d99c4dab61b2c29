"""Area and hotspot layers as light GeoJSON: simplified in metres, lon/lat rounded, text escaped.

Full-detail ward polygons are megabytes; simplified to 20 m (finer than a screen pixel at the zoom
a district is viewed at) and rounded to 6 decimals of a degree (~0.1 m) they are a few hundred
kB at most. The same function serves the ``/api/...geojson`` exports (raw text) and the Folium
layers, whose tooltips insert property values as HTML, so there every text is escaped first.
"""

from __future__ import annotations

import hashlib
import html
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo_service.projection import to_lonlat
from geo_service.schema import CRS

#: Simplification tolerance for boundaries, metres.
SIMPLIFY_M = 20.0
#: Decimal places kept in lon/lat.
DECIMALS = 6


def light_geojson(
    layer: gpd.GeoDataFrame,
    *,
    properties: Sequence[str] | None = None,
    tolerance_m: float = SIMPLIFY_M,
    decimals: int = DECIMALS,
    escape_html: bool = False,
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (EPSG:4326) of ``layer``, simplified and rounded.

    Parameters
    ----------
    layer
        Polygons, lines or points in EPSG:27700 (or any CRS; it is reprojected first).
    properties
        Columns copied into each feature's properties; all non-geometry columns when None.
    tolerance_m
        Douglas-Peucker tolerance in metres (topology preserved); 0 keeps every vertex.
    decimals
        Decimal places kept in the output coordinates.
    escape_html
        Escape every text value for insertion into HTML (tooltips, popups).
    """
    projected = layer.to_crs(CRS) if layer.crs is not None and layer.crs != CRS else layer
    shapes = _light_geometries(projected.geometry.to_numpy(), tolerance_m, decimals)
    columns = list(properties) if properties is not None else _columns(projected)
    records = projected[columns].to_dict(orient="records") if columns else [{}] * len(projected)
    features = [
        {
            "type": "Feature",
            "properties": {k: _clean(v, escape_html) for k, v in record.items()},
            "geometry": None if shape is None else dict(shape),
        }
        for record, shape in zip(records, shapes, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


#: Simplified lon/lat geometries of the layers drawn lately (a page draws its area layer as
#: counts, rate, change and outlines: the same shapes each time), by digest of their WKB.
_LIGHT: OrderedDict[tuple[str, float, int], list[dict[str, Any] | None]] = OrderedDict()
#: Layers whose light geometries are kept.
_LIGHT_KEPT = 8


def _light_geometries(
    geoms: np.ndarray, tolerance_m: float, decimals: int
) -> list[dict[str, Any] | None]:
    """GeoJSON geometries of ``geoms`` (EPSG:27700) simplified, in lon/lat and rounded; the
    same shapes asked again are answered from :data:`_LIGHT` (hashing the WKB costs a few
    ms where simplifying and projecting a district's wards costs ~30)."""
    digest = hashlib.sha256()
    for blob in shapely.to_wkb(geoms):
        digest.update(b"-" if blob is None else blob)
    key = (digest.hexdigest(), float(tolerance_m), int(decimals))
    found = _LIGHT.get(key)
    if found is None:
        if tolerance_m > 0:
            geoms = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
        # the process's one transformer to lon/lat (geopandas' to_crs would search PROJ's
        # database again for each layer)
        lonlat = to_lonlat(geoms)
        rounded = shapely.set_precision(lonlat, 10.0**-decimals, mode="pointwise")
        found = [None if g is None else shapely.geometry.mapping(g) for g in rounded]
        _LIGHT[key] = found
        while len(_LIGHT) > _LIGHT_KEPT:
            _LIGHT.popitem(last=False)
    return found


def _columns(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c != frame.geometry.name]


def _clean(value: object, escape_html: bool) -> object:
    """A JSON-ready property value: missing -> None, numpy scalars -> Python, text escaped."""
    if value is None:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (int, float, bool)):
        return value
    try:
        if value != value:  # pd.NA and NaN compare unequal to themselves
            return None
    except TypeError:
        return None
    text = str(value)
    return html.escape(text) if escape_html else text


def dissolve_cells(
    cells: gpd.GeoDataFrame, *, by: str, total: str | None = None
) -> gpd.GeoDataFrame:
    """Touching grid cells of equal ``by`` merged into one polygon each (``total`` summed).

    Thousands of hot cells drawn as squares are most of a page's weight; merged, they are a
    handful of outlines with the same look and their summed counts.
    """
    rows: list[dict[str, Any]] = []
    for value, group in cells.groupby(by, sort=True):
        merged = shapely.union_all(group.geometry.to_numpy())
        parts = shapely.get_parts(merged)
        centres = shapely.point_on_surface(group.geometry.to_numpy())
        tree = shapely.STRtree(parts)
        # query() answers (index into centres, index into parts): each cell's centre -> its part.
        cell_of, part_of = tree.query(centres, predicate="within")
        for k, part in enumerate(parts):
            row: dict[str, Any] = {by: value, "geometry": part}
            if total is not None:
                row[total] = int(group[total].to_numpy()[cell_of[part_of == k]].sum())
            rows.append(row)
    columns = [by, *([total] if total else []), "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=cells.crs)
