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
    schema = schema[schema["table"].isin(["collision", "casualty"])]
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
        f"{path}: junction_detail: 3 row(s) hold a value that is neither a DfT code nor a DfT "
        "label, left missing: 42, 77"
    ]
