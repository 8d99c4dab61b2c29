"""Tests for the mapped CSV loader and its TOML mapping format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_service.errors import InputError
from geo_service.sources import LOADERS, load_mapped

MAPPINGS = Path(__file__).resolve().parents[2] / "geo_service" / "data" / "mappings"

FIRE_MAPPING = """
name = "fire"
description = "Fire-service incident export"
[columns]
id = "IncidentNumber"
date = "CallDate"
date_format = "%d/%m/%Y"
time = "CallTime"
x = "Easting"
y = "Northing"
location = "Address"
[category]
column = "Type"
values = { "Secondary fire" = "Secondary fire", "Vehicle fire" = "Vehicle fire" }
[[category.rules]]
when = { column = "Cause", in = ["Deliberate", "Suspected arson"] }
value = "Deliberate fire"
[subcategory]
column = "Type"
"""

FIRE_CSV = """IncidentNumber,CallDate,CallTime,Easting,Northing,Address,Type,Cause
F1,14/03/2021,17:45,505500,207000,Marlowes,Secondary fire,Deliberate
F2,15/03/2021,,505600,207100,High Street,Vehicle fire,Accidental
F3,16/03/2021,09:30,,,Unknown,Secondary fire,Suspected arson
F4,17/03/2021,10:00,505700,207200,Lawn Lane,Chimney fire,Accidental
F5,2021-03-18,10:00,505700,207200,Lawn Lane,Vehicle fire,Accidental
,19/03/2021,10:00,505700,207200,Lawn Lane,Vehicle fire,Accidental
F1,14/03/2021,17:45,505500,207000,Marlowes,Secondary fire,Deliberate
"""


def _files(tmp_path: Path, mapping: str, csv: str) -> tuple[Path, Path]:
    toml = tmp_path / "mapping.toml"
    toml.write_text(mapping, encoding="utf-8")
    data = tmp_path / "export.csv"
    data.write_text(csv, encoding="utf-8")
    return toml, data


def test_fire_mapping_rules_values_and_rejects(tmp_path: Path) -> None:
    toml, data = _files(tmp_path, FIRE_MAPPING, FIRE_CSV)
    result = LOADERS["mapped"](data, mapping=toml)
    assert result.rows_read == 7 and result.duplicates == 1
    assert result.rejects[["line", "column", "value"]].to_numpy().tolist() == [
        [5, "Type", "Chimney fire"],  # no table entry and no default
        [6, "CallDate", "2021-03-18"],  # not dd/mm/yyyy
        [7, "IncidentNumber", ""],
    ]
    rows = result.incidents.set_index("incident_id")
    assert rows.index.tolist() == ["mapped:fire:F1", "mapped:fire:F2", "mapped:fire:F3"]
    assert rows["source"].unique().tolist() == ["mapped:fire"]
    assert rows["category"].tolist() == ["Deliberate fire", "Vehicle fire", "Deliberate fire"]
    assert rows["subcategory"].tolist() == ["Secondary fire", "Vehicle fire", "Secondary fire"]
    assert rows.loc["mapped:fire:F1", "occurred_at"] == pd.Timestamp("2021-03-14 17:45")
    assert rows["time_known"].tolist() == [True, False, True]
    assert rows.loc["mapped:fire:F2", "occurred_at"] == pd.Timestamp("2021-03-15")
    assert rows["month"].unique().tolist() == ["2021-03"]
    assert (rows.loc["mapped:fire:F1", "x"], rows.loc["mapped:fire:F1", "y"]) == (505500, 207000)
    assert np.isnan(rows.loc["mapped:fire:F3", "x"])
    assert rows.loc["mapped:fire:F2", "location_text"] == "High Street"


def test_default_lonlat_iso_offset_hour_minute_and_month(tmp_path: Path) -> None:
    mapping = """
name = "other"
[columns]
id = "ref"
date = "when"
lon = "lng"
lat = "lat"
[category]
column = "kind"
default = "Other"
[severity]
column = "sev"
values = { "1" = "Fatal", "2" = "Serious", "3" = "Slight" }
"""
    csv = (
        "ref,when,lng,lat,kind,sev\n"
        "a,2021-06-01T10:00:00+01:00,-0.4746,51.7526,Drugs,3\n"
        "b,2021-06-02,51.7526,-0.4746,,1\n"
        "c,2021-06-03 08:15,-0.4746,51.7526,,9\n"
    )
    toml, data = _files(tmp_path, mapping, csv)
    result = load_mapped(data, mapping=toml)
    assert result.rejects[["line", "reason"]].to_numpy().tolist() == [
        [3, "latitude/longitude appear swapped"]
    ]
    rows = result.incidents.set_index("incident_id")
    assert rows.loc["mapped:other:a", "occurred_at"] == pd.Timestamp(
        "2021-06-01 10:00"
    )  # London, BST
    assert rows.loc["mapped:other:a", "severity"] == "Slight"
    assert rows.loc["mapped:other:a", "category"] == "Drugs"
    assert rows.loc["mapped:other:c", "category"] == "Other"
    assert rows.loc["mapped:other:c", "time_known"]
    assert pd.isna(rows.loc["mapped:other:c", "severity"])  # code 9 is not in the table


def test_time_from_hour_and_minute_columns_and_month_column(tmp_path: Path) -> None:
    mapping = """
name = "hm"
[columns]
id = "id"
date = "d"
date_format = "%d/%m/%Y"
time = ["h", "m"]
[category]
value = "Road traffic collision"
[severity]
column = "s"
"""
    csv = (
        "id,d,h,m,s\n1,02/01/2010,14,4,Slight\n2,03/01/2010,25,0,Serious\n3,04/01/2010,1,0,Minor\n"
    )
    toml, data = _files(tmp_path, mapping, csv)
    result = load_mapped(data, mapping=toml)
    assert result.rejects[["line", "column", "value"]].to_numpy().tolist() == [[4, "s", "Minor"]]
    rows = result.incidents
    assert rows["occurred_at"].tolist() == [
        pd.Timestamp("2010-01-02 14:04"),
        pd.Timestamp("2010-01-03"),
    ]
    assert rows["time_known"].tolist() == [True, False]
    month_mapping = (
        'name = "m"\n[columns]\nid = "id"\nmonth = "Month"\n[category]\nvalue = "Drugs"\n'
    )
    toml, data = _files(tmp_path, month_mapping, "id,Month\n1,2021-01\n2,2021-13\n")
    result = load_mapped(data, mapping=toml)
    assert result.incidents["month"].tolist() == ["2021-01"]
    assert result.rejects["line"].tolist() == [3]


def test_every_mapping_problem_reported_at_once(tmp_path: Path) -> None:
    mapping = """
name = "Bad Name"
colour = "red"
[columns]
date = "d"
lon = "x"
height = "h"
crs = "EPSG:999999"
[category]
value = "A"
column = "B"
[severity]
value = "Minor"
"""
    toml = tmp_path / "bad.toml"
    toml.write_text(mapping, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_mapped(tmp_path, mapping=toml)
    message = str(caught.value)
    for problem in (
        "bad.toml: invalid mapping",
        "top level: unknown key(s) ['colour']",
        "'name' is required",
        "[columns]: unknown key(s) ['height']",
        "[columns] id is required",
        "[columns] lon and lat go together",
        "crs: 'EPSG:999999' is not a coordinate reference system",
        "[category] needs exactly one of 'value' (fixed) or 'column'",
        "[severity] results ['Minor'] are not among ['Fatal', 'Serious', 'Slight']",
    ):
        assert problem in message


def test_missing_file_columns_named(tmp_path: Path) -> None:
    toml, data = _files(tmp_path, FIRE_MAPPING, "IncidentNumber,CallDate\nF1,14/03/2021\n")
    with pytest.raises(InputError) as caught:
        load_mapped(data, mapping=toml)
    message = str(caught.value)
    assert "export.csv" in message and "missing column(s) CallTime, Easting, Northing" in message


def test_invalid_toml_is_an_input_error(tmp_path: Path) -> None:
    toml = tmp_path / "broken.toml"
    toml.write_text("name = \n", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.toml: mapping is not valid TOML"):
        load_mapped(tmp_path, mapping=toml)


def test_missing_texts_read_as_no_value(tmp_path: Path) -> None:
    mapping = FIRE_MAPPING.replace(
        'description = "Fire-service incident export"',
        'description = "Fire-service incident export"\nmissing = ["\\\\", "N/A"]',
    ).replace("[category]", '[category]\ndefault = "Other fire"')
    csv = (
        "IncidentNumber,CallDate,CallTime,Easting,Northing,Address,Type,Cause\n"
        "F1,14/03/2021,17:45,505500,207000,N/A,Vehicle fire,Accidental\n"
        "F2,15/03/2021,17:45,505600,207100,\\x,\\,N/A\n"
    )
    result = load_mapped(_files(tmp_path, mapping, csv)[1], mapping=tmp_path / "mapping.toml")
    frame = result.incidents.set_index("incident_id")
    assert len(result.rejects) == 0
    # F1: "N/A" is no address.
    assert pd.isna(frame.loc["mapped:fire:F1", "location_text"])
    # F2: only whole fields match ("\\x" stays); a missing Type takes the category default
    # and no subcategory (without `missing`, the subcategory would be "\\").
    assert frame.loc["mapped:fire:F2", "location_text"] == "\\x"
    assert frame.loc["mapped:fire:F2", "category"] == "Other fire"
    assert pd.isna(frame.loc["mapped:fire:F2", "subcategory"])


def test_missing_must_be_a_list_of_texts(tmp_path: Path) -> None:
    mapping = FIRE_MAPPING.replace("[columns]", 'missing = "N/A"\n[columns]')
    with pytest.raises(InputError, match="'missing' must be a list of non-empty texts"):
        load_mapped(_files(tmp_path, mapping, FIRE_CSV)[1], mapping=tmp_path / "mapping.toml")


@pytest.mark.realdata
def test_edinburgh_collisions(shared_data: Path) -> None:
    folder = shared_data / "edinburgh-council-collisions-stats19"
    result = load_mapped(
        folder / "edinburgh_accidents_2010_2013H1_geocoded.csv",
        mapping=MAPPINGS / "edinburgh_collisions.toml",
    )
    raw = pd.read_csv(folder / "edinburgh_accidents_2010_2013H1_geocoded.csv", dtype=str)
    assert result.rows_read == len(result.incidents) == 4_074
    assert result.incidents["severity"].value_counts().to_dict() == {
        "Slight": 3_520,
        "Serious": 523,
        "Fatal": 31,
    }
    assert np.array_equal(result.incidents["x"].to_numpy(), raw["easting"].astype(float))
    first = result.incidents.iloc[0]
    assert first["incident_id"] == "mapped:edinburgh-collisions:3910"
    assert first["occurred_at"] == pd.Timestamp("2010-01-02 14:04")
    assert first["road_1"] == "Unclassified" and result.incidents["road_1"].iloc[1] == "A8"
    assert result.incidents["occurred_at"].min() == pd.Timestamp("2010-01-02 14:04")
    assert result.incidents["month"].max() == "2013-06"
    # road_2: a backslash ("no second road", listed in the mapping's `missing`) and "Unknown"
    # are missing; A/B/Motorway with their numbers are named, C roads have no number.
    road_2 = result.incidents["road_2"]
    assert first["road_2"] == "A901"
    assert road_2.isna().sum() == (raw["road2_class"].isin(["\\", "Unknown"])).sum() == 1_639
    assert (road_2 == "Unclassified").sum() == (raw["road2_class"] == "Unclassified").sum()
    assert (road_2 == "C road").sum() == 278
    named = raw["road2_class"].isin(["A", "B"])
    expected = (raw["road2_class"] + raw["road2_no"].str.strip()).where(named)
    assert road_2.where(named.to_numpy()).dropna().tolist() == expected.dropna().tolist()


@pytest.mark.realdata
def test_toronto_fires(shared_data: Path) -> None:
    result = load_mapped(
        shared_data / "toronto-fire-incidents", mapping=MAPPINGS / "toronto_fire.toml"
    )
    assert result.rows_read == len(result.incidents) == 15_628
    assert result.incidents["category"].value_counts().to_dict() == {
        "Fire (not deliberate)": 15_087,
        "Deliberate fire": 541,
    }
    assert result.incidents["subcategory"].notna().all()
    assert result.incidents["time_known"].all()


@pytest.mark.parametrize(("policy", "stored"), [("reject", 1), ("keep", 2)])
def test_points_far_from_great_britain(tmp_path: Path, policy: str, stored: int) -> None:
    mapping = f"""
name = "far"
outside_great_britain = "{policy}"
[columns]
id = "id"
month = "m"
lon = "lon"
lat = "lat"
[category]
value = "Deliberate fire"
"""
    csv = "id,m,lon,lat\n1,2021-01,-0.4746,51.7526\n2,2021-01,-79.4,43.7\n"
    toml, data = _files(tmp_path, mapping, csv)
    result = load_mapped(data, mapping=toml)
    assert len(result.incidents) == stored and len(result.rejects) == 2 - stored
    if policy == "reject":
        assert result.rejects["reason"].iloc[0].startswith("point lies far outside Great Britain")
