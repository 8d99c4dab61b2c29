"""geo_service.export: every format checked by reading it back with an independent reader."""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import re
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, Polygon, box

from geo_service import export
from geo_service.errors import InputError

CRS = "EPSG:27700"
FORMULAS = ['=HYPERLINK("http://x.example","click")', "+1", "-1", "@SUM(A1:A2)", "\tx", "\ry"]
P = 0.012345678901234567  # more digits than the CLI's old 4-place rounding kept


def _names_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [*FORMULAS, "Adeyfield East", None],
            "change": [-1, 2, -3, 4, 5, 6, 7, 8],
            "p": [P, 1 / 3, 0.5, 1e-20, np.nan, 0.25, 0.125, 1.0],
        }
    )


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _shoelace(ring: list[list[float]]) -> float:
    """Twice the signed area of a closed ring: positive when counter-clockwise."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in itertools.pairwise(ring))


def _overlap_m2(geoms: np.ndarray) -> float:
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    keep = a < b
    return float(shapely.area(shapely.intersection(geoms[a[keep]], geoms[b[keep]])).sum())


@pytest.fixture(scope="module")
def dacorum_wards(shared_data: Path) -> gpd.GeoDataFrame:
    path = shared_data / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    wards = gpd.read_file(path).to_crs(CRS)
    return wards.rename(columns={"WD13CD": "code", "WD13NM": "name"})[["code", "name", "geometry"]]


def _squares() -> gpd.GeoDataFrame:
    """Three 100 m cells, the first with a formula-like name, a p and a date each."""
    return gpd.GeoDataFrame(
        {
            "code": ["E1", "E2", "E3"],
            "name": ["=cmd()", "Boxmoor", "Gadebridge"],
            "count": np.array([3, 0, 12], dtype=np.int64),
            "p": [P, np.nan, 1 / 3],
            "first_date": pd.to_datetime(["2019-03-04", "2020-01-31", None]),
        },
        geometry=[box(500000 + 100 * k, 200000, 500100 + 100 * k, 200100) for k in range(3)],
        crs=CRS,
    )


# ------------------------------------------------------------------------------------- CSV
def test_csv_neutralises_formula_text_and_keeps_numbers() -> None:
    text = export.csv_text(_names_table())
    rows = _rows(text)
    assert len(rows) == 9  # the carriage return inside a cell did not split its row
    assert text.splitlines()[1].startswith("\"'=HYPERLINK")  # every text cell quoted, then
    assert rows[0] == ["name", "change", "p"]
    names = [r[0] for r in rows[1:]]
    assert names == [
        '\'=HYPERLINK("http://x.example","click")', "'+1", "'-1", "'@SUM(A1:A2)", "'\tx", "'\ry",
        "Adeyfield East", "",
    ]  # fmt: skip
    # -1 the number stays a number; "-1" the text got its apostrophe above.
    assert [r[1] for r in rows[1:]] == ["-1", "2", "-3", "4", "5", "6", "7", "8"]


def test_csv_keeps_full_float_precision_and_writes_nan_empty() -> None:
    rows = _rows(export.csv_text(_names_table()))
    p = [r[2] for r in rows[1:]]
    assert float(p[0]) == P
    assert float(p[1]) == 1 / 3
    assert float(p[3]) == 1e-20
    assert p[4] == ""


def test_csv_neutralises_categories_headers_and_keeps_web_rule() -> None:
    frame = pd.DataFrame(
        {"=area": pd.Categorical(["-x", "ok", "-x"]), "text": pd.array(["@a", "b", None])}
    )
    rows = _rows(export.csv_text(frame))
    assert rows == [["'=area", "text"], ["'-x", "'@a"], ["ok", "b"], ["'-x", ""]]
    assert export.csv_text(frame) == "'=area,text\n'-x,'@a\nok,b\n'-x,\n"  # quoted only if needed
    assert export.FORMULA_START == ("=", "+", "-", "@", "\t", "\r")


def test_csv_of_a_layer_carries_its_centroid_not_its_geometry() -> None:
    rows = _rows(export.csv_text(_squares()))
    header = rows[0]
    assert "geometry" not in header
    first = dict(zip(header, rows[1], strict=True))
    assert (float(first["centroid_x"]), float(first["centroid_y"])) == (500050.0, 200050.0)
    assert first["name"] == "'=cmd()"
    assert first["first_date"] == "2019-03-04"


def test_csv_writes_a_named_index_as_columns() -> None:
    frame = pd.DataFrame({"count": [4, 5]}, index=pd.Index(["2013-06", "2013-07"], name="month"))
    assert export.csv_text(frame) == "month,count\n2013-06,4\n2013-07,5\n"


# ------------------------------------------------------------------------------------ JSON
def test_json_records_are_plain_values() -> None:
    frame = pd.DataFrame(
        {
            "n": np.array([1, 2], dtype=np.int64),
            "p": [np.nan, P],
            "day": pd.to_datetime(["2013-07-01", None]),
            "when": pd.to_datetime(["2013-07-01 10:30", "2013-07-02"], format="ISO8601"),
            "text": pd.array(["a", None]),
        }
    )
    records = export.json_records(frame)
    assert records == [
        {"n": 1, "p": None, "day": "2013-07-01", "when": "2013-07-01T10:30:00", "text": "a"},
        {"n": 2, "p": P, "day": None, "when": "2013-07-02T00:00:00", "text": None},
    ]
    assert type(records[0]["n"]) is int
    json.dumps(records, allow_nan=False)


# --------------------------------------------------------------------------------- GeoJSON
def test_geojson_orients_rings_counter_clockwise_and_holes_clockwise() -> None:
    outer = [(500000, 200000), (500000, 201000), (501000, 201000), (501000, 200000)]  # clockwise
    hole = [(500200, 200200), (500400, 200200), (500400, 200400), (500200, 200400)]  # anticlockwise
    frame = gpd.GeoDataFrame({"k": [1]}, geometry=[Polygon(outer, [hole])], crs=CRS)
    assert _shoelace([*map(list, outer), list(outer[0])]) < 0  # the input really is clockwise
    rings = export.geojson_document(frame)["features"][0]["geometry"]["coordinates"]
    assert _shoelace(rings[0]) > 0
    assert _shoelace(rings[1]) < 0


@pytest.mark.realdata
def test_geojson_of_dacorum_wards_is_rfc7946(dacorum_wards: gpd.GeoDataFrame) -> None:
    document = export.geojson_document(dacorum_wards, meta={"layer": "ward", "n": np.int64(25)})
    assert "crs" not in document
    assert document["geo_service"] == {"layer": "ward", "n": 25}
    features = document["features"]
    assert len(features) == 25
    exteriors = [f["geometry"]["coordinates"][0] for f in features]
    assert all(_shoelace(ring) > 0 for ring in exteriors)
    coords = np.array([xy for ring in exteriors for xy in ring])
    # Dacorum's bbox per the data's SOURCE.md: lon -0.746..-0.405, lat 51.680..51.858.
    assert coords[:, 0].min() > -0.75 and coords[:, 0].max() < -0.40
    assert coords[:, 1].min() > 51.67 and coords[:, 1].max() < 51.86
    assert np.array_equal(np.round(coords, 6), coords)
    assert features[0]["properties"] == {"code": "E05004691", "name": "Adeyfield East"}


@pytest.mark.realdata
def test_geojson_geometry_matches_gdal_rfc7946_writer(dacorum_wards: gpd.GeoDataFrame) -> None:
    buffer = io.BytesIO()
    dacorum_wards.to_file(buffer, driver="GeoJSON", RFC7946="YES", COORDINATE_PRECISION=6)
    reference = json.loads(buffer.getvalue())["features"]
    ours = export.geojson_document(dacorum_wards)["features"]
    for mine, theirs in zip(ours, reference, strict=True):
        a = shapely.geometry.shape(mine["geometry"])
        b = shapely.geometry.shape(theirs["geometry"])
        assert shapely.equals_exact(shapely.normalize(a), shapely.normalize(b), tolerance=2e-6)
        assert _shoelace(theirs["geometry"]["coordinates"][0]) > 0


@pytest.mark.realdata
def test_coverage_simplification_leaves_no_overlap(dacorum_wards: gpd.GeoDataFrame) -> None:
    tolerance_m = 50.0
    document = export.geojson_document(dacorum_wards, simplify_m=tolerance_m)
    shapes = [shapely.geometry.shape(f["geometry"]) for f in document["features"]]
    simplified = gpd.GeoSeries(shapes, crs="EPSG:4326").to_crs(CRS).to_numpy()
    naive = shapely.simplify(dacorum_wards.geometry.to_numpy(), tolerance_m)
    original = dacorum_wards.geometry.to_numpy()
    assert (
        shapely.get_num_coordinates(simplified).sum() < shapely.get_num_coordinates(original).sum()
    )  # vertices really went: 1,512 -> 1,382
    assert _overlap_m2(original) == 0.0
    assert _overlap_m2(simplified) < 1.0  # m2; measured 0
    assert _overlap_m2(naive) > 10_000.0  # m2; measured 17.3 ha


def test_overlapping_polygons_are_simplified_one_by_one() -> None:
    circles = [Point(500000, 200000).buffer(100), Point(500050, 200000).buffer(100)]
    frame = gpd.GeoDataFrame({"cluster": [1, 2]}, geometry=circles, crs=CRS)
    document = export.geojson_document(frame, simplify_m=5.0)
    counts = [len(f["geometry"]["coordinates"][0]) for f in document["features"]]
    # Douglas-Peucker one by one keeps 17 of the 65 vertices; a coverage pass would keep 27.
    assert counts == [len(shapely.simplify(c, 5.0).exterior.coords) for c in circles] == [17, 17]


def test_geojson_properties_of_repeat_sites() -> None:
    sites = gpd.GeoDataFrame(
        {
            "site_id": np.array([1], dtype=np.int64),
            "count": np.array([4], dtype=np.int64),
            "road": ["=A41"],
            "first_date": pd.to_datetime(["2019-03-04"]),
            "last_date": pd.to_datetime(["2021-11-30"]),
            "collision_ids": ["c1;c2;c3;c4"],
            "radius_m": [np.nan],
        },
        geometry=[Point(500050, 200050)],
        crs=CRS,
    )
    feature = export.geojson_document(sites, precision=5)["features"][0]
    assert feature["properties"] == {
        "site_id": 1, "count": 4, "road": "=A41", "first_date": "2019-03-04",
        "last_date": "2021-11-30", "collision_ids": "c1;c2;c3;c4", "radius_m": None,
    }  # fmt: skip
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(500050, 200050)
    assert feature["geometry"] == {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]}


def test_geojson_refuses_bad_arguments() -> None:
    with pytest.raises(InputError, match="layer with geometry"):
        export.geojson_document(pd.DataFrame({"a": [1]}))  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"0\.\.15"):
        export.geojson_document(_squares(), precision=16)
    with pytest.raises(InputError, match="positive number of metres"):
        export.geojson_document(_squares(), simplify_m=-1.0)


# -------------------------------------------------------------------------------- centroid
def test_centroid_of_a_100_m_square() -> None:
    square = gpd.GeoDataFrame({"k": [1]}, geometry=[box(500000, 200000, 500100, 200100)], crs=CRS)
    out = export.with_centroid(square)
    assert "centroid_x" not in square.columns  # the input is not modified
    assert (out.loc[0, "centroid_x"], out.loc[0, "centroid_y"]) == (500050.0, 200050.0)
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(500050, 200050)
    assert out.loc[0, "centroid_lon"] == pytest.approx(lon, abs=1e-9)
    assert out.loc[0, "centroid_lat"] == pytest.approx(lat, abs=1e-9)
    # Hertfordshire, west of Greenwich: a sanity check on the axis order.
    assert -0.6 < out.loc[0, "centroid_lon"] < -0.5 and 51.6 < out.loc[0, "centroid_lat"] < 51.7


# ---------------------------------------------------------------------------- file formats
def test_geopackage_reads_back_equal(tmp_path: Path) -> None:
    path = tmp_path / "out.gpkg"
    squares = _squares()
    export.write_geopackage(squares, path, layer="cells", meta={"cell_m": 100.0})
    export.write_geopackage(_names_table(), path, layer="names")
    back = gpd.read_file(path, layer="cells")
    assert back.crs == CRS
    assert back["name"].tolist() == squares["name"].tolist()  # data, not a spreadsheet: as is
    assert back["count"].tolist() == [3, 0, 12]
    assert back.loc[0, "p"] == P and math.isnan(back.loc[1, "p"])
    assert back["first_date"].iloc[:2].tolist() == squares["first_date"].iloc[:2].tolist()
    assert shapely.equals_exact(back.geometry.to_numpy(), squares.geometry.to_numpy()).all()
    assert pyogrio.read_info(path, layer="cells")["layer_metadata"] == {"cell_m": "100.0"}
    names = pyogrio.read_dataframe(path, layer="names", read_geometry=False)
    assert names["name"].iloc[:7].tolist() == [*FORMULAS, "Adeyfield East"]


def test_excel_reads_back_equal_with_formulas_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    long_name = "Change by ward, 12 months to 2013-07 [all]"
    written = export.write_excel(
        {long_name: _names_table(), "cells": _squares()}, path, meta={"period": "2012-08..2013-07"}
    )
    assert written == ["Change by ward, 12 months to 20", "cells", "geo_service"]
    assert len(written[0]) == 31
    sheets = pd.read_excel(path, sheet_name=None)
    table = sheets[written[0]]
    expected = _names_table()
    # XML reads a carriage return back as a line feed; every other text is unchanged.
    assert table["name"].iloc[:7].tolist() == [*FORMULAS[:5], "\ny", "Adeyfield East"]
    assert table["change"].tolist() == expected["change"].tolist()
    # openpyxl writes 16 significant digits (Excel shows 15): not rounded to 4 places.
    assert table["p"].iloc[[0, 1, 3]].tolist() == pytest.approx([P, 1 / 3, 1e-20], rel=1e-15)
    cells = sheets["cells"]
    assert cells["first_date"].iloc[:2].tolist() == [
        pd.Timestamp("2019-03-04"),
        pd.Timestamp("2020-01-31"),
    ]
    assert cells["centroid_x"].tolist() == [500050.0, 500150.0, 500250.0]
    assert sheets["geo_service"].to_dict(orient="records") == [
        {"key": "period", "value": "2012-08..2013-07"}
    ]
    workbook = openpyxl.load_workbook(path)
    first = workbook[written[0]]
    assert [(c.value, c.data_type, c.quotePrefix) for c in first["A"][1:3]] == [
        (FORMULAS[0], "s", True),
        ("+1", "s", True),
    ]
    assert first["B2"].value == -1 and first["B2"].data_type == "n"
    with zipfile.ZipFile(path) as archive:
        xml = "".join(archive.read(n).decode() for n in archive.namelist() if "worksheets" in n)
    assert "<f>" not in xml and "<f " not in xml


def test_sheet_names_are_valid_and_distinct() -> None:
    names = export.sheet_names(["a/b", "A_B", "", "'quoted'", "History", "x" * 40, "X" * 40])
    assert names == ["a_b", "A_B (2)", "Sheet", "quoted", "History_", "x" * 31, "X" * 27 + " (2)"]


def test_shapefile_names_fit_and_read_back(tmp_path: Path) -> None:
    cells = export.with_centroid(_squares())
    cells["density_per_km2"] = [300.0, 0.0, 1200.0]
    path = tmp_path / "cells.shp"
    names = export.write_shapefile(cells, path)
    assert names["centroid_lon"] == "centroid_l"
    assert names["centroid_lat"] == "centroid_1"
    assert names["density_per_km2"] == "density_pe"
    fields = list(names.values())
    assert all(len(f.encode()) <= 10 for f in fields)
    assert len({f.lower() for f in fields}) == len(fields)
    key = pd.read_csv(path.with_suffix(".fields.csv"))
    assert dict(zip(key["column"], key["field"], strict=True)) == names
    back = gpd.read_file(path).rename(columns={v: k for k, v in names.items()})
    assert back.crs.equals(cells.crs)
    assert back["count"].tolist() == [3, 0, 12]
    assert back["name"].tolist() == ["=cmd()", "Boxmoor", "Gadebridge"]
    assert back.loc[0, "p"] == pytest.approx(P, rel=1e-12)
    assert back["first_date"].tolist()[:2] == ["2019-03-04", "2020-01-31"]
    assert back["centroid_lat"].tolist() == pytest.approx(cells["centroid_lat"].tolist(), abs=1e-12)
    # Shapefile rings run clockwise: the same squares, walked the other way.
    assert shapely.equals_exact(
        shapely.normalize(back.geometry.to_numpy()), shapely.normalize(cells.geometry.to_numpy())
    ).all()


def test_shapefile_field_names_unique_ignoring_case() -> None:
    names = export.shapefile_field_names(
        ["Count", "count", "emerging_pattern", "emerging_patterns"]
    )
    assert names == {
        "Count": "Count", "count": "count_1", "emerging_pattern": "emerging_p",
        "emerging_patterns": "emerging_1",
    }  # fmt: skip


def test_shapefile_refuses_mixed_geometry(tmp_path: Path) -> None:
    mixed = gpd.GeoDataFrame(geometry=[Point(0, 0), box(0, 0, 1, 1)], crs=CRS)
    with pytest.raises(InputError, match="mixes"):
        export.write_shapefile(mixed, tmp_path / "mixed.shp")


# ------------------------------------------------------------------------------ HTTP cache
def test_etag_is_stable_and_changes_with_version_and_parameters() -> None:
    tag = export.etag("v0007", "/api/x.csv", {"months": "12", "layer": "ward"})
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert tag == export.etag("v0007", "/api/x.csv", {"layer": "ward", "months": "12"})
    assert tag != export.etag("v0008", "/api/x.csv", {"months": "12", "layer": "ward"})
    assert tag != export.etag("v0007", "/api/x.csv", {"months": "24", "layer": "ward"})
    assert export.etag("v", "ab", "c") != export.etag("v", "a", "bc")


def test_cache_headers_give_http_dates_in_gmt() -> None:
    utc = datetime(2026, 11, 30, 15, 38, 2, 500, tzinfo=UTC)
    headers = export.cache_headers("v0007", "/x", modified=utc)
    assert headers == {
        "ETag": export.etag("v0007", "/x"),
        "Cache-Control": "no-cache",
        "Last-Modified": "Mon, 30 Nov 2026 15:38:02 GMT",
    }
    london_summer = datetime(2026, 7, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert export.cache_headers("v", modified=london_summer)["Last-Modified"] == (
        "Wed, 01 Jul 2026 12:00:00 GMT"
    )
    assert export.cache_headers("v", modified=datetime(2026, 7, 1, 12))["Last-Modified"] == (
        "Wed, 01 Jul 2026 12:00:00 GMT"
    )
    assert "Last-Modified" not in export.cache_headers(None)


def test_etag_matches_if_none_match() -> None:
    tag = export.etag("v1")
    assert export.etag_matches(tag, tag)
    assert export.etag_matches(f'"other", W/{tag}', tag)
    assert export.etag_matches("*", tag)
    assert not export.etag_matches('"other"', tag)
    assert not export.etag_matches(None, tag)


# ---------------------------------------------------------------------------- entry point
def test_export_frame_lists_allowed_formats() -> None:
    with pytest.raises(InputError, match="allowed: csv, json, geojson, xlsx, gpkg, shp"):
        export.export_frame(_names_table(), "pdf", out=io.StringIO())


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson"])
def test_export_frame_text_formats_to_path_and_stream(fmt: str, tmp_path: Path) -> None:
    text = io.StringIO()
    export.export_frame(_squares(), fmt, out=text, meta={"method": "gistar"})
    raw = io.BytesIO()
    export.export_frame(_squares(), fmt, out=raw, meta={"method": "gistar"})
    path = tmp_path / f"cells.{fmt}"
    export.export_frame(_squares(), fmt, out=path, meta={"method": "gistar"})
    assert raw.getvalue().decode("utf-8") == text.getvalue() == path.read_text("utf-8")
    if fmt == "json":
        assert json.loads(text.getvalue())["geo_service"] == {"method": "gistar"}
    if fmt == "geojson":
        assert json.loads(text.getvalue())["features"][0]["properties"]["name"] == "=cmd()"


def test_export_frame_binary_formats(tmp_path: Path) -> None:
    export.export_frame(_squares(), "gpkg", out=tmp_path / "cells.gpkg")
    assert pyogrio.list_layers(tmp_path / "cells.gpkg")[0][0] == "cells"
    stream = io.BytesIO()
    export.export_frame(_squares(), "gpkg", out=stream, layer="hot")
    (tmp_path / "s.gpkg").write_bytes(stream.getvalue())
    assert gpd.read_file(tmp_path / "s.gpkg", layer="hot")["count"].tolist() == [3, 0, 12]
    zipped = io.BytesIO()
    export.export_frame(_squares(), "shp", out=zipped, layer="hot cells")
    with zipfile.ZipFile(zipped) as archive:
        assert {Path(n).suffix for n in archive.namelist()} >= {".shp", ".shx", ".dbf", ".prj"}
        assert "hot_cells.fields.csv" in archive.namelist()
    book = io.BytesIO()
    export.export_frame(_names_table(), "xlsx", out=book, layer="names")
    assert openpyxl.load_workbook(book).sheetnames == ["names"]


def test_export_frame_refuses_mismatched_requests() -> None:
    with pytest.raises(InputError, match="geojson needs a layer"):
        export.export_frame(_names_table(), "geojson", out=io.StringIO())
    with pytest.raises(InputError, match="binary format"):
        export.export_frame(_squares(), "xlsx", out=io.StringIO())
    with pytest.raises(InputError, match="binary format"):
        export.export_frame(_squares(), "gpkg", out=io.StringIO())


def test_missing_and_empty_geometries_are_null() -> None:
    frame = gpd.GeoDataFrame(
        {"k": [1, 2, 3]}, geometry=[None, Polygon(), box(0, 0, 100, 100)], crs=CRS
    )
    features = export.geojson_document(frame)["features"]
    assert [f["geometry"] is None for f in features] == [True, True, False]
    centred = export.with_centroid(frame)
    assert centred["centroid_x"].isna().tolist() == [True, True, False]


@pytest.mark.parametrize("fmt", ["csv", "json", "geojson", "xlsx", "gpkg"])
def test_an_empty_layer_exports(fmt: str, tmp_path: Path) -> None:
    empty = _squares().iloc[:0]
    path = tmp_path / f"none.{fmt}"
    export.export_frame(empty, fmt, out=path)
    if fmt == "csv":
        assert path.read_text("utf-8").startswith("code,name,count,p,first_date,centroid_x")
    if fmt == "geojson":
        assert json.loads(path.read_text("utf-8")) == {"type": "FeatureCollection", "features": []}


def test_export_frame_passes_simplification_to_geojson_only() -> None:
    circle = gpd.GeoDataFrame({"k": [1]}, geometry=[Point(500000, 200000).buffer(100)], crs=CRS)
    text = io.StringIO()
    export.export_frame(circle, "geojson", out=text, simplify_m=5.0)
    ring = json.loads(text.getvalue())["features"][0]["geometry"]["coordinates"][0]
    # One polygon is a valid coverage: Visvalingam-Whyatt keeps 27 of the 65 vertices.
    expected = shapely.coverage_simplify(circle.geometry.to_numpy(), 5.0)[0]
    assert len(ring) == len(expected.exterior.coords) == 27


def test_metadata_is_cleaned_like_properties() -> None:
    @dataclasses.dataclass(frozen=True)
    class Accuracy:
        hit_rate: float
        pai: float

    meta = {
        "class_breaks": np.array([0.5, 1.25]),
        "accuracy": Accuracy(hit_rate=np.float64(0.31), pai=float("nan")),
        "cell_m": np.float32(100.0),
        "when": pd.Timestamp("2013-07-31"),
        "layer": None,
    }
    assert export.json_value(meta) == {
        "class_breaks": [0.5, 1.25], "accuracy": {"hit_rate": 0.31, "pai": None},
        "cell_m": 100.0, "when": "2013-07-31T00:00:00", "layer": None,
    }  # fmt: skip


def test_shapefile_of_a_table_cuts_long_text(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ids = ";".join(f"C{k:04d}" for k in range(60))  # 60 x 6 - 1 = 359 characters
    table = pd.DataFrame({"site_id": [1], "collision_ids": [ids]})
    with caplog.at_level("WARNING", logger="geo_service.export"):
        names = export.write_shapefile(table, tmp_path / "sites.shp")
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".cpg", ".csv", ".dbf"]
    back = pyogrio.read_dataframe(tmp_path / "sites.dbf", read_geometry=False)
    assert names == {"site_id": "site_id", "collision_ids": "collision_"}
    assert back["collision_"].tolist() == [ids[:254]]
    assert "1 values of column collision_ids cut to 254 bytes" in caplog.text
