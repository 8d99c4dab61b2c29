"""Helpers shared by the commands that read the store: the study layer, its grid, file output."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from geo_service.analysis.grid import Grid, grid_for
from geo_service.errors import NotFoundError
from geo_service.schema import has_location
from geo_service.store import Store

logger = logging.getLogger(__name__)

#: The study area is the first of these layers stored, unless ``--layer`` names one.
PREFERRED_LAYERS = ("beat", "ward", "district")


def study_layer_name(store: Store, requested: str | None) -> str | None:
    """``requested`` (checked to exist), else the first preferred layer stored, else any."""
    names = store.layer_names()
    if requested is not None:
        store.layer(requested)  # NotFoundError listing the layers
        return requested
    for name in PREFERRED_LAYERS:
        if name in names:
            return name
    return names[0] if names else None


def study_grid(
    areas: gpd.GeoDataFrame | None, incidents: pd.DataFrame, *, cell_m: float | None
) -> Grid:
    """The grid over ``areas``; without them, over the box holding 98 % of the located incidents."""
    if areas is not None:
        return grid_for(areas, cell_m=cell_m)
    located = incidents.loc[has_location(incidents)]
    if located.empty:
        raise NotFoundError("no located incidents of this category, and no area layer stored")
    low = located[["x", "y"]].quantile(0.01).to_numpy()
    high = located[["x", "y"]].quantile(0.99).to_numpy()
    logger.info("no area layer stored: the study area is the box holding 98 % of the incidents")
    return grid_for(box(*low, *np.maximum(high, low + 1.0)), cell_m=cell_m)


def write_to(out: Path | None, rows: int, emit: Callable[[TextIO], None]) -> int:
    """Run ``emit`` on standard output, or on the file ``out`` (logging its ``rows``); returns 0."""
    if out is None:
        emit(sys.stdout)
    else:
        with open(out, "w", encoding="utf-8", newline="") as handle:
            emit(handle)
        logger.info("wrote %d rows to %s", rows, out)
    return 0
