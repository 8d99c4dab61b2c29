"""Counting incidents per area, category group and period from the ``area_<layer>`` columns.

An incident belongs to an area of a layer when its ``area_<layer>`` column holds that area's code
(the join fills it from the point, or from the LSOA when the point is missing). An incident with no
area falls in one of two cases:

* it has no location at all: it is **unallocated** - counted in the "Unallocated" total of every
  table, never dropped, because it may well belong to the borough;
* it has a location outside every area of the layer: it is **outside** the layer's extent (a force
  file covers neighbouring districts) and is not part of the layer's tables.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup, find_group, load_groups
from geo_service.errors import InputError
from geo_service.schema import area_column, has_location

logger = logging.getLogger(__name__)

#: Code and name of the table row holding incidents with no location and no area.
UNALLOCATED = "Unallocated"
UNALLOCATED_NAME = "Unallocated (no location)"


def resolve_group(group: CategoryGroup | str) -> CategoryGroup:
    """``group`` itself, or the packaged group of that name, or a group of that plain category."""
    if isinstance(group, CategoryGroup):
        return group
    return find_group(load_groups(), group)


def area_codes_column(incidents: pd.DataFrame, layer: str) -> pd.Series:
    """The ``area_<layer>`` column of ``incidents``.

    Raises
    ------
    InputError
        When the incidents have not been joined to ``layer``; the message lists the layers they
        have been joined to.
    """
    column = area_column(layer)
    if column not in incidents.columns:
        joined = sorted(
            c[5:] for c in incidents.columns if c.startswith("area_") and c != "area_hint"
        )
        raise InputError(
            f"layer {layer!r}: incidents have no column {column!r}; "
            f"joined layers: {', '.join(joined) or 'none'}"
        )
    return incidents[column]


def select(
    incidents: pd.DataFrame, *, group: CategoryGroup | str, period: Period | None = None
) -> pd.DataFrame:
    """The incidents of ``group`` (and inside ``period`` when given)."""
    mask = resolve_group(group).mask(incidents)
    if period is not None:
        mask = mask & period.contains(incidents["month"])
    return incidents.loc[mask]


def counts_by_area(
    incidents: pd.DataFrame,
    *,
    layer: str,
    codes: pd.Index | list[str],
    group: CategoryGroup | str,
    period: Period,
) -> pd.Series:
    """Incidents of ``group`` in ``period`` per area code of ``layer``.

    Returns
    -------
    pandas.Series
        Indexed by ``codes`` (zeros included, in the given order) followed by :data:`UNALLOCATED`
        (incidents with no location and no area). Located incidents outside every area are left
        out and logged.
    """
    chosen = select(incidents, group=group, period=period)
    area = area_codes_column(chosen, layer)
    index = pd.Index(list(codes), dtype="str")
    known = area.isin(index).to_numpy(dtype=bool, na_value=False)
    per_area = area[known].value_counts().reindex(index, fill_value=0).astype("int64")
    no_area = ~known
    unallocated = int((no_area & ~has_location(chosen)).sum())
    outside = int(no_area.sum()) - unallocated
    if outside:
        logger.debug("%d located incident(s) lie outside every %s area", outside, layer)
    result = pd.concat([per_area, pd.Series({UNALLOCATED: unallocated}, dtype="int64")])
    result.index.name = "code"
    return result


def total_count(incidents: pd.DataFrame, *, group: CategoryGroup | str, period: Period) -> int:
    """Number of incidents of ``group`` in ``period``."""
    mask = resolve_group(group).mask(incidents) & period.contains(incidents["month"])
    return int(np.count_nonzero(mask))


def within_layer(incidents: pd.DataFrame, layer: str) -> pd.DataFrame:
    """The incidents allocated to one of ``layer``'s areas.

    Used to restrict a force-wide store to one borough before borough totals are taken. Incidents
    with no location are left out: a force-wide extract's unlocated rows cannot be attributed to
    the borough, so tables report them separately as "Unallocated".
    """
    area = area_codes_column(incidents, layer)
    return incidents.loc[area.notna().to_numpy(dtype=bool)]
