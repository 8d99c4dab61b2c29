"""The synthetic borough: assessment beat codes and names, a gap-free tiling, named roads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from geo_service.boundaries import find_gaps, find_overlaps, read_layer
from geo_service.demo.calibration import load_calibration
from geo_service.demo.collisions import site_points
from geo_service.demo.geography import Geography, build_geography
from geo_service.demo.writers import write_boundaries

COMMITTED = Path(__file__).resolve().parents[2] / "boundaries"
#: Beats the assessment names, with its codes and names.
ASSESSMENT_BEATS = {
    "D1A": "Hemel Hempstead Central",
    "D1C": "Adeyfield East",
    "D1E": "Leverstock Green",
    "D1G": "Highfield and St Pauls",
    "D1H": "Grovehill",
    "D1K": "Gadebridge",
    "D1L": "Warners End",
    "D1M": "Chaulden and Shrubhill",
    "D1Q": "Bennetts End",
    "D1S": "Watling",
    "D1T": "Woodhall",
    "D2A": "Berkhamsted Castle",
    "D2B": "Berkhamsted East",
    "D2C": "Berkhamsted West",
    "D2E": "Ashridge",
    "D3B": "Tring Central",
    "D3D": "Aldbury and Wigginton",
}


@pytest.fixture(scope="module")
def geography() -> Geography:
    return build_geography()


def test_committed_boundaries_are_the_generated_ones(geography: Geography, tmp_path: Path) -> None:
    for path in write_boundaries(geography, tmp_path):
        assert path.read_bytes() == (COMMITTED / path.name).read_bytes(), path.name


def test_files_say_they_are_synthetic() -> None:
    for name in ("demo_beats", "demo_sectors", "demo_roads"):
        document = json.loads((COMMITTED / f"{name}.geojson").read_text("utf-8"))
        assert document["synthetic"] is True
        assert "SYNTHETIC" in document["description"]
        assert "Not real streets" in document["description"]
    assert "synthetic" in (COMMITTED / "README.md").read_text("utf-8")


def test_beats_carry_the_assessment_codes_and_names(geography: Geography) -> None:
    beats = dict(zip(geography.beats["code"], geography.beats["name"], strict=True))
    assert {code: beats[code] for code in ASSESSMENT_BEATS} == ASSESSMENT_BEATS
    assert len(beats) == 25
    parents = dict(zip(geography.beats["code"], geography.beats["parent"], strict=True))
    assert all(parents[code] == code[:2] for code in beats)


def test_beats_tile_the_borough(geography: Geography) -> None:
    beats = geography.beats
    assert shapely.is_valid(beats.geometry.to_numpy()).all()
    assert set(beats.geom_type) == {"Polygon"}  # each beat in one piece
    assert find_overlaps(beats) == () and find_gaps(beats) == ()
    union = shapely.union_all(beats.geometry.to_numpy())
    assert union.geom_type == "Polygon" and len(union.interiors) == 0
    assert abs(union.area - beats.area.sum()) < 1.0
    minx, miny, maxx, maxy = union.bounds
    assert minx >= 489_000 and maxx <= 513_000 and miny >= 199_000 and maxy <= 217_000


def test_beats_are_irregular_small_in_towns_large_in_the_country(geography: Geography) -> None:
    area_km2 = dict(zip(geography.beats["code"], geography.beats.area / 1e6, strict=True))
    assert area_km2["D1A"] < 5 and area_km2["D2A"] < 5 and area_km2["D3B"] < 5
    assert area_km2["D2E"] > 20 and area_km2["D3D"] > 20
    vertices = shapely.get_num_coordinates(geography.beats.geometry.to_numpy())
    assert (vertices > 12).all()  # not a grid of rectangles


def test_sectors_are_dissolved_beats(geography: Geography) -> None:
    assert geography.sectors["code"].tolist() == ["D1", "D2", "D3"]
    assert geography.sectors["name"].tolist() == ["Hemel Hempstead", "Berkhamsted", "Tring"]
    for code, geometry in zip(geography.sectors["code"], geography.sectors.geometry, strict=True):
        members = geography.beats.geometry[geography.beats["parent"] == code].to_numpy()
        assert shapely.symmetric_difference(geometry, shapely.union_all(members)).area < 1.0


def test_roads_run_through_the_beats_the_assessment_names(geography: Geography) -> None:
    roads = dict(zip(geography.roads["ref"], geography.roads.geometry, strict=True))
    assert set(roads) == {"M1", "A5", "A41", "A4146", "A4147"}
    beats = dict(zip(geography.beats["code"], geography.beats.geometry, strict=True))
    for ref, beat in (("M1", "D1S"), ("A5", "D1S"), ("A4146", "D1A"), ("A4147", "D1A")):
        assert shapely.intersection(roads[ref], beats[beat]).length > 200, (ref, beat)


def test_boundary_files_load_as_standard_layers() -> None:
    layer, _report = read_layer(COMMITTED / "demo_beats.geojson")
    assert len(layer) == 25 and layer.crs.to_epsg() == 27700
    assert set(ASSESSMENT_BEATS) <= set(layer["code"])


def test_planted_centres_lie_in_their_beats(geography: Geography) -> None:
    calibration = load_calibration()
    beats = dict(zip(geography.beats["code"], geography.beats.geometry, strict=True))
    for spot in calibration.hotspots:
        assert shapely.contains_xy(beats[spot.beat], spot.x, spot.y), spot.name
    for name, (x, y) in site_points(calibration, geography).items():
        beat = next(s.beat for s in calibration.collision_sites if s.name == name)
        assert shapely.contains_xy(beats[beat], x, y), name


def test_map_points_lie_in_their_beats(geography: Geography) -> None:
    points = geography.map_points
    beats = dict(zip(geography.beats["code"], geography.beats.geometry, strict=True))
    inside = np.zeros(len(points), dtype=bool)
    for code, polygon in beats.items():
        rows = (points["beat"] == code).to_numpy()
        inside[rows] = shapely.contains_xy(polygon, points["x"][rows], points["y"][rows])
    assert inside.all() and len(points) > 2000
