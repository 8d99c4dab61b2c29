"""Loader for any CSV export (fire service, council collisions, a force's own extract).

A TOML mapping (see ``docs/sources.md`` and ``geo_service/data/mappings/``) names the id, date,
time and coordinate columns and the rules that give each row its category, subcategory and
severity. The loader adds no quirks of its own: what it does with each row is what the mapping
says, validated like every other source (empty ids, unreadable dates, months and coordinates,
rows no category rule matches and severities other than Fatal/Serious/Slight are rejected).

Dates: ``date_format`` (strptime) when given, else ISO 8601; a timestamp with a UTC offset or
``Z`` is converted to Europe/London local time, one without is taken as local time (month, hour
and weekday are then local). A ``month`` column rewritten by a spreadsheet (``Jan-21``) is read
back. A month (or date) before January 1970 or after the current month is rejected.
Times: ``time`` as one column (``time_format``, default ``%H:%M``) or as ``[hour, minute]``
columns; a missing or unreadable time leaves ``time_known`` false.
Coordinates: ``x``/``y`` in ``crs`` (default EPSG:27700) or ``lon``/``lat`` (default EPSG:4326),
checked like police.uk points; ``outside_great_britain = "keep"`` keeps points far from Great
Britain (e.g. a foreign test data set) instead of rejecting them. Each of ``x``/``y`` (or
``lon``/``lat``) may list columns, exact first and fall-backs after (``x = ["Easting_m",
"Easting_rounded"]``): each row takes the first pair with both values given, and
``location_precision`` records which (``precision = [...]`` labels the pairs; by default
"exact" and "fall-back (<x column>, <y column>)").
When more than ``max_reject_share`` of a file's rows (default 50 %) fail for one reason (a date
format that does not fit, say), the file is refused as a whole.
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
    check_month_range,
    check_required,
    file_part,
    is_missing,
    located_lonlat,
    months_of,
    prefixed_ids,
)
from geo_service.sources._dates import local_times, read_months
from geo_service.sources._files import open_file, read_columns, require_columns
from geo_service.sources._load import MAX_REJECT_SHARE, load_each
from geo_service.sources._mapping import (
    NUMBER_FIELDS,
    ROAD_FIELDS,
    Classifier,
    ColumnMapping,
    read_mapping,
)
from geo_service.sources._plausible import FIRST_MONTH
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
    paths: str | Path | Iterable[str | Path],
    *,
    mapping: str | Path,
    progress: bool = False,
    max_reject_share: float = MAX_REJECT_SHARE,
    threads: int | None = None,
) -> LoadResult:
    """Load CSV files whose columns the TOML ``mapping`` describes.

    Parameters
    ----------
    paths
        Files, and folders searched recursively for ``*.csv`` / ``*.csv.gz``; ``-`` reads
        standard input.
    mapping
        The mapping TOML file; every problem in it is reported at once.
    progress
        Show a progress bar over the files.
    max_reject_share
        Share of a file's rows (0-1) rejected for one reason above which the file is refused.
    threads
        Files loaded at once, in threads (None: one per core; 1 on a Dask worker).

    Returns
    -------
    LoadResult
        Canonical incidents (source ``mapped:<name>``), rejects, duplicates and provenance;
        ``files[i].located_by_fallback`` counts the rows a fall-back coordinate pair located.

    Raises
    ------
    InputError
        The mapping is invalid, a file lacks a column it names, or a file is refused as a whole.
    """
    spec = read_mapping(mapping)
    return load_each(
        paths,
        lambda path: _load_file(path, spec),
        folder_patterns=FOLDER_PATTERNS,
        progress=progress,
        what=f"{spec.name} files",
        max_reject_share=max_reject_share,
        threads=threads,
    )


def _load_file(path: Path, spec: ColumnMapping) -> tuple[SourceFile, pd.DataFrame, pd.DataFrame]:
    raw = open_file(path)
    path = raw.path  # standard input is named by its checksum
    require_columns(raw, spec.file_columns(), what=f"'{spec.name}' ({spec.path.name})")
    rows = read_columns(raw, spec.file_columns(), null_values=("", *spec.missing))
    del raw  # release the file's bytes before validating
    col = rows.columns
    rejects = Rejects(path, rows.lines, delimiter=rows.delimiter)
    id_column = str(spec.columns["id"])
    check_required(rejects, col[id_column], id_column)
    occurred_at, time_known, month = _when(rejects, col, spec)
    x, y, precision, fallback = _where(rejects, col, spec)
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
            "location_precision": precision,
            **_details(col, spec),
            "source_file": path.name,
            "source_line": rows.lines,
        },
        malformed=rows.malformed,
    )
    fallback_kept = int((fallback & ~rejects.rejected).sum())
    source_file = SourceFile(path, rows.sha256, rows.rows, months_of(frame), fallback_kept)
    return source_file, frame, rejected


def _when(
    rejects: Rejects, col: Mapping[str, pa.Array], spec: ColumnMapping
) -> tuple[np.ndarray, np.ndarray, pa.Array]:
    """occurred_at, time_known and month ("YYYY-MM") of every row."""
    n = len(rejects.lines)
    if "date" not in spec.columns:
        month_column = str(spec.columns["month"])
        months = read_months(rejects.path, col[month_column], month_column)
        check_month(rejects, months, month_column)
        check_month_range(rejects, months, month_column, first=FIRST_MONTH["mapped"])
        return np.full(n, np.datetime64("NaT"), "datetime64[us]"), np.zeros(n, bool), months
    date_column = str(spec.columns["date"])
    dates, has_time = _parse_dates(rejects, col[date_column], date_column, spec)
    offset = _time_of_day(col, spec) if "time" in spec.columns else None
    if offset is not None:
        has_time = offset.notna().to_numpy()
        dates = dates.dt.normalize() + offset.fillna(pd.Timedelta(0))
    stamps = dates.to_numpy(dtype="datetime64[us]")
    months = pa.array(np.datetime_as_string(stamps, unit="M"))
    first = FIRST_MONTH["mapped"]
    check_month_range(rejects, months, date_column, first=first, shown_as=col[date_column])
    return stamps, has_time & ~np.isnat(stamps), months


def _parse_dates(
    rejects: Rejects, values: pa.Array, column: str, spec: ColumnMapping
) -> tuple[pd.Series, np.ndarray]:
    text = pd.Series(values.to_pandas(), dtype="str").str.strip()
    fmt = spec.columns.get("date_format")
    if isinstance(fmt, str):
        dates = local_times(text, date_format=fmt)
        has_time = np.full(len(text), any(d in fmt for d in ("%H", "%I", "%M", "%T", "%R")))
        expected = fmt
    else:
        dates = local_times(text)
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
) -> tuple[np.ndarray, np.ndarray, pa.Array | None, np.ndarray]:
    """EPSG:27700 x/y (NaN = no location), location precision and the fall-back mask.

    Each row takes the first coordinate pair of the mapping with both values given; a row with
    none is checked on the first pair (no location, or one coordinate only, rejected).
    """
    n = len(rejects.lines)
    pairs = spec.coordinate_pairs()
    if not pairs:
        return np.full(n, np.nan), np.full(n, np.nan), None, np.zeros(n, bool)
    crs = str(spec.columns.get("crs", "EPSG:4326" if "lon" in spec.columns else "EPSG:27700"))
    chosen = np.full(n, -1)
    for i, (first, second) in enumerate(pairs):
        both = ~is_missing(col[first]) & ~is_missing(col[second])
        chosen[(chosen < 0) & both] = i
    a, b = col[pairs[0][0]], col[pairs[0][1]]
    for i, (first, second) in enumerate(pairs[1:], start=1):
        use = pa.array(chosen == i)
        a = pc.if_else(use, col[first].cast(a.type), a)
        b = pc.if_else(use, col[second].cast(b.type), b)
    x, y = located_lonlat(
        rejects,
        a,
        b,
        columns=pairs[0],
        crs=crs,
        check_swapped=crs.upper() == "EPSG:4326",
        check_gb=not spec.keep_outside_gb,
    )
    return x, y, _precision(spec, chosen, np.isfinite(x)), (chosen > 0) & np.isfinite(x)


def _precision(spec: ColumnMapping, chosen: np.ndarray, located: np.ndarray) -> pa.Array | None:
    """The label of the pair that located each row (missing for rows without a location)."""
    labels = spec.precision_labels()
    if labels is None:
        return None
    index = pa.array(np.where(located, chosen, -1)).cast(pa.int64())
    index = pc.if_else(pc.less(index, 0), pa.scalar(None, pa.int64()), index)
    return pc.take(pa.array(labels, type=pa.large_string()), index)


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
