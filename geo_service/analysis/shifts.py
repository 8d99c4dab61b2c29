"""Year-on-year shifts: where did incidents go up or down, and is the change more than chance?

For every area of a layer, or every inside cell of a grid, the counts of the previous and current
period are compared with the exact conditional Poisson test of
:mod:`geo_service.analysis.significance` (the same test as the change tables), and the p-values of
all areas or cells are adjusted together by Benjamini-Hochberg, so "significant increase" means
q < 0.05 across the whole map rather than somewhere by luck. Periods of different lengths are
compared per month (the exposures are the months in each period).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.analysis.counts import counts_by_area, select, weights
from geo_service.analysis.grid import Grid, HexGrid
from geo_service.analysis.periods import Period
from geo_service.analysis.significance import (
    ALPHA,
    bh_qvalues,
    change_labels,
    poisson_change_pvalues,
)
from geo_service.categories import CategoryGroup
from geo_service.errors import InputError
from geo_service.schema import CRS, has_location

SHIFT_COLUMNS = ("previous", "current", "change", "pct_change", "p", "q", "label")


def shift_table(
    previous: np.ndarray,
    current: np.ndarray,
    *,
    exposure_previous: float = 1.0,
    exposure_current: float = 1.0,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Previous and current counts, their change, exact Poisson p, BH q and a label per row.

    The test is run once per distinct (previous, current) pair, which on a grid of mostly small
    counts is a few hundred pairs.

    Parameters
    ----------
    previous, current
        Counts (whole numbers >= 0) per location, one length.
    exposure_previous, exposure_current
        Relative exposures of the two periods, e.g. their months (equal by default).
    alpha
        q below which a change is labelled significant (default 0.05).

    Returns
    -------
    pandas.DataFrame
        One row per location, columns :data:`SHIFT_COLUMNS`: ``pct_change`` in percent (missing
        where the previous count is 0), ``q`` the Benjamini-Hochberg (1995) adjustment across all
        rows.

    Raises
    ------
    InputError
        The counts differ in shape or are negative.
    """
    before = np.asarray(previous, dtype=np.int64)
    after = np.asarray(current, dtype=np.int64)
    if before.shape != after.shape or (before < 0).any() or (after < 0).any():
        raise InputError("previous and current must be counts (whole numbers >= 0) of one length")
    pairs, inverse = np.unique(np.column_stack([before, after]), axis=0, return_inverse=True)
    pair_p = poisson_change_pvalues(
        pairs[:, 0],
        pairs[:, 1],
        exposure_previous=exposure_previous,
        exposure_current=exposure_current,
    )
    p = pair_p[inverse.ravel()] if len(pairs) else np.zeros(0)
    q = bh_qvalues(p)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(before > 0, 100.0 * (after - before) / before, np.nan)
    return pd.DataFrame(
        {
            "previous": before,
            "current": after,
            "change": after - before,
            "pct_change": pct,
            "p": p,
            "q": q,
            "label": change_labels(before, after, q, alpha=alpha).astype(str),
        }
    )


def area_shifts(
    incidents: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    layer: str,
    group: CategoryGroup | str,
    previous: Period,
    current: Period,
    alpha: float = ALPHA,
) -> gpd.GeoDataFrame:
    """Shifts per area of ``areas`` (a standard layer joined to the incidents as ``layer``).

    Parameters
    ----------
    incidents
        Canonical incidents joined to ``layer``.
    areas
        The layer's standard frame (``code``, ``name``, polygons in EPSG:27700).
    layer
        Area layer name.
    group
        Category group, or the name of a plain category.
    previous, current
        The periods compared; exposures are their months.
    alpha
        q below which a change is labelled significant (default 0.05).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per area, every area listed, zeros included: ``code``, ``name`` and
        :data:`SHIFT_COLUMNS`, with the area polygons, EPSG:27700. Incidents without an area are
        not part of the map.

    Raises
    ------
    InputError
        The incidents are not joined to ``layer``.
    """
    codes = areas["code"].astype(str).tolist()
    before = counts_by_area(incidents, layer=layer, codes=codes, group=group, period=previous)
    after = counts_by_area(incidents, layer=layer, codes=codes, group=group, period=current)
    table = shift_table(
        before.loc[codes].to_numpy(),
        after.loc[codes].to_numpy(),
        exposure_previous=previous.n_months,
        exposure_current=current.n_months,
        alpha=alpha,
    )
    table.insert(0, "code", codes)
    table.insert(1, "name", areas["name"].astype(str).to_numpy())
    return gpd.GeoDataFrame(table, geometry=areas.geometry.to_numpy(), crs=CRS)


def cell_shifts(
    incidents: pd.DataFrame,
    grid: Grid | HexGrid,
    *,
    group: CategoryGroup | str,
    previous: Period,
    current: Period,
    alpha: float = ALPHA,
) -> gpd.GeoDataFrame:
    """Shifts per inside cell of ``grid``.

    Parameters
    ----------
    incidents
        Canonical incidents, or counted rows with ``n`` (each standing for ``n`` incidents at
        its ``x``, ``y``); located ones (``x``, ``y`` in EPSG:27700 metres) are counted.
    grid
        Square or hexagonal grid; its inside cells are the locations.
    group
        Category group, or the name of a plain category.
    previous, current
        The periods compared; exposures are their months.
    alpha
        q below which a change is labelled significant (default 0.05).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per inside grid cell, EPSG:27700: ``cell``, ``row``, ``col`` and
        :data:`SHIFT_COLUMNS`, with the cell polygons; q adjusts across all inside cells.
    """
    counts = [_cell_counts(incidents, grid, group, period) for period in (previous, current)]
    frame = grid.to_geodataframe({"previous": counts[0], "current": counts[1]})
    table = shift_table(
        frame["previous"].to_numpy(),
        frame["current"].to_numpy(),
        exposure_previous=previous.n_months,
        exposure_current=current.n_months,
        alpha=alpha,
    )
    for column in SHIFT_COLUMNS:
        frame[column] = table[column].to_numpy()
    return frame


def _cell_counts(
    incidents: pd.DataFrame, grid: Grid | HexGrid, group: CategoryGroup | str, period: Period
) -> np.ndarray:
    chosen = select(incidents, group=group, period=period)
    located = chosen.loc[has_location(chosen)]
    x, y = located["x"].to_numpy(dtype=float), located["y"].to_numpy(dtype=float)
    if "n" not in located.columns:
        return grid.counts(x, y)
    # counted rows: each stands for n incidents (whole numbers sum exactly in float64)
    return grid.counts(x, y, weights=weights(located)).astype(np.int64)
