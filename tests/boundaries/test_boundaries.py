"""Tests for geo_service.boundaries: reading, validating, repairing and reprojecting area layers."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from geo_service.boundaries import LAYER_COLUMNS, read_layer
from geo_service.errors import InputError

ONS = "ons-boundaries-uk-geojson"

#: The 25 WD13 ward names of Dacorum, as listed in the data's SOURCE.md.
DACORUM_WARDS = {
    "Adeyfield East", "Adeyfield West", "Aldbury and Wigginton", "Apsley and Corner Hall",
    "Ashridge", "Bennetts End", "Berkhamsted Castle", "Berkhamsted East", "Berkhamsted West",
    "Bovingdon, Flaunden and Chipperfield", "Boxmoor", "Chaulden and Warners End", "Gadebridge",
    "Grovehill", "Hemel Hempstead Town", "Highfield", "Kings Langley", "Leverstock Green",
    "Nash Mills", "Northchurch", "Tring Central", "Tring East", "Tring West and Rural", "Watling",
    "Woodhall Farm",
}  # fmt: skip


def square(x0: float, y0: float, size: float = 10.0) -> list[list[list[float]]]:
    """GeoJSON polygon coordinates of an axis-aligned square."""
    x1, y1 = x0 + size, y0 + size
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


#: BNG metres in Hemel Hempstead: hand fixtures sit where real areas can be, since coordinates
#: that cannot be in their CRS (specks at the grid's origin) are refused.
E0, N0 = 500_000.0, 200_000.0


def local(x: float, y: float, size: float = 10.0) -> list[list[list[float]]]:
    """A square ``size`` m wide, ``x``, ``y`` metres east and north of (E0, N0)."""
    return square(E0 + x, N0 + y, size)


def shifted(rings: list[list[list[float]]]) -> list[list[list[float]]]:
    """Rings given in metres from (E0, N0), in BNG."""
    return [[[E0 + p[0], N0 + p[1], *p[2:]] for p in ring] for ring in rings]


def write_geojson(
    path: Path, features: list[tuple[dict[str, object], dict[str, object]]], *, crs: str | None
) -> Path:
    """Write (properties, geometry) pairs as a GeoJSON FeatureCollection with a named CRS."""
    collection: dict[str, object] = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": props, "geometry": geom} for props, geom in features
        ],
    }
    if crs is not None:
        collection["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(collection))
    return path


def polygon(coords: list[list[list[float]]]) -> dict[str, object]:
    return {"type": "Polygon", "coordinates": coords}


BNG = "urn:ogc:def:crs:EPSG::27700"


# ------------------------------------------------------------------------------------ real data
def test_dacorum_wards_detected_and_reprojected(shared_data: Path) -> None:
    path = shared_data / ONS / "dacorum" / "dacorum_wards.geojson"
    layer, report = read_layer(path)
    assert (report.code_column, report.name_column) == ("WD13CD", "WD13NM")
    assert report.parent_column is None  # WD13CDO is the old ward code, not a parent
    assert report.source_crs == "EPSG:4326"
    assert "British National Grid" in report.transformation
    assert list(layer.columns) == [*LAYER_COLUMNS, "geometry"]
    assert layer.crs == "EPSG:27700"
    assert len(layer) == 25 and layer["code"].str.startswith("E05").all()
    assert set(layer["name"]) == DACORUM_WARDS
    assert layer["parent"].isna().all() and layer["population"].isna().all()
    assert report.repaired == () and report.overlaps == () and report.gaps_m2 == ()
    assert report.area_m2 / 1e6 == pytest.approx(212.5, abs=0.1)
    # each ward's area against an independent geopandas/pyproj reprojection of the raw file
    reference = gpd.read_file(path).to_crs(27700).set_index("WD13CD").area
    ours = layer.set_index("code").area
    np.testing.assert_allclose(ours.loc[reference.index], reference, rtol=1e-5)


def test_dacorum_lsoas_detected(shared_data: Path) -> None:
    layer, report = read_layer(shared_data / ONS / "dacorum" / "dacorum_lsoa.geojson")
    assert (report.code_column, report.name_column, report.features) == ("LSOA11CD", "LSOA11NM", 94)
    assert layer["name"].str.startswith("Dacorum ").all()
    assert report.area_m2 / 1e6 == pytest.approx(212.4, abs=0.1)


def test_output_areas_pick_unique_code_and_repair_the_invalid_one(shared_data: Path) -> None:
    path = shared_data / ONS / "dacorum" / "dacorum_oa.geojson"
    layer, report = read_layer(path)  # OA11CD and LAD11CD both match; only OA11CD is unique
    assert report.code_column == "OA11CD" and report.name_column == "OA11CD"
    assert report.parent_column == "LAD11CD" and set(layer["parent"]) == {"E07000096"}
    assert report.repaired == ("E00118964",)  # the one self-intersecting OA (SOURCE.md)
    assert shapely.is_valid(layer.geometry.to_numpy()).all()
    assert set(layer.geom_type) <= {"Polygon", "MultiPolygon"}
    raw = gpd.read_file(path).to_crs(27700).set_index("OA11CD").geometry
    repaired = layer.set_index("code").geometry["E00118964"]
    assert repaired.area == pytest.approx(shapely.make_valid(raw["E00118964"]).area, rel=1e-6)


def test_shapefile_with_empty_prj_refused_unless_crs_given(shared_data: Path) -> None:
    path = shared_data / "chicago-crime-open-cp-sample" / "SouthSide.shp"
    with pytest.raises(InputError, match=r"states no coordinate reference system.*--crs"):
        read_layer(path, code_col="name")
    # Chicago's South Side in Illinois State Plane: a layer outside Great Britain is refused
    with pytest.raises(InputError, match=r"lie outside Great Britain and Northern Ireland"):
        read_layer(path, code_col="name", crs="EPSG:2790")


# ------------------------------------------------------------------------------- hand fixtures
def test_invalid_bowtie_is_repaired_and_reported(tmp_path: Path) -> None:
    bowtie = [[[0, 0], [10, 10], [10, 0], [0, 10], [0, 0]]]  # two triangles meeting at (5, 5)
    path = write_geojson(
        tmp_path / "a.geojson",
        [
            ({"code": "B", "name": "Bow"}, polygon(shifted(bowtie))),
            ({"code": "S"}, polygon(local(20, 0))),
        ],
        crs=BNG,
    )
    layer, report = read_layer(path)
    assert report.repaired == ("B",)
    bow = layer.geometry.iloc[0]
    assert bow.is_valid and bow.geom_type == "MultiPolygon"
    assert bow.area == pytest.approx(50.0)  # two triangles of 25 m² each
    assert report.transformation.startswith("none")
    assert list(layer["name"]) == ["Bow", "S"]  # missing name falls back to the code


def test_no_crs_refused_and_accepted_when_stated(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["A"]}, geometry=[shapely.Polygon(square(530000, 180000)[0])], crs=None
    )
    path = tmp_path / "nocrs.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the point: a file without a CRS
        frame.to_file(path)
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(InputError, match=r"nocrs\.shp: the file states no coordinate reference"):
        read_layer(path)
    path.with_suffix(".prj").write_text("")  # an empty .prj, as shipped by some tools
    with pytest.raises(InputError, match="no coordinate reference system"):
        read_layer(path)
    layer, report = read_layer(path, crs="EPSG:27700")
    assert report.source_crs == "EPSG:27700"
    assert layer.geometry.iloc[0].equals(frame.geometry.iloc[0])


def test_stated_crs_overrides_the_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write_geojson(
        tmp_path / "a.geojson", [({"code": "A"}, polygon(square(-0.5, 51.7, 0.1)))], crs=BNG
    )
    layer, report = read_layer(path, crs="EPSG:4326")
    assert report.source_crs == "EPSG:4326" and "file states" in caplog.text
    x, y = shapely.get_coordinates(layer.geometry.iloc[0])[0]
    assert 500_000 < x < 520_000 and 190_000 < y < 210_000  # lon/lat near Hemel Hempstead


@pytest.mark.parametrize(
    ("crs", "ring"),
    [
        (BNG, shifted([[[0, 0, 100.0], [100, 0, 110.0], [100, 100, 120.0], [0, 0, 100.0]]])[0]),
        ("OGC:CRS84", [[-0.5, 51.7, 100.0], [-0.4, 51.7, 110.0], [-0.4, 51.8, 120.0],
                       [-0.5, 51.7, 100.0]]),
    ],
)  # fmt: skip
def test_z_coordinates_dropped(tmp_path: Path, crs: str, ring: list[list[float]]) -> None:
    path = write_geojson(tmp_path / "z.geojson", [({"code": "A"}, polygon([ring]))], crs=crs)
    layer, _ = read_layer(path)
    assert not shapely.has_z(layer.geometry.to_numpy()).any()


def test_unknown_crs_text_is_an_input_error(tmp_path: Path) -> None:
    path = write_geojson(tmp_path / "a.geojson", [({"code": "A"}, polygon(local(0, 0)))], crs=BNG)
    with pytest.raises(InputError, match="'EPSG:99999999' is not a CRS"):
        read_layer(path, crs="EPSG:99999999")


def test_lonlat_polygon_reprojected_with_pyproj(tmp_path: Path) -> None:
    ring = [[-0.5, 51.7], [-0.4, 51.7], [-0.4, 51.8], [-0.5, 51.8], [-0.5, 51.7]]
    path = write_geojson(
        tmp_path / "ll.geojson", [({"code": "A"}, polygon([ring]))], crs="OGC:CRS84"
    )
    layer, report = read_layer(path)
    assert report.source_crs == "EPSG:4326"
    transformer = pyproj.Transformer.from_crs(4326, 27700, always_xy=True)
    expected = np.column_stack(transformer.transform(*np.array(ring).T))
    np.testing.assert_allclose(shapely.get_coordinates(layer.geometry.iloc[0]), expected, atol=0.01)


def test_mixed_geometry_types_rejected_naming_rows(tmp_path: Path) -> None:
    features = [
        ({"code": "A"}, polygon(local(0, 0))),
        ({"code": "P"}, {"type": "Point", "coordinates": [1, 1]}),
        ({"code": "L"}, {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
    ]
    path = write_geojson(tmp_path / "mixed.geojson", features, crs=BNG)
    with pytest.raises(InputError) as error:
        read_layer(path)
    assert "2 feature(s) are not: feature 2 (P): Point, feature 3 (L): LineString" in str(
        error.value
    )


def test_duplicate_codes_listed_with_rows(tmp_path: Path) -> None:
    features = [({"WD13CD": c}, polygon(local(10 * i, 0))) for i, c in enumerate("ABAB")]
    path = write_geojson(tmp_path / "dup.geojson", features, crs=BNG)
    with pytest.raises(
        InputError, match=r"duplicate codes: 'A' in features 1, 3; 'B' in features 2, 4"
    ):
        read_layer(path)


def test_empty_and_featureless_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.geojson"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.geojson: the file is empty"):
        read_layer(empty)
    none = write_geojson(tmp_path / "none.geojson", [], crs=BNG)
    with pytest.raises(InputError, match="holds no features"):
        read_layer(none)
    with pytest.raises(InputError, match="no such file"):
        read_layer(tmp_path / "missing.geojson")


def test_missing_code_column_lists_columns_and_flag_works(tmp_path: Path) -> None:
    features = [({"ref": "X1", "label": "One"}, polygon(local(0, 0)))]
    path = write_geojson(tmp_path / "a.geojson", features, crs=BNG)
    with pytest.raises(InputError, match="columns found: ref, label; name it with --code-col"):
        read_layer(path)
    with pytest.raises(InputError, match="--name-col 'nope' is not a column"):
        read_layer(path, code_col="ref", name_col="nope")
    layer, _ = read_layer(path, code_col="ref", name_col="label")
    assert (list(layer["code"]), list(layer["name"])) == (["X1"], ["One"])


def test_empty_code_rejected(tmp_path: Path) -> None:
    features = [({"code": "A"}, polygon(local(0, 0))), ({"code": " "}, polygon(local(20, 0)))]
    path = write_geojson(tmp_path / "a.geojson", features, crs=BNG)
    with pytest.raises(InputError, match=r"column 'code' is empty in feature\(s\) 2"):
        read_layer(path)


def test_overlaps_and_gaps_reported(tmp_path: Path) -> None:
    # A and B overlap by a 5 x 10 strip; C touches B along an edge (no overlap).
    # D..G ring a 10 x 10 hole at (100..110, 0..10): a gap, not a hole of any member.
    features = [
        ({"code": "A"}, polygon(local(0, 0))),
        ({"code": "B"}, polygon(local(5, 0))),
        ({"code": "C"}, polygon(local(15, 0))),
        ({"code": "D"}, polygon(shifted([[[90, -10], [120, -10], [120, 0], [90, 0], [90, -10]]]))),
        ({"code": "E"}, polygon(shifted([[[90, 10], [120, 10], [120, 20], [90, 20], [90, 10]]]))),
        ({"code": "F"}, polygon(local(90, 0))),
        ({"code": "G"}, polygon(local(110, 0))),
        # H has its own hole, which is not a gap between areas
        ({"code": "H"}, polygon([*local(200, 0, 30), local(210, 10)[0][::-1]])),
    ]
    path = write_geojson(tmp_path / "ov.geojson", features, crs=BNG)
    _, report = read_layer(path)
    assert report.overlaps == (("A", "B", 50.0),)
    assert report.gaps_m2 == (100.0,)


def test_geopackage_and_shapefile_read(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "LSOA11CD": ["E1", "E2"],
            "LSOA11NM": ["One", "Two"],
            "Parent": ["M1", "M2"],
            "population": [1500, 1600],
        },
        geometry=[shapely.Polygon(local(0, 0)[0]), shapely.Polygon(local(10, 0)[0])],
        crs=27700,
    )
    for name in ("a.gpkg", "a.shp"):
        frame.to_file(tmp_path / name)
        layer, report = read_layer(tmp_path / name)
        assert report.code_column == "LSOA11CD" and list(layer["name"]) == ["One", "Two"]
        assert list(layer["population"]) == [1500.0, 1600.0]
        assert report.parent_column == "Parent" and list(layer["parent"]) == ["M1", "M2"]
        assert layer["households"].isna().all()
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as archive:  # a downloaded, zipped Shapefile
        for part in tmp_path.glob("a.*"):
            if part.suffix in {".shp", ".shx", ".dbf", ".prj", ".cpg"}:
                archive.write(part, part.name)
    assert read_layer(tmp_path / "a.zip")[1].features == 2
