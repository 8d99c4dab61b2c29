"""Change tables against hand-worked figures, scipy, and a plain pandas groupby (also on the real
Hertfordshire police.uk months joined to Dacorum's wards)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from geo_service import schema
from geo_service.analysis.change import (
    NOTE_NEW,
    PER_HOUSEHOLDS,
    PER_RESIDENTS,
    change_table,
    looking_back,
    top_five_persistence,
    top_movers,
)
from geo_service.analysis.counts import unlocated_summary, within_layer
from geo_service.analysis.periods import (
    Period,
    default_comparison,
    rolling_periods,
    same_month_last_year,
)
from geo_service.categories import CategoryGroup, Selector, find_group, load_groups
from geo_service.coverage import Coverage
from geo_service.errors import InputError
from geo_service.store import Store
from tests.analysis.conftest import hertfordshire_points, joined_incidents

#: The packaged category groups by name.
GROUPS = {g.name: g for g in load_groups()}

PREVIOUS, CURRENT = rolling_periods("2013-07")
DWELLING = "Burglary dwelling"

# The assessment's dwelling-burglary beats: (code, previous, current).
BEATS = [("D2A", 7, 33), ("D1M", 4, 16), ("D1G", 36, 14), ("D1Q", 30, 25), ("D1T", 28, 20),
         ("D1A", 25, 27), ("D3D", 0, 3), ("D2E", 0, 0)]  # fmt: skip


def _burglary_frame(unallocated: int = 2) -> pd.DataFrame:
    rows = []
    for code, before, after in BEATS:
        rows += [("2012-01", code)] * before + [("2013-01", code)] * after
    rows += [("2013-03", None)] * unallocated
    frame = pd.DataFrame(rows, columns=["month", "area_beat"])
    frame["category"] = "Burglary"
    frame["subcategory"] = DWELLING
    located = frame["area_beat"].notna()
    frame["x"] = np.where(located, 500000.0, np.nan)
    frame["y"] = np.where(located, 200000.0, np.nan)
    return schema.conform(frame)


def _areas() -> pd.DataFrame:
    codes = [c for c, _, _ in BEATS]
    return pd.DataFrame(
        {
            "code": codes,
            "name": [f"Beat {c}" for c in codes],
            "population": [5000.0] * len(codes),
            "households": [2000.0, 1500.0, *([np.nan] * (len(codes) - 2))],
        }
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return change_table(
        _burglary_frame(), layer="beat", areas=_areas(), group=GROUPS["Dwelling burglary"],
        previous=PREVIOUS, current=CURRENT,
    )  # fmt: skip


def test_hand_worked_row_for_d2a(table: pd.DataFrame) -> None:
    d2a = table.set_index("code").loc["D2A"]
    total_current = sum(after for _, _, after in BEATS)  # unallocated rows are not in it
    assert (d2a["previous"], d2a["current"], d2a["change"]) == (7, 33, 26)
    assert d2a["pct_change"] == pytest.approx(371.4286, abs=1e-4)
    assert d2a["share"] == pytest.approx(100 * 33 / total_current)
    assert d2a["rank"] == 1
    assert d2a["rate"] == pytest.approx(1000 * 33 / 2000)
    assert d2a["rate_per"] == PER_HOUSEHOLDS
    assert d2a["p"] == pytest.approx(stats.binomtest(7, 40, 0.5).pvalue)
    assert d2a["label"] == "significant increase"


def test_pvalues_and_qvalues_match_scipy(table: pd.DataFrame) -> None:
    areas = table.loc[table["code"] != "Unallocated"]
    expected_p = [stats.binomtest(int(a), int(a + b), 0.5).pvalue if a + b else 1.0
                  for a, b in zip(areas["previous"], areas["current"], strict=True)]  # fmt: skip
    np.testing.assert_allclose(areas["p"], expected_p, rtol=1e-9)
    np.testing.assert_allclose(areas["q"], stats.false_discovery_control(expected_p), rtol=1e-9)


def test_zero_previous_has_no_percentage_and_a_note(table: pd.DataFrame) -> None:
    d3d = table.set_index("code").loc["D3D"]
    assert np.isnan(d3d["pct_change"])
    assert d3d["note"] == NOTE_NEW
    d2e = table.set_index("code").loc["D2E"]
    assert (d2e["previous"], d2e["current"], d2e["rank"]) == (0, 0, 8)


def test_unallocated_row_is_last_and_unranked(table: pd.DataFrame) -> None:
    last = table.iloc[-1]
    assert (last["code"], last["previous"], last["current"]) == ("Unallocated", 0, 2)
    assert pd.isna(last["rank"]) and np.isnan(last["share"]) and np.isnan(last["p"])
    assert table["share"].sum() == pytest.approx(100.0)
    no_unallocated = change_table(
        _burglary_frame(0), layer="beat", areas=_areas(), group=GROUPS["Dwelling burglary"],
        previous=PREVIOUS, current=CURRENT,
    )  # fmt: skip
    assert "Unallocated" not in set(no_unallocated["code"])
    assert no_unallocated["share"].sum() == pytest.approx(100.0)


def test_ranks_use_min_method_and_order(table: pd.DataFrame) -> None:
    assert table["code"].tolist()[:3] == ["D2A", "D1A", "D1Q"]
    tied = table.set_index("code")
    assert tied.loc["D1T", "rank"] == 4 and tied.loc["D1M", "rank"] == 5


def test_households_fall_back_to_population_per_group() -> None:
    frame = _burglary_frame()
    frame["category"] = "Drugs"
    drugs = change_table(
        frame, layer="beat", areas=_areas(), group="Drugs", previous=PREVIOUS, current=CURRENT
    )
    d2a = drugs.set_index("code").loc["D2A"]
    assert d2a["rate_per"] == PER_RESIDENTS
    assert d2a["rate"] == pytest.approx(1000 * 33 / 5000)


def test_movers_and_top_five_persistence(table: pd.DataFrame) -> None:
    up, down = top_movers(table, n=2)
    assert up["code"].tolist() == ["D2A", "D1M"] and up["change"].tolist() == [26, 12]
    assert down["code"].tolist() == ["D1G", "D1T"] and down["change"].tolist() == [-22, -8]
    persistence = top_five_persistence(table).set_index("code")
    # previous top five: D1G 36, D1Q 30, D1T 28, D1A 25, D2A 7; current: D2A, D1A, D1Q, D1T, D1M.
    assert sorted(persistence.index[persistence["persisted"]]) == ["D1A", "D1Q", "D1T", "D2A"]
    assert not persistence.loc["D1G", "in_current_top"]
    assert not persistence.loc["D1M", "in_previous_top"]


def test_looking_back_reproduces_hand_figures() -> None:
    frame = schema.conform(
        pd.DataFrame(
            {
                "category": ["Shoplifting"] * (7241 + 6379),
                "month": ["2012-03"] * 7241 + ["2013-03"] * 6379,
            }
        )
    )
    groups = load_groups()
    table = looking_back(frame, groups, PREVIOUS, CURRENT).set_index("group")
    assert table.index.tolist() == [g.name for g in groups]
    row = table.loc["All crime"]
    assert (row["previous"], row["current"], row["change"]) == (7241, 6379, -862)
    assert round(row["pct_change"], 1) == -11.9
    assert row["p"] == pytest.approx(stats.binomtest(7241, 13620, 0.5).pvalue)
    assert row["label"] == "significant decrease"
    assert table.loc["Robbery", "current"] == 0 and np.isnan(table.loc["Robbery", "pct_change"])


def test_random_frame_matches_plain_groupby() -> None:
    rng = np.random.default_rng(42)
    n = 3000
    codes = ["A", "B", "C", "D"]
    frame = schema.conform(
        pd.DataFrame(
            {
                "category": rng.choice(["Drugs", "Robbery", "Shoplifting"], n),
                "month": [
                    f"{y}-{m:02d}"
                    for y, m in zip(
                        rng.integers(2011, 2014, n), rng.integers(1, 13, n), strict=True
                    )
                ],
                "area_beat": pd.array(rng.choice([*codes, None], n), dtype="str"),
                "x": 1.0,
                "y": 1.0,
            }
        )
    )
    areas = pd.DataFrame({"code": codes, "name": codes})
    result = change_table(
        frame, layer="beat", areas=areas, group="Robbery", previous=PREVIOUS, current=CURRENT
    ).set_index("code")
    robbery = frame.loc[frame["category"] == "Robbery"]
    for period, column in ((PREVIOUS, "previous"), (CURRENT, "current")):
        inside = robbery.loc[(robbery["month"] >= period.start) & (robbery["month"] <= period.end)]
        expected = inside.groupby("area_beat").size().reindex(codes, fill_value=0)
        assert result.loc[codes, column].tolist() == expected.tolist()
    assert "Unallocated" not in result.index  # every row is located: None areas are outside


@pytest.mark.realdata
def test_dacorum_wards_january_2022_vs_2021_match_sjoin(shared_data: Path) -> None:
    wards = gpd.read_file(shared_data / "ons-boundaries-uk-geojson/dacorum/dacorum_wards.geojson")
    wards = wards.to_crs(27700).rename(columns={"WD13CD": "code", "WD13NM": "name"})
    points = hertfordshire_points(shared_data, ["2021-01", "2022-01"])
    joined = gpd.sjoin(points, wards[["code", "geometry"]], how="left", predicate="within")
    assert not joined.index.has_duplicates  # wards do not overlap
    frame = joined_incidents(joined, code_col="code", layer="ward")
    previous, current = same_month_last_year("2022-01")
    result = change_table(
        frame,
        layer="ward",
        areas=wards,
        group=GROUPS["All crime"],
        previous=previous,
        current=current,
    ).set_index("code")
    crime = joined.loc[joined["Crime type"] != "Anti-social behaviour"]
    expected = crime.groupby(["code", "Month"]).size().unstack(fill_value=0)
    expected = expected.reindex(wards["code"], fill_value=0)
    assert len(result) == 25
    assert result.loc[wards["code"], "previous"].tolist() == expected["2021-01"].tolist()
    assert result.loc[wards["code"], "current"].tolist() == expected["2022-01"].tolist()
    asb = change_table(
        frame,
        layer="ward",
        areas=wards,
        group=GROUPS["ASB incidents"],
        previous=previous,
        current=current,
    )
    all_rows = joined.dropna(subset=["code"]).groupby("Month").size()
    assert all_rows.tolist() == [937, 997]  # the figures SOURCE.md states for Dacorum by polygon
    assert asb["previous"].sum() + result["previous"].sum() == all_rows["2021-01"]
    assert asb["current"].sum() + result["current"].sum() == all_rows["2022-01"]


def test_bad_area_layers_are_refused() -> None:
    frame = _burglary_frame()
    twice = pd.concat([_areas(), _areas().head(1)], ignore_index=True)
    with pytest.raises(InputError, match="column 'code' repeats D2A"):
        change_table(frame, layer="beat", areas=twice, group=GROUPS["Dwelling burglary"],
                     previous=PREVIOUS, current=CURRENT)  # fmt: skip
    with pytest.raises(InputError, match=r"missing column\(s\) \['name'\]"):
        change_table(frame, layer="beat", areas=_areas().drop(columns="name"),
                     group=GROUPS["Dwelling burglary"], previous=PREVIOUS,
                     current=CURRENT)  # fmt: skip


# ----------------------------------------------------------------------------------- coverage
def _sourced(rows: list[tuple[str, str, str, str | None]]) -> pd.DataFrame:
    """Rows of (source, category, month, beat); every row located in its beat."""
    frame = pd.DataFrame(rows, columns=["source", "category", "month", "area_beat"])
    frame["x"], frame["y"] = 500000.0, 200000.0
    return schema.conform(frame)


TWO_BEATS = pd.DataFrame({"code": ["A", "B"], "name": ["Beat A", "Beat B"]})


def test_partly_held_period_is_no_data_and_never_significant() -> None:
    # police.uk style: 13 months held (2021-01..2022-01); 1 row a month in A, 10 in Jan 22 in B.
    rows = [("police_uk", "Drugs", m, "A") for m in Period("2021-01", "2022-01").months]
    rows += [("police_uk", "Drugs", "2022-01", "B")] * 10
    frame = _sourced(rows)
    coverage = Coverage.from_incidents(frame)
    previous, current = rolling_periods("2022-01")
    table = change_table(
        frame, layer="beat", areas=TWO_BEATS, group="Drugs",
        previous=previous, current=current, coverage=coverage,
    ).set_index("code")  # fmt: skip
    a = table.loc["A"]
    assert pd.isna(a["previous"]) and a["current"] == 12 and pd.isna(a["change"])
    assert np.isnan(a["p"]) and np.isnan(a["q"]) and np.isnan(a["pct_change"])
    assert a["label"] == "earlier period partly covered (1 of 12 months)"
    assert a["coverage"] == "Feb 20 to Jan 21: 1 of 12 months held"
    assert a["rank"] == 1 and a["share"] == pytest.approx(100 * 12 / 22)  # current is held
    # Without coverage the same frame reads as a "significant increase" from 1 to 12 in A.
    naive = change_table(
        frame, layer="beat", areas=TWO_BEATS, group="Drugs", previous=previous, current=current
    ).set_index("code")
    assert (naive.loc["A", "previous"], naive.loc["B", "label"]) == (1, "significant increase")
    back = looking_back(frame, [find_group(load_groups(), "Drugs offences")], previous, current,
                        coverage=coverage)  # fmt: skip
    assert pd.isna(back.loc[0, "previous"]) and back.loc[0, "current"] == 22
    assert back.loc[0, "label"] == "earlier period partly covered (1 of 12 months)"
    # Against the same month a year earlier both periods are held: a real comparison.
    same = looking_back(frame, [find_group(load_groups(), "Drugs offences")],
                        *same_month_last_year("2022-01"), coverage=coverage)  # fmt: skip
    assert (same.loc[0, "previous"], same.loc[0, "current"]) == (1, 11)
    assert same.loc[0, "p"] == pytest.approx(stats.binomtest(1, 12, 0.5).pvalue)
    assert same.loc[0, "coverage"] == "" and same.loc[0, "label"] == "significant increase"


def test_group_mixing_sources_counts_each_over_its_own_months() -> None:
    # Fires to Jul 13, collisions to Jun 13. By hand, with the 12 months ending Jul 13:
    # fires Aug 11-Jul 12: 3, Aug 12-Jul 13: 5; collisions Jul 11-Jun 12: 4, Jul 12-Jun 13: 2
    # (the collision of Jul 11 counts, the fire of Jul 11 does not).
    rows = [
        ("fire", "Deliberate fire", m, "A") for m in ("2011-07", "2012-01", "2012-02", "2012-07")
    ]
    rows += [("fire", "Deliberate fire", m, "A") for m in ("2013-01",) * 4 + ("2013-07",)]
    rows += [("stats19", "Road traffic collision", m, "B") for m in ("2011-07", "2012-01")]
    rows += [("stats19", "Road traffic collision", m, "B") for m in ("2012-03", "2012-06")]
    rows += [("stats19", "Road traffic collision", m, "B") for m in ("2012-07", "2013-06")]
    frame = _sourced(rows)
    held = [("fire", "Deliberate fire", m, None) for m in Period("2011-07", "2013-07").months]
    held += [("stats19", "Road traffic collision", m, None)
             for m in Period("2011-07", "2013-06").months]  # fmt: skip
    coverage = Coverage.from_incidents(_sourced(held))
    both = CategoryGroup("Fires and collisions", (Selector("Deliberate fire"),
                                                  Selector("Road traffic collision")))  # fmt: skip
    table = change_table(
        frame, layer="beat", areas=TWO_BEATS, group=both,
        previous=PREVIOUS, current=CURRENT, coverage=coverage,
    ).set_index("code")  # fmt: skip
    assert (table.loc["A", "previous"], table.loc["A", "current"]) == (3, 5)
    assert (table.loc["B", "previous"], table.loc["B", "current"]) == (4, 2)
    assert table.loc["A", "window"] == "stats19: Jul 12 to Jun 13 (its data ends Jun 13)"
    assert table.loc["A", "coverage"] == ""
    back = looking_back(frame, [both], PREVIOUS, CURRENT, coverage=coverage)
    assert (back.loc[0, "previous"], back.loc[0, "current"]) == (7, 7)


def test_group_the_source_cannot_form_is_not_available_not_zero() -> None:
    rows = [("police_uk", "Burglary", m, "A") for m in Period("2011-08", "2013-07").months]
    frame = _sourced(rows)
    coverage = Coverage.from_incidents(frame)
    table = change_table(
        frame, layer="beat", areas=TWO_BEATS, group=GROUPS["Dwelling burglary"],
        previous=PREVIOUS, current=CURRENT, coverage=coverage,
    )  # fmt: skip
    assert table["previous"].isna().all() and table["current"].isna().all()
    assert set(table["label"]) == {"not available"}
    assert set(table["omitted"]) == {"not available from police_uk data (no Burglary sub-types)"}
    assert "no incidents" not in set(table["label"])


def test_demo_collisions_compared_july_to_june(demo_store: Store) -> None:
    incidents = demo_store.incidents()
    coverage = Coverage.from_incidents(incidents)
    rtc = find_group(load_groups(), "Road traffic collisions")
    row = looking_back(within_layer(incidents, "beat"), [rtc], *rolling_periods("2013-07"),
                       coverage=coverage).iloc[0]  # fmt: skip
    # The published assessment: 268 collisions July 2012-June 2013, 299 the year before.
    assert (row["previous"], row["current"]) == (299, 268)
    assert round(row["pct_change"], 1) == -10.4
    assert row["label"] == "no significant change"
    assert row["window"] == "stats19: Jul 12 to Jun 13 (its data ends Jun 13)"


@pytest.mark.realdata
def test_hertfordshire_13_months_no_row_significant_on_the_default_year(shared_data: Path) -> None:
    from geo_service.boundaries.read import read_layer
    from geo_service.join import assign_areas
    from geo_service.sources.police_uk import load_police_uk

    folder = shared_data / "police-uk-hertfordshire-street"
    boundaries = shared_data / "ons-boundaries-uk-geojson" / "dacorum"
    loaded = load_police_uk(folder).incidents
    wards, _ = read_layer(boundaries / "dacorum_wards.geojson")
    lsoa, _ = read_layer(boundaries / "dacorum_lsoa.geojson")
    incidents, _ = assign_areas(loaded, {"ward": wards, "lsoa": lsoa})
    coverage = Coverage.from_incidents(incidents)
    assert coverage.months["police_uk"] == Period("2021-01", "2022-01").months
    previous, current = rolling_periods("2022-01")  # the default 12-month view
    groups = load_groups()
    back = looking_back(within_layer(incidents, "ward"), groups, previous, current,
                        coverage=coverage).set_index("group")  # fmt: skip
    assert not back["label"].str.startswith("significant").any()
    assert back["p"].isna().all()
    crime = back.loc["All crime"]
    assert pd.isna(crime["previous"]) and crime["current"] == 8779
    assert crime["coverage"] == "Feb 20 to Jan 21: 1 of 12 months held"
    # police.uk has no sub-types: never "no incidents", never a silent subset.
    assert back.loc["Dwelling burglary", "label"] == "not available"
    sac = back.loc["Serious acquisitive crime"]
    assert sac["current"] == back.loc["Robbery", "current"] == 59
    assert sac["omitted"] == ("leaves out what it cannot form from police_uk data "
                              "(no Burglary sub-types, no Vehicle crime sub-types)")  # fmt: skip
    table = change_table(incidents, layer="ward", areas=wards, group=GROUPS["All crime"],
                         previous=previous, current=current, coverage=coverage)  # fmt: skip
    assert not table["label"].str.startswith("significant").any()
    assert "Unallocated" not in set(table["code"])  # 1,786 force-wide unlocated rows
    assert unlocated_summary(incidents, "ward").sentence("Dacorum") == (
        "1,786 rows in the files have no location; 0 of them can be placed in Dacorum."
    )
    # The data supports the latest month against the same month a year earlier.
    default = default_comparison(coverage.all_months())
    assert default == (Period("2021-01", "2021-01"), Period("2022-01", "2022-01"), "year-earlier")


def test_top_five_leaves_out_a_tie_straddling_fifth_place() -> None:
    """Four clear leaders, then three areas tied for 5th on one incident: the top five holds
    only the four leaders in that period (the tie cannot be split honestly)."""
    table = pd.DataFrame(
        {
            "code": list("ABCDEFG"),
            "name": list("ABCDEFG"),
            "previous": [9, 8, 7, 6, 5, 0, 0],
            "current": [9, 8, 7, 6, 1, 1, 1],
        }
    )
    table["rank"] = table["current"].rank(method="min", ascending=False).astype("Int64")
    result = top_five_persistence(table).set_index("code")
    assert result["persisted"].to_dict() == {
        "A": True, "B": True, "C": True, "D": True, "E": False,
    }  # fmt: skip
    assert bool(result.loc["E", "in_previous_top"]) and not result.loc["E", "in_current_top"]
