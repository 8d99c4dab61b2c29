"""Subcategory and severity breakdowns, and peer positions, against hand counts."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis.breakdowns import (
    GRAND_TOTAL,
    NOT_GIVEN,
    ordinal,
    peer_positions,
    severity_by_period,
    subcategory_breakdown,
)
from geo_service.analysis.change import change_table
from geo_service.analysis.periods import rolling_periods, same_month_last_year
from geo_service.categories import load_groups
from tests.analysis.conftest import hertfordshire_points, joined_incidents

#: The packaged category groups by name.
GROUPS = {g.name: g for g in load_groups()}

PREVIOUS, CURRENT = rolling_periods("2013-07")


def _rows(category: str, column: str, spec: dict[str | None, tuple[int, int]]) -> pd.DataFrame:
    rows = []
    for value, (before, after) in spec.items():
        rows += [("2012-01", value)] * before + [("2013-01", value)] * after
    frame = pd.DataFrame(rows, columns=["month", column])
    frame["category"] = category
    return schema.conform(frame)


def test_ordinals() -> None:
    numbers = (1, 2, 3, 4, 10, 11, 12, 13, 21, 22, 101, 111)
    expected = [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "10th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "101st",
        "111th",
    ]
    assert [ordinal(n) for n in numbers] == expected


def test_subcategory_breakdown_shares_and_change() -> None:
    frame = _rows(
        "Criminal damage and arson",
        "subcategory",
        {
            "Vehicle damage": (600, 635),
            "Dwelling damage": (300, 280),
            None: (10, 244),
            "Arson": (37, 0),
        },
    )
    table = subcategory_breakdown(
        frame, group=GROUPS["Criminal damage"], previous=PREVIOUS, current=CURRENT
    ).set_index("subcategory")
    assert table.index.tolist() == ["Vehicle damage", "Dwelling damage", NOT_GIVEN, "Arson"]
    assert table.loc["Vehicle damage", "share"] == pytest.approx(100 * 635 / 1159)
    assert table.loc["Arson", "pct_change"] == pytest.approx(-100.0)
    assert table.loc["Vehicle damage", "change"] == 35
    assert table["share"].sum() == pytest.approx(100.0)


def test_severity_table_matches_the_assessment_layout() -> None:
    previous, current = rolling_periods("2013-06")
    frame = _rows(
        "Road traffic collision",
        "severity",
        {"Slight": (260, 217), "Serious": (37, 50), "Fatal": (2, 1)},
    )
    frame["month"] = frame["month"].where(frame["month"] != "2013-01", "2012-12")
    table = severity_by_period(frame, (previous, current)).set_index("severity")
    assert table.index.tolist() == ["Slight", "Serious", "Fatal", GRAND_TOTAL]
    assert table[current.label].tolist() == [217, 50, 1, 268]
    assert table[previous.label].tolist() == [260, 37, 2, 299]


def test_peer_positions_on_counts_and_rates() -> None:
    counts = {"D1": (10, 30), "D2": (20, 20), "D3": (30, 20), "D4": (5, 50)}
    rows = []
    for code, (before, after) in counts.items():
        rows += [("2012-01", code)] * before + [("2013-01", code)] * after
    frame = pd.DataFrame(rows, columns=["month", "area_district"])
    frame["category"] = "Drugs"
    frame["x"] = 1.0
    frame["y"] = 1.0
    frame = schema.conform(frame)
    areas = pd.DataFrame(
        {"code": list(counts), "name": list(counts), "population": [1000.0, 4000.0, 2000.0, np.nan]}
    )
    table = change_table(
        frame, layer="district", areas=areas, group="Drugs", previous=PREVIOUS, current=CURRENT
    )
    positions = peer_positions(table, areas=areas, highest_first=True).set_index("code")
    assert positions.loc["D4", "count_position"] == "1st of 4"
    assert positions.loc["D2", "count_position"] == "3rd of 4"  # tied with D3
    assert positions.loc["D3", "count_rank"] == 3
    assert positions.loc["D3", "previous_count_position"] == "1st of 4"
    # rates now: D1 30.0, D2 5.0, D3 10.0 (D4 has no population)
    assert positions.loc["D1", "rate_position"] == "1st of 3"
    assert positions.loc["D2", "rate_position"] == "3rd of 3"
    assert pd.isna(positions.loc["D4", "rate_position"])
    # previous rates: D1 10.0, D2 5.0, D3 15.0
    assert positions.loc["D3", "previous_rate"] == pytest.approx(15.0)
    assert positions.loc["D1", "previous_rate_position"] == "2nd of 3"
    # The default is the iQuanta convention of the published assessment: the highest is last.
    iquanta = peer_positions(table, areas=areas).set_index("code")
    assert iquanta.loc["D4", "count_position"] == "4th of 4"
    assert iquanta.loc["D2", "count_position"] == "1st of 4"  # tied lowest with D3 (20 each)
    assert iquanta.loc["D3", "count_position"] == "1st of 4"
    assert iquanta.loc["D1", "count_position"] == "3rd of 4"
    assert iquanta.loc["D1", "rate_position"] == "3rd of 3"


@pytest.mark.realdata
def test_hertfordshire_districts_peer_positions_match_groupby(shared_data: Path) -> None:
    folder = shared_data / "ons-boundaries-uk-geojson" / "hertfordshire" / "wards"
    wards = pd.concat(
        [gpd.read_file(p).assign(district=p.name[:9]) for p in sorted(folder.glob("*.geojson"))],
        ignore_index=True,
    ).to_crs(27700)
    points = hertfordshire_points(shared_data, ["2021-01", "2022-01"])
    joined = gpd.sjoin(points, wards[["district", "geometry"]], how="left", predicate="within")
    frame = joined_incidents(joined, code_col="district", layer="district")
    codes = sorted(wards["district"].unique())
    areas = pd.DataFrame({"code": codes, "name": codes})
    previous, current = same_month_last_year("2022-01")
    table = change_table(
        frame,
        layer="district",
        areas=areas,
        group=GROUPS["ASB incidents"],
        previous=previous,
        current=current,
    )
    positions = peer_positions(table, highest_first=True).set_index("code")
    asb = joined.loc[joined["Crime type"] == "Anti-social behaviour"]
    expected = asb.loc[asb["Month"] == "2022-01"].groupby("district").size().reindex(codes)
    assert len(codes) == 10
    assert table.set_index("code").loc[codes, "current"].tolist() == expected.tolist()
    ranks = expected.rank(method="min", ascending=False).astype(int)
    assert positions.loc[codes, "count_rank"].tolist() == ranks.tolist()
    dacorum = positions.loc["E07000096", "count_position"]
    assert dacorum == f"{ordinal(int(ranks['E07000096']))} of 10"
