"""Tests for geo_service.boundaries.container: which layer of a file is read, what CRS it states.

Every container is built here: a GeoPackage with two layers (and a plain table), a zip of two
Shapefiles, a KML with two folders, a FileGDB with two feature classes, TopoJSON with and without
its crs member. The areas are 1 km squares in Hemel Hempstead (BNG), so their areas are known.
"""

from __future__ import annotations

import json
import logging
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from geo_service.boundaries import read_layer
from geo_service.boundaries.container import split_layer_suffix
from geo_service.errors import InputError
from geo_service.ingest.layers import read_layers


def squares(codes: list[str], *, x0: float = 500_000, y0: float = 200_000) -> gpd.GeoDataFrame:
    """1 km squares side by side, in EPSG:27700."""
    return gpd.GeoDataFrame(
        {"code": codes, "name": [f"Area {c}" for c in codes]},
        geometry=[shapely.box(x0 + 1000 * i, y0, x0 + 1000 * (i + 1), y0 + 1000)
                  for i in range(len(codes))],
        crs=27700,
    )  # fmt: skip


@pytest.fixture
def two_layer_gpkg(tmp_path: Path) -> Path:
    path = tmp_path / "bdline.gpkg"
    squares(["D1"]).to_file(path, layer="district")
    squares(["W1", "W2", "W3"]).to_file(path, layer="ward")
    return path


def test_geopackage_with_two_layers_refused_listing_them(two_layer_gpkg: Path) -> None:
    with pytest.raises(InputError) as error:
        read_layer(two_layer_gpkg)
    message = str(error.value)
    assert "holds 2 layers: district (1 feature), ward (3 features)" in message
    assert "--source-layer NAME (or bdline.gpkg:NAME)" in message


@pytest.mark.parametrize("form", ["option", "suffix"])
def test_geopackage_layer_chosen_by_option_or_suffix(two_layer_gpkg: Path, form: str) -> None:
    if form == "option":
        layer, report = read_layer(two_layer_gpkg, source_layer="ward")
    else:
        layer, report = read_layer(f"{two_layer_gpkg}:ward")
    assert list(layer["code"]) == ["W1", "W2", "W3"]
    assert report.source_layer == "ward" and report.path == str(two_layer_gpkg)
    assert report.area_m2 == pytest.approx(3e6)
    assert report.crs_origin == "stated by the file"


def test_unknown_or_conflicting_layer_names(two_layer_gpkg: Path) -> None:
    with pytest.raises(InputError, match=r"has no layer 'wards'; its layers: district \(1"):
        read_layer(two_layer_gpkg, source_layer="wards")
    with pytest.raises(InputError, match=r"names layer 'ward' but --source-layer gives 'district'"):
        read_layer(f"{two_layer_gpkg}:ward", source_layer="district")
    with pytest.raises(InputError, match="no such file"):
        read_layer(two_layer_gpkg.with_name("missing.gpkg:ward"))


def test_suffix_split_only_when_the_file_exists(tmp_path: Path, two_layer_gpkg: Path) -> None:
    assert split_layer_suffix(Path(f"{two_layer_gpkg}:ward"), None) == (two_layer_gpkg, "ward")
    odd = tmp_path / "a:b.geojson"  # a real file whose name holds a colon is taken as it is
    odd.write_text("{}")
    assert split_layer_suffix(odd, None) == (odd, None)


def test_a_plain_table_beside_one_spatial_layer_is_not_a_choice(tmp_path: Path) -> None:
    path = tmp_path / "with_table.gpkg"
    squares(["W1", "W2"]).to_file(path, layer="ward")
    pyogrio.write_dataframe(pd.DataFrame({"code": ["W1"], "population": [100]}), path,
                            layer="population", append=False)  # fmt: skip
    assert [str(name) for name, _ in pyogrio.list_layers(path)] == ["ward", "population"]
    layer, report = read_layer(path)
    assert report.source_layer == "ward" and len(layer) == 2
    with pytest.raises(InputError, match="layer 'population' holds no geometries"):
        read_layer(path, source_layer="population")


def test_zip_of_two_shapefiles_refused_then_chosen(tmp_path: Path) -> None:
    squares(["D1"]).to_file(tmp_path / "a_district.shp")
    squares(["W1", "W2"]).to_file(tmp_path / "b_wards.shp")
    archive = tmp_path / "download.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for part in sorted(tmp_path.glob("[ab]_*.*")):
            out.write(part, part.name)
    with pytest.raises(InputError, match=r"holds 2 layers: a_district \(1 feature\), b_wards \(2"):
        read_layer(archive)
    layer, report = read_layer(archive, source_layer="b_wards")
    assert list(layer["code"]) == ["W1", "W2"] and report.source_layer == "b_wards"


def test_kml_with_two_folders(tmp_path: Path) -> None:
    path = tmp_path / "force.kml"
    placemark = (
        "<Placemark><name>{}</name><Polygon><outerBoundaryIs><LinearRing><coordinates>"
        "{},51.70 {},51.70 {},51.72 {},51.70</coordinates></LinearRing></outerBoundaryIs>"
        "</Polygon></Placemark>"
    )
    beats = "".join(
        placemark.format(f"B{i}", west, west + 0.02, west + 0.02, west)
        for i, west in enumerate([-0.50, -0.48, -0.46])
    )
    sectors = placemark.format("S1", -0.5, -0.44, -0.44, -0.5)
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2">'
        f"<Document><Folder><name>sectors</name>{sectors}</Folder>"
        f"<Folder><name>beats</name>{beats}</Folder></Document></kml>"
    )
    with pytest.raises(InputError, match=r"holds 2 layers: sectors \(1 feature\), beats \(3 "):
        read_layer(path, code_col="Name")
    layer, report = read_layer(f"{path}:beats", code_col="Name")
    assert list(layer["code"]) == ["B0", "B1", "B2"]
    assert report.source_crs == "EPSG:4326" and report.crs_origin == "KML is always WGS84"


def test_filegdb_with_two_feature_classes(tmp_path: Path) -> None:
    path = tmp_path / "boundaries.gdb"
    squares(["W1", "W2"]).to_file(path, layer="wards", driver="OpenFileGDB")
    squares(["D1"]).to_file(path, layer="districts", driver="OpenFileGDB")
    with pytest.raises(InputError, match=r"holds 2 layers: wards \(2 features\), districts \(1"):
        read_layer(path)
    assert read_layer(path, source_layer="wards")[1].area_m2 == pytest.approx(2e6)


# ------------------------------------------------------------------------------------ TopoJSON
ONS = "ons-boundaries-uk-geojson/dacorum"


def test_topojson_crs_member_honoured(shared_data: Path) -> None:
    """martinjc's TopoJSON keeps CRS84 in objects.<name>.crs, which GDAL ignores."""
    path = shared_data / ONS / "dacorum_wards.topojson"
    assert pyogrio.read_info(path)["crs"] is None  # what GDAL alone reports
    layer, report = read_layer(path)
    assert report.source_crs == "EPSG:4326" and report.crs_origin == "stated by the file"
    assert len(layer) == 25 and report.area_m2 / 1e6 == pytest.approx(212.5, abs=0.2)


def test_topojson_without_crs_member_refused_with_degrees_suggested(
    shared_data: Path, tmp_path: Path
) -> None:
    topology = json.loads((shared_data / ONS / "dacorum_wards.topojson").read_text())
    del topology["objects"]["E07000096"]["crs"]
    path = tmp_path / "wards.topojson"
    path.write_text(json.dumps(topology))
    with pytest.raises(InputError) as error:
        read_layer(path)
    assert "states no coordinate reference system (TopoJSON has no default)" in str(error.value)
    assert "longitude/latitude degrees (WGS84); add --crs EPSG:4326" in str(error.value)
    assert "27700" not in str(error.value)  # the old example would have made specks
    assert read_layer(path, crs="EPSG:4326")[0].shape[0] == 25


# ------------------------------------------------------------------------ GeoJSON crs member
def _geojson(path: Path, crs_member: str | None, *, where: str = "first") -> Path:
    frame = squares(["W1", "W2"])
    collection = json.loads(frame.to_json(drop_id=True))
    collection.pop("crs", None)  # geopandas 1.x writes one; older versions and other tools do not
    if crs_member is not None:
        member = {"type": "name", "properties": {"name": crs_member}}
        collection = (
            {"crs": member, **collection} if where == "first" else {**collection, "crs": member}
        )
    path.write_text(json.dumps(collection))
    return path


@pytest.mark.parametrize("where", ["first", "last"])
def test_geojson_crs_member_found_first_or_last(tmp_path: Path, where: str) -> None:
    path = _geojson(tmp_path / "a.geojson", "urn:ogc:def:crs:EPSG::27700", where=where)
    _, report = read_layer(path)
    assert report.source_crs == "EPSG:27700" and report.crs_origin == "stated by the file"


def test_geojson_without_crs_member_is_not_said_to_state_wgs84(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    path = _geojson(tmp_path / "a.geojson", None)
    with pytest.raises(InputError, match="file states no CRS; GeoJSON's default WGS84 assumed"):
        read_layer(path)
    _, report = read_layer(path, crs="EPSG:27700")
    assert report.crs_origin == "given with --crs"
    assert "states EPSG:4326" not in caplog.text
    assert "the file states no CRS; GeoJSON's default WGS84 assumed; using the given" in caplog.text
    caplog.clear()
    stated = _geojson(tmp_path / "b.geojson", "urn:ogc:def:crs:EPSG::27700")
    read_layer(stated, crs="EPSG:27700")  # the same CRS: nothing to say
    assert caplog.text == ""


def test_zipped_geojson_crs_member(tmp_path: Path) -> None:
    inner = _geojson(tmp_path / "wards.geojson", "urn:ogc:def:crs:EPSG::27700", where="last")
    with zipfile.ZipFile(tmp_path / "wards.zip", "w") as archive:
        archive.write(inner, "wards.geojson")
    _, report = read_layer(tmp_path / "wards.zip")
    assert report.source_crs == "EPSG:27700" and report.crs_origin == "stated by the file"


# ------------------------------------------------------------------ one area per file, names
def test_code_from_filename_one_feature_per_file(tmp_path: Path) -> None:
    paths = []
    for i, code in enumerate(["DC01", "DC02"]):
        frame = squares(["x"], x0=500_000 + 1000 * i).drop(columns=["code", "name"])
        paths.append(tmp_path / f"{code}.geojson")
        frame.to_file(paths[-1])  # no code or name column at all
    layer, report = read_layers(paths, code_from_filename=True)
    assert list(layer["code"]) == ["DC01", "DC02"] and list(layer["name"]) == ["DC01", "DC02"]
    assert report.code_column == "(file name)"
    two = squares(["A", "B"])
    two.to_file(tmp_path / "DC03.geojson")
    with pytest.raises(InputError, match=r"DC03\.geojson: --code-from-filename needs one feature"):
        read_layer(tmp_path / "DC03.geojson", code_from_filename=True)
    with pytest.raises(InputError, match="cannot be used together"):
        read_layer(paths[0], code_from_filename=True, code_col="code")


def test_names_csv_names_areas_and_refuses_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "beats.geojson"
    squares(["B1", "B2", "B3"]).to_file(path)
    names = tmp_path / "names.csv"
    names.write_text("code,name\nB1,Town Centre\nB3, Tring \n")
    layer, report = read_layers([path], names_csv=names)
    assert list(layer["name"]) == ["Town Centre", "Area B2", "Tring"]
    assert report.name_column == f"{names} (2 named)"
    for text, expected in (
        ("code,name\nB1,One\nB9,Nine\n", r"line 3, column code: 'B9' is not a code"),
        ("code,name\nB1,One\nB1,Again\n", r"line 3, column code: 'B1' is repeated"),
        ("code,name\nB1,\n", r"line 2, column name: empty for code 'B1'"),
        ("id,label\nB1,One\n", r"column\(s\) \['code', 'name'\] missing"),
    ):
        names.write_text(text)
        with pytest.raises(InputError, match=expected):
            read_layers([path], names_csv=names)
