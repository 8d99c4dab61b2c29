"""The category view: a category's change by area, its monthly counts and its hotspot maps.

What the category page shows, and what the API's category exports serve, in one result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup
from geo_service.services.context import StoreLike
from geo_service.services.hotspots import CategoryHotspots
from geo_service.services.kept_maps import kept_category_hotspots
from geo_service.services.options import ViewOptions
from geo_service.services.tables import change_by_area


@dataclass(frozen=True, eq=False)
class CategoryView:
    """One category group's change per area, monthly counts and hotspot maps.

    Attributes
    ----------
    name
        The group's name.
    layer
        The study layer name.
    previous, current
        The periods compared.
    table
        Change per area (:attr:`~geo_service.services.tables.ChangeByArea.table`).
    areas
        The layer's areas (EPSG:27700).
    monthly
        Monthly counts in the layer over both periods.
    hotspots
        The hotspot maps of the current period.
    quality
        What the comparison could not know (sentences).
    """

    name: str
    layer: str
    previous: Period
    current: Period
    table: pd.DataFrame
    areas: gpd.GeoDataFrame
    monthly: pd.DataFrame
    hotspots: CategoryHotspots
    quality: tuple[str, ...] = ()


def category_view(
    store: StoreLike, groups: Sequence[CategoryGroup], group: CategoryGroup, opts: ViewOptions
) -> CategoryView:
    """Change by area, monthly series and hotspot maps of ``group`` (see :class:`CategoryView`).

    Parameters
    ----------
    store
        The store read.
    groups
        The settings' category groups (for the hotspot maps' group rules).
    group
        The category group shown.
    opts
        Period end, months, comparison, layer and forces left out.

    Returns
    -------
    CategoryView

    Raises
    ------
    NotFoundError
        When the store holds no incidents or no area layer, or the layer named is not stored.
    InputError
        The options' comparison is not usable.
    DataError
        The group cannot be formed from the sources for the hotspot maps
        (:func:`~geo_service.services.hotspots.category_hotspots`).
    """
    change = change_by_area(store, group, opts)
    # the whole study area's maps, the same for every area page: kept beside the version
    spots = kept_category_hotspots(store, groups, group, opts)
    return CategoryView(
        name=group.name,
        layer=change.layer,
        previous=change.previous,
        current=change.current,
        table=change.table,
        areas=change.areas,
        monthly=change.monthly,
        hotspots=spots,
        quality=change.quality,
    )
