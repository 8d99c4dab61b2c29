"""Area layers (wards, beats, LSOAs, districts): read, validate, repair, reproject.

Every layer the product uses is a *standard area layer*: a GeoDataFrame in EPSG:27700 with columns
``code`` (unique str), ``name`` (str), ``parent`` (str or missing: beat -> sector,
ward -> district), ``population`` and ``households`` (float, NaN when unknown) and ``geometry``
(valid Polygon or MultiPolygon). :func:`read_layer` turns a GeoJSON, TopoJSON, Shapefile,
GeoPackage, KML or FileGDB in any CRS into one:

- one layer is read: the one named (``source_layer`` or ``file.gpkg:NAME``) or the file's only
  one; a file with several is refused with their names and feature counts
  (:mod:`~geo_service.boundaries.container`);
- a file without a CRS (a Shapefile with a missing or empty ``.prj``) is refused unless the caller
  states the CRS; a stated CRS overrides the file's;
- the coordinates must fit the CRS (degrees within ±180/±90, metres not degree-sized, every area
  in Great Britain or Northern Ireland, no specks): checked before anything is projected or
  repaired, the refusal suggesting the CRS they fit (:mod:`~geo_service.boundaries.crs_check`);
- the code and name columns are detected for ONS files (``WD13CD``/``WD13NM``, ``LSOA11CD``...,
  any ``<letters><yy>CD``/``NM`` pair) or plain ``code``/``name``, or named by the caller; a file
  of one area can give its code in its file name (police.uk neighbourhood KMLs);
- codes must be present and unique; geometries must be non-empty polygons;
- coordinates are transformed with the same PROJ transformation as the incidents
  (:mod:`geo_service.projection`, OSTN15 when PROJ has the grid) and the choice is recorded;
- invalid polygons are repaired with ``shapely.make_valid`` (polygonal parts kept) and named in the
  :class:`LayerReport`, as are overlapping pairs and gaps between areas.

Denominators (:func:`read_denominators`) and coarser layers (:func:`dissolve_layer`) live in
:mod:`geo_service.boundaries.derive`."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from geo_service.boundaries import container, crs_check
from geo_service.boundaries.derive import (
    DENOMINATORS,
    dissolve_layer,
    polygonal_part,
    read_denominators,
)
from geo_service.boundaries.topology import find_gaps, find_overlaps
from geo_service.errors import InputError
from geo_service.projection import to_bng, transformation_used
from geo_service.schema import CRS

__all__ = [
    "DENOMINATORS",
    "LAYER_COLUMNS",
    "LayerReport",
    "dissolve_layer",
    "find_gaps",
    "find_overlaps",
    "read_denominators",
    "read_layer",
]

logger = logging.getLogger(__name__)

#: Columns of a standard area layer, in order (plus ``geometry``).
LAYER_COLUMNS: tuple[str, ...] = ("code", "name", "parent", "population", "households")

#: ``code_column`` of a layer whose codes are its file names (``--code-from-filename``).
FROM_FILENAME = "(file name)"

_ONS_CODE = re.compile(r"^([A-Z]{2,6})(\d{2})CD$", re.IGNORECASE)
_EXAMPLES = 10  # how many offending rows an error message lists


@dataclass(frozen=True)
class LayerReport:
    """What :func:`read_layer` found and did.

    Attributes
    ----------
    path : str
        The file read.
    features : int
        Areas in the layer.
    code_column, name_column : str
        The file's columns used for ``code`` and ``name``.
    parent_column : str or None
        The file's column used for ``parent``: one named ``parent``, else another ONS code column
        that repeats (e.g. ``LAD11CD`` in an output-area file).
    source_crs : str
        The CRS of the file (or the one stated by the caller).
    transformation : str
        The PROJ transformation used to reach EPSG:27700 ("none" when already there).
    repaired : tuple of str
        Codes of areas whose invalid polygons were repaired.
    overlaps : tuple of (str, str, float)
        Pairs of codes whose interiors overlap by more than the tolerance, with the area in m².
    gaps_m2 : tuple of float
        Areas (m²) of holes in the union of the layer that are not holes of any single area.
    area_m2 : float
        Total area of the layer in m².
    source_layer : str or None
        The layer of the file read (a GeoPackage, zip or KML can hold several).
    crs_origin : str
        Where ``source_crs`` came from: "stated by the file", "given with --crs", ...
    """

    path: str
    features: int
    code_column: str
    name_column: str
    parent_column: str | None
    source_crs: str
    transformation: str
    repaired: tuple[str, ...]
    overlaps: tuple[tuple[str, str, float], ...]
    gaps_m2: tuple[float, ...]
    area_m2: float
    source_layer: str | None = None
    crs_origin: str = ""


def read_layer(
    path: Path | str,
    *,
    code_col: str | None = None,
    name_col: str | None = None,
    crs: str | None = None,
    source_layer: str | None = None,
    code_from_filename: bool = False,
    tolerance_m2: float = 1.0,
) -> tuple[gpd.GeoDataFrame, LayerReport]:
    """Read an area layer file into a standard area layer in EPSG:27700.

    Parameters
    ----------
    path
        GeoJSON, TopoJSON, Shapefile (or a zip of one), GeoPackage, KML, FileGDB: anything
        pyogrio reads. ``file.gpkg:NAME`` names a layer of the file.
    code_col, name_col
        Columns holding the area code and name; detected when not given.
    crs
        CRS of the coordinates (e.g. ``"EPSG:27700"``); required when the file states none.
    source_layer
        The layer of a file holding several (required then; the error lists them).
    code_from_filename
        The code is the file's stem (``DC01.kml`` -> ``DC01``): one feature per file.
    tolerance_m2
        Overlaps and gaps smaller than this are not reported.

    Returns
    -------
    layer, report
        The standard area layer and what was found and repaired.
    """
    path, source_layer = container.split_layer_suffix(Path(path), source_layer)
    chosen = container.choose_layer(path, source_layer)
    raw = container.read_source(path, chosen)
    source = container.source_crs(raw, path, chosen, crs)
    code_column, name_column = _detect_columns(
        raw, path, code_col=code_col, name_col=name_col, code_from_filename=code_from_filename
    )
    codes = _codes(raw, path, code_column, code_from_filename=code_from_filename)
    _check_polygons(raw, path, codes)
    crs_check.check_coordinates(
        shapely.bounds(raw.geometry.to_numpy()), source.crs, path=str(path),
        origin=source.origin, given=source.given, codes=list(codes),
    )  # fmt: skip
    source_crs = crs_check.crs_text(source.crs)
    geometry = _to_bng(raw.geometry.to_numpy(), source_crs)
    crs_check.check_areas(
        shapely.area(geometry), source.crs, path=str(path), origin=source.origin,
        given=source.given,
    )  # fmt: skip
    geometry, repaired = _repair(geometry, codes, path)
    parent_column = _detect_parent(raw, code_column)
    names = _names(raw, name_column, codes)
    layer = _standard_layer(raw, codes, names, parent_column, geometry)
    report = LayerReport(
        path=str(path),
        features=len(layer),
        code_column=code_column,
        name_column=name_column,
        parent_column=parent_column,
        source_crs=source_crs,
        transformation=_transformation(source_crs),
        repaired=repaired,
        overlaps=find_overlaps(layer, tolerance_m2=tolerance_m2),
        gaps_m2=find_gaps(layer, tolerance_m2=tolerance_m2),
        area_m2=float(shapely.area(geometry).sum()),
        source_layer=chosen,
        crs_origin=source.origin,
    )
    _log_report(report)
    return layer, report


def _detect_columns(
    frame: pd.DataFrame,
    path: Path,
    *,
    code_col: str | None,
    name_col: str | None,
    code_from_filename: bool,
) -> tuple[str, str]:
    if code_from_filename and code_col is not None:
        raise InputError("--code-col and --code-from-filename cannot be used together")
    columns = [c for c in frame.columns if c != frame.geometry.name]
    for given, flag in ((code_col, "--code-col"), (name_col, "--name-col")):
        if given is not None and given not in columns:
            raise InputError(
                f"{path}: {flag} {given!r} is not a column; columns found: {', '.join(columns)}"
            )
    if code_from_filename:
        return FROM_FILENAME, name_col or _detect_name(FROM_FILENAME, columns) or FROM_FILENAME
    code = code_col or _detect_code(frame, columns)
    if code is None:
        raise InputError(
            f"{path}: cannot tell which column holds the area code (expected an ONS column such "
            f"as WD13CD or LSOA11CD, or 'code'); columns found: {', '.join(columns)}; "
            "name it with --code-col, or take it from the file name with --code-from-filename"
        )
    name = name_col or _detect_name(code, columns) or code
    return code, name


def _detect_code(frame: pd.DataFrame, columns: Sequence[str]) -> str | None:
    """The ONS ``..CD`` column with unique values (the first, if several), else ``code``."""
    candidates = [c for c in columns if _ONS_CODE.match(c)]
    unique = [c for c in candidates if frame[c].is_unique]
    if unique or candidates:
        return (unique or candidates)[0]
    return next((c for c in columns if c.lower() == "code"), None)


def _detect_name(code: str, columns: Sequence[str]) -> str | None:
    match = _ONS_CODE.match(code)
    if match and f"{code[:-2]}NM" in columns:
        return f"{code[:-2]}NM"
    if match and f"{code[:-2]}nm" in columns:
        return f"{code[:-2]}nm"
    return next((c for c in columns if c.lower() == "name"), None)


def _names(frame: pd.DataFrame, column: str, codes: np.ndarray) -> np.ndarray:
    """Area names from ``column``; a missing or blank name falls back to the code."""
    if column not in frame.columns:
        return codes.copy()
    names = _clean_text(frame[column].astype("str"), column).to_numpy(dtype=object)
    blank = pd.isna(names) | (names == "")
    return np.where(blank, codes, names)


def _detect_parent(frame: pd.DataFrame, code: str) -> str | None:
    columns = [c for c in frame.columns if c not in (code, frame.geometry.name)]
    named = [c for c in columns if c.lower() == "parent"]
    coarser = [c for c in columns if _ONS_CODE.match(c) and not frame[c].is_unique]
    return (named or coarser or [None])[0]


def _codes(frame: pd.DataFrame, path: Path, column: str, *, code_from_filename: bool) -> np.ndarray:
    """The checked area codes: the code column, or the file's stem for a one-feature file."""
    if not code_from_filename:
        return _checked_codes(frame[column], path, column)
    if len(frame) != 1:
        raise InputError(
            f"{path}: --code-from-filename needs one feature per file (the code is the file "
            f"name); the file holds {len(frame)}"
        )
    return np.array([path.stem], dtype=object)


def _checked_codes(values: pd.Series, path: Path, column: str) -> np.ndarray:
    codes = _clean_text(values.astype("str"), column)
    missing = np.flatnonzero(codes.isna().to_numpy() | (codes == "").to_numpy())
    if len(missing):
        raise InputError(
            f"{path}: column {column!r} is empty in feature(s) {_rows(missing)}; "
            "every area needs a code"
        )
    duplicated = codes[codes.duplicated(keep=False)]
    if len(duplicated):
        listed = "; ".join(
            f"{code!r} in features {_rows(np.flatnonzero((codes == code).to_numpy()))}"
            for code in list(dict.fromkeys(duplicated))[:_EXAMPLES]
        )
        raise InputError(f"{path}: column {column!r} has duplicate codes: {listed}")
    return codes.to_numpy(dtype=object)


def _clean_text(values: pd.Series, column: str) -> pd.Series:
    """Control characters removed, whitespace collapsed and stripped, Unicode NFC; logged.

    The same normalisation as incident text (:mod:`geo_service.sources._plausible`), so a code
    with a stray space or NUL still matches the code an incident or a denominator CSV gives.
    """
    clean = (
        values.str.replace(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", regex=True)
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
        .str.normalize("NFC")
    )
    changed = (clean != values).to_numpy(dtype=bool, na_value=False)
    if changed.any():
        first = int(np.flatnonzero(changed)[0])
        logger.warning(
            "column %s: %d value(s) normalised (whitespace, control characters, Unicode NFC), "
            "e.g. %s -> %s",
            column,
            int(changed.sum()),
            ascii(str(values.iloc[first])[:80]),
            ascii(str(clean.iloc[first])[:80]),
        )
    return clean


def _rows(positions: np.ndarray) -> str:
    """1-based feature numbers, the first few of them."""
    shown = ", ".join(str(int(p) + 1) for p in positions[:_EXAMPLES])
    return shown + (f" and {len(positions) - _EXAMPLES} more" if len(positions) > _EXAMPLES else "")


def _check_polygons(frame: gpd.GeoDataFrame, path: Path, codes: np.ndarray) -> None:
    geometry = frame.geometry.to_numpy()
    empty = np.flatnonzero(shapely.is_missing(geometry) | shapely.is_empty(geometry))
    if len(empty):
        raise InputError(
            f"{path}: feature(s) {_rows(empty)} (codes {', '.join(codes[empty][:_EXAMPLES])}) "
            "have no geometry; expected a Polygon or MultiPolygon for every area"
        )
    types = np.asarray(shapely.get_type_id(geometry))
    bad = np.flatnonzero(~np.isin(types, [3, 6]))  # 3 = Polygon, 6 = MultiPolygon
    if len(bad):
        found = ", ".join(
            f"feature {p + 1} ({codes[p]}): {frame.geometry.iloc[p].geom_type}"
            for p in bad[:_EXAMPLES]
        )
        raise InputError(
            f"{path}: an area layer holds only Polygon or MultiPolygon geometries; "
            f"{len(bad)} feature(s) are not: {found}"
        )


def _to_bng(geometry: np.ndarray, source_crs: str) -> np.ndarray:
    if pyproj.CRS.from_user_input(source_crs) == pyproj.CRS.from_user_input(CRS):
        return np.asarray(shapely.force_2d(geometry))

    def transform(coords: np.ndarray) -> np.ndarray:
        x, y = to_bng(coords[:, 0], coords[:, 1], source_crs=source_crs)
        return np.column_stack([x, y])

    return np.asarray(shapely.transform(geometry, transform))


def _transformation(source_crs: str) -> str:
    if pyproj.CRS.from_user_input(source_crs) == pyproj.CRS.from_user_input(CRS):
        return "none (already EPSG:27700)"
    return transformation_used(source_crs)


def _repair(
    geometry: np.ndarray, codes: np.ndarray, path: Path
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Valid polygons: ``make_valid`` on the invalid ones, keeping their polygonal parts."""
    invalid = np.flatnonzero(~shapely.is_valid(geometry))
    if not len(invalid):
        return geometry, ()
    fixed = geometry.copy()
    for position in invalid:  # a loop over the few invalid areas, not over points
        fixed[position] = polygonal_part(shapely.make_valid(geometry[position]))
        if fixed[position].is_empty:
            raise InputError(
                f"{path}: feature {position + 1} ({codes[position]}) is an invalid polygon "
                "with no area left after repair"
            )
    return fixed, tuple(str(c) for c in codes[invalid])


def _standard_layer(
    raw: gpd.GeoDataFrame,
    codes: np.ndarray,
    names: np.ndarray,
    parent_column: str | None,
    geometry: np.ndarray,
) -> gpd.GeoDataFrame:
    lowered = {c.lower(): c for c in raw.columns}
    parent = (
        raw[parent_column].astype("str")
        if parent_column is not None
        else pd.Series(pd.NA, index=raw.index, dtype="str")
    )
    frame = {
        "code": pd.array(codes, dtype="str"),
        "name": pd.array(names, dtype="str"),
        "parent": pd.array(parent.to_numpy(dtype=object), dtype="str"),
    }
    for column in DENOMINATORS:
        source = raw[lowered[column]] if column in lowered else pd.Series(np.nan, index=raw.index)
        frame[column] = pd.to_numeric(source, errors="coerce").to_numpy(dtype=float)
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometry, crs=CRS).values, crs=CRS)


def _log_report(report: LayerReport) -> None:
    """Debug-level: callers (the CLI) show the report themselves."""
    logger.debug(
        "%s: %d areas, %.2f km², code %s, name %s, from %s via %s; repaired %s; "
        "%d overlapping pair(s); %d gap(s)",
        report.path,
        report.features,
        report.area_m2 / 1e6,
        report.code_column,
        report.name_column,
        report.source_crs,
        report.transformation,
        ", ".join(report.repaired) or "none",
        len(report.overlaps),
        len(report.gaps_m2),
    )
