"""Do a layer's coordinates fit its CRS? Checked before anything is projected or repaired.

A CRS stated wrongly (or not at all) does not make a file unreadable: it makes the areas land
somewhere else. British National Grid metres read as degrees (a GeoJSON without a ``crs`` member)
project to nothing and the ward is then blamed as "an invalid polygon"; degrees read as metres
make specks of a few square metres at the grid's false origin, and every incident falls "outside
every area". So the coordinates are checked against the CRS they are read in:

1. degrees must lie within ±180 / ±90;
2. a CRS in metres whose coordinates all lie within ±180 / ±90 holds degrees (the areas would be
   specks near the grid's origin, which for every grid used here is at sea);
3. every feature must lie in Great Britain or Northern Ireland (the union of the areas of use of
   British National Grid and Irish Grid) and in the CRS's own area of use;
4. after projection (:func:`check_areas`): the median area must not be a speck (below
   :data:`SPECK_M2`) and the areas together not larger than the UK.

The refusal names the CRS, where it came from and the coordinates' range, and suggests the CRS the
coordinates fit (:func:`likely_crs`: British National Grid, Irish Grid, Irish Transverse Mercator,
WGS84 longitude/latitude, Web Mercator).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pyproj

from geo_service.errors import InputError

#: Longitude/latitude box of Great Britain and Northern Ireland: the union of the areas of use of
#: EPSG:27700 (-9.01..2.01, 49.75..61.01) and EPSG:29903 (-10.56..-5.34, 51.39..55.43).
GB_NI_LONLAT: tuple[float, float, float, float] = (-10.56, 49.75, 2.01, 61.01)

#: A layer whose median area is below this (m²) is specks, not areas (a parking bay is ~12 m²):
#: wards or LSOAs whose metres are really kilometres, degrees read as metres.
SPECK_M2 = 10.0

#: More than this in total (m²) is larger than the UK (about 243,000 km²) with a wide margin.
LARGEST_M2 = 350_000e6

#: CRSs a British or Northern Irish boundary file is likely to be in, with how to name them.
CANDIDATES: tuple[tuple[str, str], ...] = (
    ("EPSG:27700", "British National Grid metres"),
    ("EPSG:29903", "Irish Grid metres"),
    ("EPSG:2157", "Irish Transverse Mercator metres"),
    ("EPSG:4326", "longitude/latitude degrees (WGS84)"),
    ("EPSG:3857", "Web Mercator metres"),
)

_MARGIN_DEG = 0.05  # tolerance on the boxes above, in degrees
_EXAMPLES = 5  # how many features outside a message names


def check_coordinates(
    bounds: np.ndarray,
    crs: pyproj.CRS,
    *,
    path: str,
    origin: str,
    given: bool,
    codes: Sequence[str],
) -> None:
    """Refuse coordinates that cannot be in ``crs``, suggesting the CRS they fit.

    Parameters
    ----------
    bounds
        Per feature ``(minx, miny, maxx, maxy)`` in the file's units (``shapely.bounds``).
    crs
        The CRS the coordinates are read in.
    path
        The file, for messages.
    origin
        Where ``crs`` came from ("stated by the file", "given with --crs", ...).
    given
        True when ``crs`` came from ``--crs`` (the suggestion then says "use", not "add").
    codes
        Area code of each feature, for messages.
    """
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 4)
    problem = _problem(bounds, crs, codes)
    if problem is None:
        return
    name = _crs_name(crs)
    where = f"{_ranges(bounds)} read as {name} ({origin})"
    likely = [c for c in likely_crs(bounds) if pyproj.CRS.from_user_input(c[0]) != crs]
    advice = (
        describe_likely(likely, given=given)
        if likely
        else f"if the coordinates are not {name}, give their CRS with --crs"
    )
    raise InputError(f"{path}: {where}: {problem}; {advice}")


def likely_crs(bounds: np.ndarray) -> list[tuple[str, str]]:
    """The :data:`CANDIDATES` (code, description) that the coordinates fit, best first."""
    bounds = np.asarray(bounds, dtype=float).reshape(-1, 4)
    if not np.isfinite(bounds).all():
        return []
    no_codes = [""] * len(bounds)
    return [
        (code, text) for code, text in CANDIDATES if _problem(bounds, _crs(code), no_codes) is None
    ]


def describe_likely(likely: Sequence[tuple[str, str]], *, given: bool) -> str:
    """The advice, e.g. ``coordinates look like British National Grid metres; add --crs ...``."""
    verb = "use" if given else "add"
    if len(likely) == 1:
        code, text = likely[0]
        return f"coordinates look like {text}; {verb} --crs {code}"
    options = " or ".join(f"{text} (--crs {code})" for code, text in likely)
    return f"coordinates look like {options}; {verb} the right one"


def check_areas(
    area_m2: np.ndarray, crs: pyproj.CRS, *, path: str, origin: str, given: bool
) -> None:
    """Refuse a layer of specks or one larger than the UK once projected (areas in m²)."""
    area_m2 = np.asarray(area_m2, dtype=float)
    median, total = float(np.median(area_m2)), float(area_m2.sum())
    name = _crs_name(crs)
    verb = "use" if given else "add"
    if median < SPECK_M2:
        raise InputError(
            f"{path}: read as {name} ({origin}) the areas are specks (median {median:.3g} m², "
            f"expected at least {SPECK_M2:.0f} m²): the coordinates are not {name}; are they "
            f"in another unit or CRS? {verb} --crs with the right one"
        )
    if total > LARGEST_M2:
        raise InputError(
            f"{path}: read as {name} ({origin}) the areas add up to {total / 1e6:,.0f} km², "
            "more than the whole UK (about 243,000 km²): the coordinates are not "
            f"{name}; {verb} --crs with the right one"
        )


# ----------------------------------------------------------------------------------- rules
def _problem(bounds: np.ndarray, crs: pyproj.CRS, codes: Sequence[str]) -> str | None:
    """What is wrong with ``bounds`` in ``crs`` (rules 1-3 of the module docstring), or None."""
    if not np.isfinite(bounds).all():
        bad = np.flatnonzero(~np.isfinite(bounds).all(axis=1))
        return f"feature(s) {_features(bad, codes)} have coordinates that are not finite numbers"
    degree_sized = bool(
        (np.abs(bounds[:, [0, 2]]) <= 180).all() and (np.abs(bounds[:, [1, 3]]) <= 90).all()
    )
    if crs.is_geographic and not degree_sized:
        return "these cannot be longitude/latitude degrees (beyond ±180/±90)"
    if not crs.is_geographic and degree_sized:
        return (
            "these are longitude/latitude-sized numbers, not metres: as metres they would make "
            "specks of a few square metres at the grid's origin"
        )
    outside = _outside(bounds, crs)
    if outside.any():
        return (
            f"{int(outside.sum())} of {len(bounds)} feature(s) lie outside Great Britain and "
            f"Northern Ireland{_area_of_use_text(crs)}: {_features(np.flatnonzero(outside), codes)}"
        )
    return None


def _outside(bounds: np.ndarray, crs: pyproj.CRS) -> np.ndarray:
    """Per feature: does any corner of its box fall outside GB/NI or the CRS's area of use?"""
    corners_x = bounds[:, [0, 2, 2, 0]].ravel()
    corners_y = bounds[:, [1, 1, 3, 3]].ravel()
    lon, lat = _to_lonlat(crs).transform(corners_x, corners_y)
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    west, south, east, north = _allowed_box(crs)
    inside = (
        np.isfinite(lon)
        & np.isfinite(lat)
        & (lon >= west - _MARGIN_DEG)
        & (lon <= east + _MARGIN_DEG)
        & (lat >= south - _MARGIN_DEG)
        & (lat <= north + _MARGIN_DEG)
    )
    return ~inside.reshape(-1, 4).all(axis=1)


def _allowed_box(crs: pyproj.CRS) -> tuple[float, float, float, float]:
    """GB/NI, narrowed to the CRS's area of use when it has one (Irish Grid: Ireland only)."""
    west, south, east, north = GB_NI_LONLAT
    area = crs.area_of_use
    if area is None:
        return west, south, east, north
    return (
        max(west, area.west),
        max(south, area.south),
        min(east, area.east),
        min(north, area.north),
    )


def _area_of_use_text(crs: pyproj.CRS) -> str:
    area = crs.area_of_use
    if area is None or (area.west <= GB_NI_LONLAT[0] and area.east >= GB_NI_LONLAT[2]):
        return ""
    return f" or outside the area of use of {_crs_name(crs)} ({area.name.split(' - ')[0][:40]})"


@lru_cache(maxsize=16)
def _crs(code: str) -> pyproj.CRS:
    return pyproj.CRS.from_user_input(code)


@lru_cache(maxsize=16)
def _to_lonlat_cached(wkt: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(wkt), "EPSG:4326", always_xy=True)


def _to_lonlat(crs: pyproj.CRS) -> pyproj.Transformer:
    return _to_lonlat_cached(crs.to_wkt())


def crs_text(crs: pyproj.CRS) -> str:
    """``EPSG:nnnn`` when the CRS has an EPSG code (GeoJSON's CRS84 counts as 4326), else WKT."""
    epsg = _epsg(crs)
    return f"EPSG:{epsg}" if epsg is not None else crs.to_wkt()


def _crs_name(crs: pyproj.CRS) -> str:
    """``EPSG:nnnn``, else the CRS's name: short enough for a message."""
    epsg = _epsg(crs)
    return f"EPSG:{epsg}" if epsg is not None else str(crs.name)


def _epsg(crs: pyproj.CRS) -> int | None:
    epsg = crs.to_epsg()
    if epsg is None and crs.equals(pyproj.CRS("OGC:CRS84"), ignore_axis_order=True):
        return 4326
    return epsg


def _ranges(bounds: np.ndarray) -> str:
    """``x 486509..509991, y 198906..218585`` for the whole layer."""
    finite = bounds[np.isfinite(bounds).all(axis=1)]
    if not len(finite):
        return "coordinates"
    x0, x1 = finite[:, 0].min(), finite[:, 2].max()
    y0, y1 = finite[:, 1].min(), finite[:, 3].max()
    return f"x {_number(x0)}..{_number(x1)}, y {_number(y0)}..{_number(y1)}"


def _number(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4f}".rstrip("0").rstrip(".")


def _features(positions: np.ndarray, codes: Sequence[str]) -> str:
    shown = ", ".join(
        f"feature {p + 1}" + (f" ({codes[p]})" if codes[p] else "") for p in positions[:_EXAMPLES]
    )
    more = len(positions) - _EXAMPLES
    return shown + (f" and {more} more" if more > 0 else "")
