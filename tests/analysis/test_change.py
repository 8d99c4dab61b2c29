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
from geo_service.analysis.periods import rolling_periods, same_month_last_year
from geo_service.categories import load_groups
from geo_service.errors import InputError
from tests.analysis.conftest import hertfordshire_points, joined_incidents

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
        _burglary_frame(), layer="beat", areas=_areas(), group="Dwelling burglary",
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
        _burglary_frame(0), layer="beat", areas=_areas(), group="Dwelling burglary",
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
        frame, layer="ward", areas=wards, group="All crime", previous=previous, current=current
    ).set_index("code")
    crime = joined.loc[joined["Crime type"] != "Anti-social behaviour"]
    expected = crime.groupby(["code", "Month"]).size().unstack(fill_value=0)
    expected = expected.reindex(wards["code"], fill_value=0)
    assert len(result) == 25
    assert result.loc[wards["code"], "previous"].tolist() == expected["2021-01"].tolist()
    assert result.loc[wards["code"], "current"].tolist() == expected["2022-01"].tolist()
    asb = change_table(
        frame, layer="ward", areas=wards, group="ASB incidents", previous=previous, current=current
    )
    all_rows = joined.dropna(subset=["code"]).groupby("Month").size()
    assert all_rows.tolist() == [937, 997]  # the figures SOURCE.md states for Dacorum by polygon
    assert asb["previous"].sum() + result["previous"].sum() == all_rows["2021-01"]
    assert asb["current"].sum() + result["current"].sum() == all_rows["2022-01"]


def test_bad_area_layers_are_refused() -> None:
    frame = _burglary_frame()
    twice = pd.concat([_areas(), _areas().head(1)], ignore_index=True)
    with pytest.raises(InputError, match="column 'code' repeats D2A"):
        change_table(frame, layer="beat", areas=twice, group="Dwelling burglary",
                     previous=PREVIOUS, current=CURRENT)  # fmt: skip
    with pytest.raises(InputError, match=r"missing column\(s\) \['name'\]"):
        change_table(frame, layer="beat", areas=_areas().drop(columns="name"),
                     group="Dwelling burglary", previous=PREVIOUS, current=CURRENT)  # fmt: skip
