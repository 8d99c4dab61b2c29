"""Frames -> files, for both faces: CSV, JSON, RFC 7946 GeoJSON, GeoPackage, Excel and Shapefile.

The CLI and the web write every table and layer through this module, so a download is the same
bytes whichever face produced it. The rules each format follows:

* **CSV** (:func:`write_csv`): a text cell (or header) that a spreadsheet would read as a formula
  -- starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return, the OWASP "CSV injection"
  list -- gets a leading apostrophe. Numbers stay numbers (``-1`` the number is written ``-1``;
  ``"-1"`` the text is written ``'-1``), floats keep full precision (``repr``: p and q are not
  rounded), missing values are empty cells.
* **JSON** (:func:`json_records`): an array of records; NaN/NA/NaT -> null, numpy scalars -> plain
  numbers, timestamps -> ISO 8601 text (``YYYY-MM-DD`` when a column holds dates only).
* **GeoJSON** (:func:`geojson_document`): RFC 7946 -- WGS84 lon/lat, exterior rings
  counter-clockwise and holes clockwise, no ``crs`` member, metadata in the foreign member
  ``"geo_service"``; optional coverage-aware simplification so neighbouring areas never overlap.
* **GeoPackage** (:func:`write_geopackage`): one layer per call, EPSG:27700 metres kept.
* **Excel** (:func:`write_excel`): one sheet per table; text is stored as text with Excel's
  "quote prefix" (what typing a leading apostrophe does), so a formula-like name is shown and kept
  as text, never evaluated, and reads back unchanged.
* **Shapefile** (:func:`write_shapefile`): field names cut to 10 characters, uniquely, with the
  long -> short mapping written beside as ``<name>.fields.csv``.

Tabular formats (CSV, JSON, Excel) given a layer write its attributes plus its centroid
(:func:`with_centroid`) instead of the geometry, so a spreadsheet can map hot cells and clusters.
:func:`cache_headers` gives the HTTP validators (ETag, Last-Modified) from the store version.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
import re
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, date, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TextIO

import numpy as np
import pandas as pd

from geo_service.errors import InputError
from geo_service.schema import CRS

if TYPE_CHECKING:
    import geopandas as gpd

logger = logging.getLogger(__name__)

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Longest sheet name Excel accepts, characters.
SHEET_NAME_MAX = 31
#: Longest field name a Shapefile (dBase) accepts, bytes.
SHAPEFILE_NAME_MAX = 10
#: Longest text a Shapefile (dBase) field holds, bytes.
SHAPEFILE_TEXT_MAX = 254
#: Rows of one Excel sheet, the header included.
EXCEL_ROWS_MAX = 1_048_576
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
# Control characters an XML (xlsx) cell cannot hold.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_WGS84 = "EPSG:4326"

Out = Path | str | TextIO | BinaryIO


# ---------------------------------------------------------------------------------- values
def json_value(value: object) -> object:
    """``value`` as a plain JSON value: missing -> None, numpy -> Python, times -> ISO text.

    Parameters
    ----------
    value
        A cell of a frame, a metadata value, or a list/tuple/array/mapping/dataclass of them.

    Returns
    -------
    object
        None, bool, int, float (finite), str, or a list/dict of these.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if is_dataclass(value) and not isinstance(value, type):
        value = asdict(value)
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_value(v) for v in value]
    return str(value)


def json_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows of ``frame`` as JSON-ready records (a layer gives its centroid, not its geometry).

    Parameters
    ----------
    frame
        Any table, or a layer (GeoDataFrame; see :func:`with_centroid`).

    Returns
    -------
    list of dict
        One dict per row, keys the column names; see :func:`json_value` for the values.
    """
    table = _iso_times(_table_of(frame))
    return [
        {str(k): json_value(v) for k, v in row.items()} for row in table.to_dict(orient="records")
    ]


def _iso_times(frame: pd.DataFrame) -> pd.DataFrame:
    """Datetime columns as ISO text: ``YYYY-MM-DD`` when every value is a midnight, else full."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if not pd.api.types.is_datetime64_any_dtype(series.dtype):
            continue
        values = series.dropna()
        dates_only = series.dt.tz is None and bool((values == values.dt.normalize()).all())
        text = series.dt.strftime("%Y-%m-%d") if dates_only else series.map(_isoformat)
        out[column] = text.astype(object).where(series.notna(), None)
    return out


def _isoformat(value: pd.Timestamp) -> str | None:
    return None if pd.isna(value) else value.isoformat()


def _table_of(frame: pd.DataFrame) -> pd.DataFrame:
    """A plain table: a named index becomes columns, a layer's geometry becomes its centroid."""
    if any(name is not None for name in frame.index.names):
        frame = frame.reset_index()
    # A frame can only be a GeoDataFrame once geopandas is imported: a plain table (status,
    # change) is written without importing it.
    gpd = sys.modules.get("geopandas")
    if gpd is not None and isinstance(frame, gpd.GeoDataFrame):
        located = with_centroid(frame)
        return pd.DataFrame(located.drop(columns=located.geometry.name))
    return frame


# -------------------------------------------------------------------------------- centroid
def with_centroid(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``frame`` with its geometries' centroids as four columns, so a spreadsheet can map it.

    Parameters
    ----------
    frame
        A layer in any CRS; without a CRS it is taken to be EPSG:27700 (every stored coordinate
        is). Not modified.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``centroid_x``, ``centroid_y`` (EPSG:27700, metres) and ``centroid_lon``,
        ``centroid_lat`` (WGS84, degrees) appended; NaN where the geometry is missing or empty.
        The centroid is the area-weighted one of a polygon (it may fall outside a crescent).
    """
    import geopandas as gpd
    import shapely

    projected = _in_house_crs(frame.geometry)
    centres = shapely.centroid(projected.to_numpy())
    centres[shapely.is_empty(centres)] = None  # GEOS has no x of an empty point; None gives NaN
    x, y = shapely.get_x(centres), shapely.get_y(centres)
    lonlat = gpd.GeoSeries(centres, crs=CRS).to_crs(_WGS84).to_numpy()
    out = frame.copy()
    out["centroid_x"] = x
    out["centroid_y"] = y
    out["centroid_lon"] = shapely.get_x(lonlat)
    out["centroid_lat"] = shapely.get_y(lonlat)
    return out


def _in_house_crs(geometry: gpd.GeoSeries) -> gpd.GeoSeries:
    if geometry.crs is None:
        return geometry.set_crs(CRS)
    return geometry if geometry.crs == CRS else geometry.to_crs(CRS)


# ------------------------------------------------------------------------------------- CSV
def neutralise(value: object) -> object:
    """``value`` with a leading apostrophe if it is text a spreadsheet would run as a formula.

    Only ``str`` values change; numbers (negative ones included) and missing values pass through.
    """
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def formula_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells and column names cannot start a formula.

    Parameters
    ----------
    frame
        Any table; text may sit in object, string or categorical columns.

    Returns
    -------
    pandas.DataFrame
        The same shape; text cells passed through :func:`neutralise`, numeric, boolean and
        datetime columns untouched.
    """
    out = frame.rename(columns=lambda c: neutralise(c) if isinstance(c, str) else c)
    for position, (_, series) in enumerate(out.items()):
        if _holds_text(series):
            out.isetitem(position, series.astype(object).map(neutralise, na_action="ignore"))
    return out


def _holds_text(series: pd.Series) -> bool:
    dtype = series.dtype
    return (
        pd.api.types.is_object_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_string_dtype(dtype)
    )


def write_csv(frame: pd.DataFrame, stream: TextIO) -> None:
    """Write ``frame`` to ``stream`` as formula-safe CSV (UTF-8 text, ``\\n`` line ends).

    Parameters
    ----------
    frame
        A table, or a layer (its centroid replaces the geometry, see :func:`with_centroid`). A
        named index is written as columns; an unnamed one is dropped.
    stream
        A text stream; open files with ``newline=""`` so line ends are not translated.

    Notes
    -----
    Floats are written with ``repr`` (shortest text that reads back to the same float), so
    ``p = 0.012345678901234567`` is written in full. Missing values are empty cells. Datetimes are
    written by pandas: ``YYYY-MM-DD`` when a column holds dates only, else ``YYYY-MM-DD hh:mm:ss``
    (the form spreadsheets read as a date and time). Cells are quoted only where needed, except
    that every text cell is quoted when one holds a carriage return (see :func:`_csv_quoting`).
    """
    table = formula_safe(_table_of(frame))
    table.to_csv(stream, index=False, lineterminator="\n", quoting=_csv_quoting(table))


def _csv_quoting(table: pd.DataFrame) -> int:
    """Quote every text cell when one holds a carriage return, else only where needed.

    Python's csv writer quotes a cell holding a character of the line terminator (``\\n``)
    but not a lone ``\\r``, which readers take as a line end; RFC 4180 wants both quoted.
    """
    held = pd.Series([str(c) for c in table.columns], dtype=object)
    texts = [held, *(s.astype(str) for _, s in table.items() if _holds_text(s))]
    has_cr = any(t.str.contains("\r", regex=False).any() for t in texts)
    return csv.QUOTE_NONNUMERIC if has_cr else csv.QUOTE_MINIMAL


def csv_text(frame: pd.DataFrame) -> str:
    """``frame`` as formula-safe CSV text; see :func:`write_csv`."""
    buffer = io.StringIO()
    write_csv(frame, buffer)
    return buffer.getvalue()


def write_json(
    frame: pd.DataFrame, stream: TextIO, *, meta: Mapping[str, Any] | None = None
) -> None:
    """Write ``frame`` as a JSON array of records, or ``{"geo_service": meta, "rows": [...]}``.

    Parameters
    ----------
    frame
        A table or a layer; see :func:`json_records`.
    stream
        A text stream.
    meta
        When given, the records go under ``"rows"`` beside this metadata; when None the document
        is the bare array (what the web API answers).
    """
    rows = json_records(frame)
    document: object = rows if meta is None else {"geo_service": json_value(meta), "rows": rows}
    json.dump(document, stream, ensure_ascii=False, allow_nan=False)
    stream.write("\n")


# --------------------------------------------------------------------------------- GeoJSON
def geojson_document(
    frame: gpd.GeoDataFrame,
    *,
    meta: Mapping[str, Any] | None = None,
    simplify_m: float | None = None,
    precision: int = 6,
) -> dict[str, Any]:
    """``frame`` as an RFC 7946 GeoJSON FeatureCollection.

    Parameters
    ----------
    frame
        A layer of n features in any CRS (taken as EPSG:27700 when it has none). Not modified.
    meta
        Written as the top-level foreign member ``"geo_service"`` (JSON-cleaned like properties).
    simplify_m
        Simplify before projecting to lon/lat, metres. Polygons are simplified as a coverage
        (``shapely.coverage_simplify``, Visvalingam-Whyatt: a vertex goes when the triangle it
        makes with its neighbours is smaller than ``simplify_m`` squared), so each shared edge is
        simplified once and neighbouring areas neither overlap nor open gaps. Polygons that are
        not a valid coverage (overlapping cluster hulls) and lines are simplified one by one
        (Douglas-Peucker, ``simplify_m`` the distance, topology preserved); points are kept.
        None keeps every vertex.
    precision
        Decimal places of the lon/lat coordinates (6 is about 0.1 m), 0..15.

    Returns
    -------
    dict
        ``{"type": "FeatureCollection", "features": [...n features...]}`` plus ``"geo_service"``
        when ``meta`` is given. Coordinates are WGS84 longitude, latitude (degrees); exterior
        rings counter-clockwise, holes clockwise (``shapely.orient_polygons``); no ``crs``
        member. Properties are every other column: NaN/NA -> null, numpy -> plain values,
        datetimes -> ISO text. A missing or empty geometry is ``null``.

    Raises
    ------
    InputError
        ``frame`` is not a GeoDataFrame, ``precision`` is outside 0..15 or ``simplify_m`` is not a
        positive number.

    Notes
    -----
    GDAL's GeoJSON writer with ``RFC7946=YES`` (through pyogrio) gives the same geometry -- the
    tests use it as the reference -- but written to a buffer and parsed back it takes 4 to 5
    times as long (Dacorum's 25 wards: 21 ms against 4.6 ms; Hertfordshire's 690 LSOAs: 308 ms
    against 97 ms), the metadata must then be added to the parsed document, it adds ``name``
    and ``xy_coordinate_resolution`` members, and it refuses object columns of mixed types. So
    the geometry work is done here with shapely (>= 2.1, for ``orient_polygons``) and pyproj.
    """
    _check_geojson_args(frame, simplify_m=simplify_m, precision=precision)
    geometries = _lonlat(frame.geometry, simplify_m=simplify_m, precision=precision)
    properties = _iso_times(pd.DataFrame(frame.drop(columns=frame.geometry.name)))
    features = [
        {
            "type": "Feature",
            "properties": {str(k): json_value(v) for k, v in row.items()},
            "geometry": geometry,
        }
        for row, geometry in zip(
            properties.to_dict(orient="records"), _geometry_members(geometries), strict=True
        )
    ]
    document: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if meta is not None:
        document["geo_service"] = json_value(meta)
    return document


def write_geojson(
    frame: gpd.GeoDataFrame,
    stream: TextIO,
    *,
    meta: Mapping[str, Any] | None = None,
    simplify_m: float | None = None,
    precision: int = 6,
) -> None:
    """Write :func:`geojson_document` of ``frame`` to the text ``stream`` (UTF-8, one line).

    Streamed feature by feature in chunks: each geometry is GEOS's own GeoJSON text and each
    property object one call of the C JSON encoder, so no document is built in memory and
    nothing is parsed back (12,449 Dacorum cells: 0.3 s, where building the document and
    ``json.dump`` took 5.9 s). The text parses to exactly :func:`geojson_document`.
    """
    import shapely

    _check_geojson_args(frame, simplify_m=simplify_m, precision=precision)
    geometries = _lonlat(frame.geometry, simplify_m=simplify_m, precision=precision)
    present = geometries.copy()
    present[shapely.is_empty(geometries)] = None
    texts = shapely.to_geojson(present)
    records = _iso_times(pd.DataFrame(frame.drop(columns=frame.geometry.name))).to_dict(
        orient="records"
    )
    encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
    stream.write('{"type": "FeatureCollection", "features": [')
    for start in range(0, len(records), _FEATURES_PER_WRITE):
        chunk = [
            '{"type": "Feature", "properties": '
            + encode({str(k): json_value(v) for k, v in row.items()})
            + ', "geometry": '
            + ("null" if text is None else text)
            + "}"
            for row, text in zip(
                records[start : start + _FEATURES_PER_WRITE],
                texts[start : start + _FEATURES_PER_WRITE],
                strict=True,
            )
        ]
        stream.write((", " if start else "") + ", ".join(chunk))
    stream.write("]")
    if meta is not None:
        stream.write(', "geo_service": ' + encode(json_value(meta)))
    stream.write("}\n")


#: Features joined into one write of :func:`write_geojson`.
_FEATURES_PER_WRITE = 2000


def _check_geojson_args(frame: object, *, simplify_m: float | None, precision: int) -> None:
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"GeoJSON needs a layer with geometry, got a {type(frame).__name__}")
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= 15:
        raise InputError(f"precision must be a whole number of decimals 0..15, got {precision!r}")
    if simplify_m is not None and not (math.isfinite(simplify_m) and simplify_m > 0):
        raise InputError(f"simplify_m must be a positive number of metres, got {simplify_m!r}")


def _lonlat(geometry: gpd.GeoSeries, *, simplify_m: float | None, precision: int) -> np.ndarray:
    """Geometries simplified in metres, projected to lon/lat, rounded, then oriented."""
    import geopandas as gpd
    import shapely

    geoms = _in_house_crs(geometry).to_numpy()
    if simplify_m is not None:
        geoms = _simplified(geoms, simplify_m)
    lonlat = gpd.GeoSeries(geoms, crs=CRS).to_crs(_WGS84).to_numpy()
    # np.round, unlike set_precision's grid snapping, gives the float nearest the decimal.
    rounded = shapely.transform(lonlat, lambda xy: np.round(xy, precision))
    # Oriented after rounding, so the orientation is that of the coordinates written.
    return np.asarray(shapely.orient_polygons(rounded, exterior_cw=False))


def _simplified(geoms: np.ndarray, tolerance_m: float) -> np.ndarray:
    import shapely

    out = geoms.copy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    kind = shapely.get_type_id(geoms)
    polygonal = present & np.isin(kind, (3, 6))
    lines = present & np.isin(kind, (1, 2, 5))
    if polygonal.any():
        if shapely.coverage_is_valid(geoms[polygonal]):
            out[polygonal] = shapely.coverage_simplify(geoms[polygonal], tolerance_m)
        else:
            logger.info("polygons overlap, so they are simplified one by one, not as a coverage")
            lines |= polygonal
    out[lines] = shapely.simplify(geoms[lines], tolerance_m, preserve_topology=True)
    return out


def _geometry_members(geoms: np.ndarray) -> list[dict[str, Any] | None]:
    """GeoJSON geometry members; None for a missing or empty geometry (a null geometry)."""
    # GEOS writes shortest round-trip numbers; this is ~1.6 times faster than shapely's mapping.
    import shapely

    present = geoms.copy()
    present[shapely.is_empty(geoms)] = None
    texts = shapely.to_geojson(present)
    return [None if text is None else json.loads(text) for text in texts]


# ---------------------------------------------------------------------------- file formats
def write_geopackage(
    frame: pd.DataFrame, path: Path | str, *, layer: str, meta: Mapping[str, Any] | None = None
) -> None:
    """Write ``frame`` as layer ``layer`` of the GeoPackage ``path`` (other layers are kept).

    Parameters
    ----------
    frame
        A layer (its CRS kept; EPSG:27700 assumed when it has none) or a plain table (written as
        an attribute table without geometry).
    path
        The ``.gpkg`` file; created when absent. A layer of the same name is replaced.
    layer
        Layer (table) name.
    meta
        Stored as the layer's metadata (GDAL metadata items, values as JSON text).

    Raises
    ------
    InputError
        ``layer`` is empty.
    """
    import pyogrio

    if not layer.strip():
        raise InputError(f"{path}: a GeoPackage layer needs a name, got {layer!r}")
    table = _writable(frame)
    metadata = None if meta is None else {k: json.dumps(json_value(v)) for k, v in meta.items()}
    pyogrio.write_dataframe(table, Path(path), layer=layer, driver="GPKG", layer_metadata=metadata)


def shapefile_field_names(columns: Iterable[Hashable]) -> dict[str, str]:
    """Field names of at most 10 bytes, unique regardless of case, for ``columns``.

    A name that fits is kept; a longer one is cut to 10 bytes; a clash is resolved by cutting
    further and appending ``_1``, ``_2``, ... (``centroid_lon`` -> ``centroid_l``,
    ``centroid_lat`` -> ``centroid_1``).

    Returns
    -------
    dict
        Column name (as text) -> field name, in column order.
    """
    taken: set[str] = set()
    names: dict[str, str] = {}
    for column in map(str, columns):
        field = _cut_bytes(column, SHAPEFILE_NAME_MAX)
        k = 0
        while not field or field.lower() in taken:
            k += 1
            suffix = f"_{k}"
            field = _cut_bytes(column, SHAPEFILE_NAME_MAX - len(suffix)) + suffix
        taken.add(field.lower())
        names[column] = field
    return names


def _cut_bytes(text: str, limit: int) -> str:
    return text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def write_shapefile(frame: pd.DataFrame, path: Path | str) -> dict[str, str]:
    """Write ``frame`` as the Shapefile ``path`` with short field names and their key beside.

    Parameters
    ----------
    frame
        A layer of one geometry family (points, lines or polygons) or a plain table (then only
        the ``.dbf`` is written).
    path
        The ``.shp`` file; ``.shx``, ``.dbf``, ``.prj``, ``.cpg`` (UTF-8) are written beside it,
        and ``<name>.fields.csv`` with columns ``column``, ``field``.

    Returns
    -------
    dict
        Column name -> the (at most 10-byte) field name it was written under.

    Raises
    ------
    InputError
        ``path`` does not end in ``.shp`` or the layer mixes geometry families.

    Notes
    -----
    dBase limits apply: datetimes are written as ISO text, text longer than 254 bytes is cut
    (logged), and floats keep 15 decimals (a p-value below 5e-16 reads back as 0).
    """
    import geopandas as gpd
    import pyogrio

    target = Path(path)
    if target.suffix.lower() != ".shp":
        raise InputError(f"{target}: a Shapefile path must end in .shp")
    _check_one_family(frame, target)
    table = _writable(frame)
    geometry = _geometry_name(table)
    attributes = _iso_times(pd.DataFrame(table.drop(columns=geometry) if geometry else table))
    names = shapefile_field_names(attributes.columns)
    attributes = attributes.rename(columns=names)
    for column, field in names.items():
        if _holds_text(attributes[field]):
            attributes[field] = _fit_dbf_text(attributes[field], column, target)
    renamed = (
        gpd.GeoDataFrame(attributes, geometry=table.geometry.to_numpy(), crs=table.crs)
        if geometry
        else attributes
    )
    pyogrio.write_dataframe(renamed, target, driver="ESRI Shapefile", encoding="UTF-8")
    key = pd.DataFrame({"column": list(names), "field": list(names.values())})
    with open(target.with_suffix(".fields.csv"), "w", encoding="utf-8", newline="") as handle:
        write_csv(key, handle)
    return names


def _geometry_name(frame: pd.DataFrame) -> str | None:
    import geopandas as gpd

    return frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None


def _check_one_family(frame: pd.DataFrame, target: Path) -> None:
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame):
        return
    kinds = frame.geometry.dropna().geom_type.str.removeprefix("Multi").unique()
    if len(kinds) > 1:
        raise InputError(
            f"{target}: a Shapefile holds one geometry type; this layer mixes {sorted(kinds)}"
        )


def _fit_dbf_text(series: pd.Series, column: str, target: Path) -> pd.Series:
    cut = series.map(
        lambda v: _cut_bytes(v, SHAPEFILE_TEXT_MAX) if isinstance(v, str) else v,
        na_action="ignore",
    )
    changed = int((cut.fillna("") != series.fillna("")).sum())
    if changed:
        logger.warning(
            "%s: %d values of column %s cut to %d bytes (dBase limit)",
            target, changed, column, SHAPEFILE_TEXT_MAX,
        )  # fmt: skip
    return cut


def _writable(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy OGR can write: object cells that are not text (lists, ...) become text."""
    import geopandas as gpd

    out = frame.copy()
    if isinstance(out, gpd.GeoDataFrame) and out.crs is None:
        out = out.set_crs(CRS)
    for column in out.columns:
        if column != _geometry_name(out) and out[column].dtype == object:
            out[column] = out[column].map(_ogr_text, na_action="ignore")
    return out


def _ogr_text(value: object) -> str | None:
    plain = json_value(value)
    if plain is None or isinstance(plain, str):
        return plain
    return json.dumps(plain, ensure_ascii=False)


def sheet_names(names: Iterable[Hashable]) -> list[str]:
    """Valid, distinct Excel sheet names for ``names``, in order.

    Characters Excel forbids (``[ ] : * ? / \\``) become ``_``, leading and trailing apostrophes
    go, an empty name becomes ``Sheet``, ``History`` (reserved) becomes ``History_``, and names
    are cut to 31 characters; a clash (Excel ignores case) gets `` (2)``, `` (3)``, ... within
    the 31.
    """
    taken: set[str] = set()
    out: list[str] = []
    for name in names:
        base = _SHEET_FORBIDDEN.sub("_", str(name)).strip("'") or "Sheet"
        base = "History_" if base.lower() == "history" else base
        candidate, k = base[:SHEET_NAME_MAX], 1
        while candidate.lower() in taken:
            k += 1
            suffix = f" ({k})"
            candidate = base[: SHEET_NAME_MAX - len(suffix)] + suffix
        taken.add(candidate.lower())
        out.append(candidate)
    return out


def write_excel(
    frames: Mapping[str, pd.DataFrame],
    out: Path | str | BinaryIO,
    *,
    meta: Mapping[str, Any] | None = None,
) -> list[str]:
    """Write each table of ``frames`` as one sheet of an Excel workbook (openpyxl).

    Parameters
    ----------
    frames
        Sheet name -> table or layer (a layer gives its centroid, see :func:`with_centroid`).
        Names are made valid by :func:`sheet_names`.
    out
        The ``.xlsx`` file, or a binary stream.
    meta
        When given, a last sheet ``geo_service`` lists it as key/value rows.

    Returns
    -------
    list of str
        The sheet names written, in order.

    Raises
    ------
    InputError
        No table is given, or a table has more rows than a sheet holds (1,048,575 below the
        header).

    Notes
    -----
    Every text cell is stored as text, and formula-like text (see :data:`FORMULA_START`) also
    with Excel's quote prefix, so ``=HYPERLINK(...)`` is shown and kept as text, never evaluated
    (no ``<f>`` formula element is written), and reads back unchanged (except that a carriage
    return reads back as a line feed: XML normalises it). Numbers are numbers with 16
    significant digits (openpyxl's ``%.16g``; Excel shows 15); NaN and infinities are empty
    cells; datetimes are Excel dates (dates only when a column holds only midnights;
    time-zone-aware ones as ISO text, as Excel has no time zones). The header row is frozen.
    """
    from openpyxl import Workbook  # imported when used: 0.15 s that only Excel output needs

    tables = {**frames, **({"geo_service": _meta_table(meta)} if meta is not None else {})}
    if not tables:
        raise InputError("an Excel workbook needs at least one table")
    names = sheet_names(tables)
    workbook = Workbook(write_only=True)
    for name, frame in zip(names, tables.values(), strict=True):
        _write_sheet(workbook.create_sheet(name), _table_of(frame), name)
    workbook.save(out if not isinstance(out, str) else Path(out))
    return names


def _meta_table(meta: Mapping[str, Any]) -> pd.DataFrame:
    values = [json_value(v) for v in meta.values()]
    text = [json.dumps(v) if isinstance(v, list | dict) else v for v in values]
    return pd.DataFrame({"key": [str(k) for k in meta], "value": pd.Series(text, dtype=object)})


def _write_sheet(sheet: Any, table: pd.DataFrame, name: str) -> None:
    if len(table) + 1 > EXCEL_ROWS_MAX:
        raise InputError(
            f"sheet {name!r}: {len(table)} rows do not fit an Excel sheet "
            f"(at most {EXCEL_ROWS_MAX - 1}); choose CSV or GeoPackage"
        )
    sheet.freeze_panes = "A2"
    sheet.append([_excel_cell(sheet, str(c)) for c in table.columns])
    converters = [_excel_converter(table[c]) for c in table.columns]
    for row in table.itertuples(index=False, name=None):
        sheet.append([_excel_cell(sheet, f(v)) for f, v in zip(converters, row, strict=True)])


def _excel_converter(series: pd.Series) -> Callable[[Any], object]:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return _iso_or_none
    if pd.api.types.is_datetime64_dtype(series.dtype):
        values = series.dropna()
        if bool((values == values.dt.normalize()).all()):
            return _date_or_none
        return _datetime_or_none
    return _excel_value


def _iso_or_none(value: Any) -> str | None:
    return None if pd.isna(value) else str(value.isoformat())


def _date_or_none(value: Any) -> date | None:
    return None if pd.isna(value) else value.date()


def _datetime_or_none(value: Any) -> datetime | None:
    return None if pd.isna(value) else value.to_pydatetime()


def _excel_value(value: object) -> object:
    plain = json_value(value)
    return json.dumps(plain, ensure_ascii=False) if isinstance(plain, list | dict) else plain


def _excel_cell(sheet: Any, value: object) -> object:
    from openpyxl.cell import WriteOnlyCell  # see write_excel

    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value=_XML_ILLEGAL.sub("", value))
    # openpyxl types "=..." as a formula: text it is, and Excel's quote prefix (a typed leading
    # apostrophe) keeps formula-like text as text even when the cell is edited.
    cell.data_type = "s"
    cell.quotePrefix = value.startswith(FORMULA_START)
    return cell


# ------------------------------------------------------------------------------ HTTP cache
def etag(version: str | None, *parts: object) -> str:
    """A strong ETag over the store ``version`` and the request's ``parts``.

    Parameters
    ----------
    version
        The store's published version (None for an empty store).
    *parts
        What else selects the answer: path, format, query parameters. A mapping counts by its
        sorted items, so ``?a=1&b=2`` and ``?b=2&a=1`` share a tag; pass repeated parameters as
        lists (``request.args.to_dict(flat=False)``).

    Returns
    -------
    str
        ``"<32 hex digits>"`` (quotes included), SHA-256 of the parts; it changes with any part.
    """
    digest = hashlib.sha256()
    for part in (version or "", *parts):
        if isinstance(part, Mapping):
            part = sorted((str(k), str(v)) for k, v in part.items())
        # The unit separator keeps ("ab", "c") apart from ("a", "bc").
        digest.update(str(part).encode("utf-8") + b"\x1f")
    return f'"{digest.hexdigest()[:32]}"'


def cache_headers(
    version: str | None, *parts: object, modified: datetime | None = None
) -> dict[str, str]:
    """HTTP validators for an answer computed from store ``version``.

    Parameters
    ----------
    version, *parts
        See :func:`etag`.
    modified
        When the version was published; a naive datetime is taken as UTC. None omits
        ``Last-Modified``.

    Returns
    -------
    dict
        ``ETag``, ``Cache-Control: no-cache`` (a client may keep the answer but asks again, and
        gets 304 while the store is unchanged: an ingest must show at once) and, when ``modified``
        is given, ``Last-Modified`` as an HTTP date (GMT, whole seconds).
    """
    headers = {"ETag": etag(version, *parts), "Cache-Control": "no-cache"}
    if modified is not None:
        when = modified.replace(tzinfo=UTC) if modified.tzinfo is None else modified
        headers["Last-Modified"] = format_datetime(
            when.astimezone(UTC).replace(microsecond=0), usegmt=True
        )
    return headers


def etag_matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``tag`` (weak comparison, RFC 9110 13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = tag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == wanted for t in if_none_match.split(","))


# ---------------------------------------------------------------------------- entry point
@dataclass(frozen=True)
class _Request:
    """What :func:`export_frame` passes to each format's writer besides the frame."""

    out: Out
    name: str
    meta: Mapping[str, Any] | None
    simplify_m: float | None


def export_frame(
    frame: pd.DataFrame,
    fmt: str,
    *,
    out: Out,
    meta: Mapping[str, Any] | None = None,
    layer: str | None = None,
    simplify_m: float | None = None,
) -> None:
    """Write ``frame`` in the format ``fmt`` to ``out``: the one door both faces use.

    Parameters
    ----------
    frame
        A table or a layer (GeoDataFrame, EPSG:27700 unless it says otherwise).
    fmt
        One of :data:`FORMATS`: ``csv``, ``json``, ``geojson`` (text); ``xlsx``, ``gpkg``,
        ``shp`` (binary; ``shp`` to a stream is a zip of the Shapefile's files).
    out
        A file path, or a stream: a text stream for text formats (a binary one is accepted and
        written UTF-8), a binary stream for binary formats.
    meta
        Metadata about the answer (method, period, parameters): the ``geo_service`` member of
        GeoJSON and JSON, a sheet of the workbook, the GeoPackage layer's metadata. CSV and
        Shapefile have nowhere to keep it and leave it out.
    layer
        The GeoPackage layer, Excel sheet or zipped Shapefile name (default: the file's stem,
        else ``data``).
    simplify_m
        GeoJSON only: simplification in metres, see :func:`geojson_document`. Other formats are
        written at full detail.

    Raises
    ------
    InputError
        ``fmt`` is not allowed (the message lists the allowed ones), ``geojson`` is asked of a
        table without geometry, or a binary format is asked for on a text stream.
    """
    writer = FORMATS.get(fmt)
    if writer is None:
        raise InputError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")
    name = layer or (Path(out).stem if isinstance(out, Path | str) else "data")
    writer(frame, _Request(out=out, name=name, meta=meta, simplify_m=simplify_m))


def _text_out(out: Out, write: Callable[[TextIO], None]) -> None:
    if isinstance(out, Path | str):
        with open(out, "w", encoding="utf-8", newline="") as handle:
            write(handle)
    elif isinstance(out, io.TextIOBase):
        write(out)
    else:
        wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="")  # type: ignore[type-var]
        write(wrapper)
        wrapper.flush()
        wrapper.detach()  # leave the caller's stream open


def _binary_out(request: _Request, fmt: str, write: Callable[[Path], None]) -> None:
    out = request.out
    if isinstance(out, Path | str):
        write(Path(out))
        return
    if isinstance(out, io.TextIOBase):
        raise InputError(f"{fmt} is a binary format: give a file path or a binary stream")
    with tempfile.TemporaryDirectory(prefix="geo-service-export-") as folder:
        # Inside a zip the files carry the layer's name.
        target = Path(folder) / (re.sub(r"[^\w.-]", "_", request.name) + f".{fmt}")
        write(target)
        if fmt == "shp":
            _zip_folder(Path(folder), out)  # type: ignore[arg-type]
        else:
            with open(target, "rb") as handle:
                shutil.copyfileobj(handle, out)  # type: ignore[misc]


def _zip_folder(folder: Path, out: IO[bytes]) -> None:
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.write(path, arcname=path.name)


def _export_csv(frame: pd.DataFrame, request: _Request) -> None:
    _text_out(request.out, lambda stream: write_csv(frame, stream))


def _export_json(frame: pd.DataFrame, request: _Request) -> None:
    _text_out(request.out, lambda stream: write_json(frame, stream, meta=request.meta))


def _export_geojson(frame: pd.DataFrame, request: _Request) -> None:
    import geopandas as gpd

    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError("geojson needs a layer with geometry; this table has none (try csv)")
    _text_out(
        request.out,
        lambda stream: write_geojson(
            frame, stream, meta=request.meta, simplify_m=request.simplify_m
        ),
    )


def _export_xlsx(frame: pd.DataFrame, request: _Request) -> None:
    if isinstance(request.out, io.TextIOBase):
        raise InputError("xlsx is a binary format: give a file path or a binary stream")
    write_excel({request.name: frame}, request.out, meta=request.meta)  # type: ignore[arg-type]


def _export_gpkg(frame: pd.DataFrame, request: _Request) -> None:
    _binary_out(
        request,
        "gpkg",
        lambda path: write_geopackage(frame, path, layer=request.name, meta=request.meta),
    )


def _export_shp(frame: pd.DataFrame, request: _Request) -> None:
    _binary_out(request, "shp", lambda path: _ignore(write_shapefile(frame, path)))


def _ignore(_: object) -> None:
    return None


#: Export format -> its writer.
FORMATS: dict[str, Callable[[pd.DataFrame, _Request], None]] = {
    "csv": _export_csv,
    "json": _export_json,
    "geojson": _export_geojson,
    "xlsx": _export_xlsx,
    "gpkg": _export_gpkg,
    "shp": _export_shp,
}
