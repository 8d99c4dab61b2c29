"""The report's counting functions (breakdowns, monthly series, yearly totals, unusual days,
weekday and hour profiles) give, on counted rows (a count ``n`` per distinct key, the day and
hour standing for the time, as the store's area cube holds them), the plain pandas counts of
the raw rows they stand for, and the same tables as on the raw rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis import breakdowns, patterns
from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup, Selector

FIRES = CategoryGroup("Fires", (Selector("Deliberate fire"),))
COLLISIONS = CategoryGroup("Collisions", (Selector("Road traffic collision"),))
PREVIOUS, CURRENT = Period("2021-01", "2021-06"), Period("2021-07", "2021-12")
BUSY_DAY = "2021-10-09"


def _rows(seed: int = 11) -> pd.DataFrame:
    """600 dated fires and collisions over 2021 (80 % with a time; minutes kept), a busy day
    of 25 fires, and 40 undated fires (no ``occurred_at``, as police.uk-like rows)."""
    rng = np.random.default_rng(seed)
    k = 600
    day = pd.Timestamp("2021-01-01") + pd.to_timedelta(rng.integers(0, 365, k), unit="D")
    at = day + pd.to_timedelta(rng.integers(0, 24 * 60, k), unit="min")
    frame = pd.DataFrame(
        {
            "source": "fire",
            "category": rng.choice(["Deliberate fire", "Road traffic collision"], k),
            "subcategory": rng.choice(["Refuse", "Vehicle", None], k),
            "occurred_at": at,
            "time_known": rng.random(k) < 0.8,
            "severity": rng.choice(["Slight", "Serious", "Fatal", None], k, p=[.7, .2, .05, .05]),
        }
    )  # fmt: skip
    busy = pd.DataFrame(
        {
            "source": "fire", "category": "Deliberate fire", "subcategory": "Refuse",
            "occurred_at": pd.Timestamp(f"{BUSY_DAY} 21:40") + pd.to_timedelta(range(25), "min"),
            "time_known": True, "severity": None,
        }
    )  # fmt: skip
    undated = pd.DataFrame(
        {"source": "police", "category": "Deliberate fire", "subcategory": None,
         "occurred_at": pd.NaT, "time_known": False, "severity": None,
         "month": rng.choice([f"2021-{m:02d}" for m in range(1, 13)], 40)}
    )  # fmt: skip
    dated = pd.concat([frame, busy], ignore_index=True)
    dated["month"] = dated["occurred_at"].dt.strftime("%Y-%m")
    rows = pd.concat([dated, undated], ignore_index=True)
    rows["incident_id"] = [f"t:{i}" for i in range(len(rows))]
    rows["x"], rows["y"] = 500000.0, 200000.0
    return schema.conform(rows)


def _counted(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows counted per distinct key, the time cut to its day and hour (an independent
    groupby, not the cube's code)."""
    keys = rows[["source", "category", "subcategory", "month", "time_known", "severity"]].copy()
    keys["occurred_at"] = rows["occurred_at"].dt.floor("h")
    counted = keys.groupby(list(keys.columns), dropna=False, sort=False).size()
    out = counted.rename("n").reset_index()
    return out.astype({c: keys[c].dtype for c in keys.columns} | {"n": "int64"})


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return _rows()


@pytest.fixture(scope="module")
def counted(rows: pd.DataFrame) -> pd.DataFrame:
    frame = _counted(rows)
    assert len(frame) < len(rows) and int(frame["n"].sum()) == len(rows)
    return frame


def _in(rows: pd.DataFrame, category: str, period: Period) -> pd.DataFrame:
    return rows.loc[
        (rows["category"] == category) & rows["month"].between(period.start, period.end)
    ]


def test_subcategory_breakdown_counts_the_rows(rows: pd.DataFrame, counted: pd.DataFrame) -> None:
    table = breakdowns.subcategory_breakdown(
        counted, group=FIRES, previous=PREVIOUS, current=CURRENT
    )
    for column, period in (("previous", PREVIOUS), ("current", CURRENT)):
        plain = _in(rows, "Deliberate fire", period)["subcategory"].fillna(breakdowns.NOT_GIVEN)
        assert table.set_index("subcategory")[column].to_dict() == plain.value_counts().to_dict()
    raw = breakdowns.subcategory_breakdown(rows, group=FIRES, previous=PREVIOUS, current=CURRENT)
    pd.testing.assert_frame_equal(table, raw)


def test_severity_by_period_counts_the_rows(rows: pd.DataFrame, counted: pd.DataFrame) -> None:
    table = breakdowns.severity_by_period(counted, (PREVIOUS, CURRENT), group=COLLISIONS)
    for period in (PREVIOUS, CURRENT):
        chosen = _in(rows, "Road traffic collision", period)
        plain = chosen["severity"].value_counts()
        expected = [int(plain.get(s, 0)) for s in ("Slight", "Serious", "Fatal")] + [len(chosen)]
        assert table[period.label].tolist() == expected
    # collisions with no severity count in the Grand Total only
    assert table[CURRENT.label].iloc[-1] > table[CURRENT.label].iloc[:3].sum()
    pd.testing.assert_frame_equal(
        table, breakdowns.severity_by_period(rows, (PREVIOUS, CURRENT), group=COLLISIONS)
    )


def test_monthly_series_and_yearly_totals_count_the_rows(
    rows: pd.DataFrame, counted: pd.DataFrame
) -> None:
    year = Period("2021-01", "2021-12")
    series = patterns.monthly_series(counted, group=FIRES, period=year)["count"]
    plain = rows.loc[rows["category"] == "Deliberate fire", "month"].value_counts()
    assert series.to_dict() == plain.reindex(year.months, fill_value=0).to_dict()
    totals = patterns.yearly_totals(counted, group=FIRES, end="2021-12", months=3)
    assert totals["count"].tolist() == [int(plain[["2021-10", "2021-11", "2021-12"]].sum())]
    pd.testing.assert_frame_equal(
        patterns.unusual_months(counted, group=FIRES, period=CURRENT),
        patterns.unusual_months(rows, group=FIRES, period=CURRENT),
    )


def test_daily_exceedances_count_the_rows(rows: pd.DataFrame, counted: pd.DataFrame) -> None:
    days = patterns.daily_exceedances(counted, group=FIRES, period=CURRENT, alpha=0.001)
    fires = rows.loc[(rows["category"] == "Deliberate fire") & rows["occurred_at"].notna()]
    per_day = fires["occurred_at"].dt.strftime("%Y-%m-%d").value_counts()
    october = int((fires["month"] == "2021-10").sum())
    first = days.iloc[0]
    assert first["date"] == BUSY_DAY and first["count"] == per_day[BUSY_DAY] >= 25
    assert first["daily_mean"] == pytest.approx(october / 31)
    pd.testing.assert_frame_equal(
        days, patterns.daily_exceedances(rows, group=FIRES, period=CURRENT, alpha=0.001)
    )


def test_weekday_and_hour_profiles_count_the_rows(
    rows: pd.DataFrame, counted: pd.DataFrame
) -> None:
    chosen = _in(rows, "Deliberate fire", CURRENT)
    week = patterns.day_of_week_profile(counted, group=FIRES, period=CURRENT)
    plain = chosen["occurred_at"].dropna().dt.day_of_week.value_counts()
    assert week["count"].tolist() == [int(plain.get(d, 0)) for d in range(7)]
    assert int(week["count"].sum()) == int(chosen["occurred_at"].notna().sum())
    hours = patterns.hour_of_day_profile(counted, group=FIRES, period=CURRENT)
    timed = chosen.loc[chosen["time_known"], "occurred_at"].dt.hour.value_counts()
    assert hours["count"].tolist() == [int(timed.get(h, 0)) for h in range(24)]
    pd.testing.assert_frame_equal(
        week, patterns.day_of_week_profile(rows, group=FIRES, period=CURRENT)
    )
    pd.testing.assert_frame_equal(
        hours, patterns.hour_of_day_profile(rows, group=FIRES, period=CURRENT)
    )


def test_monthly_series_per_area_counts_the_rows() -> None:
    rows = schema.conform(
        pd.DataFrame(
            {"category": "Burglary", "month": ["2021-01", "2021-01", "2021-02", "2021-02"],
             "area_beat": ["A", "A", None, "B"], "incident_id": ["a", "b", "c", "d"]}
        )
    )  # fmt: skip
    counted = pd.DataFrame(
        {"category": "Burglary", "month": ["2021-01", "2021-02", "2021-02"],
         "area_beat": pd.array(["A", None, "B"], dtype="str"), "n": [2, 1, 1]}
    )  # fmt: skip
    period = Period("2021-01", "2021-03")
    wide = patterns.monthly_series(counted, group="Burglary", period=period, layer="beat")
    assert wide.to_dict(orient="list") == {"A": [2, 0, 0], "B": [0, 1, 0]}
    pd.testing.assert_frame_equal(
        wide, patterns.monthly_series(rows, group="Burglary", period=period, layer="beat")
    )
