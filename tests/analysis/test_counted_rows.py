"""Counted rows (a count and a located flag per row) give the figures of the rows they stand for,
and a change table built from counts per area is the one built from the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis import change, tally
from geo_service.analysis.counts import (
    UNALLOCATED,
    counts_by_area,
    monthly_counts,
    monthly_counts_of_groups,
    total_count,
    unlocated_shares,
    unlocated_summary,
    within_layer,
    without_area_codes,
)
from geo_service.analysis.patterns import monthly_series
from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup, Selector
from geo_service.errors import InputError

DWELLING = CategoryGroup("Dwelling", (Selector("Burglary", ("Burglary dwelling",)),))
NIGHT = CategoryGroup("Night", (Selector("Burglary", hours=(22, 23)),))
PREVIOUS, CURRENT = Period("2013-01", "2013-01"), Period("2013-02", "2013-02")


def _rows() -> pd.DataFrame:
    """12 incidents: (category, subcategory, month, beat, located, hour or None, source)."""
    rows = [
        ("Burglary", "Burglary dwelling", "2013-01", "A", True, 22, "force"),
        ("Burglary", "Burglary dwelling", "2013-01", "A", True, 22, "force"),
        ("Burglary", "Burglary other", "2013-01", "B", True, None, "force"),
        ("Burglary", "Burglary dwelling", "2013-02", "A", True, 23, "force"),
        ("Burglary", "Burglary dwelling", "2013-02", "B", True, 9, "force"),
        ("Burglary", "Burglary dwelling", "2013-02", None, False, None, "force"),  # unallocated
        ("Burglary", "Burglary dwelling", "2013-02", None, False, None, "force"),
        ("Burglary", None, "2013-02", None, True, None, "police_uk"),  # outside the layer
        ("Burglary", None, "2013-02", None, False, None, "police_uk"),  # nothing places it
        ("Burglary", None, "2013-01", "B", False, None, "police_uk"),  # placed by its LSOA
        ("Anti-social behaviour", None, "2013-01", "A", True, None, "police_uk"),
        ("Anti-social behaviour", None, "2013-02", "A", True, None, "police_uk"),
    ]
    columns = ["category", "subcategory", "month", "area_beat", "located", "hour", "source"]
    frame = pd.DataFrame(rows, columns=columns)
    hours = pd.to_timedelta(frame["hour"].astype("float64"), unit="h")
    frame["occurred_at"] = pd.Timestamp("2013-01-01") + hours
    frame["time_known"] = frame["hour"].notna()
    frame["x"] = np.where(frame["located"], 500000.0, np.nan)
    frame["y"] = np.where(frame["located"], 200000.0, np.nan)
    frame["incident_id"] = [f"t:{i}" for i in range(len(frame))]
    return schema.conform(frame.drop(columns=["located", "hour"]))


def _counted(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows counted per distinct key, as a cube gives them (an independent groupby)."""
    keys = pd.DataFrame(
        {
            "source": rows["source"],
            "category": rows["category"],
            "subcategory": rows["subcategory"],
            "month": rows["month"],
            "time_known": rows["time_known"],
            "occurred_at": rows["occurred_at"],
            "area_beat": rows["area_beat"],
            "located": schema.has_location(rows),
        }
    )
    counted = keys.groupby(list(keys.columns), dropna=False, sort=False).size()
    out = counted.rename("n").reset_index()
    return out.astype({c: keys[c].dtype for c in keys.columns} | {"n": "int64"})


def test_counted_rows_are_fewer_and_count_the_same() -> None:
    rows = _rows()
    counted = _counted(rows)
    # The two 22:00 rows are one row, and so are the two unlocated February ones.
    assert len(counted) == 10 and int(counted["n"].sum()) == 12
    for group in ("Burglary", DWELLING, NIGHT):
        for period in (PREVIOUS, CURRENT):
            args = {"layer": "beat", "codes": ["A", "B", "C"], "group": group, "period": period}
            pd.testing.assert_series_equal(
                counts_by_area(counted, **args), counts_by_area(rows, **args)
            )
            assert total_count(counted, group=group, period=period) == total_count(
                rows, group=group, period=period
            )
    # By hand: dwelling burglary in February: A 1, B 1, and the force's two unlocated rows.
    feb = counts_by_area(
        counted, layer="beat", codes=["A", "B", "C"], group=DWELLING, period=CURRENT
    )
    assert feb.to_dict() == {"A": 1, "B": 1, "C": 0, UNALLOCATED: 2}
    night = counts_by_area(counted, layer="beat", codes=["A", "B"], group=NIGHT, period=PREVIOUS)
    assert night.to_dict() == {"A": 2, "B": 0, UNALLOCATED: 0}


def test_counted_rows_say_the_same_about_location() -> None:
    rows, counted = _rows(), _counted(_rows())
    assert unlocated_summary(counted, "beat") == unlocated_summary(rows, "beat")
    # By hand: 4 unlocated; 1 placed (LSOA), 2 unallocated (the force's), 1 outside.
    summary = unlocated_summary(counted, "beat")
    assert (summary.unlocated, summary.placed, summary.unallocated, summary.outside) == (4, 1, 2, 1)
    pd.testing.assert_frame_equal(
        unlocated_shares(counted, [PREVIOUS, CURRENT]), unlocated_shares(rows, [PREVIOUS, CURRENT])
    )
    assert unlocated_shares(counted, [PREVIOUS, CURRENT])["unlocated"].tolist() == [1, 3]
    assert int(within_layer(counted, "beat")["n"].sum()) == len(within_layer(rows, "beat")) == 8
    folded = without_area_codes(counted, "beat")
    assert int(folded["n"].sum()) == 12 and set(folded["area_beat"].dropna()) == {"beat"}
    # Two incidents alike but for their beat (A, B) are one folded row.
    pair = rows.iloc[[3, 4]].assign(occurred_at=rows["occurred_at"].iloc[3])
    assert without_area_codes(_counted(pair), "beat")["n"].tolist() == [2]
    assert unlocated_summary(folded, "beat") == unlocated_summary(rows, "beat")
    with pytest.raises(InputError, match="not a counted frame"):
        without_area_codes(rows, "beat")


def test_monthly_counts_equal_the_monthly_series() -> None:
    rows, counted = _rows(), _counted(_rows())
    period = Period("2012-12", "2013-02")
    for held in (None, ["2013-01", "2013-02"]):
        expected = monthly_series(rows, group="Burglary", period=period, held=held)
        pd.testing.assert_frame_equal(
            monthly_counts(counted, group="Burglary", period=period, held=held), expected
        )
        pd.testing.assert_frame_equal(
            monthly_counts(rows, group="Burglary", period=period, held=held), expected
        )
    assert monthly_counts(counted, group="Burglary", period=period)["count"].tolist() == [0, 4, 6]


def test_monthly_counts_of_several_groups_in_one_pass() -> None:
    rows, counted = _rows(), _counted(_rows())
    period = Period("2012-12", "2013-02")
    groups = ["Burglary", DWELLING, NIGHT, "Anti-social behaviour", "Robbery"]
    for frame in (rows, counted):
        together = monthly_counts_of_groups(frame, groups, period)
        alone = [monthly_counts(frame, group=g, period=period)["count"].tolist() for g in groups]
        assert together.tolist() == alone
    # by hand: Burglary 0 / 4 / 6, dwelling 0 / 2 / 4, night (22-23 h) 0 / 2 / 1, ASB 0 / 1 / 1
    assert together.tolist() == [[0, 4, 6], [0, 2, 4], [0, 2, 1], [0, 1, 1], [0, 0, 0]]
    assert monthly_counts_of_groups(rows, [], period).shape == (0, 3)


def _areas() -> pd.DataFrame:
    return pd.DataFrame(
        {"code": ["A", "B", "C"], "name": ["Ay", "Bee", "Sea"], "population": [1000.0, 0, 50]}
    )


def test_table_from_counts_is_the_change_table() -> None:
    rows, counted = _rows(), _counted(_rows())
    for group in ("Burglary", DWELLING, NIGHT):
        expected = change.change_table(
            rows, layer="beat", areas=_areas(), group=group, previous=PREVIOUS, current=CURRENT
        )
        plan = change.counting_plan(group, PREVIOUS, CURRENT)
        before, after = (
            counts_by_area(counted, layer="beat", codes=["A", "B", "C"], group=plan.group,
                           period=period, windows=windows)
            for period, windows in ((PREVIOUS, plan.previous_windows),
                                    (CURRENT, plan.current_windows))
        )  # fmt: skip
        table = change.table_from_counts(
            before, after, areas=_areas(), group=group, previous=PREVIOUS, current=CURRENT
        )
        pd.testing.assert_frame_equal(table, expected)
        (from_tally,) = tally.change_tables(
            counted, layer="beat", areas=_areas(), groups=[group], previous=PREVIOUS,
            current=CURRENT,
        )  # fmt: skip
        pd.testing.assert_frame_equal(from_tally, expected)
    # By hand: all burglary, January A 2, B 2 (one placed by its LSOA); February A 1, B 1.
    burglary = change.change_table(
        counted, layer="beat", areas=_areas(), group="Burglary", previous=PREVIOUS, current=CURRENT
    )
    got = {r.code: (r.previous, r.current) for r in burglary.itertuples()}
    assert got == {"A": (2, 1), "B": (2, 1), "C": (0, 0), UNALLOCATED: (0, 2)}


def test_table_from_counts_refuses_counts_of_other_areas() -> None:
    counts = pd.Series([1, 2, 0], index=pd.Index(["A", "B", UNALLOCATED], name="code"))
    with pytest.raises(InputError, match="index must be the layer's codes"):
        change.table_from_counts(
            counts, counts, areas=_areas(), group="Burglary", previous=PREVIOUS, current=CURRENT
        )
