"""Writing the demo incidents in the real input formats (deterministic bytes for a seed).

Every writer sorts its rows, formats numbers itself (integer metres, six-decimal degrees, fixed
date and time formats) and writes ``\\n`` line ends with no timestamps, so the same seed always
gives byte-identical files.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely
from pyarrow import csv as pa_csv

from geo_service.demo.calibration import Calibration
from geo_service.demo.geography import SYNTHETIC_NOTE, Geography, nearest_points
from geo_service.projection import from_bng
from geo_service.schema import ASB, POLICE_UK_CATEGORIES, ROAD_TRAFFIC_COLLISION

FIRE_CATEGORIES = ("Deliberate fire", "Fire (not deliberate)")
_OUTCOMES = (
    "Investigation complete; no suspect identified",
    "Unable to prosecute suspect",
    "Offender given a caution",
    "Local resolution",
    "Awaiting court outcome",
    "Offender sent to prison",
    "Offender given community sentence",
    "Under investigation",
)
_OUTCOME_WEIGHTS = (0.42, 0.2, 0.08, 0.08, 0.06, 0.04, 0.05, 0.07)
_ASB_TYPES = {
    "Nuisance": "Rowdy or nuisance behaviour",
    "Personal": "Rowdy or inconsiderate behaviour towards a person",
    "Environmental": "Environmental damage or littering",
    "Unclassified": "",
}


def _write_csv(frame: pd.DataFrame, path: Path) -> Path:
    """Write ``frame`` as CSV: plain header, quotes only where a value needs them, ``\n`` ends."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ",".join(frame.columns) + "\n"
    body = io.BytesIO()
    try:  # fast path: no value holds a comma, quote or line break
        options = pa_csv.WriteOptions(include_header=False, quoting_style="none")
        pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), body, options)
        data = header.encode("utf-8") + body.getvalue()
    except pa.ArrowInvalid:
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(list(frame.columns))
        writer.writerows(frame.astype(object).where(frame.notna(), "").itertuples(index=False))
        data = text.getvalue().encode("utf-8")
    path.write_bytes(data)
    return path


def _dates(stamps: pd.Series) -> tuple[pd.Series, pd.Series]:
    """dd/mm/yyyy and HH:MM text of ``stamps``."""
    return stamps.dt.strftime("%d/%m/%Y"), stamps.dt.strftime("%H:%M")


def serial_references(stamps: pd.Series, pattern: str) -> pd.Series:
    """Serial references per calendar year in row order, e.g. ``41/00012/12``."""
    year = stamps.dt.year
    serial = year.groupby(year).cumcount() + 1
    return pd.Series(
        [pattern.format(year=y, yy=y % 100, serial=s) for y, s in zip(year, serial, strict=True)],
        index=stamps.index,
        dtype="str",
    )


def with_places(incidents: pd.DataFrame, geography: Geography) -> pd.DataFrame:
    """``incidents`` plus the nearest anonymous map point (same beat) and its street."""
    points = geography.map_points
    nearest = nearest_points(
        points, incidents["beat"].to_numpy(), incidents["x"].to_numpy(), incidents["y"].to_numpy()
    )
    out = incidents.copy()
    out["point"] = nearest
    out["street"] = points["street"].to_numpy()[nearest]
    return out


def outcomes(incidents: pd.DataFrame, *, seed: int) -> pd.Series:
    """A plausible police outcome per crime (empty for ASB and non-police records)."""
    rng = np.random.default_rng([seed, 2])
    picked = rng.choice(len(_OUTCOMES), size=len(incidents), p=_OUTCOME_WEIGHTS)
    text = np.array(_OUTCOMES, dtype=object)[picked]
    crime = incidents["category"].isin([c for c in POLICE_UK_CATEGORIES if c != ASB]).to_numpy()
    return pd.Series(np.where(crime, text, ""), index=incidents.index, dtype="str")


def write_force_extract(incidents: pd.DataFrame, path: Path) -> Path:
    """The force's crime extract: reference, offence group and sub-type, date, time, x/y, beat."""
    crime = incidents[
        incidents["category"].isin(POLICE_UK_CATEGORIES) & (incidents["category"] != ASB)
    ]
    date, time = _dates(crime["occurred_at"])
    frame = pd.DataFrame(
        {
            "CrimeReference": crime["reference"],
            "OffenceGroup": crime["category"],
            "OffenceSubType": crime["subcategory"],
            "CommittedDate": date,
            "CommittedTime": time,
            "Easting": crime["x"].astype(np.int64),
            "Northing": crime["y"].astype(np.int64),
            "Beat": crime["beat"],
            "Location": crime["street"],
            "Outcome": crime["outcome"],
        }
    )
    return _write_csv(frame, path)


def write_asb(incidents: pd.DataFrame, path: Path) -> Path:
    """ASB incidents with their national class (blank where none was recorded)."""
    asb = incidents[incidents["category"] == ASB]
    date, time = _dates(asb["occurred_at"])
    frame = pd.DataFrame(
        {
            "IncidentNumber": asb["reference"],
            "IncidentDate": date,
            "IncidentTime": time,
            "IncidentClass": asb["subcategory"].replace("Unclassified", ""),
            "IncidentType": asb["subcategory"].map(_ASB_TYPES),
            "Easting": asb["x"].astype(np.int64),
            "Northing": asb["y"].astype(np.int64),
            "Beat": asb["beat"],
            "Location": asb["street"],
        }
    )
    return _write_csv(frame, path)


def write_fires(incidents: pd.DataFrame, path: Path) -> Path:
    """Fire-service incident export: deliberate and accidental fires with incident sub-type."""
    fires = incidents[incidents["category"].isin(FIRE_CATEGORIES)]
    date, time = _dates(fires["occurred_at"])
    deliberate = fires["category"] == FIRE_CATEGORIES[0]
    outdoor = ~fires["subcategory"].isin(["Building", "Vehicle"])
    frame = pd.DataFrame(
        {
            "IncidentNumber": fires["reference"],
            "CallDate": date,
            "CallTime": time,
            "IncidentGroup": "Fire",
            "FireType": np.where(outdoor, "Secondary fire", "Primary fire"),
            "IncidentSubType": fires["subcategory"],
            "Motive": np.where(deliberate, "Deliberate", "Accidental"),
            "Easting": fires["x"].astype(np.int64),
            "Northing": fires["y"].astype(np.int64),
            "StationGround": fires["beat"]
            .str[:2]
            .map({"D1": "Hemel Hempstead", "D2": "Berkhamsted", "D3": "Tring"}),
            "Address": fires["street"],
        }
    )
    return _write_csv(frame, path)


def write_police_uk(
    incidents: pd.DataFrame,
    geography: Geography,
    calibration: Calibration,
    folder: Path,
    *,
    seed: int,
) -> list[Path]:
    """The same crimes and ASB as police.uk street-level files, one per month."""
    records = incidents[incidents["category"].isin(POLICE_UK_CATEGORIES)]
    points = geography.map_points
    lon, lat = from_bng(points["x"].to_numpy(), points["y"].to_numpy())
    index = records["point"].to_numpy()
    crime_ids = [
        "" if c == ASB else hashlib.sha256(f"demo:{seed}:{r}".encode()).hexdigest()
        for c, r in zip(
            records["category"].to_numpy(dtype=object),
            records["reference"].to_numpy(dtype=object),
            strict=True,
        )
    ]
    frame = pd.DataFrame(
        {
            "Crime ID": crime_ids,
            "Month": records["month"].to_numpy(),
            "Reported by": calibration.police_force,
            "Falls within": calibration.police_force,
            "Longitude": [f"{v:.6f}" for v in lon[index]],
            "Latitude": [f"{v:.6f}" for v in lat[index]],
            "Location": "On or near " + records["street"].to_numpy(dtype=object),
            "LSOA code": "",
            "LSOA name": "",
            "Crime type": records["category"].to_numpy(),
            "Last outcome category": records["outcome"].to_numpy(),
            "Context": "",
        }
    )
    written = []
    for month, rows in frame.groupby("Month", sort=True):
        path = folder / str(month) / f"{month}-hertfordshire-street.csv"
        written.append(_write_csv(rows, path))
    return written


def write_stats19(incidents: pd.DataFrame, folder: Path) -> list[Path]:
    """Collisions in the DfT STATS19 collision format, one file per calendar year."""
    rtc = incidents[incidents["category"] == ROAD_TRAFFIC_COLLISION]
    lon, lat = from_bng(rtc["x"].to_numpy(), rtc["y"].to_numpy())
    stamps = rtc["occurred_at"]
    hour = stamps.dt.hour
    frame = pd.DataFrame(
        {
            "collision_index": rtc["reference"],
            "collision_year": stamps.dt.year,
            "collision_ref_no": rtc["reference"].str[4:],
            "location_easting_osgr": rtc["x"].astype(np.int64),
            "location_northing_osgr": rtc["y"].astype(np.int64),
            "longitude": [f"{v:.6f}" for v in lon],
            "latitude": [f"{v:.6f}" for v in lat],
            "police_force": 41,
            "collision_severity": rtc["subcategory"].map({"Fatal": 1, "Serious": 2, "Slight": 3}),
            "number_of_vehicles": np.where(rtc["casualties"].astype(int) > 1, 2, 1),
            "number_of_casualties": rtc["casualties"].astype(np.int64),
            "date": stamps.dt.strftime("%d/%m/%Y"),
            "day_of_week": (stamps.dt.day_of_week + 1) % 7 + 1,  # 1 = Sunday
            "time": stamps.dt.strftime("%H:%M"),
            "local_authority_district": 431,
            "local_authority_ons_district": "E07000096",
            "local_authority_highway": "E10000015",
            "first_road_class": rtc["road_1_class"].astype(np.int64),
            "first_road_number": rtc["road_1_number"].astype(np.int64),
            "road_type": np.where(rtc["road_1"].isin(["M1", "A41"]), 3, 6),
            "speed_limit": rtc["speed_limit"].astype(np.int64),
            "junction_detail": rtc["junction_detail"].astype(np.int64),
            "second_road_class": rtc["road_2_class"].astype(np.int64),
            "second_road_number": rtc["road_2_number"].astype(np.int64),
            "light_conditions": np.where((hour >= 7) & (hour < 19), 1, 4),
            "weather_conditions": 1,
            "road_surface_conditions": 1,
            "urban_or_rural_area": rtc["urban_rural"].astype(np.int64),
            "did_police_officer_attend_scene_of_accident": 1,
            "trunk_road_flag": np.where(rtc["road_1"].isin(["M1", "A5", "A41"]), 1, 2),
            "lsoa_of_accident_location": "",
        }
    )
    written = []
    for year, rows in frame.groupby("collision_year", sort=True):
        path = folder / f"dft-road-casualty-statistics-collision-{year}.csv"
        written.append(_write_csv(rows, path))
    return written


def write_denominators(
    layer: pd.DataFrame, population: np.ndarray, households: np.ndarray, path: Path
) -> Path:
    """Population and households per area (code, name, parent, population, households)."""
    frame = pd.DataFrame(
        {
            "code": layer["code"].to_numpy(),
            "name": layer["name"].to_numpy(),
            "parent": layer["parent"].to_numpy(),
            "population": np.asarray(population, dtype=np.int64),
            "households": np.asarray(households, dtype=np.int64),
        }
    )
    return _write_csv(frame, path)


def write_boundaries(geography: Geography, folder: Path) -> list[Path]:
    """Write beats, sectors and roads as GeoJSON (EPSG:27700, fixed formatting) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, frame in (
        ("beats", geography.beats),
        ("sectors", geography.sectors),
        ("roads", geography.roads),
    ):
        path = folder / f"demo_{name}.geojson"
        path.write_text(_geojson(frame, f"demo_{name}"), encoding="utf-8")
        written.append(path)
    return written


def _geojson(frame: gpd.GeoDataFrame, name: str) -> str:
    """GeoJSON text with integer-metre coordinates, a CRS member and the SYNTHETIC note."""
    features = []
    for row, geometry in zip(
        frame.drop(columns="geometry").to_dict(orient="records"),
        frame.geometry.to_numpy(),
        strict=True,
    ):
        properties = {
            k: (None if pd.isna(v) else (int(v) if isinstance(v, np.integer) else v))
            for k, v in row.items()
        }
        shape = json.loads(shapely.to_geojson(shapely.set_precision(geometry, 1.0)))
        features.append({"type": "Feature", "properties": properties, "geometry": _ints(shape)})
    document = {
        "type": "FeatureCollection",
        "name": name,
        "description": SYNTHETIC_NOTE,
        "synthetic": True,
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
        "features": features,
    }
    return json.dumps(document, separators=(",", ":")) + "\n"


def _ints(value: object) -> object:
    if isinstance(value, float):
        return round(value)
    if isinstance(value, list):
        return [_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _ints(v) for k, v in value.items()}
    return value
