"""Reporting periods: labels, month lists, rolling/calendar/financial/same-month windows."""

from __future__ import annotations

import pandas as pd
import pytest

from geo_service.analysis.periods import (
    PRECEDING,
    YEAR_EARLIER,
    Period,
    calendar_years,
    comparison_periods,
    custom_periods,
    default_comparison,
    financial_years,
    month_label,
    rolling_periods,
    same_month_last_year,
    shift_month,
    year_on_year_periods,
)
from geo_service.errors import InputError


def test_rolling_periods_match_the_assessment_window() -> None:
    previous, current = rolling_periods("2013-07")
    assert (previous.start, previous.end) == ("2011-08", "2012-07")
    assert (current.start, current.end) == ("2012-08", "2013-07")
    assert previous.label == "Aug 11 to Jul 12"
    assert current.label == "Aug 12 to Jul 13"
    assert current.n_months == 12
    assert current.months[0] == "2012-08" and current.months[-1] == "2013-07"


def test_collision_window_is_july_to_june() -> None:
    previous, current = rolling_periods("2013-06")
    assert (previous.start, current.start, current.end) == ("2011-07", "2012-07", "2013-06")


def test_short_rolling_windows_and_year_boundaries() -> None:
    previous, current = rolling_periods("2022-02", months=3)
    assert current.months == ("2021-12", "2022-01", "2022-02")
    assert previous.months == ("2021-09", "2021-10", "2021-11")
    assert shift_month("2022-01", -1) == "2021-12"
    assert month_label("2009-01") == "Jan 09"


def test_calendar_financial_and_same_month() -> None:
    assert calendar_years(2021) == (Period("2020-01", "2020-12"), Period("2021-01", "2021-12"))
    assert financial_years(2013) == (Period("2012-04", "2013-03"), Period("2013-04", "2014-03"))
    previous, current = same_month_last_year("2022-01")
    assert (previous, current) == (Period("2021-01", "2021-01"), Period("2022-01", "2022-01"))
    assert current.label == "Jan 22"
    assert custom_periods(("2020-01", "2020-06"), ("2021-01", "2021-03"))[1].n_months == 3


def test_contains_is_inclusive_and_ignores_missing() -> None:
    months = pd.Series(["2012-07", "2012-08", "2013-07", "2013-08", None], dtype="str")
    _, current = rolling_periods("2013-07")
    assert current.contains(months).tolist() == [False, True, True, False, False]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2013-13", "2014-01", "period start: '2013-13' is not a month"),
        ("2013-01", "July 2013", "period end: 'July 2013' is not a month"),
        ("2013-05", "2013-01", "is before its start"),
    ],
)
def test_bad_periods_raise_clear_errors(start: str, end: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        Period(start, end)


def test_zero_month_window_is_refused() -> None:
    with pytest.raises(InputError, match="months: 0"):
        rolling_periods("2013-07", months=0)


def test_year_on_year_periods() -> None:
    previous, current = year_on_year_periods("2022-01", months=1)
    assert (previous.label, current.label) == ("Jan 21", "Jan 22")
    previous, current = year_on_year_periods("2013-07", months=3)
    assert previous == Period("2012-05", "2012-07") and current == Period("2013-05", "2013-07")
    assert year_on_year_periods("2013-07") == rolling_periods("2013-07")


def _held(first: str, last: str) -> tuple[str, ...]:
    return Period(first, last).months


def test_default_comparison_is_what_the_data_supports() -> None:
    # 13 months: the latest month against the same month a year earlier.
    thirteen = _held("2021-01", "2022-01")
    assert default_comparison(thirteen) == (
        Period("2021-01", "2021-01"),
        Period("2022-01", "2022-01"),
        YEAR_EARLIER,
    )
    # 24 months: the year against the year before (year-earlier and preceding agree).
    assert default_comparison(_held("2011-08", "2013-07")) == (
        *rolling_periods("2013-07"),
        PRECEDING,
    )
    # 18 months: the latest 6 months against the same 6 months a year earlier.
    previous, current, against = default_comparison(_held("2020-08", "2022-01"))
    assert (previous.label, current.label, against) == (
        "Aug 20 to Jan 21",
        "Aug 21 to Jan 22",
        YEAR_EARLIER,
    )
    # Asked for "preceding" with 13 months: the longest fully held pair is 6 against 6.
    previous, current, _ = default_comparison(thirteen, against=PRECEDING)
    assert (previous.label, current.label) == ("Feb 21 to Jul 21", "Aug 21 to Jan 22")
    # A 1-month view defaults to the JAG's year-earlier comparison; 12 months to preceding.
    assert default_comparison(thirteen, months=1)[2] == YEAR_EARLIER
    assert default_comparison(thirteen, months=12) == (*rolling_periods("2022-01"), PRECEDING)
    # An earlier period end is honoured; with 3 months held, 1 month against the month before.
    assert default_comparison(_held("2021-01", "2021-03"), period_end="2021-02") == (
        Period("2021-01", "2021-01"),
        Period("2021-02", "2021-02"),
        PRECEDING,
    )


def test_comparison_periods_use_one_vocabulary() -> None:
    assert comparison_periods("2022-01", months=1, against=YEAR_EARLIER) == (
        same_month_last_year("2022-01")
    )
    assert comparison_periods("2013-07") == rolling_periods("2013-07")
    with pytest.raises(InputError, match=r"expected one of \['preceding', 'year-earlier'\]"):
        comparison_periods("2013-07", against="last-year")
    with pytest.raises(InputError, match="holds no months"):
        default_comparison([])
