"""Loader for police.uk street-level crime and anti-social behaviour CSV files.

**Origin.** data.police.uk "street" files, one per force and month, named
``YYYY-MM/YYYY-MM-<force>-street.csv`` inside a download (also accepted gzipped, ``.csv.gz``).
Columns: ``Crime ID, Month, Reported by, Falls within, Longitude, Latitude, Location, LSOA code,
LSOA name, Crime type, Last outcome category, Context``.

**Licence.** Open Government Licence v3.0: "Contains public sector information licensed under the
Open Government Licence v3.0."

**Quirks**, and what this loader does about them:

- Dates are monthly only (``Month`` = ``YYYY-MM``): ``occurred_at`` is always empty. Every row
  of a published file has the month of its name: a row of another month, or before December 2010
  (when street-level data begins), or after the current month, is rejected, and a file most of
  whose rows disagree with its name is refused (:mod:`._plausible`). A file named for a month
  before December 2010 is a force's own extract in this layout (no download holds one): its
  rows may hold that month, and the log says so. A file
  opened and saved in a spreadsheet has ``Month`` rewritten (``Jan-21``, ``01/01/2021``, a serial
  day number, ...): those forms are read back when they agree with the month in the file name
  (``2021-01-<force>-street.csv``), and the whole file is refused when they do not.
- ``Reported by`` is the force that recorded the row and ``Falls within`` the force area whose
  download holds it: a territorial force's file also holds British Transport Police rows. Both
  are kept (``reported_by``, ``falls_within``); ``exclude_forces`` leaves a force's rows out,
  listed among the rejects as "excluded on request" (never counted as a fault of the file).
- Locations are anonymised: each point is snapped to one of a fixed set of map points and
  ``Location`` reads "On or near <street or place>"; kept as ``location_text``.
- Anti-social behaviour rows have no ``Crime ID`` (and no outcome). Their ``incident_id`` is
  derived from their content (:func:`_incident_ids`), not from the file's name, so the same
  month loaded again under another name (a renamed copy, a browser's ``... (1).csv``, standard
  input) repeats stored ids instead of adding its ASB rows a second time. Identical rows within a
  file are numbered, so they are never merged with each other.
- Some rows have no coordinates (crime recorded but not geolocated). They are kept with x/y NaN
  and their ``LSOA code``, so they still count towards an area through an LSOA layer.
- The same ``Crime ID`` can occur twice (even with different locations). The first row read is
  stored; the others are counted and listed as duplicates.
- A force's file contains points outside the force area (and a few far away); they are kept
  here and fall outside the partnership's areas at the join. Points outside Great Britain by
  more than 100 km, or with latitude and longitude swapped, are rejected.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_service.schema import DERIVED_ID_PREFIXES, POLICE_UK_CATEGORIES
from geo_service.sources._checks import (
    Rejects,
    check_month,
    check_month_range,
    check_required,
    file_part,
    is_missing,
    located_lonlat,
    months_of,
    parse_numbers,
    prefixed_ids,
)
from geo_service.sources._dates import month_from_name, read_months
from geo_service.sources._files import (
    RawRows,
    open_file,
    read_columns,
    require_columns,
)
from geo_service.sources._load import EXCLUDED_PREFIX, MAX_REJECT_SHARE, load_each
from geo_service.sources._plausible import FIRST_MONTH, check_file_month
from geo_service.sources._result import LoadResult, SourceFile

logger = logging.getLogger(__name__)

SOURCE = "police_uk"
FOLDER_PATTERNS = ("*-street.csv", "*-street.csv.gz")
COLUMNS = (
    "Crime ID",
    "Month",
    "Longitude",
    "Latitude",
    "Location",
    "LSOA code",
    "Crime type",
    "Last outcome category",
)
#: Read when the file has them (every police.uk file does; hand-made extracts may not).
OPTIONAL_COLUMNS = ("Reported by", "Falls within")


def load_police_uk(
    paths: str | Path | Iterable[str | Path],
    *,
    progress: bool = False,
    exclude_forces: Sequence[str] = (),
    max_reject_share: float = MAX_REJECT_SHARE,
    threads: int | None = None,
) -> LoadResult:
    """Load police.uk street-level CSV files (``.csv``/``.csv.gz``, files or download folders).

    Parameters
    ----------
    paths
        Files, and folders searched recursively for ``*-street.csv`` / ``*-street.csv.gz``;
        several forces and months at once; ``-`` reads standard input. Files are read in sorted
        path order.
    progress
        Show a progress bar over the files.
    exclude_forces
        ``Reported by`` values (e.g. "British Transport Police") whose rows are left out; they
        are listed among the rejects with a reason starting "excluded on request".
    max_reject_share
        Share of a file's rows (0-1) rejected for one reason above which the file is refused.
    threads
        Files loaded at once, in threads (None: one per core; 1 on a Dask worker).

    Returns
    -------
    LoadResult
        Canonical incidents (source ``police_uk``), rejects, duplicates and file provenance.

    Raises
    ------
    InputError
        A whole-file problem: no such file, not a street-level file, a spreadsheet-rewritten
        ``Month`` that disagrees with the file name, or more than ``max_reject_share`` of a
        file's rows rejected for one reason.
    """
    excluded = tuple(exclude_forces)
    return load_each(
        paths,
        lambda path: _load_file(path, excluded),
        folder_patterns=FOLDER_PATTERNS,
        progress=progress,
        what="police.uk files",
        max_reject_share=max_reject_share,
        threads=threads,
    )


def _load_file(
    path: Path, exclude_forces: tuple[str, ...]
) -> tuple[SourceFile, pd.DataFrame, pd.DataFrame]:
    path, rows = _read(path)  # standard input is named by its checksum
    col = rows.columns
    rejects = Rejects(path, rows.lines, delimiter=rows.delimiter)
    file_month = month_from_name(path)
    month = read_months(path, col["Month"], "Month", expected=file_month)
    check_month(rejects, month, "Month")
    check_file_month(path, month, "Month", file_month)
    check_month_range(
        rejects, month, "Month", first=_first_month(path, file_month), file_month=file_month
    )
    check_required(rejects, col["Crime type"], "Crime type")
    _exclude(rejects, col.get("Reported by"), exclude_forces)
    lonlat = (
        parse_numbers(rejects, col["Longitude"], "Longitude"),
        parse_numbers(rejects, col["Latitude"], "Latitude"),
    )
    x, y = located_lonlat(
        rejects, col["Longitude"], col["Latitude"], columns=("Longitude", "Latitude"),
        numbers=lonlat,
    )  # fmt: skip
    _warn_unknown_types(path, col["Crime type"])
    frame, rejected = file_part(
        rejects,
        {
            "incident_id": _incident_ids(col, month, lonlat),
            "source": SOURCE,
            "category": col["Crime type"],
            "month": month,
            "x": x,
            "y": y,
            "location_text": col["Location"],
            "lsoa_code": col["LSOA code"],
            "outcome": col["Last outcome category"],
            "reported_by": col.get("Reported by"),
            "falls_within": col.get("Falls within"),
            "source_file": path.name,
            "source_line": rows.lines,
        },
        malformed=rows.malformed,
    )
    source_file = SourceFile(path, rows.sha256, rows.rows, months_of(frame))
    return source_file, frame, rejected


def _first_month(path: Path, file_month: str | None) -> str:
    """The earliest month a row of this file may hold: December 2010, when police.uk begins.

    A file named for an earlier month is not a police.uk download but a force's own extract in
    its layout (the demo's history is written so): its rows may hold that month, said in the log.
    """
    first = FIRST_MONTH[SOURCE]
    if file_month is None or file_month >= first:
        return first
    logger.warning(
        "%s: the file name's month %s is before police.uk street-level data begins (%s): read "
        "as a force's extract in the police.uk layout",
        path,
        file_month,
        first,
    )
    return file_month


def _read(path: Path) -> tuple[Path, RawRows]:
    """The file's name as read and its needed columns (its bytes are released on return)."""
    raw = open_file(path)
    require_columns(raw, COLUMNS, what="police.uk street-level crime")
    wanted = [*COLUMNS, *(name for name in OPTIONAL_COLUMNS if name in raw.header)]
    rows = read_columns(raw, wanted, number_columns=("Longitude", "Latitude"))
    return raw.path, rows


def _exclude(rejects: Rejects, reported_by: pa.Array | None, forces: tuple[str, ...]) -> None:
    """Leave out the rows reported by ``forces`` (listed as rejects, not counted as faults)."""
    if not forces or reported_by is None:
        return
    for force in forces:
        hit = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(reported_by), force), False)
        mask = np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)
        rejects.add(mask, "Reported by", reported_by, f"{EXCLUDED_PREFIX}: reported by {force}")


ASB_ID_PREFIX = DERIVED_ID_PREFIXES[SOURCE]

#: Text columns whose values make an anti-social behaviour row's id (with its month and point).
_ASB_ID_COLUMNS = ("Reported by", "Falls within", "Location", "LSOA code", "Crime type")


def _incident_ids(
    col: Mapping[str, pa.Array], month: pa.Array, lonlat: tuple[np.ndarray, np.ndarray]
) -> pa.Array:
    """``police_uk:<Crime ID>``; a row without one (anti-social behaviour) gets an id from its
    content, ``police_uk:asb:<hash>:<n>``, whatever the file is called.

    ``<hash>`` is a 64-bit hash of the row's month as read, its longitude and latitude as
    numbers (``lonlat``: a spreadsheet's re-saving, or decimal commas, keep them) and
    :data:`_ASB_ID_COLUMNS`, each value hashed by
    :func:`pandas.util.hash_array`; ``<n>`` numbers the rows of the file with the same content
    (0, 1, ...), as police.uk repeats identical rows for separate incidents at one map point.
    The same month of a force loaded from a copy, a re-download or standard input so gives the
    same ids, and its rows are duplicates, not new incidents.
    """
    crime_ids = col["Crime ID"]
    missing = is_missing(crime_ids)
    with_id = prefixed_ids(SOURCE, crime_ids)
    if not missing.any():
        return with_id
    rows = np.flatnonzero(missing)
    take = pa.array(rows)
    text = [month, *(col[name] for name in _ASB_ID_COLUMNS if name in col)]
    hashes = [*(_hashed(values.take(take)) for values in text), *(pd.util.hash_array(
        numbers[rows]) for numbers in lonlat)]  # fmt: skip
    digest = np.zeros(len(rows), dtype=np.uint64)
    for hashed in hashes:  # each column's hash folded into the row's
        digest = digest * np.uint64(1_000_003) ^ hashed
    nth = pd.Series(digest).groupby(digest, sort=False).cumcount().to_numpy()
    fallback = pc.binary_join_element_wise(
        pa.array(digest).cast(pa.large_string()),
        pa.array(nth).cast(pa.large_string()),
        pa.scalar(":", pa.large_string()),
    )
    fallback = prefixed_ids(ASB_ID_PREFIX.removesuffix(":"), fallback)
    return pc.replace_with_mask(with_id, pa.array(missing), fallback)


def _hashed(values: pa.Array) -> np.ndarray:
    """A 64-bit hash of each text value (uint64, :func:`pandas.util.hash_array` with its fixed
    key, so the same on every machine), hashed once per distinct value; a null as 0."""
    encoded = pc.dictionary_encode(values)
    distinct = pd.util.hash_array(encoded.dictionary.to_numpy(zero_copy_only=False))
    codes = encoded.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False)
    return np.append(distinct, np.uint64(0))[codes]


def _warn_unknown_types(path: Path, types: pa.Array) -> None:
    unknown = pc.filter(types, pc.invert(pc.is_in(types, pa.array(POLICE_UK_CATEGORIES))))
    names = sorted({t for t in pc.unique(unknown).to_pylist() if t})
    if names:
        logger.warning(
            "%s: crime type(s) not among the 14 police.uk types, kept as given: %s",
            path,
            ", ".join(names),
        )
