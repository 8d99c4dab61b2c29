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

**Codes or labels.** Every coded field the product uses (severity, first and second road class,
junction detail, urban or rural area, speed limit) is read from DfT codes (``3``) or DfT labels
(``A``, any case), as the Kaggle ``Accident_Information.csv`` and R ``stats19`` formatted tables
carry them. A DfT "no value" entry (-1, "Data missing or out of range", "unknown (self
reported)") is missing; a value that is neither a code nor a label of the field is missing and
named in one warning per file and field.

**Decoding.**

- ``severity`` and ``subcategory``: "Fatal" / "Serious" / "Slight". The subcategory repeats the
  severity so that category groups can select "killed or seriously injured" collisions the same
  way they select burglary types.
- ``road_1`` / ``road_2``: class + number, e.g. "M1", "A41", "A1(M)", "B4505"; "Unclassified";
  a C road or a classified road with no number gives "C road", "A road", ...; no second road
  (class 0, "not at junction") is missing.
- ``junction``: the DfT label. ``junction_detail`` is read with both the 2011 and the 2024 code
  lists (they share only 0, 99 and -1, with the same meanings; 2024 code 19 is "Other
  junction", from the DfT 2025 data guide). The 2024 layout moved the older values
  (roundabouts, slip roads) to ``junction_detail_historic``: where ``junction_detail`` is -1,
  unknown, empty or absent, the historic value is used.
- ``urban_rural``: "Urban" / "Rural"; ``speed_limit`` mph; ``casualties`` from
  ``number_of_casualties``.
- ``adjusted_serious`` / ``adjusted_slight``: the DfT severity adjustment for the change to
  injury-based recording (CRASH, COPA): the probability (0..1) that the collision would have
  been serious / slight under injury-based reporting (``collision_adjusted_severity_serious``,
  or the older ``adjusted_serious`` names).
- ``highway_authority``: ``local_authority_highway``, as an ONS code (a DfT authority name such as
  "Hertfordshire" becomes its code); ``area_hint`` is ``local_authority_ons_district``;
  ``lsoa_code`` is the collision's LSOA.
- ``occurred_at`` from ``date`` (dd/mm/yyyy, or ISO yyyy-mm-dd) and ``time`` (HH:MM; a missing or
  unreadable time leaves ``time_known`` false).
- Location: easting/northing (EPSG:27700) when present, else longitude/latitude (WGS84).
  ``NULL`` and empty fields are missing. A collision with neither is kept without a location; one
  with an easting but no northing (or the reverse) and no longitude/latitude is rejected.

**Casualty and vehicle tables.** A DfT download holds collision, casualty and vehicle tables
side by side. Files are told apart by their header (:mod:`._stats19_tables`): casualty tables
given with collision tables (named together, or in one folder) are summed per collision into
``ksi_casualties``, ``pedestrian_casualties``, ``cyclist_casualties`` and
``motorcyclist_casualties``; vehicle tables so given are counted per collision into
``vehicles``, ``motorcycles_involved``, ``pedal_cycles_involved`` and ``hgvs_involved`` (DfT
``vehicle_type`` codes or labels; the code sets are stated in :mod:`._stats19_tables`).
Casualty or vehicle tables with no collision table are refused, since the figures could not be
linked to anything.

A missing or unreadable index, severity or date rejects the row, as does a date before 1979
(when STATS19 begins) or after the current month, and an easting/northing pair that is
longitude/latitude-sized (:mod:`._plausible`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import replace
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
    check_month_range,
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
    expand_paths,
    open_file,
    read_columns,
)
from geo_service.sources._load import load_each
from geo_service.sources._plausible import FIRST_MONTH, check_crs_fit
from geo_service.sources._result import LoadResult, SourceFile
from geo_service.sources._stats19_codes import (
    CodedField,
    decode,
    highway_codes,
    labelled_fields,
    probabilities,
    speed_limits,
)
from geo_service.sources._stats19_codes import code_lists as code_lists
from geo_service.sources._stats19_tables import (
    CASUALTY,
    COLLISION,
    VEHICLE,
    casualty_figures,
    link_casualties,
    link_vehicles,
    refuse_without_collisions,
    table_kind,
    vehicle_figures,
)

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
    "junction_historic": ("junction_detail_historic",),
    "speed_limit": ("speed_limit",),
    "casualties": ("number_of_casualties",),
    "urban_rural": ("urban_or_rural_area",),
    "ons_district": ("local_authority_ons_district",),
    "highway": ("local_authority_highway", "local_authority_(highway)"),
    "adjusted_serious": (
        "collision_adjusted_severity_serious",
        "collision_adjusted_serious",
        "accident_adjusted_severity_serious",
        "adjusted_severity_serious",
        "adjusted_serious",
    ),
    "adjusted_slight": (
        "collision_adjusted_severity_slight",
        "collision_adjusted_slight",
        "accident_adjusted_severity_slight",
        "adjusted_severity_slight",
        "adjusted_slight",
    ),
    "lsoa": ("lsoa_of_collision_location", "lsoa_of_accident_location"),
}
REQUIRED = ("index", "severity", "date")
#: Coded field -> how it decodes (the DfT code lists that apply; the labels stored).
CODED: Mapping[str, CodedField] = {
    "severity": CodedField(("collision_severity",)),
    "road_1_class": CodedField(("first_road_class",)),
    "road_2_class": CodedField(("second_road_class",)),
    # Pre-2024 files carry the 2011 codes under junction_detail. The two lists share only
    # 0, 99 and -1, which mean the same in both, so one table decodes either.
    "junction": CodedField(("junction_detail", "junction_detail_historic")),
    "junction_historic": CodedField(("junction_detail_historic",)),
    "urban_rural": CodedField(("urban_or_rural_area",), keep=("Urban", "Rural")),
}
_ROAD_PREFIX = {"Motorway": "M", "A(M)": "A", "A": "A", "B": "B", "C": "C"}
_ROAD_NAMES = {"Motorway": "Motorway", "A(M)": "A(M) road", "A": "A road", "B": "B road"}


def load_stats19(
    paths: str | Path | Iterable[str | Path], *, progress: bool = False, threads: int | None = None
) -> LoadResult:
    """Load DfT STATS19 collision CSV files (current lower-case or older CamelCase headers).

    Parameters
    ----------
    paths
        Files, and folders searched recursively for ``*.csv`` / ``*.csv.gz``. Casualty and
        vehicle tables among them are linked to their collisions.
    progress
        Show a progress bar over the files.
    threads
        Files loaded at once, in threads (None: one per core; 1 on a Dask worker).

    Returns
    -------
    LoadResult
        Canonical incidents (source ``stats19``, category "Road traffic collision"), rejects,
        duplicated collision indexes and the provenance of the collision tables.

    Raises
    ------
    InputError
        A whole-file problem, or casualty/vehicle tables without a collision table.
    """
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    files = expand_paths(given, folder_patterns=FOLDER_PATTERNS)
    kinds = {path: table_kind(path) for path in files}
    collisions = [p for p in files if kinds[p] == COLLISION]
    if not collisions:
        refuse_without_collisions([Path(p) for p in given], kinds)
    result = load_each(
        collisions, _load_file, folder_patterns=FOLDER_PATTERNS, progress=progress,
        what="STATS19 files", threads=threads,
    )  # fmt: skip
    return replace(result, incidents=_linked(result.incidents, files, kinds))


def _linked(incidents: pd.DataFrame, files: list[Path], kinds: Mapping[Path, str]) -> pd.DataFrame:
    """``incidents`` with the figures of the casualty and vehicle tables among ``files``."""
    casualty_tables = [p for p in files if kinds[p] == CASUALTY]
    if casualty_tables:
        figures = casualty_figures(casualty_tables)
        incidents = link_casualties(incidents, figures, prefix=SOURCE)
    vehicle_tables = [p for p in files if kinds[p] == VEHICLE]
    if vehicle_tables:
        incidents = link_vehicles(incidents, vehicle_figures(vehicle_tables), prefix=SOURCE)
    return incidents


def _load_file(path: Path) -> tuple[SourceFile, pd.DataFrame, pd.DataFrame]:
    names, rows = _read(path)
    col = {field: rows.columns[name] for field, name in names.items()}
    rejects = Rejects(path, rows.lines)
    for field in REQUIRED:
        rejects.add(is_missing(col[field]), names[field], col[field], "empty (required)")
    severity = _decode_severity(rejects, col["severity"], names["severity"])
    occurred_at, time_known = _occurred_at(rejects, col, names)
    month = pa.array(np.datetime_as_string(occurred_at, unit="M"))
    check_month_range(
        rejects, month, names["date"], first=FIRST_MONTH[SOURCE], shown_as=col["date"]
    )
    x, y = _location(rejects, col, names)
    frame, rejected = file_part(
        rejects,
        {
            "incident_id": prefixed_ids(SOURCE, col["index"]),
            "source": SOURCE,
            "category": ROAD_TRAFFIC_COLLISION,
            "subcategory": severity,
            "month": month,
            "occurred_at": occurred_at,
            "time_known": time_known,
            "x": x,
            "y": y,
            "lsoa_code": _lsoa(col.get("lsoa")),
            "area_hint": col.get("ons_district"),
            "severity": severity,
            **_decoded_details(col, names, path),
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
    """Severity labels; a value that is not a DfT severity code or label rejects the row."""
    table = CODED["severity"].table()
    text = pc.utf8_lower(pc.utf8_trim_whitespace(values))
    text = pc.replace_substring_regex(text, r"^(-?\d+)\.0+$", r"\1")
    keys = pa.array(list(table), type=pa.string())
    decoded = pc.take(pa.array(list(table.values()), type=pa.string()), pc.index_in(text, keys))
    bad = is_missing(decoded) & ~is_missing(values)
    rejects.add(bad, column, values, "unknown severity: expected 1, 2, 3 or Fatal/Serious/Slight")
    return decoded


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
        misfit, reason = check_crs_fit(easting, northing, geographic=False, crs="EPSG:27700")
        rejects.add(has_grid & misfit, names["easting"], col["easting"], reason)
        has_grid &= ~misfit
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


def _decoded_details(
    col: Mapping[str, pa.Array], names: Mapping[str, str], path: Path
) -> dict[str, object]:
    """Roads, junction, speed limit, casualties, urban/rural, adjustment and authority, decoded."""
    n = len(next(iter(col.values())))
    labels, as_label = {}, {}
    for field in ("road_1_class", "road_2_class", "junction", "junction_historic", "urban_rural"):
        if field in col:
            labels[field], as_label[names[field]] = decode(
                col[field], CODED[field], path=path, column=names[field]
            )
        else:
            labels[field] = pa.nulls(n, pa.string())
    labelled_fields(path, as_label)
    return {
        "road_1": road_names(labels["road_1_class"], _trimmed(col, "road_1_number", n)),
        "road_2": road_names(labels["road_2_class"], _trimmed(col, "road_2_number", n)),
        # 2024 layout: -1/unknown/empty in the new field falls back to the historic field.
        "junction": pc.coalesce(labels["junction"], labels["junction_historic"]),
        "urban_rural": labels["urban_rural"],
        "speed_limit": speed_limits(
            col.get("speed_limit"), n=n, path=path, column=names.get("speed_limit", "")
        ),
        "casualties": whole_numbers(col.get("casualties"), low=0, high=10_000, n=n),
        "adjusted_serious": _probabilities(col, names, "adjusted_serious", path, n),
        "adjusted_slight": _probabilities(col, names, "adjusted_slight", path, n),
        "highway_authority": highway_codes(col.get("highway")),
    }


def _probabilities(
    col: Mapping[str, pa.Array], names: Mapping[str, str], field: str, path: Path, n: int
) -> np.ndarray:
    return probabilities(col.get(field), n=n, path=path, column=names.get(field, field))


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
