"""Reporting periods: inclusive ranges of whole months, and the pairs a comparison needs.

Every statistic of a strategic assessment compares two periods of equal length: the 12 months
ending July 2013 against the 12 months before them ("Aug 11 to Jul 12" vs "Aug 12 to Jul 13"),
a calendar or financial year against the one before, or one month against the same month a year
earlier. Collisions are often reported on their own window (July to June); any period end can be
given to :func:`rolling_periods`. Months are the text ``"YYYY-MM"`` used by the incident table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_service.errors import InputError

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_ABBREVIATIONS = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def parse_month(value: str, *, what: str = "month") -> int:
    """The month ``"YYYY-MM"`` as a month index (year * 12 + month - 1).

    Parameters
    ----------
    value
        The month text, e.g. ``"2013-07"``.
    what
        What the value is, for the error message (default ``"month"``).

    Returns
    -------
    int
        The month index.

    Raises
    ------
    InputError
        When ``value`` is not a month written ``YYYY-MM``.
    """
    match = _MONTH.match(str(value))
    if match is None:
        raise InputError(f"{what}: {value!r} is not a month; expected YYYY-MM, e.g. 2013-07")
    return int(match.group(1)) * 12 + int(match.group(2)) - 1


def format_month(index: int) -> str:
    """The ``"YYYY-MM"`` text of a month index made by :func:`parse_month`.

    Parameters
    ----------
    index
        Month index (year * 12 + month - 1).

    Returns
    -------
    str
        The month, ``"YYYY-MM"``.
    """
    year, month0 = divmod(index, 12)
    return f"{year:04d}-{month0 + 1:02d}"


def shift_month(month: str, months: int) -> str:
    """``month`` moved by ``months``.

    Parameters
    ----------
    month
        The month, ``"YYYY-MM"``.
    months
        Number of months to move (negative: earlier).

    Returns
    -------
    str
        The moved month, ``"YYYY-MM"``.

    Raises
    ------
    InputError
        ``month`` is not ``YYYY-MM``.
    """
    return format_month(parse_month(month) + months)


def month_label(month: str) -> str:
    """Short label of a month as the assessment writes it: ``"2013-07"`` -> ``"Jul 13"``.

    Parameters
    ----------
    month
        The month, ``"YYYY-MM"``.

    Returns
    -------
    str
        Three-letter month and two-digit year.

    Raises
    ------
    InputError
        ``month`` is not ``YYYY-MM``.
    """
    index = parse_month(month)
    return f"{_ABBREVIATIONS[index % 12]} {index // 12 % 100:02d}"


@dataclass(frozen=True)
class Period:
    """The whole months from ``start`` to ``end`` inclusive, both ``"YYYY-MM"``.

    Parameters
    ----------
    start, end
        First and last month, ``"YYYY-MM"``.

    Raises
    ------
    InputError
        Either is not a month ``YYYY-MM``, or ``end`` is before ``start``.
    """

    start: str
    end: str

    def __post_init__(self) -> None:
        first = parse_month(self.start, what="period start")
        last = parse_month(self.end, what="period end")
        if last < first:
            raise InputError(
                f"period end {self.end!r} is before its start {self.start!r}; expected start <= end"
            )

    @property
    def months(self) -> tuple[str, ...]:
        """Every month of the period, oldest first."""
        first, last = parse_month(self.start), parse_month(self.end)
        return tuple(format_month(i) for i in range(first, last + 1))

    @property
    def n_months(self) -> int:
        """Number of months in the period."""
        return parse_month(self.end) - parse_month(self.start) + 1

    @property
    def label(self) -> str:
        """``"Aug 12 to Jul 13"``; a single month is labelled by itself (``"Jan 22"``)."""
        if self.start == self.end:
            return month_label(self.start)
        return f"{month_label(self.start)} to {month_label(self.end)}"

    def contains(self, months: pd.Series) -> np.ndarray:
        """Boolean mask of the ``"YYYY-MM"`` values of ``months`` inside this period.

        Parameters
        ----------
        months
            Months as ``"YYYY-MM"`` text; missing values are outside.

        Returns
        -------
        numpy.ndarray
            Boolean, one element per value of ``months``.
        """
        text = months.astype("str")
        inside = (text >= self.start) & (text <= self.end)
        return inside.to_numpy(dtype=bool, na_value=False)

    def shifted(self, months: int) -> Period:
        """The same-length period moved by ``months``.

        Parameters
        ----------
        months
            Number of months to move (negative: earlier).

        Returns
        -------
        Period
            The moved period.
        """
        return Period(shift_month(self.start, months), shift_month(self.end, months))


def rolling_periods(end: str, *, months: int = 12) -> tuple[Period, Period]:
    """The ``months`` ending at ``end`` and the ``months`` before them: ``(previous, current)``.

    ``rolling_periods("2013-07")`` gives Aug 11 to Jul 12 and Aug 12 to Jul 13 (the assessment's
    crime window); ``rolling_periods("2013-06")`` its July-June collision window.

    Parameters
    ----------
    end
        Last month of the current period, ``"YYYY-MM"``.
    months
        Length of each period in months, 1 or more (default 12).

    Returns
    -------
    tuple of Period
        ``(previous, current)``, adjacent and of equal length.

    Raises
    ------
    InputError
        ``months`` is below 1 or ``end`` is not ``YYYY-MM``.
    """
    if months < 1:
        raise InputError(f"months: {months} is not a usable period length; expected 1 or more")
    current = Period(shift_month(end, -(months - 1)), end)
    return current.shifted(-months), current


def year_on_year_periods(end: str, *, months: int = 12) -> tuple[Period, Period]:
    """The ``months`` ending at ``end`` and the same months a year earlier.

    For 12 months this equals :func:`rolling_periods`; for one month it compares January 2022
    with January 2021.

    Parameters
    ----------
    end
        Last month of the current period, ``"YYYY-MM"``.
    months
        Length of each period in months, 1 or more (default 12).

    Returns
    -------
    tuple of Period
        ``(previous, current)``, the previous one 12 months earlier.

    Raises
    ------
    InputError
        ``months`` is below 1 or ``end`` is not ``YYYY-MM``.
    """
    _, current = rolling_periods(end, months=months)
    return current.shifted(-12), current


def calendar_years(year: int) -> tuple[Period, Period]:
    """Calendar year ``year`` and the year before: ``(previous, current)``.

    Parameters
    ----------
    year
        The current calendar year, e.g. 2013.

    Returns
    -------
    tuple of Period
        January to December of ``year - 1`` and of ``year``.
    """
    return rolling_periods(f"{year:04d}-12", months=12)


def financial_years(start_year: int) -> tuple[Period, Period]:
    """The April-March financial year starting April ``start_year`` and the one before.

    Parameters
    ----------
    start_year
        Year in which the current financial year starts (April).

    Returns
    -------
    tuple of Period
        ``(previous, current)``, each April to March.
    """
    return rolling_periods(f"{start_year + 1:04d}-03", months=12)


def same_month_last_year(month: str) -> tuple[Period, Period]:
    """One month and the same month a year earlier: ``(previous, current)``.

    Parameters
    ----------
    month
        The current month, ``"YYYY-MM"``.

    Returns
    -------
    tuple of Period
        Two one-month periods, 12 months apart.

    Raises
    ------
    InputError
        ``month`` is not ``YYYY-MM``.
    """
    current = Period(month, month)
    return current.shifted(-12), current


def custom_periods(previous: tuple[str, str], current: tuple[str, str]) -> tuple[Period, Period]:
    """Two explicit ``(start, end)`` ranges; they may differ in length (rates then differ too).

    Parameters
    ----------
    previous, current
        ``(start, end)`` months, ``"YYYY-MM"``, inclusive.

    Returns
    -------
    tuple of Period
        ``(previous, current)``.

    Raises
    ------
    InputError
        A month is not ``YYYY-MM`` or a range ends before it starts.
    """
    return Period(*previous), Period(*current)


#: The two comparisons a period can be made against: the same-length period just before it, or
#: the same months a year earlier (for 12 months the two are the same periods).
PRECEDING = "preceding"
YEAR_EARLIER = "year-earlier"
AGAINST: tuple[str, ...] = (PRECEDING, YEAR_EARLIER)

#: The longest period a default comparison uses (a year, as the assessment does).
DEFAULT_MONTHS = 12


def comparison_periods(
    end: str, *, months: int = 12, against: str = PRECEDING
) -> tuple[Period, Period]:
    """``(previous, current)`` for the ``months`` ending ``end`` against ``against``.

    Parameters
    ----------
    end
        Last month of the current period, ``"YYYY-MM"``.
    months
        Length of each period in months (default 12).
    against
        :data:`PRECEDING` (default: the same-length period just before) or
        :data:`YEAR_EARLIER` (the same months a year earlier).

    Returns
    -------
    tuple of Period
        ``(previous, current)``.

    Raises
    ------
    InputError
        When ``against`` is not one of :data:`AGAINST`, ``months`` is below 1 or ``end`` is not
        ``YYYY-MM``.
    """
    if against == PRECEDING:
        return rolling_periods(end, months=months)
    if against == YEAR_EARLIER:
        return year_on_year_periods(end, months=months)
    raise InputError(f"against: {against!r} is not a comparison; expected one of {list(AGAINST)}")


def default_comparison(
    coverage_months: Iterable[str],
    *,
    period_end: str | None = None,
    months: int | None = None,
    against: str | None = None,
) -> tuple[Period, Period, str]:
    """The comparison the data supports: ``(previous, current, against)``.

    Parameters
    ----------
    coverage_months
        Months (``YYYY-MM``) the data holds, e.g. ``Coverage.all_months()`` or the months of the
        sources a page shows.
    period_end
        Last month of the current period; default the latest month held.
    months
        Period length in months; default the longest length, at most :data:`DEFAULT_MONTHS`,
        for which both periods are fully held.
    against
        :data:`PRECEDING` or :data:`YEAR_EARLIER`. Default: year-earlier for a 1-month period
        (the JAG's monthly review: this month against the same month last year, free of
        seasonal swings); preceding for any other length given explicitly; with ``months``
        left to the data, year-earlier first (see Returns).

    Returns
    -------
    tuple
        ``(previous, current, against)``. With ``months`` left to the data, year-earlier
        windows are tried from 12 months down to 1 (13 months held give the latest month
        against the same month a year earlier); when no year-earlier window is fully held the
        longest fully held preceding window is used; when not even that exists, one month
        against the month before (against the same month a year earlier when ``against`` is
        year-earlier; its coverage then shows the gap).

    Raises
    ------
    InputError
        No months are held and no ``period_end`` is given; ``period_end`` is not ``YYYY-MM``;
        ``against`` is not one of :data:`AGAINST`; ``months`` is below 1.
    """
    held = {str(m) for m in coverage_months}
    if period_end is None:
        if not held:
            raise InputError("the store holds no months; add incident files first")
        period_end = max(held)
    parse_month(period_end, what="period end")
    if months is not None:
        chosen = against or (YEAR_EARLIER if months == 1 else PRECEDING)
        return (*comparison_periods(period_end, months=months, against=chosen), chosen)
    kinds = (against,) if against is not None else (YEAR_EARLIER, PRECEDING)
    for kind in kinds:
        for length in range(DEFAULT_MONTHS, 0, -1):
            previous, current = comparison_periods(period_end, months=length, against=kind)
            if set(previous.months) <= held and set(current.months) <= held:
                same = against is None and length == DEFAULT_MONTHS  # both kinds agree
                return previous, current, PRECEDING if same else kind
    fallback = against or PRECEDING
    return (*comparison_periods(period_end, months=1, against=fallback), fallback)


def latest_run(months: Sequence[str]) -> list[str]:
    """The latest run of consecutive months in ``months``: a backtest scores months its
    sources hold, never a gap counted as a month of zeros.

    Parameters
    ----------
    months
        Months ``"YYYY-MM"`` (any order).

    Returns
    -------
    list of str
        The consecutive months ending at the latest of ``months``, oldest first (empty when
        ``months`` is).
    """
    ordered = sorted(months)
    run: list[str] = ordered[-1:]
    for month in reversed(ordered[:-1]):
        if parse_month(month) != parse_month(run[0]) - 1:
            break
        run.insert(0, month)
    return run


def origins(months: Sequence[str], *, months_wanted: int, horizon: int) -> tuple[str, str]:
    """Origins whose targets are the latest ``months_wanted`` months (one of history at least).

    Parameters
    ----------
    months
        The months held, ``"YYYY-MM"``, sorted and consecutive.
    months_wanted
        Number of target months (1 or more); fewer are used (and logged) when the months held
        leave less history.
    horizon
        Months ahead each origin is scored on (1 or more).

    Returns
    -------
    tuple of str
        ``(first_origin, last_origin)``, ``"YYYY-MM"``; the last is ``horizon`` months before the
        latest month held.

    Raises
    ------
    InputError
        When ``months_wanted`` or ``horizon`` is below 1, or the store is too short.
    """
    if months_wanted < 1 or horizon < 1:
        raise InputError("months and horizon months must be at least 1")
    first_data, last_data = parse_month(months[0]), parse_month(months[-1])
    last = last_data - horizon
    first = max(last - months_wanted + 1, first_data)
    if last < first:
        raise InputError(
            f"the store covers {months[0]}..{months[-1]}; a backtest needs at least "
            f"{horizon + 1} months"
        )
    return format_month(first), format_month(last)
