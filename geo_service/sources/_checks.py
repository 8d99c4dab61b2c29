"""Vectorised row checks shared by the loaders, and assembling a :class:`LoadResult`.

Each check takes whole columns and returns a boolean mask of failing rows; :class:`Rejects`
turns masks into reject lines (file, line, column, value, reason). A row is rejected once, for the
first check it fails. Coordinates:

- empty longitude and latitude (or easting and northing): kept, "no location" (x/y NaN);
- exactly (0, 0): kept as "no location" too, since exports write 0 for a missing point
  (counted in the log);
- only one of the pair, or text that is not a number: rejected;
- latitude in -10..3 with longitude in 49..61: rejected, "latitude/longitude appear swapped";
- outside Great Britain's national grid by more than 100 km (e.g. a point in another
  country): rejected.

Numbers written with a decimal comma (``-0,434011``, as spreadsheets in decimal-comma locales
save them) are read as decimals when the whole column uses that mark; a column that mixes decimal
commas and decimal points, or whose comma numbers could as well be thousands (``505,150`` in a
comma-separated file), refuses the file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj

from geo_service.errors import InputError
from geo_service.projection import to_bng
from geo_service.schema import INCIDENT_COLUMNS, conform, empty_incidents
from geo_service.sources._dates import MONTH_PATTERN
from geo_service.sources._plausible import (
    by_distinct,
    check_crs_fit,
    current_month,
    month_bounds_masks,
    shown,
)
from geo_service.sources._result import (
    LoadResult,
    SourceFile,
    empty_duplicates,
    empty_rejects,
)

logger = logging.getLogger(__name__)

#: Extent of the British National Grid (EPSG:27700) plus a 100 km margin, metres.
GB_BOUNDS_M: tuple[float, float, float, float] = (-100_000.0, -100_000.0, 800_000.0, 1_400_000.0)
#: A number with a decimal comma and no other mark.
_DECIMAL_COMMA = r"^\s*[+-]?[0-9]*,[0-9]+\s*$"
_THOUSANDS = r"^\s*[+-]?[0-9]{1,3},[0-9]{3}\s*$"


@dataclass
class Rejects:
    """Reject lines of one file, collected check by check (a row is rejected only once)."""

    path: Path
    lines: np.ndarray
    rejected: np.ndarray = field(init=False)
    parts: list[pd.DataFrame] = field(default_factory=list)
    #: The file's field separator (tells a decimal comma from a thousands separator).
    delimiter: str = ","

    def __post_init__(self) -> None:
        self.rejected = np.zeros(len(self.lines), dtype=bool)

    def add(
        self, mask: np.ndarray, column: str, values: pa.Array | np.ndarray, reason: str
    ) -> None:
        """Reject the rows where ``mask`` is true and that no earlier check rejected."""
        new = np.asarray(mask, dtype=bool) & ~self.rejected
        if not new.any():
            return
        self.rejected |= new
        picked = (
            np.asarray(values, dtype=object)[new]
            if not isinstance(values, pa.Array)
            else (values.filter(pa.array(new)).to_pylist())
        )
        self.parts.append(
            pd.DataFrame(
                {
                    "file": pd.Series([str(self.path)] * int(new.sum()), dtype="str"),
                    "line": pd.Series(self.lines[new], dtype="int64"),
                    "column": pd.Series([column] * int(new.sum()), dtype="str"),
                    "value": pd.Series([shown(v) for v in picked], dtype="str"),
                    "reason": pd.Series([reason] * int(new.sum()), dtype="str"),
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        """All reject lines of this file, in line order."""
        if not self.parts:
            return empty_rejects()
        return pd.concat(self.parts, ignore_index=True).sort_values("line", ignore_index=True)


def is_missing(values: pa.Array) -> np.ndarray:
    """Mask of null (empty) text values."""
    return np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def prefixed_ids(prefix: str, values: pa.Array) -> pa.Array:
    """``<prefix>:<value>`` for each value (null where the value is null)."""
    # Inserting at offset 0 is several times faster than binary_join_element_wise.
    return pc.binary_replace_slice(
        values.cast(pa.large_string()), start=0, stop=0, replacement=f"{prefix}:"
    )


def check_required(rejects: Rejects, values: pa.Array, column: str) -> None:
    """Reject rows where a required text field is empty."""
    rejects.add(is_missing(values), column, values, f"{column} is empty (required)")


def check_month(rejects: Rejects, values: pa.Array, column: str) -> None:
    """Reject rows whose month is not a real ``YYYY-MM`` month."""
    distinct, rows = by_distinct(values)
    good = pc.fill_null(pc.match_substring_regex(distinct, MONTH_PATTERN), False)
    bad = ~rows(np.asarray(good.to_numpy(zero_copy_only=False), dtype=bool))
    rejects.add(bad, column, values, "not a month: expected YYYY-MM with month 01-12")


def check_month_range(
    rejects: Rejects,
    values: pa.Array,
    column: str,
    *,
    first: str,
    file_month: str | None = None,
    shown_as: pa.Array | None = None,
) -> None:
    """Reject months before ``first``, after the file's own month, or after this month.

    ``shown_as`` is the text shown as the rejected value (the date a month was derived from).
    """
    early, late, future = month_bounds_masks(values, first=first, last=file_month)
    text = values if shown_as is None else shown_as
    rejects.add(future, column, text, f"month in the future: expected {current_month()} or earlier")
    rejects.add(late, column, text, f"month after the file's own month {file_month}")
    rejects.add(
        early, column, text, f"month before the source's data begins: expected {first} or later"
    )


def parse_numbers(rejects: Rejects, values: pa.Array, column: str) -> np.ndarray:
    """Text to float64 (NaN where empty); rejects text that is not a number."""
    if pa.types.is_floating(values.type):
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=float)
    try:
        return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pd.Series(values.to_pandas(), dtype="str")
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        failed = np.isnan(numbers) & text.notna().to_numpy()
        if failed.any():
            numbers = _decimal_commas(rejects, text, numbers, column)
            failed = np.isnan(numbers) & text.notna().to_numpy()
        rejects.add(failed, column, values, "not a number")
        return numbers


def _decimal_commas(
    rejects: Rejects, text: pd.Series, numbers: np.ndarray, column: str
) -> np.ndarray:
    """``numbers`` with decimal-comma values read, when the column uses that mark throughout.

    Raises naming the cause when the mark is ambiguous: decimal commas beside decimal points,
    or every comma number looking like a thousands group in a comma-separated file.
    """
    comma = text.str.match(_DECIMAL_COMMA).to_numpy(dtype=bool, na_value=False)
    if not comma.any():
        return numbers
    point = ~np.isnan(numbers) & text.str.contains(".", regex=False).to_numpy(
        dtype=bool, na_value=False
    )
    example = text[comma].iloc[0]
    if point.any():
        raise InputError(
            f"{rejects.path}: file refused: {column} mixes decimal commas (e.g. '{example}') and "
            f"decimal points (e.g. '{text[point].iloc[0]}'); save the file with one decimal mark"
        )
    thousands = text[comma].str.match(_THOUSANDS).to_numpy(dtype=bool, na_value=False)
    if rejects.delimiter == "," and thousands.all():
        raise InputError(
            f"{rejects.path}: file refused: {column} values such as '{example}' may be decimal "
            "commas or thousands separators; save the file without either"
        )
    logger.warning(
        "%s: %s uses a decimal comma (e.g. '%s'); read as decimal numbers",
        rejects.path,
        column,
        example,
    )
    read = pd.to_numeric(text[comma].str.replace(",", ".", regex=False), errors="coerce")
    out = numbers.copy()
    out[comma] = read.to_numpy(dtype=float, na_value=np.nan)
    return out


def located_lonlat(
    rejects: Rejects,
    lon_values: pa.Array,
    lat_values: pa.Array,
    *,
    columns: tuple[str, str] = ("longitude", "latitude"),
    crs: str = "EPSG:4326",
    check_swapped: bool = True,
    check_gb: bool = True,
    numbers: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Checked EPSG:27700 x/y arrays from text lon/lat (or x/y in ``crs``), NaN = no location.

    ``numbers`` are the values already read by :func:`parse_numbers` (with ``rejects``), if so.
    """
    if numbers is None:
        numbers = (
            parse_numbers(rejects, lon_values, columns[0]),
            parse_numbers(rejects, lat_values, columns[1]),
        )
    lon, lat = numbers
    _check_pair(rejects, lon, lat, lon_values, lat_values, columns)
    zero = (lon == 0.0) & (lat == 0.0)
    if zero.any():
        logger.info("%s: %d row(s) at (0, 0) kept without a location", rejects.path, zero.sum())
    usable = np.isfinite(lon) & np.isfinite(lat) & ~zero & ~rejects.rejected
    geographic = _is_geographic(crs)
    misfit, reason = check_crs_fit(lon, lat, geographic=geographic, crs=crs)
    rejects.add(usable & misfit, columns[0], lon_values, reason)
    usable &= ~misfit
    if check_swapped:
        swapped = usable & (lon >= 49) & (lon <= 61) & (lat >= -10) & (lat <= 3)
        rejects.add(swapped, columns[1], lat_values, "latitude/longitude appear swapped")
        usable &= ~swapped
    x = np.full(len(lon), np.nan)
    y = np.full(len(lon), np.nan)
    if usable.any():
        x[usable], y[usable] = _project_distinct(lon[usable], lat[usable], crs=crs)
    if check_gb:
        check_in_gb(rejects, x, y, lon_values, columns[0])
    return _blank_rejected(rejects, x, y)


def _is_geographic(crs: str) -> bool:
    """Whether ``crs`` is in degrees (EPSG:4326 without asking PROJ, the common case)."""
    if crs.upper() in ("EPSG:4326", "OGC:CRS84", "WGS84"):
        return True
    if crs.upper() == "EPSG:27700":
        return False
    return bool(pyproj.CRS.from_user_input(crs).is_geographic)


def _project_distinct(a: np.ndarray, b: np.ndarray, *, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """to_bng on each distinct (a, b) pair once: police.uk snaps points to few map points."""
    codes, distinct_a, distinct_b = _distinct_pairs(a, b)
    if len(distinct_a) > len(a) // 2:
        return to_bng(a, b, source_crs=crs)
    x, y = to_bng(distinct_a, distinct_b, source_crs=crs)
    return x[codes], y[codes]


def _distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes of each (a, b) pair and the distinct pairs (exact float values)."""
    micro_a, micro_b = np.round(a * 1e6), np.round(b * 1e6)
    exact = (
        np.array_equal(micro_a / 1e6, a)
        and np.array_equal(micro_b / 1e6, b)
        and bool(np.all(np.abs(micro_a) < 2**31))
        and bool(np.all(np.abs(micro_b) < 2**31))
    )
    if exact:  # up to 6 decimals (police.uk): one 64-bit key per pair, one hash pass
        key = (micro_a.astype(np.int64) << 32) + (micro_b.astype(np.int64) + 2**31)
        codes, keys = pd.factorize(key)
        low = (keys & 0xFFFFFFFF) - 2**31
        return codes, (keys >> 32) / 1e6, low / 1e6
    a_code, a_values = pd.factorize(a)
    b_code, b_values = pd.factorize(b)
    codes, pairs = pd.factorize(a_code.astype(np.int64) * len(b_values) + b_code)
    return codes, a_values[pairs // len(b_values)], b_values[pairs % len(b_values)]


def check_in_gb(
    rejects: Rejects, x: np.ndarray, y: np.ndarray, values: pa.Array, column: str
) -> None:
    """Reject located points outside Great Britain's national grid (with a 100 km margin)."""
    xmin, ymin, xmax, ymax = GB_BOUNDS_M
    located = ~np.isnan(x) & ~np.isnan(y)
    with np.errstate(invalid="ignore"):
        outside = located & ~((x >= xmin) & (x <= xmax) & (y >= ymin) & (y <= ymax))
    reason = "point lies far outside Great Britain (over 100 km beyond the grid)"
    rejects.add(outside, column, values, reason)


def _check_pair(
    rejects: Rejects,
    a: np.ndarray,
    b: np.ndarray,
    a_values: pa.Array,
    b_values: pa.Array,
    columns: tuple[str, str],
) -> None:
    a_nan, b_nan = np.isnan(a), np.isnan(b)
    rejects.add(a_nan & ~b_nan, columns[0], a_values, f"{columns[0]} empty but {columns[1]} given")
    rejects.add(~a_nan & b_nan, columns[1], b_values, f"{columns[1]} empty but {columns[0]} given")
    rejects.add(~np.isfinite(a) & ~a_nan, columns[0], a_values, "not a finite number")
    rejects.add(~np.isfinite(b) & ~b_nan, columns[1], b_values, "not a finite number")


def _blank_rejected(
    rejects: Rejects, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    x[rejects.rejected] = np.nan
    y[rejects.rejected] = np.nan
    return x, y


def file_part(
    rejects: Rejects, columns: dict[str, object], *, malformed: pd.DataFrame | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The kept rows of one file as a canonical frame, and its rejects (with ``malformed``).

    ``columns`` maps canonical names to a text array (pyarrow), a numpy array, a pandas
    extension array or a scalar repeated on every row; canonical columns not given are missing.
    """
    keep = ~rejects.rejected
    n = int(keep.sum())
    # Arrow arrays are immutable, so one all-missing text column can back every absent one.
    missing_text = _all_missing(n, "str")
    data = {
        name: missing_text
        if columns.get(name) is None and dtype == "str"
        else _canonical_column(columns.get(name), keep, n, dtype)
        for name, dtype in INCIDENT_COLUMNS.items()
    }
    rejected = rejects.frame()
    if malformed is not None and len(malformed):
        rejected = pd.concat([rejected, malformed], ignore_index=True)
        rejected = rejected.sort_values("line", kind="stable", ignore_index=True)
    return conform(pd.DataFrame(data)), rejected


def _canonical_column(value: object, keep: np.ndarray, n: int, dtype: str) -> object:
    """One canonical column of ``n`` kept rows, built without per-row Python objects."""
    everything = n == len(keep)
    if value is None:
        return _all_missing(n, dtype)
    if isinstance(value, str):
        return pd.array(pa.repeat(pa.scalar(value, pa.large_string()), n), dtype="str")
    if isinstance(value, pa.Array):
        kept = value if everything else value.filter(pa.array(keep))
        # pandas keeps text as large_string: cast once here (a no-op for columns read as such).
        return pd.array(kept.cast(pa.large_string()), dtype="str")
    if isinstance(value, np.ndarray | pd.api.extensions.ExtensionArray):
        return value if everything else value[keep]
    raise TypeError(f"unsupported column value {type(value)!r}")


def _all_missing(n: int, dtype: str) -> object:
    if dtype == "str":
        return pd.array(pa.nulls(n, pa.large_string()), dtype="str")
    if dtype == "Int64":
        return pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, dtype=bool))
    if dtype == "bool":
        return np.zeros(n, dtype=bool)
    if dtype == "float64":
        return np.full(n, np.nan)
    if dtype.startswith("datetime64"):
        return np.full(n, np.datetime64("NaT"), dtype=dtype)
    return np.full(n, -1, dtype=np.int64)


def assemble(
    parts: Sequence[tuple[SourceFile, pd.DataFrame, pd.DataFrame]], *, rows_read: int
) -> LoadResult:
    """Concatenate per-file results in order, store repeated incident ids once, count them."""
    files = tuple(part[0] for part in parts)
    frames = [part[1] for part in parts if len(part[1])]
    incidents = pd.concat(frames, ignore_index=True) if frames else empty_incidents()
    rejected = [part[2] for part in parts if len(part[2])]
    rejects = pd.concat(rejected, ignore_index=True) if rejected else empty_rejects()
    repeated = incidents["incident_id"].duplicated(keep="first").to_numpy()
    duplicate_rows = _duplicate_rows(incidents, repeated)
    held = incidents.loc[repeated].reset_index(drop=True)
    if repeated.any():
        incidents = incidents.loc[~repeated].reset_index(drop=True)
        _log_duplicates(duplicate_rows)
    result = LoadResult(
        incidents=incidents[list(INCIDENT_COLUMNS)],
        rejects=rejects,
        rows_read=rows_read,
        duplicates=int(repeated.sum()),
        files=files,
        duplicate_rows=duplicate_rows,
        held=held[list(INCIDENT_COLUMNS)],
    )
    _check_invariant(result)
    return result


def _log_duplicates(duplicate_rows: pd.DataFrame, *, examples: int = 5) -> None:
    """One warning with the count and a few examples; every duplicate at debug level."""
    shown = [
        f"{row.file} line {row.line} (first {row.first_file} line {row.first_line})"
        for row in duplicate_rows.head(examples).itertuples(index=False)
    ]
    logger.warning(
        "%d row(s) repeat an incident id already read and were stored once, e.g. %s",
        len(duplicate_rows),
        "; ".join(shown),
    )
    for row in duplicate_rows.itertuples(index=False):
        logger.debug("%s line %d repeats %s", row.file, row.line, row.incident_id)


def _duplicate_rows(incidents: pd.DataFrame, repeated: np.ndarray) -> pd.DataFrame:
    if not repeated.any():
        return empty_duplicates()
    ids = incidents["incident_id"]
    first = incidents.loc[~ids.duplicated(keep="first")].set_index("incident_id")
    dup = incidents.loc[repeated]
    return pd.DataFrame(
        {
            "file": dup["source_file"].to_numpy(),
            "line": dup["source_line"].to_numpy(),
            "incident_id": dup["incident_id"].to_numpy(),
            "first_file": first.loc[dup["incident_id"], "source_file"].to_numpy(),
            "first_line": first.loc[dup["incident_id"], "source_line"].to_numpy(),
        }
    ).astype({"file": "str", "line": "int64", "incident_id": "str", "first_file": "str"})


def _check_invariant(result: LoadResult) -> None:
    accounted = len(result.incidents) + result.duplicates + len(result.rejects)
    if accounted != result.rows_read:  # a bug in a loader, never the user's input
        raise RuntimeError(
            f"rows read {result.rows_read} != stored {len(result.incidents)} + duplicates "
            f"{result.duplicates} + rejected {len(result.rejects)}"
        )


def months_of(frame: pd.DataFrame) -> tuple[str, ...]:
    """Sorted distinct months of a canonical frame."""
    return tuple(sorted(frame["month"].dropna().unique().tolist()))
