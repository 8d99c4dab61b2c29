"""``geo-service reference add``: a roads layer stored beside the store, refused files said why."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import shapely

from geo_service._paths import project_folder
from geo_service.cli import main
from geo_service.reference import read_reference


def test_demo_roads_load_as_a_reference_layer(tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    roads = project_folder("boundaries") / "demo_roads.geojson"
    assert main(["--store", str(store), "reference", "add", "roads", str(roads)]) == 0
    assert "reference roads: 5 features (5 named)" in capsys.readouterr().out
    layer = read_reference(store, "roads")
    assert layer is not None and layer.crs.to_epsg() == 27700
    assert "A4146 Leighton Buzzard Road" in set(layer["name"])
    # Outside the versioned incident data: no store version was made.
    assert not (store / "CURRENT").exists()


def test_points_are_refused_as_roads(tmp_path: Path, capsys) -> None:
    points = gpd.GeoDataFrame(
        {"name": ["Town Hall"]}, geometry=[shapely.Point(505000, 206000)], crs="EPSG:27700"
    )
    path = tmp_path / "places.geojson"
    points.to_file(path)
    code = main(["--store", str(tmp_path / "store"), "reference", "add", "roads", str(path)])
    assert code == 2
    assert "no line features; a roads layer holds road lines" in capsys.readouterr().err
    assert main(["--store", str(tmp_path / "store"), "reference", "add", "places", str(path)]) == 0
