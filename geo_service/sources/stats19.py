"""Loader for DfT STATS19 road collision CSV files (the "collision"/"accident" table).

**Origin.** Department for Transport, "Road Safety Data": one row per reported personal-injury
road collision, as published nationally (``dft-road-casualty-statistics-collision-<year>.csv``)
or extracted by a force or council in the same layout.

**Licence.** Open Government Licence v3.0. The code lists shipped in
``geo_service/data/stats19_codes.csv`` are the DfT data guide's (OGL v3).

**Headers.** Both the current lower-case names (``collision_index`` or ``accident_index``,
``location_easting_osgr``, ``collision_severity``, ``first_road_class``, ...) and the older
CamelCase ones (``Accident_Index``, ``Location_Easting_OSGR``, ``Accident_Severity``,
``1st_Road_Class``, ...) are recognised; matching ignores case.

**Decoding.**

- ``severity`` and ``subcategory``: "Fatal" / "Serious" / "Slight" (codes 1-3, labels also
  accepted). The subcategory repeats the severity so that category groups can select
  "killed or seriously injured" collisions the same way they select burglary types.
- ``road_1`` / ``road_2``: class + number, e.g. "M1", "A41", "A1(M)", "B4505"; "Unclassified";
  a C road or a classified road with no number gives "C road", "A road", ...; no second road
  (class 0, "not at junction") is missing.
- ``junction``: the DfT label (2011 and 2024 specifications; their codes do not overlap).
- ``urban_rural``: "Urban" / "Rural"; ``speed_limit`` mph (unknown codes -1 and 99 are missing);
  ``casualties`` from ``number_of_casualties``.
- ``occurred_at`` from ``date`` (dd/mm/yyyy, or ISO yyyy-mm-dd) and ``time`` (HH:MM; a missing or
  unreadable time leaves ``time_known`` false).
- ``area_hint`` is ``local_authority_ons_district`` when the file has it; ``lsoa_code`` is the
  collision's LSOA when given.
- Location: easting/northing (EPSG:27700) when present, else longitude/latitude (WGS84).
  ``NULL`` and empty fields are missing. A collision with neither is kept without a location; one
  with an easting but no northing (or the reverse) and no longitude/latitude is rejected.
- ``junction`` codes in neither DfT list are left missing and named in one warning per file.

A missing or unreadable index, severity or date rejects the row.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_service.errors import InputError
from geo_service.schema import ROAD_TRAFFIC_COLLISION
from geo_service.sources._checks import (
    Rejects,
    check_in_gb,
    file_part,
    is_missing,
    located_lonlat,
    months_of,
    parse_numbers,
    prefixed_ids,
)
from geo_service.sources._files import (
    RawFile,
    RawRows,
    open_file,
    read_columns,
)
from geo_service.sources._load import load_each
from geo_service.sources._result import LoadResult, SourceFile

logger = logging.getLogger(__name__)

SOURCE = "stats19"
FOLDER_PATTERNS = ("*.csv", "*.csv.gz")
NULL_VALUES = ("", "NULL", "null", "NA")

#: Canonical field -> accepted header names (lower case), first match wins.
FIELDS: Mapping[str, tuple[str, ...]] = {
    "index": ("collision_index", "accident_index"),
    "severity": ("collision_severity", "accident_severity"),
    "date": ("date",),
    "time": ("time",),
    "easting": ("location_easting_osgr",),
    "northing": ("location_northing_osgr",),
    "longitude": ("longitude",),
    "latitude": ("latitude",),
    "road_1_class": ("first_road_class", "1st_road_class"),
    "road_1_number": ("first_road_number", "1st_road_number"),
    "road_2_class": ("second_road_class", "2nd_road_class"),
    "road_2_number": ("second_road_number", "2nd_road_number"),
    "junction": ("junction_detail",),
    "speed_limit": ("speed_limit",),
    "casualties": ("number_of_casualties",),
    "urban_rural": ("urban_or_rural_area",),
    "ons_district": ("local_authority_ons_district",),
    "lsoa": ("lsoa_of_collision_location", "lsoa_of_accident_location"),
}
REQUIRED = ("index", "severity", "date")
_ROAD_PREFIX = {"Motorway": "M", "A(M)": "A", "A": "A", "B": "B", "C": "C"}
_ROAD_NAMES = {"Motorway": "Motorway", "A(M)": "A(M) road", "A": "A road", "B": "B road"}


def load_stats19(paths: str | Path | Iterable[str | Path], *, progress: bool = False) -> LoadResult:
    """Load DfT STATS19 collision CSV files (current lower-case or older CamelCase headers).

    Parameters
    ----------
    paths
        Files, and folders searched recursively for ``*.csv`` / ``*.csv.gz``.
    progress
        Show a progress bar over the files.

    Returns
    -------
    LoadResult
        Canonical incidents (source ``stats19``, category "Road traffic collision"), rejects,
        duplicated collision indexes and file provenance.
    """
    return load_each(
        paths, _load_file, folder_patterns=FOLDER_PATTERNS, progress=progress, what="STATS19 files"
    )


def code_lists() -> dict[str, dict[str, str]]:
    """The shipped DfT code lists: variable -> code -> label."""
    return {name: dict(codes) for name, codes in _code_lists().items()}


@lru_cache(maxsize=1)
def _code_lists() -> dict[str, tuple[tuple[str, str], ...]]:
    source = resources.files("geo_service").joinpath("data/stats19_codes.csv")
    with source.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    return {
        str(variable): tuple(zip(group["code"], group["label"], strict=True))
        for variable, group in table.groupby("variable")
    }


def _load_file(path: Path) -> tuple[SourceFile, pd.DataFrame, pd.DataFrame]:
    names, rows = _read(path)
    col = {field: rows.columns[name] for field, name in names.items()}
    rejects = Rejects(path, rows.lines)
    for field in REQUIRED:
        rejects.add(is_missing(col[field]), names[field], col[field], "empty (required)")
    severity = _decode_severity(rejects, col["severity"], names["severity"])
    occurred_at, time_known = _occurred_at(rejects, col, names)
    x, y = _location(rejects, col, names)
    frame, rejected = file_part(
        rejects,
        {
            "incident_id": prefixed_ids(SOURCE, col["index"]),
            "source": SOURCE,
            "category": ROAD_TRAFFIC_COLLISION,
            "subcategory": severity,
            "month": pa.array(np.datetime_as_string(occurred_at, unit="M")),
            "occurred_at": occurred_at,
            "time_known": time_known,
            "x": x,
            "y": y,
            "lsoa_code": _lsoa(col.get("lsoa")),
            "area_hint": col.get("ons_district"),
            "severity": severity,
            **_decoded_details(col, path),
            "source_file": path.name,
            "source_line": rows.lines,
        },
        malformed=rows.malformed,
    )
    return SourceFile(path, rows.sha256, rows.rows, months_of(frame)), frame, rejected


def _read(path: Path) -> tuple[dict[str, str], RawRows]:
    """Header names found and the needed columns (the file's bytes are released on return)."""
    raw = open_file(path)
    names = _resolve_columns(raw)
    return names, read_columns(raw, list(names.values()), null_values=NULL_VALUES)


def _lsoa(values: pa.Array | None) -> pa.Array | None:
    """LSOA codes, with the DfT "-1" (not known) missing."""
    if values is None:
        return None
    return pc.if_else(pc.equal(values, "-1"), pa.scalar(None, pa.string()), values)


def _resolve_columns(raw: RawFile) -> dict[str, str]:
    """Canonical field -> the file's header name; raises naming what is missing."""
    by_lower = {name.lower(): name for name in raw.header}
    names = {}
    for field, accepted in FIELDS.items():
        found = next((by_lower[a] for a in accepted if a in by_lower), None)
        if found is not None:
            names[field] = found
    missing = [" or ".join(FIELDS[f]) for f in REQUIRED if f not in names]
    located = {"easting", "northing"} <= set(names) or {"longitude", "latitude"} <= set(names)
    if not located:
        missing.append("location_easting_osgr + location_northing_osgr, or longitude + latitude")
    if missing:
        raise InputError(
            f"{raw.path}: not a STATS19 collision file: missing column(s) {'; '.join(missing)}; "
            f"found {', '.join(raw.header) or '-'}"
        )
    return names


def _decode_severity(rejects: Rejects, values: pa.Array, column: str) -> pa.Array:
    codes = _code_lists()["collision_severity"]
    table = {code: label for code, label in codes} | {label.lower(): label for _, label in codes}
    text = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    decoded = _lookup(text, table)
    bad = is_missing(decoded) & ~is_missing(values)
    rejects.add(bad, column, values, "unknown severity: expected 1, 2, 3 or Fatal/Serious/Slight")
    return decoded


def _lookup(values: pa.Array, table: Mapping[str, str]) -> pa.Array:
    """Map text through ``table``; values not in it become null."""
    keys = pa.array(list(table), type=pa.string())
    position = pc.index_in(values, value_set=keys)
    return pc.take(pa.array(list(table.values()), type=pa.string()), position)


def _occurred_at(
    rejects: Rejects, col: Mapping[str, pa.Array], names: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """Date (+ time where readable) as datetime64[us], and whether a time was known."""
    text = pd.Series(col["date"].to_pandas(), dtype="str").str.strip()
    dates = pd.to_datetime(text, format="%d/%m/%Y", errors="coerce")
    iso = pd.to_datetime(text.where(dates.isna()), format="%Y-%m-%d", errors="coerce")
    dates = dates.fillna(iso)
    bad = dates.isna().to_numpy() & text.notna().to_numpy()
    rejects.add(bad, names["date"], col["date"], "not a date: expected dd/mm/yyyy or yyyy-mm-dd")
    offset = pd.Series(pd.NaT, index=text.index, dtype="timedelta64[us]")
    if "time" in col:
        clock = pd.Series(col["time"].to_pandas(), dtype="str").str.strip()
        offset = pd.to_timedelta(
            clock.where(clock.str.fullmatch(r"\d{1,2}:\d{2}")) + ":00", errors="coerce"
        )
    known = offset.notna().to_numpy() & (offset < pd.Timedelta(days=1)).to_numpy()
    stamps = (dates + offset.where(known, pd.Timedelta(0))).to_numpy(dtype="datetime64[us]")
    return stamps, known


def _location(
    rejects: Rejects, col: Mapping[str, pa.Array], names: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:27700 x/y: easting/northing where both are given, else projected lon/lat.

    A row with only one of easting/northing and no usable longitude/latitude is rejected.
    """
    n = len(rejects.lines)
    x, y = np.full(n, np.nan), np.full(n, np.nan)
    has_grid = np.zeros(n, dtype=bool)
    halves: list[tuple[np.ndarray, str, str]] = []
    if "easting" in col and "northing" in col:
        easting = parse_numbers(rejects, col["easting"], names["easting"])
        northing = parse_numbers(rejects, col["northing"], names["northing"])
        halves = [
            (np.isfinite(easting) & np.isnan(northing), "northing", "easting"),
            (np.isnan(easting) & np.isfinite(northing), "easting", "northing"),
        ]
        has_grid = np.isfinite(easting) & np.isfinite(northing)
        has_grid &= ~((easting == 0) & (northing == 0))
        x[has_grid], y[has_grid] = easting[has_grid], northing[has_grid]
        check_in_gb(rejects, x, y, col["easting"], names["easting"])
    if "longitude" in col and "latitude" in col:
        no_grid = pa.array(~has_grid)
        lon = pc.if_else(no_grid, col["longitude"], pa.nulls(n, pa.string()))
        lat = pc.if_else(no_grid, col["latitude"], pa.nulls(n, pa.string()))
        lx, ly = located_lonlat(rejects, lon, lat, columns=(names["longitude"], names["latitude"]))
        x[~has_grid], y[~has_grid] = lx[~has_grid], ly[~has_grid]
    for half, empty, given in halves:
        reason = f"empty while {names[given]} is given, and no longitude/latitude"
        rejects.add(half & np.isnan(x), names[empty], col[empty], reason)
    x[rejects.rejected] = np.nan
    y[rejects.rejected] = np.nan
    return x, y


def _decoded_details(col: Mapping[str, pa.Array], path: Path) -> dict[str, object]:
    """Roads, junction, speed limit, casualties and urban/rural, decoded."""
    codes = _code_lists()
    n = len(next(iter(col.values())))
    junction_codes = dict(codes["junction_detail_historic"]) | dict(codes["junction_detail"])
    usable_junctions = {k: v for k, v in junction_codes.items() if k not in ("-1", "99")}
    _warn_unknown_codes(path, _trimmed(col, "junction", n), junction_codes, "junction_detail")
    urban = {k: v for k, v in codes["urban_or_rural_area"] if v in ("Urban", "Rural")}
    return {
        "road_1": road_names(
            _trimmed(col, "road_1_class", n),
            _trimmed(col, "road_1_number", n),
            codes=dict(codes["first_road_class"]),
        ),
        "road_2": road_names(
            _trimmed(col, "road_2_class", n),
            _trimmed(col, "road_2_number", n),
            codes=dict(codes["second_road_class"]),
        ),
        "junction": _lookup(_trimmed(col, "junction", n), usable_junctions),
        "urban_rural": _lookup(_trimmed(col, "urban_rural", n), urban),
        "speed_limit": whole_numbers(col.get("speed_limit"), low=5, high=70, n=n),
        "casualties": whole_numbers(col.get("casualties"), low=0, high=10_000, n=n),
    }


def _warn_unknown_codes(path: Path, values: pa.Array, table: Mapping[str, str], what: str) -> None:
    """One warning naming the codes of ``values`` that ``table`` does not list (nulls aside)."""
    unknown = pc.filter(values, pc.invert(pc.is_in(values, value_set=pa.array(list(table)))))
    codes = sorted({str(code) for code in pc.unique(unknown).to_pylist() if code})
    if codes:
        logger.warning(
            "%s: %s code(s) not in the DfT code lists, left missing: %s",
            path,
            what,
            ", ".join(codes),
        )


def _trimmed(col: Mapping[str, pa.Array], field: str, n: int) -> pa.Array:
    if field not in col:
        return pa.nulls(n, pa.string())
    return pc.utf8_trim_whitespace(col[field])


def whole_numbers(
    values: pa.Array | None, *, low: int, high: int, n: int = 0
) -> pd.api.extensions.ExtensionArray:
    """Integers in ``low..high`` as Int64; anything else (codes -1, 99, text) missing.

    ``n`` is the length when ``values`` is None (the column is absent).
    """
    if values is None:
        return pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, dtype=bool))
    numbers = pd.to_numeric(pd.Series(values.to_pandas(), dtype="str"), errors="coerce")
    valid = numbers.between(low, high) & (numbers % 1 == 0)
    return pd.array(numbers.where(valid).astype("Float64"), dtype="Int64")


def road_names(
    road_class: pa.Array, number: pa.Array, *, codes: Mapping[str, str] | None = None
) -> pa.Array:
    """Road names ("A41", "M1", "A1(M)", "Unclassified") from class and number columns.

    ``codes`` decodes DfT class codes to labels; without it the class column holds the labels
    themselves ("A", "B", "Motorway" or "M", "A(M)", "C", "Unclassified").
    """
    classes = pc.utf8_trim_whitespace(road_class)
    numbers = pc.utf8_trim_whitespace(number)
    pairs = pd.DataFrame({"c": classes.to_pandas(), "n": numbers.to_pandas()}, dtype=object)
    pairs = pairs.fillna("")
    index, distinct = pd.factorize(pd.MultiIndex.from_frame(pairs))
    table = dict(codes) if codes is not None else {"M": "Motorway"}
    names = [_road_name(table.get(c, c if codes is None else None), r) for c, r in distinct]
    return pa.array(names, type=pa.string()).take(pa.array(index))


def _road_name(label: str | None, number: str) -> str | None:
    """ "A41", "M1", "A1(M)", "Unclassified", "C road"; None when there is no road."""
    if label == "Unclassified":
        return "Unclassified"
    if label not in _ROAD_PREFIX:
        return None
    if not number.isdigit() or int(number) <= 0:
        return _ROAD_NAMES.get(label, "C road")
    suffix = "(M)" if label == "A(M)" else ""
    return f"{_ROAD_PREFIX[label]}{int(number)}{suffix}"
