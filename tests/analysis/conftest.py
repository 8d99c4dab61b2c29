"""Helpers for the analysis tests that join real police.uk months to ward polygons."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo_service import schema


def hertfordshire_points(shared_data: Path, months: list[str]) -> gpd.GeoDataFrame:
    """The located rows of the Hertfordshire street files of ``months`` as EPSG:27700 points."""
    folder = shared_data / "police-uk-hertfordshire-street"
    raw = pd.concat(
        [pd.read_csv(folder / f"{month}-hertfordshire-street.csv.gz") for month in months],
        ignore_index=True,
    ).dropna(subset=["Longitude", "Latitude"])
    return gpd.GeoDataFrame(
        raw, geometry=gpd.points_from_xy(raw["Longitude"], raw["Latitude"]), crs=4326
    ).to_crs(27700)


def joined_incidents(joined: gpd.GeoDataFrame, *, code_col: str, layer: str) -> pd.DataFrame:
    """Canonical incidents from an ``sjoin`` of those points: ``area_<layer>`` from ``code_col``."""
    return schema.conform(
        pd.DataFrame(
            {
                "category": joined["Crime type"].to_numpy(),
                "month": joined["Month"].to_numpy(),
                "x": joined.geometry.x.to_numpy(),
                "y": joined.geometry.y.to_numpy(),
                f"area_{layer}": pd.array(joined[code_col].to_numpy(), dtype="str"),
            }
        )
    )
