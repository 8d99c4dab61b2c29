"""Time patterns against hand-built series, scipy's Poisson tail and a plain groupby."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from geo_service import schema
from geo_service.analysis.patterns import (
    BASIS_SAME_MONTH,
    BASIS_TRAILING,
    daily_exceedances,
    day_of_week_profile,
    hour_of_day_profile,
    monthly_series,
    peak_and_trough,
    unusual_months,
    yearly_totals,
)
from geo_service.analysis.periods import Period
from geo_service.categories import load_groups

#: The packaged category groups by name.
GROUPS = {g.name: g for g in load_groups()}

ASB = "Anti-social behaviour"


def _monthly(counts: dict[str, int], *, category: str = ASB, area: str = "A") -> pd.DataFrame:
    months = [m for m, n in counts.items() for _ in range(n)]
    return schema.conform(
        pd.DataFrame({"category": category, "month": months, "area_beat": area, "x": 1.0, "y": 1.0})
    )


def test_monthly_series_zero_fills_and_matches_groupby() -> None:
    frame = pd.concat(
        [
            _monthly({"2013-01": 3, "2013-03": 5}),
            _monthly({"2013-03": 2}, area="B"),
            _monthly({"2013-02": 9}, category="Drugs"),
        ]
    )
    period = Period("2013-01", "2013-04")
    borough = monthly_series(frame, group=GROUPS["ASB incidents"], period=period)
    assert borough["count"].tolist() == [3, 0, 7, 0]
    wide = monthly_series(frame, group=GROUPS["ASB incidents"], period=period, layer="beat")
    expected = frame.loc[frame["category"] == ASB].groupby(["month", "area_beat"]).size()
    assert wide.loc["2013-03", "A"] == expected[("2013-03", "A")] == 5
    assert wide.loc["2013-03", "B"] == 2 and wide.loc["2013-02"].sum() == 0


def test_peak_and_trough_take_the_earliest_on_ties() -> None:
    series = pd.Series([30, 49, 21, 49, 17, 17], index=[f"2013-0{i}" for i in range(1, 7)])
    result = peak_and_trough(series)
    assert (result.peak_month, result.peak_count) == ("2013-02", 49)
    assert (result.trough_month, result.trough_count) == ("2013-05", 17)
    assert result.mean_per_month == pytest.approx(183 / 6)


def test_unusual_month_against_same_month_earlier_years() -> None:
    counts = {f"2012-{m:02d}": 10 for m in range(1, 13)}
    counts.update({f"2013-{m:02d}": 10 for m in range(1, 13)})
    counts["2013-03"] = 30
    counts["2011-03"] = 14  # expected for 2013-03 = mean(14, 10) = 12
    table = unusual_months(
        _monthly(counts), group=GROUPS["ASB incidents"], period=Period("2013-01", "2013-12")
    )
    march = table.set_index("month").loc["2013-03"]
    assert march["expected"] == pytest.approx(12.0)
    assert march["basis"] == BASIS_SAME_MONTH
    assert march["p"] == pytest.approx(stats.poisson.sf(29, 12.0))
    assert table["far_above"].tolist() == [m == "2013-03" for m in table["month"]]


def test_unusual_month_falls_back_to_trailing_mean() -> None:
    counts = {"2013-01": 8, "2013-02": 10, "2013-03": 12, "2013-04": 25}
    table = unusual_months(
        _monthly(counts), group=GROUPS["ASB incidents"], period=Period("2013-03", "2013-04")
    )
    april = table.set_index("month").loc["2013-04"]
    assert april["basis"] == BASIS_TRAILING and april["expected"] == pytest.approx(10.0)
    assert april["p"] == pytest.approx(stats.poisson.sf(24, 10.0)) and april["far_above"]
    assert np.isnan(table.set_index("month").loc["2013-03", "expected"])  # only 2 months before


def test_halloween_day_stands_out_from_the_month_average() -> None:
    days = [31] * 23 + [d for d in range(1, 31) for _ in range(9)] + list(range(1, 12))
    frame = schema.conform(
        pd.DataFrame(
            {
                "category": ASB,
                "month": "2012-10",
                "occurred_at": pd.to_datetime([f"2012-10-{d:02d} 18:00" for d in days]),
            }
        )
    )
    result = daily_exceedances(frame, group=GROUPS["ASB incidents"], period="2012-10")
    assert len(frame) == 304
    first = result.iloc[0]
    assert (first["date"], first["count"]) == ("2012-10-31", 23)
    assert round(first["daily_mean"], 1) == 9.8
    assert first["p"] == pytest.approx(stats.poisson.sf(22, 304 / 31))
    assert result["date"].tolist() == ["2012-10-31"]


def test_day_and_hour_profiles_count_only_known_dates_and_times() -> None:
    frame = schema.conform(
        pd.DataFrame(
            {
                "category": "Robbery",
                "month": "2013-01",
                # 2013-01-07 is a Monday, 2013-01-12 a Saturday.
                "occurred_at": pd.to_datetime(
                    ["2013-01-07 23:10", "2013-01-07 01:00", "2013-01-12 23:59", None]
                ),
                "time_known": [True, True, False, False],
            }
        )
    )
    period = Period("2013-01", "2013-01")
    days = day_of_week_profile(frame, group="Robbery", period=period).set_index("day")
    assert days["count"].tolist() == [2, 0, 0, 0, 0, 1, 0]
    assert days.loc["Monday", "share"] == pytest.approx(200 / 3)
    hours = hour_of_day_profile(frame, group="Robbery", period=period).set_index("hour")
    assert hours["count"].sum() == 2 and hours.loc[23, "count"] == 1 and hours.loc[1, "count"] == 1


def test_daily_exceedances_over_a_period_use_each_months_own_average() -> None:
    october = [f"2012-10-{d:02d}" for d in range(1, 32) for _ in range(3)] + ["2012-10-31"] * 12
    november = [f"2012-11-{d:02d}" for d in range(1, 31) for _ in range(10)]
    november += ["2012-11-05"] * 20
    dates = pd.to_datetime(october + november)
    frame = schema.conform(
        pd.DataFrame({"category": ASB, "month": dates.strftime("%Y-%m"), "occurred_at": dates})
    )
    result = daily_exceedances(
        frame, group=GROUPS["ASB incidents"], period=Period("2012-10", "2012-11")
    )
    by_date = result.set_index("date")
    assert sorted(by_date.index) == ["2012-10-31", "2012-11-05"]
    assert by_date.loc["2012-10-31", "daily_mean"] == pytest.approx(105 / 31)
    assert by_date.loc["2012-11-05", "daily_mean"] == pytest.approx(320 / 30)
    assert by_date.loc["2012-11-05", "p"] == pytest.approx(stats.poisson.sf(29, 320 / 30))
    assert result["p"].is_monotonic_increasing


def test_yearly_totals_keep_fully_covered_windows() -> None:
    counts = {f"{2008 + (m + 7) // 12}-{(m + 7) % 12 + 1:02d}": 10 for m in range(60)}
    counts["2013-07"] = 22  # windows: Aug 08..Jul 09 .. Aug 12..Jul 13
    del counts["2008-08"]  # the oldest window is no longer fully covered
    frame = _monthly(counts)
    covered = [*counts, "2008-08"]
    table = yearly_totals(
        frame, group=GROUPS["ASB incidents"], end="2013-07", covered_months=covered
    )
    assert table["period"].tolist() == [
        "Aug 08 to Jul 09", "Aug 09 to Jul 10", "Aug 10 to Jul 11", "Aug 11 to Jul 12",
        "Aug 12 to Jul 13",
    ]  # fmt: skip
    assert table["count"].tolist() == [110, 120, 120, 120, 132]
    assert table["mean_per_month"].iloc[-1] == pytest.approx(11.0)
    assert len(yearly_totals(frame, group=GROUPS["ASB incidents"], end="2013-07")) == 4


def test_monthly_series_writes_no_data_for_months_not_held() -> None:
    frame = schema.conform(
        pd.DataFrame({"category": "Drugs", "month": ["2021-01", "2021-01", "2021-03"]})
    )
    period = Period("2020-12", "2021-03")
    series = monthly_series(
        frame, group="Drugs", period=period, held=["2021-01", "2021-02", "2021-03"]
    )
    assert series["count"].tolist()[1:] == [2, 0, 1]  # Feb 21 is held: a real zero
    assert pd.isna(series["count"].iloc[0])  # Dec 20 is not held: no data, not 0
    plain = monthly_series(frame, group="Drugs", period=period)
    assert plain["count"].tolist() == [0, 2, 0, 1]


def test_yearly_totals_of_one_month_take_the_same_month_each_year() -> None:
    counts = {"2011-01": 4, "2011-12": 50, "2012-01": 6, "2012-12": 50, "2013-01": 8}
    frame = _monthly(counts)
    covered = Period("2011-01", "2013-01").months
    table = yearly_totals(frame, group=GROUPS["ASB incidents"], end="2013-01", months=1,
                          covered_months=covered)  # fmt: skip
    assert table["period"].tolist() == ["Jan 11", "Jan 12", "Jan 13"]
    assert table["count"].tolist() == [4, 6, 8]  # December's 50s are not in a January trend
