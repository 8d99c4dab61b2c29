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

from geo_service.projection import to_bng
from geo_service.schema import INCIDENT_COLUMNS, conform, empty_incidents
from geo_service.sources._result import (
    LoadResult,
    SourceFile,
    empty_duplicates,
    empty_rejects,
)

logger = logging.getLogger(__name__)

#: Extent of the British National Grid (EPSG:27700) plus a 100 km margin, metres.
GB_BOUNDS_M: tuple[float, float, float, float] = (-100_000.0, -100_000.0, 800_000.0, 1_400_000.0)
_MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"


@dataclass
class Rejects:
    """Reject lines of one file, collected check by check (a row is rejected only once)."""

    path: Path
    lines: np.ndarray
    rejected: np.ndarray = field(init=False)
    parts: list[pd.DataFrame] = field(default_factory=list)

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
                    "value": pd.Series(["" if v is None else str(v) for v in picked], dtype="str"),
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


def check_required(rejects: Rejects, values: pa.Array, column: str) -> None:
    """Reject rows where a required text field is empty."""
    rejects.add(is_missing(values), column, values, f"{column} is empty (required)")


def check_month(rejects: Rejects, values: pa.Array, column: str) -> None:
    """Reject rows whose month is not a real ``YYYY-MM`` month."""
    good = pc.fill_null(pc.match_substring_regex(values, _MONTH_PATTERN), False)
    bad = ~np.asarray(good.to_numpy(zero_copy_only=False), dtype=bool)
    rejects.add(bad, column, values, "not a month: expected YYYY-MM with month 01-12")


def parse_numbers(rejects: Rejects, values: pa.Array, column: str) -> np.ndarray:
    """Text to float64 (NaN where empty); rejects text that is not a number."""
    try:
        return np.asarray(pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pd.Series(values.to_pandas(), dtype="str")
        numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        rejects.add(np.isnan(numbers) & text.notna().to_numpy(), column, values, "not a number")
        return numbers


def located_lonlat(
    rejects: Rejects,
    lon_values: pa.Array,
    lat_values: pa.Array,
    *,
    columns: tuple[str, str] = ("longitude", "latitude"),
    crs: str = "EPSG:4326",
    check_swapped: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Checked EPSG:27700 x/y arrays from text lon/lat (or x/y in ``crs``), NaN = no location."""
    lon = parse_numbers(rejects, lon_values, columns[0])
    lat = parse_numbers(rejects, lat_values, columns[1])
    _check_pair(rejects, lon, lat, lon_values, lat_values, columns)
    zero = (lon == 0.0) & (lat == 0.0)
    if zero.any():
        logger.info("%s: %d row(s) at (0, 0) kept without a location", rejects.path, zero.sum())
    usable = np.isfinite(lon) & np.isfinite(lat) & ~zero & ~rejects.rejected
    if check_swapped:
        swapped = usable & (lon >= 49) & (lon <= 61) & (lat >= -10) & (lat <= 3)
        rejects.add(swapped, columns[1], lat_values, "latitude/longitude appear swapped")
        usable &= ~swapped
    x = np.full(len(lon), np.nan)
    y = np.full(len(lon), np.nan)
    if usable.any():
        x[usable], y[usable] = to_bng(lon[usable], lat[usable], source_crs=crs)
    check_in_gb(rejects, x, y, lon_values, columns[0])
    return _blank_rejected(rejects, x, y)


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


def file_part(rejects: Rejects, columns: dict[str, object]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The kept rows of one file as a canonical frame, and its rejects."""
    keep = ~rejects.rejected
    frame = pd.DataFrame({name: _take(value, keep) for name, value in columns.items()})
    return conform(frame), rejects.frame()


def _take(value: object, keep: np.ndarray) -> object:
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return pd.Series(value.filter(pa.array(keep)).to_pandas(), dtype="str")
    if isinstance(value, np.ndarray):
        return value[keep]
    if isinstance(value, pd.Series):
        return value[keep].reset_index(drop=True)
    return value


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
    if repeated.any():
        incidents = incidents.loc[~repeated].reset_index(drop=True)
        for row in duplicate_rows.itertuples(index=False):
            logger.warning(
                "%s line %d: %s already read (%s line %d); stored once",
                row.file,
                row.line,
                row.incident_id,
                row.first_file,
                row.first_line,
            )
    result = LoadResult(
        incidents=incidents[list(INCIDENT_COLUMNS)],
        rejects=rejects,
        rows_read=rows_read,
        duplicates=int(repeated.sum()),
        files=files,
        duplicate_rows=duplicate_rows,
    )
    _check_invariant(result)
    return result


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
