"""Tests for the DfT STATS19 collision loader, on hand-made DfT-format fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest

from geo_service.errors import InputError
from geo_service.schema import INCIDENT_COLUMNS, ROAD_TRAFFIC_COLLISION
from geo_service.sources import LOADERS, load_stats19
from geo_service.sources.stats19 import code_lists

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "sources"


def test_current_headers_decoded() -> None:
    result = load_stats19(FIXTURES / "stats19_current.csv")
    assert result.rows_read == 6 and result.duplicates == 1 and len(result.rejects) == 2
    assert result.rows_read == len(result.incidents) + result.duplicates + len(result.rejects)
    assert list(result.incidents.columns) == list(INCIDENT_COLUMNS)
    assert result.rejects[["line", "column", "value"]].to_numpy().tolist() == [
        [5, "collision_severity", "7"],
        [6, "date", "31/02/2023"],
    ]
    rows = result.incidents.set_index("incident_id")
    first = rows.loc["stats19:2023410000001"]
    assert (first["x"], first["y"]) == (505500.0, 207000.0)
    assert first["occurred_at"] == pd.Timestamp("2023-03-14 17:45") and first["time_known"]
    assert first["month"] == "2023-03" and first["category"] == ROAD_TRAFFIC_COLLISION
    assert (first["severity"], first["subcategory"]) == ("Slight", "Slight")
    assert (first["road_1"], first["road_2"]) == ("A41", "B4505")
    assert first["junction"] == "T or staggered junction"
    assert (first["speed_limit"], first["casualties"], first["urban_rural"]) == (30, 1, "Urban")
    assert (first["lsoa_code"], first["area_hint"]) == ("E01023700", "E07000096")

    second = rows.loc["stats19:2023410000002"]  # NULL easting/northing: lon/lat used
    transformer = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    expected_x, expected_y = transformer.transform(-0.4746, 51.7526)
    assert second["x"] == pytest.approx(expected_x, abs=0.01)
    assert second["y"] == pytest.approx(expected_y, abs=0.01)
    assert second["severity"] == "Fatal" and not second["time_known"]
    assert second["occurred_at"] == pd.Timestamp("2023-12-01")
    assert second["road_1"] == "M1" and pd.isna(second["road_2"])
    assert second["junction"] == "Not at junction or within 20 metres"
    assert (second["speed_limit"], second["urban_rural"]) == (70, "Rural")
    assert pd.isna(second["lsoa_code"])  # DfT "-1"

    third = rows.loc["stats19:2023410000003"]  # (0, 0) and NULL lon/lat: no location
    assert np.isnan(third["x"]) and third["severity"] == "Serious"
    assert (third["road_1"], third["road_2"]) == ("Unclassified", "C road")
    assert third["junction"] == "Crossroads"  # 2024 specification code 16
    assert pd.isna(third["speed_limit"]) and pd.isna(third["urban_rural"])


def test_camelcase_headers_decoded() -> None:
    result = load_stats19(FIXTURES / "stats19_camelcase.csv")
    assert result.rows_read == 3 and result.duplicates == 0
    assert result.rejects[["line", "reason"]].to_numpy().tolist() == [
        [4, "latitude/longitude appear swapped"]
    ]
    rows = result.incidents.set_index("incident_id")
    first = rows.loc["stats19:201541N000101"]
    assert (first["x"], first["y"], first["severity"]) == (505600.0, 207100.0, "Serious")
    assert first["occurred_at"] == pd.Timestamp("2015-07-03 08:05")
    assert (first["road_1"], first["road_2"], first["speed_limit"]) == ("A41", "B4505", 40)
    second = rows.loc["stats19:201541N000102"]
    assert (second["road_1"], second["junction"], second["casualties"]) == (
        "A1(M)",
        "Roundabout",
        4,
    )
    assert pd.isna(second["road_2"]) and second["occurred_at"] == pd.Timestamp("2015-11-12 23:59")
    assert LOADERS["stats19"] is load_stats19


def test_not_a_stats19_file(tmp_path: Path) -> None:
    path = tmp_path / "collisions.csv"
    path.write_text("Date,Severity\n01/01/2020,3\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_stats19(path)
    message = str(caught.value)
    assert "collisions.csv: not a STATS19 collision file" in message
    assert "collision_index or accident_index" in message
    assert "location_easting_osgr + location_northing_osgr, or longitude + latitude" in message


@pytest.mark.realdata
def test_shipped_code_lists_match_dft_schema(shared_data: Path) -> None:
    schema = pd.read_csv(shared_data / "dft-stats19-schema" / "stats19_schema.csv", dtype=str)
    schema = schema[schema["table"].isin(["collision", "casualty", "vehicle"])]
    shipped = code_lists()
    assert set(shipped) == {
        "collision_severity",
        "first_road_class",
        "second_road_class",
        "junction_detail",
        "junction_detail_historic",
        "urban_or_rural_area",
        "local_authority_highway",
        "casualty_severity",
        "casualty_class",
        "casualty_type",
        "vehicle_type",
    }
    for variable, codes in shipped.items():
        rows = schema[schema["variable"] == variable].dropna(subset=["code"])
        expected = dict(zip(rows["code"], rows["label"].str.strip(), strict=True))
        if variable == "junction_detail":
            # The DfT 2025 data guide adds 19 "Other junction" (ropensci/stats19 issue #318);
            # the schema table predates it.
            expected["19"] = "Other junction"
        assert codes == expected, variable


def test_folder_with_both_header_styles(tmp_path: Path) -> None:
    for name in ("stats19_current.csv", "stats19_camelcase.csv"):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes((FIXTURES / name).read_bytes())
    result = load_stats19(tmp_path / "in")
    assert [f.path.name for f in result.files] == ["stats19_camelcase.csv", "stats19_current.csv"]
    assert result.rows_read == 9 and len(result.incidents) == 5
    assert result.files[0].months == ("2015-07", "2015-11")


HALF_GRID_CSV = (
    (
        "collision_index,collision_severity,date,location_easting_osgr,location_northing_osgr,"
        "longitude,latitude,junction_detail\n"
    )
    + """A1,3,14/03/2023,505500,NULL,NULL,NULL,3
A2,3,14/03/2023,NULL,207000,-0.474600,51.752600,42
A3,3,14/03/2023,NULL,207000,,,42
A4,3,14/03/2023,505500,207000,,,77
A5,3,14/03/2023,NULL,NULL,NULL,NULL,-1
"""
)


def test_half_a_grid_reference_and_unknown_junction_codes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "collisions.csv"
    path.write_text(HALF_GRID_CSV, encoding="utf-8")
    with caplog.at_level("WARNING", logger="geo_service.sources.stats19"):
        result = load_stats19(path)
    # A1: easting only, no lon/lat; A3: northing only, no lon/lat. A2 falls back to lon/lat.
    assert result.rejects[["line", "column", "reason"]].to_numpy().tolist() == [
        [2, "location_northing_osgr", "empty while location_easting_osgr is given, and no "
         "longitude/latitude"],
        [4, "location_easting_osgr", "empty while location_northing_osgr is given, and no "
         "longitude/latitude"],
    ]  # fmt: skip
    rows = result.incidents.set_index("incident_id")
    assert list(rows.index) == ["stats19:A2", "stats19:A4", "stats19:A5"]
    transformer = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    expected_x, _ = transformer.transform(-0.4746, 51.7526)
    assert rows.loc["stats19:A2", "x"] == pytest.approx(expected_x, abs=0.01)
    assert np.isnan(rows.loc["stats19:A5", "x"])  # no location at all is kept
    assert rows["junction"].isna().all()  # 42, 77 unknown; -1 "unknown" by the DfT
    warnings = [r.getMessage() for r in caplog.records if "junction_detail" in r.getMessage()]
    assert warnings == [
        f"{path}: junction_detail: 3 row(s) with a value that is not a DfT code or label of the "
        "field, left missing: 42, 77"
    ]


# ----------------------------------------------------------------------- 2024 layout
LAYOUT_2024 = (
    "collision_index,collision_severity,date,location_easting_osgr,location_northing_osgr,"
    "junction_detail_historic,junction_detail,local_authority_highway,"
    "collision_adjusted_severity_serious,collision_adjusted_severity_slight\n"
    "J1,3,01/02/2024,505100,207200,9,19,E10000015,0.25,0.75\n"
    "J2,3,01/02/2024,505100,207200,5,-1,E10000015,-1,-1\n"
    "J3,2,01/02/2024,505100,207200,6,,E10000015,1,0\n"
    "J4,3,01/02/2024,505100,207200,7,17,-1,0.5,0.5\n"
    "J5,3,01/02/2024,505100,207200,8,99,E10000015,,\n"
    "J6,3,01/02/2024,505100,207200,-1,-1,E10000015,1.5,0\n"
)


def test_2024_layout_reads_historic_junction_where_the_new_field_says_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "collisions_2024.csv"
    path.write_text(LAYOUT_2024, encoding="utf-8")
    with caplog.at_level("WARNING"):
        rows = load_stats19(path).incidents.set_index("incident_id")
    assert rows["junction"].fillna("").tolist() == [
        "Other junction",  # new code 19
        "Slip road",  # -1: historic 5
        "Crossroads",  # empty: historic 6
        "Junction with more than four arms (not roundabout)",  # new 17 wins over historic 7
        "Private drive or entrance",  # 99 "unknown (self reported)": historic 8
        "",  # -1 in both
    ]
    highway = rows["highway_authority"].fillna("").tolist()
    assert highway == ["E10000015"] * 3 + [""] + ["E10000015"] * 2
    serious = rows["adjusted_serious"].to_numpy()
    np.testing.assert_array_equal(serious, [0.25, np.nan, 1.0, 0.5, np.nan, np.nan])
    np.testing.assert_array_equal(rows["adjusted_slight"], [0.75, np.nan, 0.0, 0.5, np.nan, 0.0])
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        f"{path}: collision_adjusted_severity_serious: 1 row(s) with a value that is not a "
        "probability from 0 to 1, left missing: 1.5"
    ]


def test_older_adjustment_names_and_highway_names(tmp_path: Path) -> None:
    path = tmp_path / "collisions.csv"
    path.write_text(
        "Accident_Index,Accident_Severity,Date,Longitude,Latitude,Local_Authority_(Highway),"
        "adjusted_serious,adjusted_slight\n"
        "K1,Serious,2019-05-01,-0.47,51.75,Hertfordshire,0.9,0.1\n"
        "K2,Slight,2019-05-01,-0.47,51.75,Northumberland,0.2,0.8\n"
        "K3,Slight,2019-05-01,-0.47,51.75,E06000060,0.1,0.9\n",
        encoding="utf-8",
    )
    rows = load_stats19(path).incidents
    # a name the DfT list holds once becomes its code; one it holds twice (old and new
    # Northumberland) is kept as given; codes are kept.
    assert rows["highway_authority"].tolist() == ["E10000015", "Northumberland", "E06000060"]
    assert rows["adjusted_serious"].tolist() == [0.9, 0.2, 0.1]
    assert rows["adjusted_slight"].tolist() == [0.1, 0.8, 0.9]


# ----------------------------------------------------------------------------- labels
LABELS_CSV = (
    "Accident_Index,Accident_Severity,Date,Longitude,Latitude,1st_Road_Class,1st_Road_Number,"
    "2nd_Road_Class,2nd_Road_Number,Junction_Detail,Urban_or_Rural_Area,Speed_limit\n"
    "L1,fatal,2016-01-01,-0.47,51.75,Motorway,1,Not at junction or within 20 metres,0,"
    "Not at junction or within 20 metres,RURAL,70 mph\n"
    "L2,Serious,2016-01-01,-0.47,51.75,a(m),1,B,488,roundabout,urban,30.0\n"
    "L3,Slight,2016-01-01,-0.47,51.75, C ,0,Unclassified,0,Mini-roundabout,Unallocated,"
    "Data missing or out of range\n"
    "L4,Slight,2016-01-01,-0.47,51.75,A road,41,Data missing or out of range,-1,"
    "Other junction,Town,forty\n"
    "L5,3,2016-01-01,-0.47,51.75,3.0,41,6,0,3,1,99\n"
)


def test_dft_labels_read_as_codes_for_every_coded_field(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "Accident_Information.csv"
    path.write_text(LABELS_CSV, encoding="utf-8")
    with caplog.at_level("WARNING"):
        rows = load_stats19(path).incidents.set_index("incident_id")
    assert rows["severity"].tolist() == ["Fatal", "Serious", "Slight", "Slight", "Slight"]
    assert rows["road_1"].fillna("").tolist() == ["M1", "A1(M)", "C road", "", "A41"]
    assert rows["road_2"].fillna("").tolist() == ["", "B488", "Unclassified", "", "Unclassified"]
    assert rows["junction"].tolist() == [
        "Not at junction or within 20 metres",
        "Roundabout",
        "Mini-roundabout",
        "Other junction",
        "T or staggered junction",
    ]
    # "Unallocated" is a DfT label meaning no value: missing, without a warning
    assert rows["urban_rural"].fillna("").tolist() == ["Rural", "Urban", "", "", "Urban"]
    assert rows["speed_limit"].fillna(0).tolist() == [70, 30, 0, 0, 0]
    # one warning per field, naming the values that are neither a DfT code nor a label
    # (beside the text normalisation's own report of ' C ' -> 'C')
    coded = [r for r in caplog.records if r.name == "geo_service.sources.stats19"]
    assert [r.getMessage() for r in coded] == [
        f"{path}: 1st_Road_Class: 1 row(s) with a value that is not a DfT code or label of the "
        "field, left missing: A road",
        f"{path}: Urban_or_Rural_Area: 1 row(s) with a value that is not a DfT code or label "
        "of the field, left missing: Town",
        f"{path}: Speed_limit: 1 row(s) with a value that is not a speed limit in mph (5 to 70) "
        "or a DfT code or label, left missing: forty",
    ]


# ------------------------------------------------------------ casualty and vehicle tables
COLLISIONS_CSV = (
    "collision_index,collision_severity,date,location_easting_osgr,location_northing_osgr\n"
    "C1,1,01/05/2024,505100,207200\n"
    "C2,3,02/05/2024,505100,207200\n"
    "C3,2,03/05/2024,505100,207200\n"
)
# C1: a pedestrian (slight), a cyclist (serious), a motorcyclist over 500cc (fatal) and a car
# driver (slight); C2: a passenger of a moped (type 2, slight); C3: no casualty rows;
# C9: not in the collision table.
CASUALTY_CSV = (
    "collision_index,vehicle_reference,casualty_reference,casualty_class,casualty_severity,"
    "casualty_type\n"
    "C1,1,1,3,3,0\n"
    "C1,2,2,1,2,1\n"
    "C1,3,3,1,1,5\n"
    "C1,4,4,1,3,9\n"
    "C2,1,1,2,3,2\n"
    "C9,1,1,1,3,9\n"
)
CASUALTY_LABELS_CSV = (
    "Accident_Index,Vehicle_Reference,Casualty_Reference,Casualty_Class,Casualty_Severity,"
    "Casualty_Type\n"
    "C1,1,1,Pedestrian,Slight,Pedestrian\n"
    "C1,2,2,Driver or rider,Serious,Cyclist\n"
    "C1,3,3,Driver or rider,Fatal,Motorcycle over 500cc rider or passenger\n"
    "C1,4,4,Driver or rider,Slight,Car occupant\n"
    "C2,1,1,Passenger,Slight,Motorcycle 50cc and under rider or passenger\n"
    "C9,1,1,Driver or rider,Slight,Car occupant\n"
)
# C1: a car, a pedal cycle and a motorcycle over 500cc; C2: a moped (2), a motorcycle of
# unknown cc (97), a goods vehicle of 7.5 t and over (21) and a goods vehicle of unknown weight
# (98, not an HGV); C3: a goods vehicle over 3.5 t and under 7.5 t (20) and a van (19);
# C9: not in the collision table.
VEHICLE_CSV = (
    "collision_index,vehicle_reference,vehicle_type\n"
    "C1,1,9\n"
    "C1,2,1\n"
    "C1,3,5\n"
    "C2,1,2\n"
    "C2,2,97\n"
    "C2,3,21\n"
    "C2,4,98\n"
    "C3,1,20\n"
    "C3,2,19\n"
    "C9,1,9\n"
)
# The same vehicles with DfT labels (any case), as in Kaggle's Vehicle_Information.csv.
VEHICLE_LABELS_CSV = (
    "Accident_Index,Vehicle_Reference,Vehicle_Type\n"
    "C1,1,Car\n"
    "C1,2,PEDAL CYCLE\n"
    "C1,3,Motorcycle over 500cc\n"
    "C2,1,Motorcycle 50cc and under\n"
    "C2,2,Motorcycle - unknown cc\n"
    "C2,3,Goods 7.5 tonnes mgw and over\n"
    "C2,4,Goods vehicle - unknown weight\n"
    "C3,1,Goods over 3.5t. and under 7.5t\n"
    "C3,2,Van / Goods 3.5 tonnes mgw or under\n"
    "C9,1,Car\n"
)
VEHICLE_FIGURES = ["vehicles", "motorcycles_involved", "pedal_cycles_involved", "hgvs_involved"]


@pytest.mark.parametrize("casualties", [CASUALTY_CSV, CASUALTY_LABELS_CSV])
def test_download_folder_links_casualties_to_collisions(
    tmp_path: Path, casualties: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "dft"
    folder.mkdir()
    (folder / "collision-2024.csv").write_text(COLLISIONS_CSV, encoding="utf-8")
    (folder / "casualty-2024.csv").write_text(casualties, encoding="utf-8")
    (folder / "vehicle-2024.csv").write_text(VEHICLE_CSV, encoding="utf-8")
    with caplog.at_level("WARNING"):
        result = load_stats19(folder)
    assert [f.path.name for f in result.files] == ["collision-2024.csv"]
    assert result.rows_read == 3 and len(result.rejects) == 0
    rows = result.incidents.set_index("incident_id")
    figures = [
        "casualties",
        "ksi_casualties",
        "pedestrian_casualties",
        "cyclist_casualties",
        "motorcyclist_casualties",
    ]
    assert rows.loc["stats19:C1", figures].tolist() == [4, 2, 1, 1, 1]
    assert rows.loc["stats19:C2", figures].tolist() == [1, 0, 0, 0, 1]
    assert rows.loc["stats19:C3", figures].isna().all()
    assert rows.loc["stats19:C1", VEHICLE_FIGURES].tolist() == [3, 1, 1, 0]
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "1 of 3 collision(s) have no row in the casualty table(s); their casualty figures are "
        "missing",
        "casualties of 1 collision index(es) not in the collision table(s) ignored, e.g. C9",
        "vehicles of 1 collision index(es) not in the collision table(s) ignored, e.g. C9",
    ]


def test_named_files_link_and_repeated_casualties_count_once(tmp_path: Path) -> None:
    collisions = tmp_path / "collisions.csv"
    collisions.write_text(COLLISIONS_CSV, encoding="utf-8")
    first = tmp_path / "casualties_a.csv"
    first.write_text(CASUALTY_CSV, encoding="utf-8")
    again = tmp_path / "casualties_b.csv"  # the same table saved twice
    again.write_text(CASUALTY_CSV, encoding="utf-8")
    rows = load_stats19([collisions, first, again]).incidents.set_index("incident_id")
    assert rows.loc["stats19:C1", ["casualties", "ksi_casualties"]].tolist() == [4, 2]


def test_casualty_or_vehicle_tables_without_collisions_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "dft"
    folder.mkdir()
    (folder / "casualty-2024.csv").write_text(CASUALTY_CSV, encoding="utf-8")
    (folder / "vehicle-2024.csv").write_text(VEHICLE_CSV, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_stats19(folder)
    assert str(caught.value).startswith(
        "no STATS19 collision table among casualty-2024.csv (casualty), vehicle-2024.csv "
        "(vehicle); casualty and vehicle tables are linked to the collisions of a collision "
        "table ingested with them"
    )
    with pytest.raises(InputError, match=r"vehicle-2024\.csv: a STATS19 vehicle table"):
        load_stats19(folder / "vehicle-2024.csv")


@pytest.mark.parametrize("vehicles", [VEHICLE_CSV, VEHICLE_LABELS_CSV], ids=["codes", "labels"])
def test_vehicle_tables_counted_per_collision(
    tmp_path: Path, vehicles: str, caplog: pytest.LogCaptureFixture
) -> None:
    collisions = tmp_path / "collision-2024.csv"
    collisions.write_text(COLLISIONS_CSV, encoding="utf-8")
    vehicle = tmp_path / "vehicle-2024.csv"
    vehicle.write_text(vehicles, encoding="utf-8")
    with caplog.at_level("INFO", logger="geo_service.sources.stats19"):
        result = load_stats19([collisions, vehicle])
    assert [f.path.name for f in result.files] == ["collision-2024.csv"]
    assert list(result.incidents.columns) == list(INCIDENT_COLUMNS)
    rows = result.incidents.set_index("incident_id")
    assert all(str(rows[c].dtype) == "Int64" for c in VEHICLE_FIGURES)
    # counted by hand from the table: C1 car, pedal cycle, motorcycle > 500cc; C2 moped,
    # motorcycle unknown cc, goods 7.5 t and over, goods of unknown weight (not an HGV);
    # C3 goods 3.5-7.5 t, van (not an HGV)
    assert rows.loc[["stats19:C1", "stats19:C2", "stats19:C3"], VEHICLE_FIGURES].to_numpy(
        dtype=int
    ).tolist() == [[3, 1, 1, 0], [4, 2, 0, 1], [2, 0, 0, 1]]
    assert rows["ksi_casualties"].isna().all()  # no casualty table given
    assert f"{vehicle}: linked: STATS19 vehicle table, 10 vehicles" in caplog.messages
    # labels read like codes: no unknown value; the vehicle of C9 is counted in one warning
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "vehicles of 1 collision index(es) not in the collision table(s) ignored, e.g. C9"
    ]


def test_vehicle_table_gaps_repeats_and_unknown_types(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collisions = tmp_path / "collisions.csv"
    collisions.write_text(COLLISIONS_CSV, encoding="utf-8")
    vehicles = tmp_path / "vehicles.csv"
    vehicles.write_text(
        "collision_index,vehicle_reference,vehicle_type\n"
        "C1,1,3\n"
        "C1,1,3\n"  # the same vehicle again: counted once
        "C1,2,Lorry\n"  # not a DfT code or label: a vehicle of no type counted
        "C1,3,-1\n"  # DfT "data missing": a vehicle of no type, no warning
        ",4,1\n"  # no collision index
        "C7,1,1\n",  # C7 not loaded
        encoding="utf-8",
    )
    with caplog.at_level("WARNING"):
        rows = load_stats19([collisions, vehicles]).incidents.set_index("incident_id")
    assert rows.loc["stats19:C1", VEHICLE_FIGURES].tolist() == [3, 1, 0, 0]
    assert rows.loc[["stats19:C2", "stats19:C3"], VEHICLE_FIGURES].isna().all().all()
    assert [r.getMessage() for r in caplog.records] == [
        f"{vehicles}: vehicle_type: 1 row(s) with a value that is not a DfT code or label of "
        "the field, left missing: Lorry",
        f"{vehicles}: 1 vehicle row(s) without a collision index ignored",
        "1 vehicle row(s) repeat a collision/vehicle reference; counted once",
        "2 of 3 collision(s) have no row in the vehicle table(s); their vehicle figures are "
        "missing",
        "vehicles of 1 collision index(es) not in the collision table(s) ignored, e.g. C7",
    ]


def test_vehicle_table_without_vehicle_type_is_refused(tmp_path: Path) -> None:
    collisions = tmp_path / "collisions.csv"
    collisions.write_text(COLLISIONS_CSV, encoding="utf-8")
    vehicles = tmp_path / "vehicles.csv"
    vehicles.write_text("collision_index,vehicle_reference\nC1,1\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_stats19([collisions, vehicles])
    assert str(caught.value) == (
        f"{vehicles}: a STATS19 vehicle table without collision_index (or accident_index) and "
        "vehicle_type; found collision_index, vehicle_reference"
    )
