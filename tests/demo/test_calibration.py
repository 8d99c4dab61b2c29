"""The ingested demo reproduces the strategic assessment's figures exactly.

Every expected value below is copied from the Dacorum 2014/15 strategic assessment
(``../shared/reference``); counts are plain pandas masks and groupbys on ``Store.incidents()``
with the packaged category groups, and beats come from the spatial join (``area_beat``), not from
the beat code the files carry.
"""

from __future__ import annotations

import pandas as pd
import pytest

from geo_service.categories import load_groups
from geo_service.store import Store

PREVIOUS = ("2011-08", "2012-07")
CURRENT = ("2012-08", "2013-07")
RTC_PREVIOUS = ("2011-07", "2012-06")
RTC_CURRENT = ("2012-07", "2013-06")
GROUPS = {group.name: group for group in load_groups()}


@pytest.fixture(scope="module")
def incidents(demo_store: Store) -> pd.DataFrame:
    return demo_store.incidents()


def _in(frame: pd.DataFrame, group: str, period: tuple[str, str]) -> pd.DataFrame:
    month = frame["month"]
    selected = (
        GROUPS[group].mask(frame)
        & (month >= period[0]).to_numpy()
        & (month <= period[1]).to_numpy()
    )
    return frame.loc[selected]


def _beats(frame: pd.DataFrame, group: str, period: tuple[str, str]) -> pd.Series:
    return _in(frame, group, period).groupby("area_beat").size()


LOOKING_BACK = [
    ("All crime", 7241, 6379),
    ("ASB incidents", 5690, 3917),
    ("BCS comparator crimes", 3867, 3373),
    ("Serious acquisitive crime", 1429, 1220),
    ("Dwelling burglary", 430, 407),
    ("Vehicle crime (excluding interference)", 922, 766),
    ("Robbery", 77, 47),
    ("Violent crime", 1309, 1223),
    ("Criminal damage", 1286, 1159),
    ("Arson", 37, 15),
    ("Burglary other", 456, 364),
    ("Shoplifting", 532, 522),
    ("Theft from the person", 154, 102),
    ("Drugs offences", 557, 639),
    ("Distraction burglary", 9, 7),
    ("Night-time violence", 511, 443),
    ("Deliberate fires", 165, 125),
]


@pytest.mark.parametrize(("group", "previous", "current"), LOOKING_BACK)
def test_looking_back_table(
    incidents: pd.DataFrame, group: str, previous: int, current: int
) -> None:
    assert len(_in(incidents, group, PREVIOUS)) == previous
    assert len(_in(incidents, group, CURRENT)) == current


@pytest.mark.parametrize(
    ("subcategory", "previous", "current"),
    [
        ("Burglary dwelling - attempt", 61, 74),
        ("Distraction burglary", 9, 7),
        ("Aggravated burglary dwelling", 1, 0),
    ],
)
def test_dwelling_burglary_types(
    incidents: pd.DataFrame, subcategory: str, previous: int, current: int
) -> None:
    for period, expected in ((PREVIOUS, previous), (CURRENT, current)):
        rows = _in(incidents, "Dwelling burglary", period)
        assert (rows["subcategory"] == subcategory).sum() == expected


def test_drugs_table(incidents: pd.DataFrame) -> None:
    expected = {
        "Drug trafficking - Class A": (13, 68),
        "Drug trafficking - other": (38, 93),
        "Possession - Class A": (48, 57),
        "Possession - other": (455, 419),
    }
    for index, period in enumerate((PREVIOUS, CURRENT)):
        counts = _in(incidents, "Drugs offences", period).groupby("subcategory").size()
        for name, pair in expected.items():
            assert counts[name] == pair[index]


def test_rtc_severity_by_year(incidents: pd.DataFrame) -> None:
    for period, expected in (
        (RTC_PREVIOUS, {"Slight": 260, "Serious": 37, "Fatal": 2}),
        (RTC_CURRENT, {"Slight": 217, "Serious": 50, "Fatal": 1}),
    ):
        rows = _in(incidents, "Road traffic collisions", period)
        assert rows.groupby("severity").size().to_dict() == expected


def test_rtc_beats(incidents: pd.DataFrame) -> None:
    previous = _beats(incidents, "Road traffic collisions", RTC_PREVIOUS)
    current = _beats(incidents, "Road traffic collisions", RTC_CURRENT)
    assert (previous["D1S"], current["D1S"]) == (36, 29)
    assert (previous["D1A"], current["D1A"]) == (30, 24)
    assert current.sort_values(ascending=False).index[:2].tolist() == ["D1S", "D1A"]
    assert current.drop(["D1S", "D1A"]).max() < 24


def test_dwelling_burglary_beats(incidents: pd.DataFrame) -> None:
    previous = _beats(incidents, "Dwelling burglary", PREVIOUS)
    current = _beats(incidents, "Dwelling burglary", CURRENT).reindex(previous.index, fill_value=0)
    change = current - previous
    assert (previous["D2A"], current["D2A"]) == (7, 33)
    assert round(100 * 33 / current.sum(), 1) == 8.1
    assert current.idxmax() == "D2A" and current.drop("D2A").max() < 33
    assert change.idxmax() == "D2A"  # the greatest increase
    assert (previous["D1M"], current["D1M"]) == (4, 16)
    assert change.drop(["D2A", "D1M"]).max() < 12  # the other significant increase
    assert (previous["D1G"], current["D1G"]) == (36, 14)
    assert change.idxmin() == "D1G"  # the greatest decrease
    assert previous.sort_values(ascending=False).index[1] == "D1G"  # second highest in 2011/12
    top_previous = set(previous.nlargest(5).index)
    top_current = set(current.nlargest(5).index)
    assert top_previous & top_current == {"D1Q", "D1T"}
    assert change["D1Q"] < 0 and change["D1T"] < 0
    distraction = _in(incidents, "Distraction burglary", CURRENT)
    assert distraction["area_beat"].nunique() == 7


def test_dwelling_burglary_months(incidents: pd.DataFrame) -> None:
    months = _in(incidents, "Dwelling burglary", CURRENT).groupby("month").size()
    assert (months["2013-03"], months["2013-06"], months["2013-07"]) == (49, 21, 17)
    assert months.idxmax() == "2013-03"


def test_vehicle_crime(incidents: pd.DataFrame) -> None:
    group = "Vehicle crime (excluding interference)"
    previous = _beats(incidents, group, PREVIOUS)
    current = _beats(incidents, group, CURRENT).reindex(previous.index, fill_value=0)
    change = current - previous
    assert (previous["D1C"], current["D1C"]) == (72, 60)
    assert round(100 * 60 / 766, 1) == 7.8 and current.idxmax() == "D1C"
    assert (previous["D1A"], current["D1A"]) == (64, 55)
    assert current.sort_values(ascending=False).index[1] == "D1A"
    assert (previous["D1T"], current["D1T"]) == (57, 23)
    assert (previous["D1H"], current["D1H"]) == (64, 37)
    assert change.nsmallest(2).index.tolist() == ["D1T", "D1H"]
    assert (change["D3D"], change["D2B"]) == (11, 10)
    assert change.nlargest(2).index.tolist() == ["D3D", "D2B"]
    by_type = {
        period: _in(incidents, group, period).groupby("subcategory").size()
        for period in (PREVIOUS, CURRENT)
    }
    tfmv = by_type[CURRENT]["Theft from motor vehicle"]
    assert round(100 * tfmv / 766, 1) == 82.2
    assert by_type[PREVIOUS]["Theft from motor vehicle"] - tfmv == 173
    tomv = (by_type[PREVIOUS]["Theft of motor vehicle"], by_type[CURRENT]["Theft of motor vehicle"])
    assert tomv[1] - tomv[0] == 16 and round(100 * 16 / tomv[0], 1) == 14.3
    assert by_type[PREVIOUS]["Aggravated vehicle taking"] == 6
    assert by_type[CURRENT]["Aggravated vehicle taking"] == 7


def test_night_time_violence_in_town_centre(incidents: pd.DataFrame) -> None:
    previous = _beats(incidents, "Night-time violence", PREVIOUS)
    current = _beats(incidents, "Night-time violence", CURRENT)
    assert current["D1A"] == 128 and previous["D1A"] - current["D1A"] == 14
    assert round(100 * 128 / 443, 1) == 28.9 and current.idxmax() == "D1A"


def test_asb(incidents: pd.DataFrame) -> None:
    previous = _beats(incidents, "ASB incidents", PREVIOUS)
    current = _beats(incidents, "ASB incidents", CURRENT).reindex(previous.index, fill_value=0)
    assert (previous["D1A"], current["D1A"]) == (912, 570)
    assert (previous["D1G"], current["D1G"]) == (518, 374)
    assert (previous["D1H"], current["D1H"]) == (359, 249)
    assert current.nlargest(3).index.tolist() == ["D1A", "D1G", "D1H"]
    assert current.nsmallest(2).to_dict() == {"D2E": 12, "D3D": 19}
    assert set(previous.nsmallest(2).index) == {"D2E", "D3D"}
    assert ((current - previous) < 0).all()  # every beat decreased
    assert (current - previous).nsmallest(2).index.tolist() == ["D1A", "D1G"]


def test_asb_months_and_classes(incidents: pd.DataFrame) -> None:
    rows = _in(incidents, "ASB incidents", CURRENT)
    months = rows.groupby("month").size()
    assert months["2012-08"] == 493 and months.idxmax() == "2012-08"
    assert months["2013-06"] == 241 and months.idxmin() == "2013-06"
    assert months["2012-10"] == 304 and (months < 304).sum() == 3
    halloween = rows["occurred_at"].dt.strftime("%Y-%m-%d") == "2012-10-31"
    assert halloween.sum() == 23 and round(304 / 31, 1) == 9.8
    classes = rows.groupby("subcategory").size()
    assert classes["Nuisance"] == 2552
    assert round(100 * classes["Nuisance"] / 3917, 2) == 65.15
    assert round(100 * classes["Personal"] / 3917, 1) == 32.1
    assert round(100 * classes["Environmental"] / 3917, 2) == 2.66


def test_asb_history(incidents: pd.DataFrame) -> None:
    assert len(_in(incidents, "ASB incidents", ("2008-08", "2009-07"))) / 12 == 879.25


def test_criminal_damage(incidents: pd.DataFrame) -> None:
    previous = _beats(incidents, "Criminal damage", PREVIOUS)
    current = _beats(incidents, "Criminal damage", CURRENT).reindex(previous.index, fill_value=0)
    change = current - previous
    assert (previous["D1A"], current["D1A"]) == (161, 144)
    assert round(100 * 144 / 1159, 1) == 12.4 and current.idxmax() == "D1A"
    assert (previous["D1G"], current["D1G"]) == (113, 119)
    assert current.sort_values(ascending=False).index[1] == "D1G"
    assert (previous["D1E"], current["D1E"]) == (61, 28) and change.idxmin() == "D1E"
    assert (previous["D2C"], current["D2C"]) == (21, 39) and change.idxmax() == "D2C"
    rows = _in(incidents, "Criminal damage", CURRENT)
    types = rows.groupby(["area_beat", "subcategory"]).size().unstack(fill_value=0)
    vehicle = types["Criminal damage to a vehicle"]
    assert vehicle.sum() == 635 and round(100 * 635 / 1159, 1) == 54.8
    others = types.drop(columns="Criminal damage to a vehicle").max(axis=1)
    assert (vehicle.drop("D3B") > others.drop("D3B")).all()
    assert types.loc["D3B", "Criminal damage to a dwelling"] == vehicle["D3B"] + 1
    assert types.loc["D3B"].idxmax() == "Criminal damage to a dwelling"
    months = rows.groupby("month").size()
    assert months["2012-08"] == 127 and months.idxmax() == "2012-08"
    assert (months.loc["2012-09":"2013-01"] < 100).all()
    assert months.idxmin() == "2012-11"


def test_deliberate_fires(incidents: pd.DataFrame) -> None:
    previous = _beats(incidents, "Deliberate fires", PREVIOUS)
    current = _beats(incidents, "Deliberate fires", CURRENT).reindex(previous.index, fill_value=0)
    change = current - previous
    assert (previous["D1A"], current["D1A"]) == (14, 12)
    assert (previous["D1S"], current["D1S"]) == (9, 12)
    assert current.drop(["D1A", "D1S"]).max() < 12
    assert previous.idxmax() == "D1H"
    assert change["D1H"] == -11 and change["D1L"] == -11 and change.drop(["D1H", "D1L"]).min() > -11
    assert (previous["D1K"], current["D1K"]) == (2, 8) and change.idxmax() == "D1K"
    rows = _in(incidents, "Deliberate fires", CURRENT)
    types = rows.groupby("subcategory").size().sort_values(ascending=False)
    top_two = ["Other outdoor location", "Refuse/rubbish tip/wheelie bin/skip"]
    assert types.index[:2].tolist() == top_two
    assert types.iloc[:2].tolist() == [32, 23]
    months = rows.groupby("month").size()
    assert months["2013-07"] == 20 and months.drop("2013-07").max() < 20
    assert round(100 * 20 / 125) == 16
    assert (_in(incidents, "Deliberate fires", PREVIOUS)["month"] == "2012-07").sum() == 13


def test_an_inconsistent_table_is_refused_with_every_problem(tmp_path) -> None:
    from importlib import resources

    from geo_service.demo.calibration import load_calibration
    from geo_service.errors import InputError

    text = resources.files("geo_service.demo").joinpath("calibration.toml").read_text("utf-8")
    broken = text.replace("beats = { D2A = [7, 33]", "beats = { D9Z = [7, 33]").replace(
        'beat = "D1S"\nper_year = 3', 'beat = "D8X"\nper_year = 3', 1
    )
    path = tmp_path / "calibration.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_calibration(path)
    assert "unknown beat 'D9Z'" in str(caught.value)
    assert "unknown beat 'D8X'" in str(caught.value)
