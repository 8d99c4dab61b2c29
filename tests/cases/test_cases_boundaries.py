"""The boundary cases of ``../shared/cases/real-files`` run as a new user would, through the CLI.

Each test runs the README's commands with :func:`geo_service.cli.main` in-process (so
``filterwarnings = error`` turns any raw Python warning into a failure) and asserts the README's
expected values, checked against an independent reading of the same files with geopandas.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.store import Store

_BESIDE_CHECKOUT = Path(__file__).resolve().parents[3] / "shared" / "cases" / "real-files"
CASES = Path(os.environ.get("GEO_SERVICE_SHARED_CASES", _BESIDE_CHECKOUT))
SHARED_DATA = Path(os.environ.get("GEO_SERVICE_SHARED_DATA", CASES.parent.parent / "data"))


def case(name: str) -> Path:
    """The case folder; skips the test when the shared cases are not there."""
    folder = CASES / name
    if not folder.is_dir():
        pytest.skip(f"shared real-file case not found at {folder}")
    return folder


def run(store: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``geo-service --store STORE ARGS``."""
    capsys.readouterr()
    code = main(["--store", str(store), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def codes_and_area_km2(store: Path, layer: str) -> tuple[list[str], float]:
    stored = Store(store).layer(layer)
    return sorted(stored["code"]), float(stored.geometry.area.sum()) / 1e6


# ------------------------------------------------------------------------- 04 several layers
BDLINE_LAYERS = (
    "county (1 feature), district_borough_unitary (1 feature), "
    "district_borough_unitary_ward (25 features)"
)


def test_04_geopackage_with_several_layers_refused_then_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gpkg = case("04-gpkg-several-layers") / "bdline_extract.gpkg"
    store = tmp_path / "store"
    code, out, err = run(store, ["boundaries", "add", "ward", str(gpkg)], capsys)
    assert code == 2 and out == ""
    assert BDLINE_LAYERS in err and "--source-layer NAME" in err
    assert Store(store).version() is None  # nothing stored
    reference = gpd.read_file(gpkg, layer="district_borough_unitary_ward")
    for chosen in (
        ["--source-layer", "district_borough_unitary_ward", str(gpkg)],
        [f"{gpkg}:district_borough_unitary_ward"],
    ):
        code, out, err = run(store, ["boundaries", "add", "ward", *chosen], capsys)
        assert code == 0 and err == ""
        assert "layer 'ward': 25 areas" in out
        assert "read the file's layer 'district_borough_unitary_ward'" in out
        codes, area_km2 = codes_and_area_km2(store, "ward")
        assert codes == sorted(reference["code"])
        assert area_km2 == pytest.approx(reference.area.sum() / 1e6, rel=1e-9)
        assert area_km2 == pytest.approx(212.5, abs=0.1)  # Dacorum, as the other cases


def test_04_zip_with_two_shapefiles_refused_then_chosen(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = case("04-gpkg-several-layers") / "zipped" / "boundaries.zip"
    store = tmp_path / "store"
    code, _, err = run(store, ["boundaries", "add", "ward", str(archive)], capsys)
    assert code == 2
    assert "holds 2 layers: a_district (1 feature), b_wards (25 features)" in err
    code, out, _ = run(store, ["boundaries", "add", "ward", f"{archive}:b_wards"], capsys)
    assert code == 0 and "layer 'ward': 25 areas" in out
    assert len(codes_and_area_km2(store, "ward")[0]) == 25


# ------------------------------------------------------------------ 05 one KML per neighbourhood
def test_05_code_from_file_name_and_names_from_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = case("05-police-uk-neighbourhood-kml")
    kmls = sorted(str(p) for p in (folder / "hertfordshire").glob("*.kml"))
    store = tmp_path / "store"
    code, _, err = run(store, ["boundaries", "add", "beat", *kmls], capsys)
    assert code == 2 and "--code-from-filename" in err  # the error says how
    code, out, err = run(
        store, ["boundaries", "add", "beat", "--code-from-filename", *kmls], capsys
    )
    assert code == 0 and err == ""
    assert "layer 'beat': 4 areas from 4 files (code (file name)" in out
    beats = Store(store).layer("beat").set_index("code")
    assert list(beats.index) == ["DC01", "DC02", "DC03", "DC04"]
    assert list(beats["name"]) == list(beats.index)  # the KMLs carry no <name>
    reference = pd.Series(
        {Path(p).stem: gpd.read_file(p).to_crs(27700).area.sum() for p in kmls}
    )  # the Z values and MultiGeometry read by geopandas, independently
    np.testing.assert_allclose(beats.geometry.area, reference.loc[beats.index], rtol=1e-5)
    assert beats.geometry.area.sum() / 1e6 == pytest.approx(212.45, abs=0.01)

    names = tmp_path / "neighbourhoods.csv"
    names.write_text("code,name\nDC01,Hemel Hempstead Town\nDC04,Tring and Rural\n")
    code, out, _ = run(store, ["boundaries", "names", "beat", str(names)], capsys)
    assert code == 0 and "2 of 4 areas have a name other than their code" in out
    named = Store(store).layer("beat").set_index("code")["name"].to_dict()
    assert named == {
        "DC01": "Hemel Hempstead Town", "DC02": "DC02", "DC03": "DC03", "DC04": "Tring and Rural"
    }  # fmt: skip

    # the same at add time, and the `named/` variant read by its <name>
    store2 = tmp_path / "store2"
    args = ["boundaries", "add", "beat", "--code-from-filename", "--names", str(names), *kmls]
    assert run(store2, args, capsys)[0] == 0
    assert Store(store2).layer("beat").set_index("code")["name"].to_dict() == named
    named_kmls = sorted(str(p) for p in (folder / "named" / "hertfordshire").glob("*.kml"))
    code, out, _ = run(
        tmp_path / "store3",
        ["boundaries", "add", "beat", "--code-col", "Name", *named_kmls],
        capsys,
    )
    assert code == 0 and "4 areas from 4 files (code Name" in out


# --------------------------------------------------------------------------- 07 ESRI .prj
def test_07_ons_shapefile_with_esri_prj_without_prj_and_zipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = case("07-ons-shapefile-esri-prj")
    store = tmp_path / "store"
    code, out, _ = run(
        store, ["boundaries", "add", "ward", str(folder / "WD_DEC_2023_UK_BGC.shp")], capsys
    )
    assert code == 0
    assert "25 areas" in out and "(code WD23CD, name WD23NM, CRS EPSG:27700" in out
    assert "transformation: none" in out
    noprj = folder / "noprj" / "WD_DEC_2023_UK_BGC.shp"
    code, _, err = run(tmp_path / "s2", ["boundaries", "add", "ward", str(noprj)], capsys)
    assert code == 2
    assert "states no coordinate reference system (a Shapefile needs a .prj file)" in err
    assert "add --crs EPSG:27700" in err  # the example fits the coordinates
    code, out, _ = run(
        tmp_path / "s3",
        ["boundaries", "add", "ward", str(folder / "WD_DEC_2023_UK_BGC.zip")],
        capsys,
    )
    assert code == 0 and "25 areas" in out


@pytest.mark.realdata
def test_07_police_uk_month_against_the_shapefile_wards(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = case("07-ons-shapefile-esri-prj")
    month = SHARED_DATA / "police-uk-hertfordshire-street" / "2021-01-hertfordshire-street.csv.gz"
    if not month.exists():
        pytest.skip(f"real police.uk month not found at {month}")
    store = tmp_path / "store"
    assert (
        run(store, ["boundaries", "add", "ward", str(folder / "WD_DEC_2023_UK_BGC.shp")], capsys)[0]
        == 0
    )
    assert run(store, ["ingest", "police-uk", str(month)], capsys)[0] == 0
    status = Store(store).status()["layers"]["ward"]
    assert status["located_outside_every_area"] == 5909  # the README's figure


# ------------------------------------------------------------------ 13 Northern Ireland
def test_13_irish_grid_wards_and_psni_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = case("13-police-uk-northern-ireland")
    wards = folder / "ni_example_wards_irish_grid.gpkg"
    csv = folder / "2023-05-police-service-of-northern-ireland-street.csv"
    store = tmp_path / "store"
    code, out, _ = run(store, ["boundaries", "add", "ward", str(wards)], capsys)
    assert code == 0 and "2 areas" in out and "CRS EPSG:29903" in out
    assert "Irish Grid" in out  # the transformation recorded
    code, out, _ = run(store, ["ingest", "police-uk", str(csv)], capsys)
    assert code == 0
    stored = Store(store).incidents(columns=["incident_id", "area_ward"])
    assert len(stored) == 6 and stored["area_ward"].isna().sum() == 1  # the no-location ASB row
    # Reference: the raw points, in Irish Grid, within the raw Irish Grid polygons.
    rows = pd.read_csv(csv).dropna(subset=["Longitude"])
    points = gpd.GeoDataFrame(
        rows, geometry=gpd.points_from_xy(rows["Longitude"], rows["Latitude"]), crs=4326
    ).to_crs(29903)
    joined = gpd.sjoin(points, gpd.read_file(wards)[["code", "geometry"]], predicate="within")
    expected = dict(zip("police_uk:" + joined["Crime ID"], joined["code"], strict=True))
    assert len(expected) == 5 and len(set(expected.values())) == 2
    assert stored.dropna().set_index("incident_id")["area_ward"].to_dict() == expected


# ------------------------------------------------------------------ 18 GeoJSON CRS variants
def test_18_geojson_crs_member_and_web_mercator_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = case("18-geojson-crs-variants")
    bounds = {}
    for name, crs in (("wards_bng_crs_member", "EPSG:27700"), ("wards_web_mercator", "EPSG:3857")):
        store = tmp_path / name
        code, out, _ = run(
            store, ["boundaries", "add", "ward", str(folder / f"{name}.geojson")], capsys
        )
        assert code == 0 and "25 areas" in out and f"CRS {crs}: stated by the file" in out
        codes, area_km2 = codes_and_area_km2(store, "ward")
        assert len(codes) == 25 and area_km2 == pytest.approx(212.5, abs=0.1)
        bounds[name] = Store(store).layer("ward").total_bounds
    # Web Mercator through WGS84 lands within a few metres of the BNG original
    np.testing.assert_allclose(bounds["wards_web_mercator"], bounds["wards_bng_crs_member"], atol=5)


def test_18_bng_metres_without_crs_member_refused_naming_the_crs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    path = case("18-geojson-crs-variants") / "wards_bng_no_crs_member.geojson"
    store = tmp_path / "store"
    caplog.set_level(logging.INFO)
    code, out, err = run(store, ["boundaries", "add", "ward", str(path)], capsys)
    assert code == 2 and out == ""
    assert "coordinates look like British National Grid metres; add --crs EPSG:27700" in err
    assert "the file states no CRS; GeoJSON's default WGS84 assumed" in err
    assert "x 486509..509991, y 198906..218585" in err  # the README's range
    assert "invalid polygon" not in err
    code, out, err = run(
        store, ["boundaries", "add", "ward", str(path), "--crs", "EPSG:27700"], capsys
    )
    assert code == 0 and "25 areas" in out and "CRS EPSG:27700: given with --crs" in out
    assert "file states EPSG:4326" not in out + err + caplog.text  # the file states nothing
    assert "states no CRS; GeoJSON's default WGS84 assumed; using the given" in caplog.text
    assert codes_and_area_km2(store, "ward")[1] == pytest.approx(212.5, abs=0.1)


def test_18_copy_with_the_crs_member_at_the_end_or_start(tmp_path: Path) -> None:
    """The crs member is honoured wherever the writer put it (these files have it last)."""
    folder = case("18-geojson-crs-variants")
    text = (folder / "wards_bng_crs_member.geojson").read_text()
    member = ', "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}}'
    assert text.endswith(member + "}")
    first = tmp_path / "first.geojson"
    first.write_text(
        '{"crs": ' + member.split(": ", 1)[1] + ", " + text[1 : -len(member) - 1] + "}"
    )
    shutil.copy(folder / "wards_bng_crs_member.geojson", tmp_path / "last.geojson")
    for path in (first, tmp_path / "last.geojson"):
        assert (
            main(["--store", str(tmp_path / path.stem), "boundaries", "add", "ward", str(path)])
            == 0
        )
