"""Loader for any CSV export (fire service, council collisions, a force's own extract).

A TOML mapping (see ``docs/sources.md`` and ``geo_service/data/mappings/``) names the id, date,
time and coordinate columns and the rules that give each row its category, subcategory and
severity. The loader adds no quirks of its own: what it does with each row is what the mapping
says, validated like every other source (empty ids, unreadable dates, months and coordinates,
rows no category rule matches and severities other than Fatal/Serious/Slight are rejected).

Dates: ``date_format`` (strptime) when given, else ISO 8601; a timestamp with a UTC offset is
converted to UTC. Times: ``time`` as one column (``time_format``, default ``%H:%M``) or as
``[hour, minute]`` columns; a missing or unreadable time leaves ``time_known`` false.
Coordinates: ``x``/``y`` in ``crs`` (default EPSG:27700) or ``lon``/``lat`` (default EPSG:4326),
checked like police.uk points; ``outside_great_britain = "keep"`` keeps points far from Great
Britain (e.g. a foreign test data set) instead of rejecting them.
Missing values: an empty field, and any field whose whole text is listed in the mapping's
top-level ``missing = [...]`` (e.g. ``["\\\\"]`` for exports that write a backslash for "none").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_service.schema import SEVERITIES
from geo_service.sources._checks import (
    Rejects,
    check_month,
    check_required,
    file_part,
    is_missing,
    located_lonlat,
    months_of,
    prefixed_ids,
)
from geo_service.sources._files import open_file, read_columns, require_columns
from geo_service.sources._load import load_each
from geo_service.sources._mapping import (
    NUMBER_FIELDS,
    ROAD_FIELDS,
    Classifier,
    ColumnMapping,
    read_mapping,
)
from geo_service.sources._result import LoadResult, SourceFile
from geo_service.sources.stats19 import road_names, whole_numbers

FOLDER_PATTERNS = ("*.csv", "*.csv.gz")
_TEXT_COLUMNS = {
    "location": "location_text",
    "area_hint": "area_hint",
    "lsoa": "lsoa_code",
    "outcome": "outcome",
    "junction": "junction",
    "urban_rural": "urban_rural",
}
_NUMBER_RANGES = {"casualties": (0, 10_000), "speed_limit": (5, 70)}


def load_mapped(
    paths: str | Path | Iterable[str | Path], *, mapping: str | Path, progress: bool = False
) -> LoadResult:
    """Load CSV files whose columns the TOML ``mapping`` describes.

    Parameters
    ----------
    paths
        Files, and folders searched recursively for ``*.csv`` / ``*.csv.gz``.
    mapping
        The mapping TOML file; every problem in it is reported at once.
    progress
        Show a progress bar over the files.

    Returns
    -------
    LoadResult
        Canonical incidents (source ``mapped:<name>``), rejects, duplicates and provenance.
    """
    spec = read_mapping(mapping)
    return load_each(
        paths,
        lambda path: _load_file(path, spec),
        folder_patterns=FOLDER_PATTERNS,
        progress=progress,
        what=f"{spec.name} files",
    )


def _load_file(path: Path, spec: ColumnMapping) -> tuple[SourceFile, pd.DataFrame, pd.DataFrame]:
    raw = open_file(path)
    require_columns(raw, spec.file_columns(), what=f"'{spec.name}' ({spec.path.name})")
    rows = read_columns(raw, spec.file_columns(), null_values=("", *spec.missing))
    del raw  # release the file's bytes before validating
    col = rows.columns
    rejects = Rejects(path, rows.lines)
    id_column = str(spec.columns["id"])
    check_required(rejects, col[id_column], id_column)
    occurred_at, time_known, month = _when(rejects, col, spec)
    x, y = _where(rejects, col, spec)
    category = _classify_required(rejects, spec.category, col)
    severity = _classify_severity(rejects, spec.severity, col)
    frame, rejected = file_part(
        rejects,
        {
            "incident_id": prefixed_ids(spec.source, col[id_column]),
            "source": spec.source,
            "category": category,
            "subcategory": _classify(spec.subcategory, col) if spec.subcategory else None,
            "month": month,
            "occurred_at": occurred_at,
            "time_known": time_known,
            "x": x,
            "y": y,
            "severity": severity,
            **_details(col, spec),
            "source_file": path.name,
            "source_line": rows.lines,
        },
        malformed=rows.malformed,
    )
    return SourceFile(path, rows.sha256, rows.rows, months_of(frame)), frame, rejected


def _when(
    rejects: Rejects, col: Mapping[str, pa.Array], spec: ColumnMapping
) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """occurred_at, time_known and month ("YYYY-MM") of every row."""
    n = len(rejects.lines)
    if "date" not in spec.columns:
        month_column = str(spec.columns["month"])
        check_month(rejects, col[month_column], month_column)
        return (
            np.full(n, np.datetime64("NaT"), "datetime64[us]"),
            np.zeros(n, bool),
            col[month_column],
        )
    date_column = str(spec.columns["date"])
    dates, has_time = _parse_dates(rejects, col[date_column], date_column, spec)
    offset = _time_of_day(col, spec) if "time" in spec.columns else None
    if offset is not None:
        has_time = offset.notna().to_numpy()
        dates = dates.dt.normalize() + offset.fillna(pd.Timedelta(0))
    stamps = dates.to_numpy(dtype="datetime64[us]")
    return stamps, has_time & ~np.isnat(stamps), pa.array(np.datetime_as_string(stamps, unit="M"))


def _parse_dates(
    rejects: Rejects, values: pa.Array, column: str, spec: ColumnMapping
) -> tuple[pd.Series, np.ndarray]:
    text = pd.Series(values.to_pandas(), dtype="str").str.strip()
    fmt = spec.columns.get("date_format")
    if isinstance(fmt, str):
        dates = pd.to_datetime(text, format=fmt, errors="coerce")
        has_time = np.full(len(text), any(d in fmt for d in ("%H", "%I", "%M", "%T", "%R")))
        expected = fmt
    else:
        dates = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
        dates = dates.dt.tz_localize(None)
        has_time = (text.str.len() > 10).to_numpy(dtype=bool, na_value=False)
        expected = "an ISO 8601 date"
    bad = dates.isna().to_numpy() & text.notna().to_numpy()
    rejects.add(bad, column, values, f"not a date: expected {expected}")
    rejects.add(is_missing(values), column, values, f"{column} is empty (required)")
    return dates.astype("datetime64[us]"), has_time


def _time_of_day(col: Mapping[str, pa.Array], spec: ColumnMapping) -> pd.Series:
    """Time of day as a timedelta (NaT where missing or unreadable)."""
    named = spec.columns["time"]
    if isinstance(named, tuple):
        hour, minute = (
            pd.to_numeric(pd.Series(col[c].to_pandas(), dtype="str"), errors="coerce")
            for c in named
        )
        valid = hour.between(0, 23) & minute.between(0, 59)
        total = (hour * 60 + minute).where(valid)
        return pd.to_timedelta(total, unit="min")
    fmt = str(spec.columns.get("time_format", "%H:%M"))
    text = pd.Series(col[named].to_pandas(), dtype="str").str.strip()
    clock = pd.to_datetime("1900-01-01 " + text, format="%Y-%m-%d " + fmt, errors="coerce")
    return clock - pd.Timestamp("1900-01-01")


def _where(
    rejects: Rejects, col: Mapping[str, pa.Array], spec: ColumnMapping
) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:27700 x/y (NaN = no location) from x/y or lon/lat in the mapping's CRS."""
    n = len(rejects.lines)
    if "lon" in spec.columns:
        first, second, crs = spec.columns["lon"], spec.columns["lat"], "EPSG:4326"
    elif "x" in spec.columns:
        first, second, crs = spec.columns["x"], spec.columns["y"], "EPSG:27700"
    else:
        return np.full(n, np.nan), np.full(n, np.nan)
    crs = str(spec.columns.get("crs", crs))
    return located_lonlat(
        rejects,
        col[str(first)],
        col[str(second)],
        columns=(str(first), str(second)),
        crs=crs,
        check_swapped=crs.upper() == "EPSG:4326",
        check_gb=not spec.keep_outside_gb,
    )


def _classify(classifier: Classifier, col: Mapping[str, pa.Array]) -> pa.Array:
    """Rules first (first match wins), then the fixed value or column table, then the default."""
    n = len(next(iter(col.values())))
    result = pa.nulls(n, pa.string())
    for rule in classifier.rules:
        match = pc.fill_null(pc.is_in(col[rule.column], value_set=pa.array(rule.values)), False)
        result = pc.if_else(pc.and_(match, pc.is_null(result)), rule.value, result)
    if classifier.fixed is not None:
        result = pc.fill_null(result, classifier.fixed)
    elif classifier.column is not None:
        raw = col[classifier.column]
        mapped = _lookup(raw, classifier.table) if classifier.table is not None else raw
        result = pc.coalesce(result, mapped)
    if classifier.default is not None:
        result = pc.fill_null(result, classifier.default)
    return result


def _lookup(values: pa.Array, table: Mapping[str, str]) -> pa.Array:
    position = pc.index_in(values, value_set=pa.array(list(table), type=pa.string()))
    return pc.take(pa.array(list(table.values()), type=pa.string()), position)


def _classify_required(
    rejects: Rejects, classifier: Classifier, col: Mapping[str, pa.Array]
) -> pa.Array:
    category = _classify(classifier, col)
    column = classifier.column or (classifier.rules[0].column if classifier.rules else "category")
    values = col.get(column, category)
    reason = "no category for this value (add it to [category] values or set a default)"
    rejects.add(is_missing(category), column, values, reason)
    return category


def _classify_severity(
    rejects: Rejects, classifier: Classifier | None, col: Mapping[str, pa.Array]
) -> pa.Array | None:
    if classifier is None:
        return None
    severity = _classify(classifier, col)
    # Raw values a [severity] table does not list stay missing; only other results are wrong.
    known = pc.or_(pc.is_in(severity, value_set=pa.array(SEVERITIES)), pc.is_null(severity))
    bad = ~np.asarray(known.to_numpy(zero_copy_only=False), dtype=bool)
    column = classifier.column or "severity"
    values = col.get(column, severity)
    rejects.add(bad, column, values, f"severity must be one of {', '.join(SEVERITIES)}")
    return severity


def _details(col: Mapping[str, pa.Array], spec: ColumnMapping) -> dict[str, object]:
    """Optional text, number and road columns named by the mapping."""
    details: dict[str, object] = {}
    for key, target in _TEXT_COLUMNS.items():
        if key in spec.columns:
            details[target] = pc.utf8_trim_whitespace(col[str(spec.columns[key])])
    for key in NUMBER_FIELDS:
        if key in spec.columns:
            low, high = _NUMBER_RANGES[key]
            details[key] = whole_numbers(col[str(spec.columns[key])], low=low, high=high)
    for key in ROAD_FIELDS:
        named = spec.columns.get(key)
        if isinstance(named, tuple):
            details[key] = road_names(col[named[0]], col[named[1]])
        elif isinstance(named, str):
            details[key] = pc.utf8_trim_whitespace(col[named])
    return details
