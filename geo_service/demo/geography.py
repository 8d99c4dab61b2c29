"""The synthetic demo borough: beats, sectors, main roads and anonymous map points.

Everything here is SYNTHETIC. The beat codes and names are those of the Dacorum 2014/15 strategic
assessment (plus a few the assessment does not name), placed around the real borough's extent in
British National Grid metres, but the shapes are a seeded tessellation, not real boundaries, and the
roads are named lines, not real alignments. The same seed always gives the same geometry, so the
committed GeoJSON in ``boundaries/`` can be regenerated (``python -m geo_service.demo.geography``).

Beats are built by scattering many small Voronoi cells (dense in the three towns), clipping them
to an irregular borough outline and giving each cell to the beat whose anchor is nearest by an
additively weighted distance (rural beats get large weights, so they take the countryside); beats
are the union of their cells, so they tile the borough without gaps or overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from geo_service.demo.calibration import BeatSpec, Calibration, load_calibration
from geo_service.schema import CRS

#: Seed of the committed geography (``boundaries/demo_*.geojson``).
GEOGRAPHY_SEED = 2014
SYNTHETIC_NOTE = (
    "SYNTHETIC demo geography: beat codes and names follow the Dacorum 2014/15 strategic "
    "assessment, but every shape, road line and street name is invented. Not real streets."
)
_CENTRE_M = (501_000.0, 208_000.0)
_RADII_M = (11_400.0, 8_400.0)
_BOUNDS_M = (490_000.0, 200_000.0, 512_000.0, 216_000.0)

#: Main roads: (ref, name, STATS19 road class, waypoints in EPSG:27700 metres).
ROADS: tuple[tuple[str, str, int, tuple[tuple[float, float], ...]], ...] = (
    (
        "M1",
        "M1 motorway",
        1,
        (
            (510_300, 199_500),
            (509_600, 205_000),
            (508_900, 210_000),
            (508_300, 213_300),
            (507_400, 216_800),
        ),
    ),
    (
        "A5",
        "A5 Watling Street",
        3,
        ((503_800, 216_900), (506_600, 214_900), (508_300, 213_300), (511_800, 211_200)),
    ),
    (
        "A41",
        "A41",
        3,
        (
            (489_500, 214_200),
            (492_200, 212_100),
            (494_800, 210_300),
            (497_800, 208_600),
            (500_200, 206_800),
            (502_800, 205_400),
            (505_400, 204_700),
            (507_200, 202_600),
            (508_600, 199_500),
        ),
    ),
    (
        "A4146",
        "A4146 Leighton Buzzard Road",
        3,
        (
            (505_400, 204_700),
            (505_350, 206_000),
            (505_250, 207_100),
            (504_900, 208_400),
            (504_000, 210_800),
            (502_400, 213_600),
            (500_900, 216_800),
        ),
    ),
    (
        "A4147",
        "A4147",
        3,
        (
            (505_250, 207_100),
            (506_200, 208_300),
            (507_600, 209_700),
            (508_900, 210_000),
            (511_800, 211_600),
        ),
    ),
)


@dataclass(frozen=True)
class Geography:
    """The demo borough's layers, all in EPSG:27700."""

    beats: gpd.GeoDataFrame  # code, name, parent, geometry
    sectors: gpd.GeoDataFrame  # code, name, parent, geometry
    roads: gpd.GeoDataFrame  # ref, name, road_class, geometry (lines)
    map_points: pd.DataFrame  # point_id, beat, x, y, street


def build_geography(
    *, seed: int = GEOGRAPHY_SEED, calibration: Calibration | None = None
) -> Geography:
    """Generate the synthetic borough for ``seed`` (deterministic)."""
    calibration = calibration or load_calibration()
    rng = np.random.default_rng(seed)
    outline = _outline(rng)
    beats = _beats(outline, calibration.beats, rng)
    sectors = _sectors(beats, calibration)
    roads = _roads(outline, rng)
    points = _map_points(beats, calibration.beats, rng)
    return Geography(beats=beats, sectors=sectors, roads=roads, map_points=points)


def _outline(rng: np.random.Generator) -> shapely.Polygon:
    """An irregular, smooth borough outline inside the real borough's bounding box."""
    theta = np.linspace(0.0, 2 * np.pi, 181)[:-1]
    radius = np.ones_like(theta)
    for k in range(2, 15):
        amplitude = rng.uniform(0.04, 0.09) / k**0.8
        radius += amplitude * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    x = _CENTRE_M[0] + _RADII_M[0] * radius * np.cos(theta)
    y = _CENTRE_M[1] + _RADII_M[1] * radius * np.sin(theta)
    shape = shapely.Polygon(np.column_stack([x, y])).intersection(shapely.box(*_BOUNDS_M))
    return shapely.set_precision(shape, 1.0)


def _cell_seeds(
    outline: shapely.Polygon, beats: tuple[BeatSpec, ...], rng: np.random.Generator
) -> np.ndarray:
    """Seeds of the small cells: uniform over the borough plus dense clouds in the towns."""
    minx, miny, maxx, maxy = outline.bounds
    uniform = rng.uniform((minx, miny), (maxx, maxy), size=(900, 2))
    clouds = [
        rng.normal((b.x, b.y), b.radius_m * 0.8, size=(40 if b.kind != "rural" else 10, 2))
        for b in beats
    ]
    seeds = np.vstack([uniform, *clouds])
    return seeds[shapely.contains_xy(outline, seeds[:, 0], seeds[:, 1])]


def _beats(
    outline: shapely.Polygon, specs: tuple[BeatSpec, ...], rng: np.random.Generator
) -> gpd.GeoDataFrame:
    seeds = _cell_seeds(outline, specs, rng)
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=outline.buffer(5000))
    polygons = np.array([shapely.intersection(c, outline) for c in shapely.get_parts(cells)])
    centroids = shapely.get_coordinates(shapely.point_on_surface(polygons))
    anchors = np.array([(b.x, b.y) for b in specs])
    weights = np.array([b.weight_m for b in specs])
    distance = np.hypot(
        centroids[:, None, 0] - anchors[None, :, 0], centroids[:, None, 1] - anchors[None, :, 1]
    )
    owner = np.argmin(distance - weights[None, :], axis=1)
    owner = _merge_detached(polygons, owner)
    geometry = [
        shapely.set_precision(shapely.coverage_union_all(polygons[owner == i]), 1.0)
        for i in range(len(specs))
    ]
    return gpd.GeoDataFrame(
        {
            "code": pd.array([b.code for b in specs], dtype="str"),
            "name": pd.array([b.name for b in specs], dtype="str"),
            "parent": pd.array([b.sector for b in specs], dtype="str"),
        },
        geometry=geometry,
        crs=CRS,
    )


def _merge_detached(polygons: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Give cells cut off from their beat's main part to the neighbour they share most edge with."""
    owner = owner.copy()
    for _ in range(5):
        changed = False
        for beat in np.unique(owner):
            members = np.flatnonzero(owner == beat)
            union = shapely.coverage_union_all(polygons[members])
            parts = shapely.get_parts(union)
            if len(parts) == 1:
                continue
            main = parts[np.argmax(shapely.area(parts))]
            for cell in members:
                if shapely.intersects(main, shapely.point_on_surface(polygons[cell])):
                    continue
                owner[cell] = _best_neighbour(polygons, owner, int(cell), int(beat))
                changed = True
        if not changed:
            break
    return owner


def _best_neighbour(polygons: np.ndarray, owner: np.ndarray, cell: int, beat: int) -> int:
    shared = shapely.length(shapely.intersection(polygons[cell].boundary, polygons))
    shared[owner == beat] = 0.0
    return int(owner[int(np.argmax(shared))])


def _sectors(beats: gpd.GeoDataFrame, calibration: Calibration) -> gpd.GeoDataFrame:
    codes = sorted(set(beats["parent"]))
    geometry = [
        shapely.set_precision(
            shapely.coverage_union_all(beats.geometry[beats["parent"] == c].to_numpy()), 1.0
        )
        for c in codes
    ]
    return gpd.GeoDataFrame(
        {
            "code": pd.array(codes, dtype="str"),
            "name": pd.array([calibration.sectors[c] for c in codes], dtype="str"),
            "parent": pd.array([None] * len(codes), dtype="str"),
        },
        geometry=geometry,
        crs=CRS,
    )


def _roads(outline: shapely.Polygon, rng: np.random.Generator) -> gpd.GeoDataFrame:
    """The named main roads, with a little seeded wiggle between their fixed waypoints."""
    lines = []
    for _ref, _name, _cls, waypoints in ROADS:
        line = shapely.segmentize(shapely.LineString(waypoints), 400.0)
        coords = shapely.get_coordinates(line)
        fixed = np.isin(coords, np.array(waypoints)).all(axis=1)
        coords[~fixed] += rng.normal(0.0, 60.0, size=(int((~fixed).sum()), 2))
        clipped = shapely.intersection(shapely.LineString(np.round(coords)), outline)
        lines.append(
            shapely.line_merge(clipped) if clipped.geom_type == "MultiLineString" else clipped
        )
    return gpd.GeoDataFrame(
        {
            "ref": pd.array([r[0] for r in ROADS], dtype="str"),
            "name": pd.array([r[1] for r in ROADS], dtype="str"),
            "road_class": np.array([r[2] for r in ROADS], dtype=np.int64),
        },
        geometry=lines,
        crs=CRS,
    )


_STEMS = (
    "Ash",
    "Beech",
    "Bramble",
    "Chestnut",
    "Cowslip",
    "Elder",
    "Fern",
    "Foxglove",
    "Hawthorn",
    "Hazel",
    "Heron",
    "Holly",
    "Juniper",
    "Kestrel",
    "Larch",
    "Linnet",
    "Maple",
    "Meadow",
    "Oak",
    "Orchard",
    "Plover",
    "Rowan",
    "Sedge",
    "Sorrel",
    "Swift",
    "Teasel",
    "Thistle",
    "Willow",
    "Wren",
    "Yarrow",
    "Alder",
    "Bracken",
    "Clover",
    "Dunnock",
    "Finch",
    "Gorse",
    "Lapwing",
    "Mallow",
)
_SUFFIXES = (
    "Road",
    "Close",
    "Way",
    "Lane",
    "Drive",
    "Avenue",
    "Gardens",
    "Crescent",
    "Walk",
    "Rise",
    "Court",
    "Green",
    "Mead",
    "Row",
)
_PLACES = (
    "Parking Area",
    "Supermarket",
    "Petrol Station",
    "Park/Open Space",
    "Sports/Recreation Area",
    "Shopping Area",
    "Further/Higher Educational Building",
    "Pedestrian Subway",
)


def _map_points(
    beats: gpd.GeoDataFrame, specs: tuple[BeatSpec, ...], rng: np.random.Generator
) -> pd.DataFrame:
    """Anonymous snap points (police.uk style), more of them where beats are denser."""
    frames = []
    for spec, polygon in zip(specs, beats.geometry.to_numpy(), strict=True):
        inner = shapely.buffer(polygon, -25.0)
        count = {"centre": 220, "urban": 140, "rural": 70}[spec.kind]
        xy = sample_in_polygon(inner, count, rng, centre=(spec.x, spec.y), spread_m=spec.radius_m)
        frames.append(
            pd.DataFrame({"beat": spec.code, "x": np.round(xy[:, 0]), "y": np.round(xy[:, 1])})
        )
    points = pd.concat(frames, ignore_index=True)
    stems = rng.choice(len(_STEMS), size=len(points))
    suffixes = rng.choice(len(_SUFFIXES), size=len(points))
    streets = [f"{_STEMS[s]} {_SUFFIXES[t]}" for s, t in zip(stems, suffixes, strict=True)]
    places = rng.random(len(points)) < 0.08
    streets = [
        _PLACES[i % len(_PLACES)] if p else s
        for i, (s, p) in enumerate(zip(streets, places, strict=True))
    ]
    points["street"] = pd.array(streets, dtype="str")
    points.insert(0, "point_id", np.arange(len(points), dtype=np.int64))
    return points


def sample_in_polygon(
    polygon: shapely.Geometry,
    count: int,
    rng: np.random.Generator,
    *,
    centre: tuple[float, float] | None = None,
    spread_m: float | None = None,
) -> np.ndarray:
    """``count`` points inside ``polygon``: Gaussian around ``centre`` if given, else uniform."""
    minx, miny, maxx, maxy = polygon.bounds
    out = np.empty((0, 2))
    while len(out) < count:
        want = max(64, 3 * (count - len(out)))
        if centre is None or spread_m is None:
            xy = rng.uniform((minx, miny), (maxx, maxy), size=(want, 2))
        else:
            xy = rng.normal(centre, spread_m, size=(want, 2))
            xy = np.vstack([xy, rng.uniform((minx, miny), (maxx, maxy), size=(want // 4, 2))])
        out = np.vstack([out, xy[shapely.contains_xy(polygon, xy[:, 0], xy[:, 1])]])
    return out[:count]


def nearest_points(
    points: pd.DataFrame, beat: np.ndarray, x: np.ndarray, y: np.ndarray
) -> np.ndarray:
    """Index into ``points`` of the nearest map point in the same beat, for each (beat, x, y)."""
    result = np.empty(len(x), dtype=np.int64)
    for code, rows in points.groupby("beat", sort=True).indices.items():
        wanted = np.flatnonzero(beat == code)
        if len(wanted) == 0:
            continue
        tree = cKDTree(points[["x", "y"]].to_numpy()[rows])
        _, nearest = tree.query(np.column_stack([x[wanted], y[wanted]]))
        result[wanted] = rows[nearest]
    return result


if __name__ == "__main__":  # pragma: no cover - regenerate the committed boundaries
    import sys

    from geo_service.demo.writers import write_boundaries

    write_boundaries(build_geography(), Path(sys.argv[1] if len(sys.argv) > 1 else "boundaries"))
