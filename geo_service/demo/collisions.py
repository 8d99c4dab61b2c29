"""Road traffic collisions of the demo: on the named roads, with planted repeat locations.

A collision keeps the beat and severity the allocation gave it. ``per_year`` collisions of each of
the last three years in a site's beat are put within ``radius_m`` of the site (a junction of two
named roads, or the middle of one road's stretch through the beat); of the rest, about half lie
on a named road through the beat and half on unclassified roads anywhere in it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo_service.demo.calibration import Calibration, CollisionSite
from geo_service.demo.geography import Geography
from geo_service.schema import ROAD_TRAFFIC_COLLISION

_MARGIN_M = 20.0
_SPEED_MPH = {"M1": 70, "A5": 60, "A41": 70, "A4146": 40, "A4147": 40}
#: STATS19 junction_detail codes used: 0 not at junction, 1 roundabout, 3 T/staggered, 5 slip road.
_JUNCTION = {("M1", "A5"): 5, ("A4146", "A4147"): 1, ("A41", "A4146"): 1}
COLLISION_COLUMNS = (
    "road_1",
    "road_1_class",
    "road_1_number",
    "road_2",
    "road_2_class",
    "road_2_number",
    "junction_detail",
    "speed_limit",
    "casualties",
    "urban_rural",
    "site",
)


def site_points(calibration: Calibration, geography: Geography) -> dict[str, tuple[float, float]]:
    """Location (EPSG:27700 m) of every planted collision site, by site name."""
    return {s.name: _site_point(s, geography) for s in calibration.collision_sites}


def _site_point(site: CollisionSite, geography: Geography) -> tuple[float, float]:
    beat = _inner_beat(geography, site.beat)
    lines = [_road(geography, ref) for ref in site.roads]
    if len(lines) == 2:
        crossing = shapely.intersection(shapely.intersection(*lines), beat)
        points = shapely.get_coordinates(crossing)
    else:
        stretch = shapely.get_parts(shapely.intersection(lines[0], beat))
        longest = stretch[np.argmax(shapely.length(stretch))] if len(stretch) else None
        points = (
            shapely.get_coordinates(
                shapely.line_interpolate_point(longest, site.at, normalized=True)
            )
            if longest is not None
            else np.empty((0, 2))
        )
    if len(points) == 0:
        raise ValueError(
            f"collision site {site.name!r}: roads {site.roads} do not meet in {site.beat}"
        )
    return float(np.round(points[0, 0])), float(np.round(points[0, 1]))


def _road(geography: Geography, ref: str) -> shapely.Geometry:
    return geography.roads.geometry[geography.roads["ref"] == ref].iloc[0]


def _inner_beat(geography: Geography, code: str) -> shapely.Geometry:
    polygon = geography.beats.geometry[geography.beats["code"] == code].iloc[0]
    return shapely.buffer(polygon, -_MARGIN_M)


def add_collision_details(
    frame: pd.DataFrame, calibration: Calibration, geography: Geography, rng: np.random.Generator
) -> pd.DataFrame:
    """``frame`` with collisions moved onto roads and :data:`COLLISION_COLUMNS` filled."""
    out = frame.copy()
    rows = np.flatnonzero((out["category"] == ROAD_TRAFFIC_COLLISION).to_numpy())
    beats = out["beat"].to_numpy()[rows]
    years = out["year"].to_numpy()[rows]
    severity = out["subcategory"].to_numpy()[rows]
    x, y = out["x"].to_numpy()[rows], out["y"].to_numpy()[rows]
    rural = {b.code: b.kind == "rural" for b in calibration.beats}
    pieces = _road_pieces(geography)
    records = [
        _unsited(
            str(beats[i]), str(severity[i]), (x[i], y[i]), pieces[beats[i]], rural[beats[i]], rng
        )
        for i in range(len(rows))
    ]
    _plant_sites(records, beats, years, calibration, geography, rng)
    details = pd.DataFrame.from_records(records)
    for column in COLLISION_COLUMNS:
        values = np.full(len(out), None, dtype=object)
        values[rows] = details[column].to_numpy(dtype=object)
        out[column] = values
    for column in ("x", "y"):
        values = out[column].to_numpy(dtype=float, copy=True)
        values[rows] = details[column].to_numpy(dtype=float)
        out[column] = values
    return out


def _road_pieces(geography: Geography) -> dict[str, list[tuple[str, shapely.Geometry]]]:
    """Per beat, the named roads' stretches (longer than 50 m) inside it, margin applied."""
    pieces: dict[str, list[tuple[str, shapely.Geometry]]] = {}
    for code in geography.beats["code"]:
        inner = _inner_beat(geography, str(code))
        stretches = [
            (str(ref), shapely.intersection(geom, inner))
            for ref, geom in zip(geography.roads["ref"], geography.roads.geometry, strict=True)
        ]
        pieces[str(code)] = [(r, g) for r, g in stretches if not g.is_empty and g.length > 50]
    return pieces


def _unsited(
    beat: str,
    severity: str,
    xy: tuple[float, float],
    roads: list[tuple[str, shapely.Geometry]],
    rural: bool,
    rng: np.random.Generator,
) -> dict[str, object]:
    record: dict[str, object] = {"x": xy[0], "y": xy[1]}
    if roads and rng.random() < 0.5:
        ref, line = roads[int(rng.integers(len(roads)))]
        point = shapely.line_interpolate_point(line, rng.uniform(0.0, 1.0), normalized=True)
        record.update(x=round(point.x), y=round(point.y), **_road_fields(ref, None, rural))
    else:
        record.update(_road_fields("Unclassified", None, rural))
        record["junction_detail"] = int(rng.choice([0, 0, 3, 3, 6]))
        if record["junction_detail"]:
            record.update(road_2="Unclassified", road_2_class=6, road_2_number=0)
    record["casualties"] = _casualties(severity, rng)
    record["site"] = ""
    return record


def _road_fields(ref: str, second: str | None, rural: bool) -> dict[str, object]:
    classes = {"M": 1, "A": 3}
    first_class = classes.get(ref[0], 6) if ref != "Unclassified" else 6
    number = int(ref[1:]) if first_class != 6 else 0
    speed = _SPEED_MPH.get(ref, 60 if rural else 30)
    fields: dict[str, object] = {
        "road_1": ref,
        "road_1_class": first_class,
        "road_1_number": number,
        "road_2": "",
        "road_2_class": -1,
        "road_2_number": -1,
        "junction_detail": 0,
        "speed_limit": speed,
        "urban_rural": 2 if rural else 1,
    }
    if second is not None:
        fields.update(_second(ref, second))
    return fields


def _second(first: str, second: str) -> dict[str, object]:
    if second == "Unclassified":
        return {
            "road_2": "Unclassified",
            "road_2_class": 6,
            "road_2_number": 0,
            "junction_detail": 3,
        }
    return {
        "road_2": second,
        "road_2_class": 1 if second.startswith("M") else 3,
        "road_2_number": int(second[1:]),
        "junction_detail": _JUNCTION.get((first, second), 3),
    }


def _casualties(severity: str, rng: np.random.Generator) -> int:
    choices = {
        "Slight": [1, 1, 1, 1, 1, 1, 2, 2, 3],
        "Serious": [1, 1, 1, 2, 2, 3],
        "Fatal": [1, 1, 2],
    }
    return int(rng.choice(choices[severity]))


def _plant_sites(
    records: list[dict[str, object]],
    beats: np.ndarray,
    years: np.ndarray,
    calibration: Calibration,
    geography: Geography,
    rng: np.random.Generator,
) -> None:
    """Move ``per_year`` collisions of each recent year in a site's beat onto the site."""
    rural = {b.code: b.kind == "rural" for b in calibration.beats}
    taken = np.zeros(len(records), dtype=bool)
    recent = range(calibration.current_year - 2, calibration.current_year + 1)
    points = site_points(calibration, geography)
    for site in calibration.collision_sites:
        sx, sy = points[site.name]
        second = site.roads[1] if len(site.roads) > 1 else "Unclassified"
        for year in recent:
            pool = np.flatnonzero(~taken & (beats == site.beat) & (years == year))[: site.per_year]
            for r in pool.tolist():
                taken[r] = True
                angle, dist = rng.uniform(0, 2 * np.pi), site.radius_m * np.sqrt(rng.uniform())
                records[r].update(_road_fields(site.roads[0], second, rural[site.beat]))
                records[r].update(
                    x=round(sx + dist * np.cos(angle)),
                    y=round(sy + dist * np.sin(angle)),
                    site=site.name,
                )
