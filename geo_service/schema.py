"""The canonical incident table: the only place its columns, dtypes and categories are spelled.

Every source loader returns a :class:`pandas.DataFrame` with exactly :data:`INCIDENT_COLUMNS`
(in that order, with those dtypes), whatever the input format. Coordinates are British National
Grid (EPSG:27700) metres in the plain float columns ``x`` and ``y`` (NaN where the source gives no
usable location), because every analysis works on coordinate arrays; :func:`to_geodataframe`
builds point geometry when a GeoDataFrame is wanted.

After a spatial join, the store adds one column per area layer, named by :func:`area_column`
(``area_ward``, ``area_beat``...), holding the code of the area the incident falls in, or missing
when it falls outside every area of that layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

#: The projected CRS of every stored coordinate (British National Grid, metres).
CRS = "EPSG:27700"

#: Canonical incident columns and their pandas dtypes, in order.
INCIDENT_COLUMNS: Mapping[str, str] = {
    "incident_id": "str",  # stable, unique within a source: "<source>:<id in the source>"
    "source": "str",  # loader name, e.g. "police_uk", "stats19", "mapped:fire"
    "category": "str",  # one of CATEGORIES, or a category a mapping defines
    "subcategory": "str",  # finer class: burglary dwelling/other, ASB class, fire property type
    "month": "str",  # "YYYY-MM", always present
    "occurred_at": "datetime64[us]",  # date and time where the source has them, else NaT
    "time_known": "bool",  # True when occurred_at carries a real time of day
    "x": "float64",  # easting, EPSG:27700 metres; NaN when no location
    "y": "float64",  # northing, EPSG:27700 metres; NaN when no location
    "location_text": "str",  # "On or near ...", a street, a junction description
    "lsoa_code": "str",  # LSOA code given by the source (police.uk), else missing
    "area_hint": "str",  # an area code the source states itself (e.g. a beat code)
    "severity": "str",  # collisions: "Fatal" | "Serious" | "Slight"
    "casualties": "Int64",  # collisions: number of casualties
    "outcome": "str",  # police.uk "Last outcome category" or a source's outcome
    "reported_by": "str",  # police.uk "Reported by": the force that recorded the row (e.g. BTP)
    "falls_within": "str",  # police.uk "Falls within": the force area whose download holds it
    "location_precision": "str",  # mapped: "exact" or the fall-back pair used; else missing
    "road_1": "str",  # collisions: first road, e.g. "A41", "M1", "Unclassified"
    "road_2": "str",  # collisions: second road at a junction
    "junction": "str",  # collisions: decoded junction detail
    "speed_limit": "Int64",  # collisions: mph
    "urban_rural": "str",  # collisions: "Urban" | "Rural"
    # STATS19 collisions: figures summed from the casualty table, when it was loaded with them.
    "ksi_casualties": "Int64",  # killed or seriously injured casualties
    "pedestrian_casualties": "Int64",
    "cyclist_casualties": "Int64",
    "motorcyclist_casualties": "Int64",
    # STATS19 collisions: vehicles counted from the vehicle table, when it was loaded with them
    # (DfT vehicle_type sets: geo_service.sources._stats19_tables).
    "vehicles": "Int64",  # vehicles in the collision
    "motorcycles_involved": "Int64",  # motorcycles of any engine size, electric included
    "pedal_cycles_involved": "Int64",
    "hgvs_involved": "Int64",  # goods vehicles over 3.5 tonnes maximum gross weight
    # STATS19: DfT severity adjustment for injury-based recording (CRASH/COPA), probability 0..1
    "adjusted_serious": "float64",
    "adjusted_slight": "float64",
    "highway_authority": "str",  # STATS19 local_authority_highway, ONS code (E10000015)
    "source_file": "str",  # provenance: file name the row came from
    "source_line": "int64",  # provenance: 1-based line number in that file (header is line 1)
}

#: Per source, the prefix of incident ids the loader derives from a row's content because the
#: source gives the row none (police.uk anti-social behaviour has no Crime ID).
DERIVED_ID_PREFIXES: dict[str, str] = {"police_uk": "police_uk:asb:"}

#: The 14 police.uk crime types, as police.uk spells them.
POLICE_UK_CATEGORIES: tuple[str, ...] = (
    "Anti-social behaviour",
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
)
ASB = "Anti-social behaviour"
DELIBERATE_FIRE = "Deliberate fire"
ROAD_TRAFFIC_COLLISION = "Road traffic collision"

#: Every category the product knows without a mapping.
CATEGORIES: tuple[str, ...] = (*POLICE_UK_CATEGORIES, DELIBERATE_FIRE, ROAD_TRAFFIC_COLLISION)

#: Collision severities, most severe first (STATS19 codes 1, 2, 3).
SEVERITIES: tuple[str, ...] = ("Fatal", "Serious", "Slight")

#: Anti-social behaviour classes (the national incident category classes).
ASB_CLASSES: tuple[str, ...] = ("Nuisance", "Personal", "Environmental")


def area_column(layer: str) -> str:
    """Name of the column holding each incident's area code in ``layer``."""
    return f"area_{layer}"


def empty_incidents() -> pd.DataFrame:
    """A canonical incident table with no rows."""
    import pandas as pd  # here, as in the functions below: the CLI's ``status`` needs no pandas

    return pd.DataFrame({name: pd.Series(dtype=dtype) for name, dtype in INCIDENT_COLUMNS.items()})


def conform(frame: pd.DataFrame, *, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Return ``frame`` with exactly the canonical columns, in order, cast to their dtypes.

    Missing canonical columns are added empty; extra columns other than area columns are dropped.
    ``columns`` limits the canonical columns to those named (a read of a few columns need not
    build the others). The input is not modified.
    """
    import pandas as pd

    out = {}
    n = len(frame)
    for name, dtype in INCIDENT_COLUMNS.items():
        if columns is not None and name not in columns:
            continue
        if name in frame.columns:
            out[name] = frame[name].astype(dtype)
        else:
            out[name] = pd.Series(_missing(n, dtype), index=frame.index)
    for name in frame.columns:
        if name.startswith("area_") and name != "area_hint":
            out[name] = frame[name].astype("str")
    return pd.DataFrame(out, index=frame.index)


def _missing(n: int, dtype: str) -> pd.api.extensions.ExtensionArray | np.ndarray:
    """An all-missing column of ``n`` values (False for booleans, -1 for line numbers)."""
    import pandas as pd

    if dtype == "bool":
        return np.zeros(n, dtype=bool)
    if dtype == "int64":
        return np.full(n, -1, dtype=np.int64)
    if dtype == "float64":
        return np.full(n, np.nan)
    if dtype.startswith("datetime64"):
        return np.full(n, np.datetime64("NaT"), dtype=dtype)
    if dtype == "str":
        # An Arrow null array converts without a Python object per row.
        return pd.array(pa.nulls(n, pa.large_string()), dtype=dtype)
    if dtype == "Int64":
        # From float NaN, vectorised: a list of None costs one Python object per row.
        return pd.array(np.full(n, np.nan), dtype=dtype)
    return pd.array([None] * n, dtype=dtype)


def has_location(frame: pd.DataFrame) -> np.ndarray:
    """Boolean mask of incidents with usable coordinates."""
    return np.isfinite(frame["x"].to_numpy()) & np.isfinite(frame["y"].to_numpy())


def to_geodataframe(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    """The located incidents of ``frame`` as a GeoDataFrame of points in EPSG:27700."""
    import geopandas as gpd

    located = frame.loc[has_location(frame)]
    geometry = gpd.points_from_xy(located["x"], located["y"], crs=CRS)
    return gpd.GeoDataFrame(located, geometry=geometry, crs=CRS)
