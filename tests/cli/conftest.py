"""Hand-made stores for the CLI tests: two square wards side by side and a way to write rows."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
from shapely.geometry import box

from geo_service import schema
from geo_service.store import FileRecord, Store


def two_wards(x0: float, y0: float, side_m: float) -> gpd.GeoDataFrame:
    """Wards W1 "West" and W2 "East": squares of ``side_m`` from ``(x0, y0)``, W2 east of W1."""
    return gpd.GeoDataFrame(
        {
            "code": ["W1", "W2"],
            "name": ["West", "East"],
            "parent": [None, None],
            "population": [float("nan")] * 2,
            "households": [float("nan")] * 2,
        },
        geometry=[
            box(x0, y0, x0 + side_m, y0 + side_m),
            box(x0 + side_m, y0, x0 + 2 * side_m, y0 + side_m),
        ],
        crs=schema.CRS,
    )


def assign_by_x(incidents: pd.DataFrame, split_x: float) -> pd.DataFrame:
    """``area_ward``: W2 east of ``split_x``, W1 west of it, missing without a location."""
    code = (incidents["x"] >= split_x).map({True: "W2", False: "W1"})
    return incidents.assign(area_ward=code.where(incidents["x"].notna()))


def write_rows(store: Store, frame: pd.DataFrame, name: str) -> None:
    """Store ``frame`` (canonical columns, any subset) as if ingested from a file ``name``."""
    frame = frame.assign(source_file=name, source_line=range(2, len(frame) + 2))
    months = tuple(sorted(frame["month"].unique().tolist()))
    source = str(frame["source"].iloc[0])
    record = FileRecord(f"/in/{name}", name, source, name, len(frame), 0, 0, months)
    store.write_incidents(schema.conform(frame), [record], rejects=pd.DataFrame(), kind="mapped")
