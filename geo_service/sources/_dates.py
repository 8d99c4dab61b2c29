"""Months and times as the loaders read them: spreadsheet-mangled months, UTC offsets.

**Months.** A ``YYYY-MM`` value opened and saved in a spreadsheet comes back as a date in the
spreadsheet's display format: ``Jan-21``, ``Jan 2021``, ``January 2021``, ``01/01/2021`` (or
``1/1/21``), ``2021-01-01``, ``2021/01``, ``01/2021`` or an Excel serial day number (``44197``),
sometimes with a ``00:00`` time. :func:`read_months` recognises these forms; every one of them
names the first day of a month, so a value whose day is not 1 is not one of them. A police.uk file
name (``2021-01-<force>-street.csv``) names the month, and a recognised value must agree with it:
otherwise the whole file is refused, since a wrong month would move every row.

**Times.** A timestamp with a UTC offset or ``Z`` (``2021-08-01T00:30+01:00``) is converted to
Europe/London local time, and a timestamp without one is taken as local time already, because
crime analysis (months, hours, the night-time window, weekdays) is done in UK local time
(:func:`local_times`).
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_service.errors import InputError

logger = logging.getLogger(__name__)

#: The time zone every derived month, hour and weekday is in.
LOCAL_ZONE = "Europe/London"
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_EXCEL_EPOCH = date(1899, 12, 30)  # Excel's day 0 on Windows (1900 date system)
_SERIALS = (10_000, 100_000)  # 1927..2173: day numbers a month of crime data can have
_MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS |= {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
_MIDNIGHT = re.compile(r"[ T]0?0:00(:00(\.0+)?)?$")
_NAMED = re.compile(r"^([A-Za-z]+)[-\s/]+([0-9]{2}|[0-9]{4})$")  # Jan-21, Jan 2021, January 2021
_DAY_NAMED = re.compile(r"^0?1[-\s/]+([A-Za-z]+)[-\s/]+([0-9]{2}|[0-9]{4})$")  # 01-Jan-2021
_SLASHED = re.compile(r"^([0-9]{1,2})[/.-]([0-9]{1,2})[/.-]([0-9]{2}|[0-9]{4})$")  # 01/01/2021
_ISO_DAY = re.compile(r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})$")  # 2021-01-01
_YEAR_MONTH = re.compile(r"^([0-9]{4})[/.-]([0-9]{1,2})$")  # 2021/01, 2021-1
_MONTH_YEAR = re.compile(r"^([0-9]{1,2})[/.-]([0-9]{4})$")  # 01/2021
_SERIAL = re.compile(r"^([0-9]{5})(\.0+)?$")  # 44197


def month_of(text: str) -> str | None:
    """The ``YYYY-MM`` month a spreadsheet-mangled month value stands for, or None.

    Examples
    --------
    >>> [month_of(v) for v in ("Jan-21", "Jan 2021", "01/02/2021", "2021-03-01", "44197")]
    ['2021-01', '2021-01', '2021-02', '2021-03', '2021-01']
    >>> month_of("15/01/2021") is None  # a real date, not the first of a month
    True
    """
    value = _MIDNIGHT.sub("", text.strip())
    if re.match(MONTH_PATTERN, value):
        return value
    candidates = _candidates(value)
    return candidates[0] if len(set(candidates)) == 1 else None


def _candidates(value: str) -> list[str]:
    """Every month the value can stand for (each reading must be the first of a month)."""
    if match := _NAMED.match(value) or _DAY_NAMED.match(value):
        month = _MONTHS.get(match.group(1).lower())
        return [_month(_year(match.group(2)), month)] if month else []
    if match := _SLASHED.match(value):
        first, second, year = int(match.group(1)), int(match.group(2)), _year(match.group(3))
        # Day first (UK) or month first (US): the reading whose day is 1.
        readings = [(second, first), (first, second)]
        return [_month(year, month) for month, day in readings if day == 1 and 1 <= month <= 12]
    if match := _ISO_DAY.match(value):
        year, month, day = (int(g) for g in match.groups())
        return [_month(year, month)] if day == 1 and 1 <= month <= 12 else []
    if match := _YEAR_MONTH.match(value) or _MONTH_YEAR.match(value):
        numbers = [int(g) for g in match.groups()]
        year, month = (numbers[0], numbers[1]) if numbers[0] > 12 else (numbers[1], numbers[0])
        return [_month(year, month)] if 1 <= month <= 12 else []
    if match := _SERIAL.match(value):
        serial = int(match.group(1))
        if not _SERIALS[0] <= serial <= _SERIALS[1]:
            return []
        when = _EXCEL_EPOCH + timedelta(days=serial)
        return [_month(when.year, when.month)] if when.day == 1 else []
    return []


def _year(text: str) -> int:
    return int(text) if len(text) == 4 else 2000 + int(text)


def _month(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def read_months(
    path: Path, values: pa.Array, column: str, *, expected: str | None = None
) -> pa.Array:
    """``values`` as ``YYYY-MM`` months, spreadsheet-mangled forms read back (file-level check).

    Parameters
    ----------
    path
        The file, for messages.
    values
        The month column as text.
    column
        The column's name in the file.
    expected
        The month the file's name carries (police.uk), or None.

    Returns
    -------
    pyarrow.Array
        The values with every recognised form replaced by its month; values not recognised are
        left as they are, for the row checks to reject.

    Raises
    ------
    InputError
        A recognised value names another month than ``expected``: the whole file is refused.
    """
    distinct = [v for v in pc.unique(values).to_pylist() if v is not None]
    odd = [v for v in distinct if not re.match(MONTH_PATTERN, v)]
    if not odd:
        return values
    read = {v: m for v in odd if (m := month_of(v)) is not None}
    if not read:
        return values
    _check_expected(path, column, read, expected)
    examples = ", ".join(f"'{v}' -> {m}" for v, m in list(read.items())[:3])
    logger.warning(
        "%s: %s was reformatted by a spreadsheet (%s); read as YYYY-MM%s",
        path,
        column,
        examples,
        f", agreeing with the month {expected} in the file name" if expected else "",
    )
    months = pa.array(list(read.values()), type=pa.large_string())
    position = pc.index_in(values, value_set=pa.array(list(read), type=values.type))
    return pc.coalesce(pc.take(months, position), values.cast(pa.large_string()))


def _check_expected(path: Path, column: str, read: Mapping[str, str], expected: str | None) -> None:
    if expected is None:
        return
    wrong = {v: m for v, m in read.items() if m != expected}
    if wrong:
        shown = ", ".join(f"'{v}' reads as {m}" for v, m in list(wrong.items())[:3])
        raise InputError(
            f"{path}: file refused: column {column} was reformatted by a spreadsheet and does "
            f"not agree with the month {expected} in the file name ({shown}); download the file "
            "again, or open it without letting the spreadsheet convert dates"
        )


def month_from_name(path: Path) -> str | None:
    """The ``YYYY-MM`` month at the start of a police.uk file name, or None."""
    match = re.match(r"^([0-9]{4}-(0[1-9]|1[0-2]))-", path.name)
    return match.group(1) if match else None


#: A time of day followed by ``Z`` or a UTC offset (a bare date's ``-01`` is no offset).
_OFFSET = r"[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?\s*(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)$"


def local_times(text: pd.Series, *, date_format: str | None = None) -> pd.Series:
    """Timestamps as naive Europe/London local times (NaT where unreadable or missing).

    A value with a UTC offset or ``Z`` is converted to local time; one without is taken as
    local time already. ``date_format`` is a strptime format (``%z`` reads an offset), else
    ISO 8601.

    Examples
    --------
    >>> local_times(pd.Series(["2021-07-31T23:30Z", "2021-08-01T00:30"])).tolist()
    [Timestamp('2021-08-01 00:30:00'), Timestamp('2021-08-01 00:30:00')]
    """
    fmt = date_format or "ISO8601"
    zoned = text.str.contains(_OFFSET, regex=True, na=False).to_numpy(dtype=bool)
    if date_format is not None and "%z" in date_format:
        zoned = text.notna().to_numpy(dtype=bool)
    out = pd.Series(np.full(len(text), np.datetime64("NaT"), "datetime64[us]"), index=text.index)
    if (~zoned).any():
        naive = pd.to_datetime(text[~zoned], format=fmt, errors="coerce")
        out[~zoned] = naive.astype("datetime64[us]")
    if zoned.any():
        utc = pd.to_datetime(text[zoned], format=fmt, errors="coerce", utc=True)
        local = utc.dt.tz_convert(LOCAL_ZONE).dt.tz_localize(None)
        out[zoned] = local.astype("datetime64[us]")
    return out
