"""What every source loader returns: the canonical incidents, the rejects and the provenance."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from geo_service.schema import empty_incidents

#: Columns and dtypes of :attr:`LoadResult.rejects`, one row per unusable input row.
REJECT_DTYPES: Mapping[str, str] = {
    "file": "str", "line": "int64", "column": "str", "value": "str", "reason": "str"
}  # fmt: skip
REJECT_COLUMNS: tuple[str, ...] = tuple(REJECT_DTYPES)

#: Columns and dtypes of :attr:`LoadResult.duplicate_rows`, one row per input row stored once
#: already.
DUPLICATE_DTYPES: Mapping[str, str] = {
    "file": "str", "line": "int64", "incident_id": "str", "first_file": "str", "first_line": "int64"
}  # fmt: skip
DUPLICATE_COLUMNS: tuple[str, ...] = tuple(DUPLICATE_DTYPES)


def empty_rejects() -> pd.DataFrame:
    """A rejects table with no rows."""
    return _empty(REJECT_DTYPES)


def empty_duplicates() -> pd.DataFrame:
    """A duplicates table with no rows."""
    return _empty(DUPLICATE_DTYPES)


def _empty(dtypes: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in dtypes.items()})


@dataclass(frozen=True)
class SourceFile:
    """One input file as read: where it was, its checksum, how many data rows, which months.

    ``rows`` counts every data row of the file; ``months`` are the distinct months of its valid
    rows (rows later counted as duplicates included, rejected rows not).
    """

    path: Path
    sha256: str
    rows: int
    months: tuple[str, ...]
    #: Rows located by a fall-back coordinate pair of a mapping (not its first pair).
    located_by_fallback: int = 0


@dataclass(frozen=True)
class LoadResult:
    """The outcome of loading some files of one format.

    Invariant: ``rows_read == len(incidents) + duplicates + len(rejects)``.

    Attributes
    ----------
    incidents
        Canonical incident table (:data:`geo_service.schema.INCIDENT_COLUMNS`), one row per
        distinct incident, in file order.
    rejects
        One row per unusable input row: file, line (1-based, header = line 1), column, value,
        reason.
    rows_read
        Data rows read from all files (the header is not counted).
    duplicates
        Rows whose incident id had already been read (stored once, counted here).
    files
        The files read, in the order they were read.
    duplicate_rows
        The duplicated rows themselves: file, line, incident_id and where it was first seen.
    held
        The canonical rows of those duplicates (same columns as ``incidents``, in the order of
        ``duplicate_rows``): what the store holds back so that replacing the file whose row was
        kept does not lose the incident, without reading any file again.
    """

    incidents: pd.DataFrame
    rejects: pd.DataFrame
    rows_read: int
    duplicates: int
    files: tuple[SourceFile, ...]
    duplicate_rows: pd.DataFrame = field(default_factory=empty_duplicates)
    held: pd.DataFrame = field(default_factory=empty_incidents)

    @property
    def located_by_fallback(self) -> int:
        """Rows located by a mapping's fall-back coordinate pair, over all files."""
        return sum(file.located_by_fallback for file in self.files)
