"""Plausibility of values that parse: months in range, coordinates that fit their CRS, clean text.

A value can be well formed and still impossible. These checks reject such rows one by one (with
the file, line, column, value and the bound they break), refuse a file whose rows contradict its
own name, and normalise text so that one category is not split into look-alikes.

**Months** (``YYYY-MM``, compared as text, which orders them):

- after the current month (UTC) is in the future: rejected;
- before the first month a source can hold (:data:`FIRST_MONTH`: police.uk street-level data
  begins in December 2010, STATS19 in January 1979; a mapped CSV in January 1970): rejected;
- a police.uk file name carries its month (``2021-02-<force>-street.csv``) and every row of a
  published file has that month: a row of another month is rejected, and when more than half of
  the rows with a month disagree with the name the file is refused as a whole
  (:func:`check_file_month`), since then the name or the content is wrong, not a few rows.

**Coordinates** against the CRS they are said to be in (:func:`check_crs_fit`): numbers beyond
±180/±90 are not degrees (they are named as British National Grid metres when they fit it); a
pair within ±180/±90 said to be metres of a projected CRS is degrees (as metres it would land at
the grid's false origin, at sea south-west of the Isles of Scilly).

**Text** (:func:`normalise_text`): control characters (NUL included) are removed, any run of
whitespace becomes one space, leading and trailing whitespace is stripped, and the text is put in
Unicode NFC, so ``"Burglary  "`` is ``"Burglary"`` and a decomposed ``"Cafe\\u0301"`` is
``"Café"``. A value left empty is missing. The number of values changed and an example are
logged per file and column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from geo_service.errors import InputError

logger = logging.getLogger(__name__)

#: Earliest month each source can hold (source name -> ``YYYY-MM``).
FIRST_MONTH: Mapping[str, str] = MappingProxyType(
    {"police_uk": "2010-12", "stats19": "1979-01", "mapped": "1970-01"}
)
#: Longest text shown for a value in messages and in the rejects report (characters).
SHOWN_CHARS = 80

_MONTH = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
_NEEDS_WORK = r"^\s|\s$|\s\s|[\x00-\x1f\x7f]|[^\x00-\x7f]"


#: C0 and C1 control characters and DEL, to their ``\\xNN`` escapes.
_ESCAPED = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}


def printable(text: str) -> str:
    """``text`` with control characters (which a terminal would act on) escaped, ``\\x10``."""
    return text.translate(_ESCAPED)


def shown(value: object) -> str:
    """``value`` as text for a message, cut to :data:`SHOWN_CHARS` with the full length named."""
    text = "" if value is None else str(value)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"


def current_month() -> str:
    """This month (UTC) as ``YYYY-MM``: the latest month any input can hold."""
    return datetime.now(UTC).strftime("%Y-%m")


def month_bounds_masks(
    months: pa.Array, *, first: str, last: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of months before ``first``, after ``last`` (a file's month) and in the future."""
    distinct, rows = by_distinct(months)
    valid = pc.fill_null(pc.match_substring_regex(distinct, _MONTH), False)

    def _mask(expression: pa.Array) -> np.ndarray:
        hit = pc.and_(valid, pc.fill_null(expression, False))
        return rows(np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool))

    early = _mask(pc.less(distinct, first))
    future = _mask(pc.greater(distinct, current_month()))
    late = _mask(pc.greater(distinct, last)) if last is not None else np.zeros(len(months), bool)
    return early, late & ~future, future


def by_distinct(
    values: pa.Array | pa.ChunkedArray,
) -> tuple[pa.Array, Callable[[np.ndarray], np.ndarray]]:
    """The distinct values of ``values``, and what turns an answer per distinct value into one
    per row: a test of a month column (one or a few distinct months in 80,000 rows) runs once
    per month, not once per row.

    Parameters
    ----------
    values
        Text values (nulls allowed).

    Returns
    -------
    distinct : pyarrow.Array
        Each distinct non-null value once.
    rows : callable
        bool array over ``distinct`` -> bool array over ``values`` (False where null).
    """
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks() if encoded.num_chunks else pa.array([], values.type)
        if not pa.types.is_dictionary(encoded.type):
            encoded = pc.dictionary_encode(encoded)
    indices = encoded.indices
    present = np.asarray(indices.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    positions = np.asarray(pc.fill_null(indices, 0).to_numpy(zero_copy_only=False), np.int64)

    def rows(answer: np.ndarray) -> np.ndarray:
        if not len(answer):
            return np.zeros(len(positions), dtype=bool)
        return np.asarray(answer, dtype=bool)[positions] & present

    return encoded.dictionary, rows


def check_file_month(path: Path, months: pa.Array, column: str, expected: str | None) -> None:
    """Refuse a file when more than half of its rows with a month disagree with its name.

    Raises
    ------
    InputError
        Naming the file's month, the months its rows hold and how many rows disagree.
    """
    if expected is None:
        return
    held_months = pc.value_counts(pc.drop_null(months))  # each month once, with its rows
    valid = pc.filter(held_months, pc.match_substring_regex(held_months.field("values"), _MONTH))
    other = pc.filter(valid, pc.not_equal(valid.field("values"), expected))
    rows_valid, rows_other = (int(pc.sum(t.field("counts")).as_py() or 0) for t in (valid, other))
    if rows_valid == 0 or 2 * rows_other <= rows_valid:
        return
    counts = other.to_pylist()
    counts.sort(key=lambda item: -int(item["counts"]))
    held = ", ".join(f"{c['values']} ({c['counts']} rows)" for c in counts[:3])
    raise InputError(
        f"{path}: file refused: the file name says {expected} but {rows_other} of {rows_valid} "
        f"rows have another month in column {column}: {held}. A police.uk file holds its own "
        "month only: rename the file or download the right month; nothing was stored"
    )


def check_crs_fit(
    a: np.ndarray, b: np.ndarray, *, geographic: bool, crs: str
) -> tuple[np.ndarray, str]:
    """Rows whose coordinate pair cannot be in ``crs``, and the reason (naming the CRS they fit).

    Parameters
    ----------
    a, b
        Longitude/latitude (degrees) when ``geographic``, else easting/northing (metres).
    geographic
        Whether ``crs`` is in degrees.
    crs
        The CRS's name, for the reason.
    """
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(a) & np.isfinite(b) & ~((a == 0) & (b == 0))
        degree_sized = (np.abs(a) <= 180) & (np.abs(b) <= 90)
        if geographic:
            bng = (a >= -100_000) & (a <= 800_000) & (b >= -100_000) & (b <= 1_400_000)
            bad = finite & ~degree_sized
            fits = "they look like British National Grid metres (EPSG:27700)"
            if bad.any() and not bng[bad].all():
                fits = "they fit no CRS used in Great Britain"
            return bad, f"not longitude/latitude degrees (beyond ±180/±90) as {crs} says; {fits}"
        bad = finite & degree_sized
    reason = (
        f"longitude/latitude-sized numbers given as {crs} metres: as metres they land at the "
        "grid's origin, off the Isles of Scilly; they look like WGS84 degrees (EPSG:4326)"
    )
    return bad, reason


def _may_need_work(values: pa.Array | pa.ChunkedArray) -> bool:
    """Whether any value of a text column might match :data:`_NEEDS_WORK`, read from the
    column's bytes at once (a regex over every value costs about a second per million rows).

    False only when no byte is a control character or non-ASCII (which covers every ``\\s``
    but the space), no two spaces are adjacent and no value starts or ends with a space: then
    no value matches. True may be wrong (a null slot's bytes, two spaces across two values);
    the regex then decides.
    """
    chunks = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        _validity, offsets_buffer, data_buffer = chunk.buffers()
        kind = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(offsets_buffer, dtype=kind)[
            chunk.offset : chunk.offset + len(chunk) + 1
        ]
        if data_buffer is None or offsets[-1] == offsets[0]:
            continue
        data = np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if ((data < 0x20) | (data >= 0x7F)).any():
            return True
        space = data == 0x20
        if (space[1:] & space[:-1]).any():
            return True
        starts, ends = offsets[:-1] - offsets[0], offsets[1:] - offsets[0]
        filled = ends > starts
        if space[starts[filled]].any() or space[ends[filled] - 1].any():
            return True
    return False


def normalise_text(path: Path, column: str, values: pa.Array) -> pa.Array:
    """``values`` with whitespace, control characters and Unicode form normalised (see above).

    Empty results become nulls. Logs how many values changed, with an example, when any did.
    """
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    if not _may_need_work(values):
        return values
    needs = pc.fill_null(pc.match_substring_regex(values, _NEEDS_WORK), False)
    if not pc.any(needs).as_py():
        return values
    text = pc.replace_substring_regex(values, _CONTROL, "")
    text = pc.replace_substring_regex(text, r"\s+", " ")
    text = pc.utf8_trim_whitespace(pc.utf8_normalize(text, "NFC"))
    text = pc.if_else(pc.equal(text, ""), pa.scalar(None, text.type), text)
    changed = pc.fill_null(pc.not_equal(values, text), True)
    changed = pc.and_(changed, pc.is_valid(values))
    count = pc.sum(changed).as_py() or 0
    if count:
        before = pc.filter(values, changed)[0].as_py()
        after = pc.filter(text, changed)[0].as_py()
        logger.warning(
            "%s: column %s: %d value(s) normalised (whitespace, control characters, Unicode "
            "NFC), e.g. %s -> %s",
            path,
            column,
            count,
            ascii(shown(before)),
            ascii(shown(after)) if after is not None else "empty",
        )
    return text
