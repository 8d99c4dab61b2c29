"""Tests for geo_service.boundaries.crs_check: coordinates that cannot be in their CRS are refused.

Each layer is written here with a stated CRS that does or does not fit its coordinates: Hemel
Hempstead in British National Grid, WGS84 and Web Mercator; Belfast in Irish Grid and ITM; Toronto
in WGS84 and UTM 17N. Expected places come from pyproj directly.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from geo_service.boundaries import read_layer
from geo_service.boundaries.crs_check import likely_crs
from geo_service.errors import InputError

HEMEL_BNG = (505_000.0, 207_000.0)  # Hemel Hempstead town centre, EPSG:27700
BELFAST_IG = (333_000.0, 374_000.0)  # Belfast City Hall, Irish Grid EPSG:29903
TORONTO_LONLAT = (-79.38, 43.65)


def boxes_at(x: float, y: float, size: float, crs: str | int, n: int = 2) -> gpd.GeoDataFrame:
    """``n`` squares of side ``size`` (in the CRS's units) side by side from (x, y)."""
    return gpd.GeoDataFrame(
        {"code": [f"A{i}" for i in range(n)]},
        geometry=[shapely.box(x + size * i, y, x + size * (i + 1), y + size) for i in range(n)],
        crs=crs,
    )


def write(frame: gpd.GeoDataFrame, path: Path) -> Path:
    frame.to_file(path)
    return path


def in_crs(xy: tuple[float, float], source: str, target: str) -> tuple[float, float]:
    x, y = pyproj.Transformer.from_crs(source, target, always_xy=True).transform(*xy)
    return float(x), float(y)


# ---------------------------------------------------------------------------------- refused
def test_degrees_given_as_bng_metres_refused_as_specks(tmp_path: Path) -> None:
    lon, lat = in_crs(HEMEL_BNG, "EPSG:27700", "EPSG:4326")
    path = write(boxes_at(lon, lat, 0.01, 4326), tmp_path / "wards.gpkg")
    with pytest.raises(InputError) as error:
        read_layer(path, crs="EPSG:27700")
    message = str(error.value)
    assert "read as EPSG:27700 (given with --crs)" in message
    assert "specks of a few square metres" in message
    assert message.endswith("coordinates look like longitude/latitude degrees (WGS84); "
                            "use --crs EPSG:4326")  # fmt: skip
    assert read_layer(path)[1].source_crs == "EPSG:4326"  # as the file states: fine


def test_bng_metres_in_a_file_claiming_web_mercator_refused(tmp_path: Path) -> None:
    path = write(boxes_at(*HEMEL_BNG, 1000, 3857), tmp_path / "wards.gpkg")
    with pytest.raises(InputError) as error:
        read_layer(path)
    message = str(error.value)
    assert "x 505000..507000, y 207000..208000 read as EPSG:3857 (stated by the file)" in message
    assert "2 of 2 feature(s) lie outside Great Britain and Northern Ireland" in message
    assert message.endswith("coordinates look like British National Grid metres; add --crs "
                            "EPSG:27700")  # fmt: skip
    layer, _ = read_layer(path, crs="EPSG:27700")
    assert layer.geometry.area.sum() == pytest.approx(2e6)


def test_bng_metres_stated_as_irish_grid_refused(tmp_path: Path) -> None:
    """In Irish Grid, Hemel's numbers land in Wales: inside GB, outside Irish Grid's area of use."""
    lon, lat = in_crs(HEMEL_BNG, "EPSG:29903", "EPSG:4326")
    assert -4.5 < lon < -3 and 52 < lat < 54  # Wales, as the docstring says
    path = write(boxes_at(*HEMEL_BNG, 1000, 29903), tmp_path / "wards.gpkg")
    with pytest.raises(InputError, match=r"outside the area of use of EPSG:29903 \(Ireland"):
        read_layer(path)


@pytest.mark.parametrize(
    ("crs", "origin"),
    [
        ("EPSG:4326", TORONTO_LONLAT),
        ("EPSG:26917", in_crs(TORONTO_LONLAT, "EPSG:4326", "EPSG:26917")),
    ],
)  # fmt: skip
def test_a_layer_in_toronto_refused(tmp_path: Path, crs: str, origin: tuple[float, float]) -> None:
    size = 0.01 if crs == "EPSG:4326" else 1000.0
    path = write(boxes_at(*origin, size, crs), tmp_path / "toronto.gpkg")
    with pytest.raises(InputError) as error:
        read_layer(path)
    message = str(error.value)
    assert "2 of 2 feature(s) lie outside Great Britain and Northern Ireland" in message
    assert f"if the coordinates are not {crs}, give their CRS with --crs" in message


def test_one_feature_outside_is_named(tmp_path: Path) -> None:
    lon, lat = in_crs(HEMEL_BNG, "EPSG:27700", "EPSG:4326")
    frame = gpd.GeoDataFrame(
        {"code": ["HEMEL", "TORONTO"]},
        geometry=[shapely.box(lon, lat, lon + 0.01, lat + 0.01),
                  shapely.box(*TORONTO_LONLAT, TORONTO_LONLAT[0] + 0.01, TORONTO_LONLAT[1] + 0.01)],
        crs=4326,
    )  # fmt: skip
    with pytest.raises(InputError, match=r"1 of 2 feature\(s\) .*: feature 2 \(TORONTO\)"):
        read_layer(write(frame, tmp_path / "mixed.gpkg"))


def test_kilometres_as_metres_refused_as_specks(tmp_path: Path) -> None:
    """BNG in km: 2 km wards become 4 m² near the grid's origin (inside the GB box)."""
    path = write(boxes_at(HEMEL_BNG[0] / 1000, HEMEL_BNG[1] / 1000, 2, 27700), tmp_path / "km.gpkg")
    with pytest.raises(InputError, match=r"the areas are specks \(median 4 m²"):
        read_layer(path)


def test_areas_larger_than_the_uk_refused(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"code": ["GB"]}, geometry=[shapely.box(0, 0, 650_000, 650_000)], crs=27700
    )  # 422,500 km² inside the BNG box
    with pytest.raises(InputError, match=r"add up to 422,500 km², more than the whole UK"):
        read_layer(write(frame, tmp_path / "huge.gpkg"))


def test_bng_metres_given_as_degrees_with_crs_refused(tmp_path: Path) -> None:
    path = write(boxes_at(*HEMEL_BNG, 1000, 27700), tmp_path / "wards.gpkg")
    with pytest.raises(InputError) as error:
        read_layer(path, crs="EPSG:4326")
    assert "cannot be longitude/latitude degrees" in str(error.value)
    assert str(error.value).endswith("use --crs EPSG:27700")


def test_no_crs_with_irish_grid_numbers_suggests_both_grids(tmp_path: Path) -> None:
    path = tmp_path / "nocrs.shp"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the point: a Shapefile without a .prj
        boxes_at(*BELFAST_IG, 1000, None).to_file(path)  # type: ignore[arg-type]
    with pytest.raises(InputError) as error:
        read_layer(path)
    assert str(error.value).endswith(
        "coordinates look like British National Grid metres (--crs EPSG:27700) or Irish Grid "
        "metres (--crs EPSG:29903); add the right one"
    )


# --------------------------------------------------------------------------------- accepted
@pytest.mark.parametrize("crs", ["EPSG:29903", "EPSG:2157"])
def test_irish_grid_and_itm_accepted(tmp_path: Path, crs: str) -> None:
    origin = in_crs(BELFAST_IG, "EPSG:29903", crs)
    frame = boxes_at(*origin, 1000, crs)
    layer, report = read_layer(write(frame, tmp_path / "ni.gpkg"))
    assert report.source_crs == crs
    expected = frame.to_crs(27700).area.to_numpy()  # geopandas/pyproj, independently
    np.testing.assert_allclose(layer.geometry.area.to_numpy(), expected, rtol=1e-3)
    x, y = shapely.get_coordinates(layer.geometry.iloc[0])[0]
    lon, lat = in_crs((x, y), "EPSG:27700", "EPSG:4326")
    assert -6.0 < lon < -5.9 and 54.55 < lat < 54.65  # Belfast


def test_likely_crs_of_known_places() -> None:
    def bounds(x: float, y: float, size: float) -> np.ndarray:
        return np.array([[x, y, x + size, y + size]])

    lon, lat = in_crs(HEMEL_BNG, "EPSG:27700", "EPSG:4326")
    mercator = in_crs(HEMEL_BNG, "EPSG:27700", "EPSG:3857")
    assert [c for c, _ in likely_crs(bounds(*HEMEL_BNG, 1000))] == ["EPSG:27700"]
    assert [c for c, _ in likely_crs(bounds(lon, lat, 0.01))] == ["EPSG:4326"]
    assert [c for c, _ in likely_crs(bounds(*mercator, 1000))] == ["EPSG:3857"]
    assert [c for c, _ in likely_crs(bounds(*BELFAST_IG, 1000))] == ["EPSG:27700", "EPSG:29903"]
    assert likely_crs(bounds(*TORONTO_LONLAT, 0.01)) == []
