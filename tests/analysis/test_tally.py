"""Every group's change table from one count equals change_table group by group (which counts with
counts_by_area), and the tally's counts equal a plain pandas groupby."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis.change import change_table
from geo_service.analysis.counts import UNALLOCATED
from geo_service.analysis.periods import Period, rolling_periods, same_month_last_year
from geo_service.analysis.tally import area_change_rows, area_tally, change_tables
from geo_service.categories import CategoryGroup, Selector, load_groups
from geo_service.coverage import Coverage
from geo_service.store import Store

PREVIOUS, CURRENT = rolling_periods("2013-07")
CODES = ["A", "B", "C", "D", "E"]
AREAS = pd.DataFrame(
    {
        "code": CODES,
        "name": [f"Beat {c}" for c in CODES],
        "population": [5000.0, 4000.0, 0.0, 3000.0, np.nan],
        "households": [2000.0, np.nan, 1000.0, 1200.0, 900.0],
    }
)
NIGHT = CategoryGroup("Night-time violence", (Selector("Violence", hours=(22, 23, 0, 1)),))
BURGLARY_DWELLING = CategoryGroup(
    "Dwelling burglary", (Selector("Burglary", subcategories=("Burglary dwelling",)),)
)
MIXED = CategoryGroup("Fires and collisions", (Selector("Deliberate fire"), Selector("Collision")))


def _frame(seed: int = 3, n: int = 6000) -> pd.DataFrame:
    """Two police sources (one a borough extract, one reaching beyond it), fires ending a month
    early, collisions ending two months early; some rows unlocated, some outside every area."""
    rng = np.random.default_rng(seed)
    months = Period("2011-06", "2013-07").months
    source = rng.choice(["borough", "force", "fire", "stats19"], n, p=[0.5, 0.3, 0.1, 0.1])
    category = np.where(
        source == "fire",
        "Deliberate fire",
        np.where(
            source == "stats19",
            "Collision",
            rng.choice(["Burglary", "Violence", "Drugs", "ASB"], n),
        ),
    )
    month = rng.choice(months, n)
    month = np.where((source == "fire") & (month == "2013-07"), "2013-06", month)
    month = np.where((source == "stats19") & (month >= "2013-06"), "2013-05", month)
    subcategory = np.where(
        category == "Burglary", rng.choice(["Burglary dwelling", "Burglary other"], n), None
    )
    located = rng.random(n) > 0.08
    area = rng.choice([*CODES, "Z"], n).astype(object)  # Z: no area of the layer
    area[(source == "borough") & (area == "Z")] = "A"  # the borough extract lies inside
    area[~located] = None
    hours = rng.integers(0, 24, n)
    timed = rng.random(n) > 0.3
    occurred = pd.to_datetime([f"{m}-10" for m in month]) + pd.to_timedelta(hours, unit="h")
    frame = pd.DataFrame(
        {
            "source": source,
            "category": category,
            "subcategory": pd.array(subcategory, dtype="str"),
            "month": month,
            "occurred_at": np.where(timed, occurred, pd.NaT),
            "time_known": timed,
            "x": np.where(located, 500000.0, np.nan),
            "y": np.where(located, 200000.0, np.nan),
            "area_beat": pd.array(np.where(area == "Z", None, area), dtype="str"),
        }
    )
    return schema.conform(frame)


GROUPS = [NIGHT, BURGLARY_DWELLING, MIXED, "Drugs", "ASB", "Burglary", "Nothing stored"]


@pytest.mark.parametrize(
    ("previous", "current"),
    [(PREVIOUS, CURRENT), same_month_last_year("2013-07"), rolling_periods("2013-07", months=3)],
)
@pytest.mark.parametrize("with_coverage", [True, False])
def test_change_tables_equal_change_table_per_group(
    previous: Period, current: Period, with_coverage: bool
) -> None:
    frame = _frame()
    coverage = Coverage.from_incidents(frame) if with_coverage else None
    many = change_tables(
        frame, layer="beat", areas=AREAS, groups=GROUPS, previous=previous, current=current,
        coverage=coverage,
    )  # fmt: skip
    assert len(many) == len(GROUPS)
    for group, table in zip(GROUPS, many, strict=True):
        one = change_table(
            frame, layer="beat", areas=AREAS, group=group, previous=previous, current=current,
            coverage=coverage,
        )  # fmt: skip
        pd.testing.assert_frame_equal(table, one, check_exact=False, rtol=1e-12)


def test_windows_and_unallocated_rows_are_exercised() -> None:
    # The comparison above proves something only if the frame has unallocated rows and
    # sources counted over their own months.
    frame = _frame()
    coverage = Coverage.from_incidents(frame)
    (mixed,) = change_tables(
        frame, layer="beat", areas=AREAS, groups=[MIXED], previous=PREVIOUS, current=CURRENT,
        coverage=coverage,
    )  # fmt: skip
    assert "its data ends" in mixed.loc[0, "window"]
    (drugs,) = change_tables(
        frame, layer="beat", areas=AREAS, groups=["Drugs"], previous=PREVIOUS, current=CURRENT
    )
    assert drugs["code"].iloc[-1] == UNALLOCATED and drugs["current"].iloc[-1] > 0


def test_tally_counts_equal_a_plain_groupby() -> None:
    frame = _frame()
    tally = area_tally(frame, layer="beat", codes=CODES)
    assert tally.n.sum() == len(frame)
    counts = tally.counts("Drugs", CURRENT)
    drugs = frame.loc[
        (frame["category"] == "Drugs") & frame["month"].between(*CURRENT.months[::11])
    ]
    expected = drugs.groupby("area_beat").size().reindex(CODES, fill_value=0)
    assert counts[CODES].tolist() == expected.tolist()
    # Unallocated: unlocated, no area, from the borough extract (its located rows all lie inside).
    unlocated = drugs["x"].isna() & drugs["area_beat"].isna() & (drugs["source"] == "borough")
    assert counts[UNALLOCATED] == int(unlocated.sum())
    night = frame.loc[
        (frame["category"] == "Violence")
        & frame["time_known"]
        & frame["occurred_at"].dt.hour.isin([22, 23, 0, 1])
        & frame["month"].between(CURRENT.start, CURRENT.end)
    ]
    expected = night.groupby("area_beat").size().reindex(CODES, fill_value=0)
    assert tally.counts(NIGHT, CURRENT)[CODES].tolist() == expected.tolist()


def test_demo_store_every_packaged_group(demo_store: Store) -> None:
    incidents = demo_store.incidents()
    coverage = demo_store.coverage()
    areas = demo_store.layer("beat")
    groups = load_groups()
    many = change_tables(
        incidents, layer="beat", areas=areas, groups=groups, previous=PREVIOUS, current=CURRENT,
        coverage=coverage,
    )  # fmt: skip
    for group, table in zip(groups, many, strict=True):
        one = change_table(
            incidents, layer="beat", areas=areas, group=group, previous=PREVIOUS,
            current=CURRENT, coverage=coverage,
        )  # fmt: skip
        pd.testing.assert_frame_equal(table, one, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("code", CODES)
def test_area_change_rows_are_each_tables_row_of_the_area(code: str) -> None:
    frame = _frame()
    coverage = Coverage.from_incidents(frame)
    kwargs = dict(
        layer="beat", areas=AREAS, groups=GROUPS, previous=PREVIOUS, current=CURRENT,
        coverage=coverage,
    )  # fmt: skip
    rows = area_change_rows(frame, code=code, **kwargs)
    expected = pd.concat(
        [t[t["code"] == code] for t in change_tables(frame, **kwargs)], ignore_index=True
    )
    assert len(rows) == len(GROUPS)
    pd.testing.assert_frame_equal(rows, expected, check_exact=True)
    assert area_change_rows(frame, code="not an area", **kwargs).empty
