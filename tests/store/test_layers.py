"""Layers from several files, dissolved layers, and the transformation recorded per file.

Small cases are built inline (1 km squares of ``conftest``); the county case uses the ten real
Hertfordshire ward files and the 13 real police.uk months, checked against a plain
``geopandas.sjoin`` of the raw points with the raw ward polygons.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from scipy import stats
from shapely.geometry import box

from geo_service import ingest
from geo_service.cli import main
from geo_service.errors import InputError
from geo_service.ingest.layers import parent_from_filename
from geo_service.projection import transformation_used
from geo_service.store import Store
from tests.store.conftest import P_W1, P_W2, police_row, write_police_csv


def _squares(path: Path, codes: list[str], x0: float) -> Path:
    """A GeoJSON of 1 km squares side by side from easting ``x0`` (EPSG:27700)."""
    frame = gpd.GeoDataFrame(
        {"WD13CD": codes, "WD13NM": [f"Ward {c}" for c in codes]},
        geometry=[
            box(x0 + 1000 * i, 200000, x0 + 1000 * (i + 1), 201000) for i in range(len(codes))
        ],
        crs="EPSG:27700",
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_file(path, driver="GeoJSON")
    return path


@pytest.fixture
def district_files(tmp_path: Path) -> list[Path]:
    """D1 holds W1 (500000-501000); D2 holds W2 and W3 (501000-503000)."""
    return [
        _squares(tmp_path / "wards" / "D1_wards.geojson", ["W1"], 500000),
        _squares(tmp_path / "wards" / "D2_wards.geojson", ["W2", "W3"], 501000),
    ]


def test_parent_is_the_file_name_before_the_first_underscore() -> None:
    assert parent_from_filename(Path("/x/E07000096_wards.geojson")) == "E07000096"
    assert parent_from_filename(Path("E07000096_wards_2013.geojson")) == "E07000096"
    assert parent_from_filename(Path("E07000096.geojson")) == "E07000096"


def test_several_files_make_one_layer_then_dissolve(
    tmp_path: Path, district_files: list[Path]
) -> None:
    store = Store(tmp_path / "store")
    csv = write_police_csv(
        tmp_path / "in" / "2021-01-test-street.csv",
        [police_row("C1", "2021-01", P_W1, "Burglary"), police_row("C2", "2021-01", P_W2, "Drugs"),
         police_row("C3", "2021-01", (502500.0, 200500.0), "Drugs")],
    )  # fmt: skip
    ingest.ingest_files(store, "police-uk", [csv])
    report = ingest.add_layer(store, "ward", district_files, parent_from_filename=True)
    assert report.features == 3 and report.parent_column == "(file name)"
    assert report.area_m2 == pytest.approx(3e6)
    ward = store.layer("ward").set_index("code")
    assert ward["parent"].to_dict() == {"W1": "D1", "W2": "D2", "W3": "D2"}
    denominators = tmp_path / "pop.csv"
    denominators.write_text("code,population,households\nW1,100,40\nW2,250,90\nW3,50,\n")
    ingest.add_denominators(store, "ward", denominators)
    names = tmp_path / "names.csv"
    names.write_text("code,name\nD2,Second district\n")
    district = ingest.dissolve_layer(store, "district", from_layer="ward", names_csv=names)
    table = district.set_index("code")
    assert table["name"].to_dict() == {"D1": "D1", "D2": "Second district"}
    assert table["population"].to_dict() == {"D1": 100.0, "D2": 300.0}
    assert table["households"].iloc[0] == 40.0 and pd.isna(table["households"].iloc[1])
    assert table.geometry.area.to_dict() == pytest.approx({"D1": 1e6, "D2": 2e6})
    areas = store.incidents().set_index("incident_id")[["area_ward", "area_district"]]
    assert areas.to_dict("index") == {
        "police_uk:C1": {"area_ward": "W1", "area_district": "D1"},
        "police_uk:C2": {"area_ward": "W2", "area_district": "D2"},
        "police_uk:C3": {"area_ward": "W3", "area_district": "D2"},
    }
    assert store.manifest().layers["district"].dissolved_from == "ward"


def test_cli_add_and_dissolve_with_progress(
    tmp_path: Path, district_files: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "store")
    csv = write_police_csv(
        tmp_path / "in" / "2021-01-test-street.csv", [police_row("C1", "2021-01", P_W2, "Drugs")]
    )
    assert main(["--store", store, "ingest", "police-uk", str(csv)]) == 0
    add = ["boundaries", "add", "ward", "--parent-from-filename", "--progress"]
    out = _run(["--store", store, *add, *map(str, district_files)], capsys)
    assert "layer 'ward': 3 areas from 2 files" in out and "parent from: (file name)" in out
    names = tmp_path / "names.csv"
    names.write_text("code,name\nD1,North\nD2,South\n")
    dissolve = ["boundaries", "dissolve", "district", "--from", "ward", "--names", str(names)]
    assert main(["--store", store, *dissolve, "--progress"]) == 0
    captured = capsys.readouterr()
    assert "layer 'district': 2 areas dissolved from 'ward' (3.00 km²)" in captured.out
    assert "stored incidents in an area: 1; located outside every area: 0" in captured.out
    assert "assigning areas" in captured.err  # the progress bar over the stored months
    assert Store(Path(store)).layer("district")["name"].tolist() == ["North", "South"]


def test_code_in_two_files_names_both(tmp_path: Path) -> None:
    first = _squares(tmp_path / "A_wards.geojson", ["W1", "W2"], 500000)
    second = _squares(tmp_path / "B_wards.geojson", ["W2"], 510000)
    with pytest.raises(InputError, match=r"W2 in .*A_wards\.geojson and .*B_wards\.geojson"):
        ingest.add_layer(Store(tmp_path / "store"), "ward", [first, second])


def test_dissolve_refuses_missing_parents_and_unknown_names(
    tmp_path: Path, district_files: list[Path]
) -> None:
    store = Store(tmp_path / "store")
    ingest.add_layer(store, "ward", district_files)  # no parents
    with pytest.raises(InputError, match=r"3 area\(s\) have no parent.*--parent-from-filename"):
        ingest.dissolve_layer(store, "district", from_layer="ward")
    ingest.add_layer(store, "ward", district_files, parent_from_filename=True)
    names = tmp_path / "names.csv"
    names.write_text("code,name\nD1,One\nD9,Nine\n")
    with pytest.raises(InputError, match=r"names\.csv: line 3, column code: 'D9'"):
        ingest.dissolve_layer(store, "district", from_layer="ward", names_csv=names)
    assert store.layer_names() == ["ward"]


def test_layer_of_a_multi_layer_file_then_renamed(tmp_path: Path) -> None:
    """A refused container leaves the store as it was; names change names, not areas."""
    store = Store(tmp_path / "store")
    csv = write_police_csv(
        tmp_path / "in" / "2021-01-test-street.csv",
        [police_row("C1", "2021-01", P_W1, "Burglary"), police_row("C2", "2021-01", P_W2, "Drugs")],
    )
    ingest.ingest_files(store, "police-uk", [csv])
    gpkg = tmp_path / "bdline.gpkg"
    for layer, codes in (("district", ["D1"]), ("ward", ["W1", "W2"])):
        source = _squares(tmp_path / f"{layer}.geojson", codes, 500000)
        gpd.read_file(source).to_file(gpkg, layer=layer)
    report = ingest.add_layer(store, "ward", gpkg, source_layer="ward")
    assert report.source_layer == "ward" and report.features == 2
    before = store.version()
    with pytest.raises(InputError, match=r"holds 2 layers: district \(1 feature\), ward \(2"):
        ingest.add_layer(store, "ward", gpkg)
    assert store.version() == before
    names = tmp_path / "names.csv"
    names.write_text("code,name\nW2,Gadebridge\n")
    ingest.name_areas(store, "ward", names)
    assert store.layer("ward")["name"].tolist() == ["Ward W1", "Gadebridge"]
    assert store.manifest().layers["ward"].names == str(names)
    areas = store.incidents().set_index("incident_id")["area_ward"].to_dict()
    assert areas == {"police_uk:C1": "W1", "police_uk:C2": "W2"}


def test_transformation_is_recorded_for_stats19_and_mapped(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    stats19 = tmp_path / "collisions.csv"
    stats19.write_text(
        "accident_index,location_easting_osgr,location_northing_osgr,longitude,latitude,"
        "accident_severity,date,time\n2021410000001,500250,200500,,,3,05/01/2021,08:15\n"
    )
    ingest.ingest_files(store, "stats19", [stats19])
    lonlat = transformation_used("EPSG:4326")
    mapping = tmp_path / "fire.toml"
    mapping.write_text(
        'name = "fire"\n[columns]\nid = "Ref"\ndate = "Date"\nlon = "Lon"\nlat = "Lat"\n'
        '[category]\nvalue = "Deliberate fire"\n'
    )
    fire = tmp_path / "fire.csv"
    fire.write_text("Ref,Date,Lon,Lat\nF1,2021-01-03,-0.47,51.75\n")
    ingest.ingest_files(store, "mapped", [fire], mapping=mapping)
    recorded = {r.source: r.transformation for r in store.manifest().files}
    assert recorded["stats19"] == (
        "none for easting/northing (EPSG:27700); rows with only longitude/latitude: " + lonlat
    )
    assert recorded["mapped:fire"] == f"from EPSG:4326: {lonlat}"


# ------------------------------------------------------------------- real Hertfordshire
WARD_COUNTS = {  # SOURCE.md of ons-boundaries-uk-geojson: wards per district
    "E07000095": 10, "E07000096": 25, "E07000098": 15, "E07000099": 24, "E07000102": 20,
    "E07000103": 12, "E07000240": 20, "E07000241": 17, "E07000242": 30, "E07000243": 13,
}  # fmt: skip


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(args) == 0
    return capsys.readouterr().out


@pytest.fixture(scope="session")
def county(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of the 13 real months, then the ward files (parents from names), then districts.

    Incidents go in first so that both ``boundaries add`` and ``dissolve`` re-assign them.
    """
    store = tmp_path_factory.mktemp("county") / "store"
    street = shared_data / "police-uk-hertfordshire-street"
    wards = sorted(
        (shared_data / "ons-boundaries-uk-geojson/hertfordshire/wards").glob("*.geojson")
    )
    commands = [
        ["ingest", "police-uk", str(street)],
        ["boundaries", "add", "ward", "--parent-from-filename", *map(str, wards)],
        ["boundaries", "dissolve", "district", "--from", "ward"],
    ]
    for command in commands:
        assert main(["--store", str(store), *command]) == 0
    return store


@pytest.fixture(scope="session")
def raw_by_lad(shared_data: Path) -> pd.DataFrame:
    """Independent reference: raw rows (repeated Crime IDs once) sjoined to the raw wards."""
    street = shared_data / "police-uk-hertfordshire-street"
    rows = pd.concat(pd.read_csv(p) for p in sorted(street.glob("*.csv.gz")))
    rows = rows.loc[rows["Crime ID"].isna() | ~rows["Crime ID"].duplicated()]
    rows = rows.dropna(subset=["Longitude", "Latitude"])
    points = gpd.GeoDataFrame(
        rows, geometry=gpd.points_from_xy(rows["Longitude"], rows["Latitude"]), crs="EPSG:4326"
    ).to_crs("EPSG:27700")
    folder = shared_data / "ons-boundaries-uk-geojson/hertfordshire/wards"
    wards = pd.concat(
        gpd.read_file(p).assign(lad=p.name.split("_")[0]) for p in sorted(folder.glob("*.geojson"))
    ).to_crs("EPSG:27700")
    joined = gpd.sjoin(points, wards[["lad", "geometry"]], predicate="within", how="inner")
    return pd.DataFrame(joined[["Month", "Crime type", "lad"]])


@pytest.mark.realdata
def test_county_wards_and_districts(county: Path, shared_data: Path) -> None:
    store = Store(county)
    ward = store.layer("ward")
    assert len(ward) == 186 and ward["code"].is_unique
    assert ward.groupby("parent").size().to_dict() == WARD_COUNTS
    district = store.layer("district").set_index("code")
    assert list(district.index) == sorted(WARD_COUNTS)
    ward_area = ward.geometry.area.groupby(ward["parent"]).sum()
    difference = (district.geometry.area - ward_area.reindex(district.index)).abs()
    assert difference.max() < 1.0  # m²


@pytest.mark.realdata
def test_district_counts_equal_plain_sjoin(county: Path, raw_by_lad: pd.DataFrame) -> None:
    stored = Store(county).incidents(columns=["area_ward", "area_district"])
    expected = raw_by_lad["lad"].value_counts().sort_index()
    assert stored["area_district"].value_counts().sort_index().to_dict() == expected.to_dict()
    assert sum(expected) == 105_319
    # Every incident in a ward is in that ward's district.
    ward = Store(county).layer("ward").set_index("code")["parent"]
    located = stored.dropna(subset=["area_ward"])
    assert (located["area_ward"].map(ward) == located["area_district"]).all()


@pytest.mark.realdata
def test_change_by_district_year_on_year(
    county: Path, raw_by_lad: pd.DataFrame, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _run(
        ["--store", str(county), "change", "--layer", "district", "--period-end", "2022-01",
         "--months", "1", "--against", "year-earlier", "--format", "csv"],
        capsys,
    )  # fmt: skip
    table = pd.read_csv(io.StringIO(out)).set_index("code")
    crime = raw_by_lad.loc[raw_by_lad["Crime type"] != "Anti-social behaviour"]
    counts = crime.groupby(["lad", "Month"]).size().unstack(fill_value=0)
    total_current = int(counts["2022-01"].sum())
    for lad in ("E07000096", "E07000243"):  # Dacorum, Stevenage
        previous, current = int(counts.at[lad, "2021-01"]), int(counts.at[lad, "2022-01"])
        row = table.loc[lad]
        assert (row["previous"], row["current"]) == (previous, current)
        assert row["change"] == current - previous
        assert row["pct_change"] == pytest.approx(100 * (current - previous) / previous)
        assert row["share"] == pytest.approx(100 * current / total_current)
        expected_p = stats.binomtest(current, previous + current, 0.5).pvalue
        assert row["p"] == pytest.approx(expected_p, abs=1e-4)
    ranks = counts["2022-01"].rank(method="min", ascending=False).astype(int)
    assert table.loc[list(ranks.index), "rank"].astype(int).to_dict() == ranks.to_dict()


@pytest.mark.realdata
def test_status_lists_both_layers(county: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = json.loads(_run(["--store", str(county), "status", "--json"], capsys))
    assert status["layers"]["district"]["areas"] == 10
    assert (
        status["layers"]["district"]["incidents_in_an_area"]
        == (status["layers"]["ward"]["incidents_in_an_area"])
    )
