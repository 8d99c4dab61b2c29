"""Placing the allocated incidents in time and space.

Each incident already has its family, subcategory, beat and month (:mod:`allocation`). Here it
gets a day (weekly rhythm, fixed days such as Halloween), a time of day (the family's hour profile;
night-time violence only 19:00-06:59, the other violence only 07:00-18:59, so the "Night-time
violence" group is exact) and a point strictly inside its beat (a 20 m margin, so rounding and
re-projection never move it out): near a planted hotspot for the hotspot's share, else around the
beat's anchor with some scatter. Collisions are placed on the named roads, with planted repeat
sites at junctions and on the M1/A5/A4146.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from geo_service.demo.calibration import Calibration, FamilySpec
from geo_service.demo.collisions import add_collision_details
from geo_service.demo.geography import Geography

_MARGIN_M = 20.0
#: Hour-of-day weights (hours 0..23) per profile.
_HOURS = {
    "night": [6, 5, 4, 3, 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 4, 5, 6, 7],
    "day": [0, 0, 0, 0, 0, 0, 0, 2, 3, 4, 4, 5, 5, 5, 5, 6, 6, 6, 0, 0, 0, 0, 0, 0],
    "evening": [3, 2, 1, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 4, 5, 6, 7, 7, 7, 7, 6, 5, 4],
    "daytime": [1, 0, 0, 0, 0, 0, 1, 2, 4, 6, 7, 7, 7, 7, 7, 7, 7, 6, 5, 4, 3, 2, 2, 1],
    "rush": [1, 1, 0, 0, 0, 1, 2, 6, 8, 5, 4, 4, 5, 5, 5, 7, 8, 8, 6, 4, 3, 2, 2, 1],
}
#: Day-of-week weights (Monday .. Sunday) per hour profile.
_WEEKDAYS = {
    "night": [0.7, 0.7, 0.8, 0.9, 1.3, 1.8, 1.5],
    "evening": [0.9, 0.9, 0.95, 1.0, 1.15, 1.2, 1.0],
    "day": [1.0, 1.0, 1.0, 1.0, 1.05, 1.0, 0.9],
    "daytime": [1.05, 1.05, 1.05, 1.05, 1.1, 1.0, 0.7],
    "rush": [1.1, 1.1, 1.1, 1.1, 1.2, 0.8, 0.6],
}


def place_incidents(
    allocation: pd.DataFrame, calibration: Calibration, geography: Geography, *, seed: int
) -> pd.DataFrame:
    """Allocation rows with ``occurred_at``, ``x``, ``y`` (integer metres) and collision details."""
    rng = np.random.default_rng([seed, 1])
    frame = allocation.reset_index(drop=True).copy()
    families = {f.name: f for f in calibration.families}
    frame["occurred_at"] = _timestamps(frame, families, rng)
    x, y = _points(frame, calibration, geography, rng)
    frame["x"], frame["y"] = x, y
    frame = add_collision_details(frame, calibration, geography, rng)
    return frame.sort_values(
        ["occurred_at", "family", "beat", "x", "y"], kind="stable"
    ).reset_index(drop=True)


# ------------------------------------------------------------------------------------------ time
def _timestamps(
    frame: pd.DataFrame, families: dict[str, FamilySpec], rng: np.random.Generator
) -> np.ndarray:
    day = np.zeros(len(frame), dtype=np.int64)
    for (family, month), rows in frame.groupby(["family", "month"], sort=True).indices.items():
        day[rows] = _days(families[family], str(month), len(rows), rng)
    hours_profile = frame["family"].map({n: f.hours for n, f in families.items()}).to_numpy()
    hour = np.zeros(len(frame), dtype=np.int64)
    for profile in sorted(set(hours_profile)):
        rows = np.flatnonzero(hours_profile == profile)
        weights = np.array(_HOURS[profile], dtype=float)
        hour[rows] = rng.choice(24, size=len(rows), p=weights / weights.sum())
    minute = rng.integers(0, 60, size=len(frame))
    start = pd.to_datetime(frame["month"] + "-01").to_numpy().astype("datetime64[m]")
    offset = (day - 1) * 1440 + hour * 60 + minute
    return (start + offset.astype("timedelta64[m]")).astype("datetime64[us]")


def _days(family: FamilySpec, month: str, count: int, rng: np.random.Generator) -> np.ndarray:
    """Day of month of ``count`` incidents: fixed days first, the rest by weekday weights."""
    first = np.datetime64(f"{month}-01", "D")
    length = int(((np.datetime64(month, "M") + 1).astype("datetime64[D]") - first).astype(int))
    day = np.arange(1, length + 1)
    weekday = (first.astype(np.int64) + day - 1 + 3) % 7  # 1970-01-01 was a Thursday
    fixed = {int(k[8:]): v for k, v in family.days.items() if k.startswith(month)}
    pinned = [np.full(n, d, dtype=np.int64) for d, n in sorted(fixed.items())]
    out = np.concatenate(pinned) if pinned else np.zeros(0, dtype=np.int64)
    free = ~np.isin(day, list(fixed))
    weights = np.asarray(_WEEKDAYS[family.hours])[weekday[free]]
    rest = rng.choice(day[free], size=count - len(out), p=weights / weights.sum())
    days = np.concatenate([out, rest])
    return days[rng.permutation(count)]


# ----------------------------------------------------------------------------------------- space
def _points(
    frame: pd.DataFrame, calibration: Calibration, geography: Geography, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    centre_x, centre_y, sigma, uniform = _centres(frame, calibration, rng)
    _villages(frame, calibration, geography, rng, centre_x, centre_y, sigma, uniform)
    x = np.full(len(frame), np.nan)
    y = np.full(len(frame), np.nan)
    beats = frame["beat"].to_numpy()
    for code, polygon in zip(geography.beats["code"], geography.beats.geometry, strict=True):
        inner = shapely.buffer(polygon, -_MARGIN_M)
        shapely.prepare(inner)
        rows = np.flatnonzero(beats == code)
        px, py = _sample(inner, centre_x[rows], centre_y[rows], sigma[rows], uniform[rows], rng)
        x[rows], y[rows] = px, py
    return np.round(x), np.round(y)


def _centres(
    frame: pd.DataFrame, calibration: Calibration, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per incident: the centre and spread it is drawn around, or uniform scatter in its beat."""
    specs = {b.code: b for b in calibration.beats}
    beats = frame["beat"].to_numpy()
    cx = np.array([specs[b].x for b in beats], dtype=float)
    cy = np.array([specs[b].y for b in beats], dtype=float)
    sigma = np.array([specs[b].radius_m for b in beats], dtype=float)
    scatter = np.array([0.5 if specs[b].kind == "rural" else 0.25 for b in beats])
    uniform = rng.random(len(frame)) < scatter
    families = frame["family"].to_numpy()
    years = frame["year"].to_numpy()
    for spot in calibration.hotspots:
        chosen = (
            np.isin(families, spot.families)
            & np.isin(years, spot.years)
            & (beats == spot.beat)
            & (rng.random(len(frame)) < spot.share)
        )
        cx[chosen], cy[chosen], sigma[chosen] = spot.x, spot.y, spot.sigma_m
        uniform[chosen] = False
    return cx, cy, sigma, uniform


def _villages(
    frame: pd.DataFrame,
    calibration: Calibration,
    geography: Geography,
    rng: np.random.Generator,
    *arrays: np.ndarray,
) -> None:
    """Gather rural beats' anchor-centred incidents around three villages instead (in place).

    ``arrays`` are the centre x, centre y, spread and uniform arrays of :func:`_centres`.
    """
    cx, cy, sigma, uniform = arrays
    beats = frame["beat"].to_numpy()
    points = geography.map_points
    for spec in calibration.beats:
        if spec.kind != "rural":
            continue
        rows = np.flatnonzero((beats == spec.code) & ~uniform & (cx == spec.x) & (cy == spec.y))
        candidates = points.loc[points["beat"] == spec.code, ["x", "y"]].to_numpy()
        villages = candidates[rng.choice(len(candidates), size=3, replace=False)]
        picked = villages[rng.choice(3, size=len(rows), p=[0.5, 0.3, 0.2])]
        cx[rows], cy[rows], sigma[rows] = picked[:, 0], picked[:, 1], 250.0


def _sample(
    polygon: shapely.Geometry,
    cx: np.ndarray,
    cy: np.ndarray,
    sigma: np.ndarray,
    uniform: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw each point until it falls inside ``polygon`` (Gaussian, or uniform in its bounds)."""
    minx, miny, maxx, maxy = polygon.bounds
    x = np.full(len(cx), np.nan)
    y = np.full(len(cx), np.nan)
    todo = np.arange(len(cx))
    for attempt in range(200):
        if len(todo) == 0:
            break
        flat = uniform[todo] | (attempt > 40)
        gx = rng.normal(cx[todo], sigma[todo])
        gy = rng.normal(cy[todo], sigma[todo])
        ux = rng.uniform(minx, maxx, size=len(todo))
        uy = rng.uniform(miny, maxy, size=len(todo))
        tx, ty = np.where(flat, ux, gx), np.where(flat, uy, gy)
        inside = shapely.contains_xy(polygon, tx, ty)
        x[todo[inside]], y[todo[inside]] = tx[inside], ty[inside]
        todo = todo[~inside]
    if len(todo):
        raise RuntimeError(f"could not place {len(todo)} points inside a beat")
    return x, y
