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
from geo_service.services.hotspots import CategoryHotspots, category_hotspots
from geo_service.services.options import ViewOptions
from geo_service.services.tables import change_by_area


@dataclass(frozen=True, eq=False)
class CategoryView:
    """One category group: change per area (``table``), the layer's ``areas``, monthly counts
    in the layer over both periods (``monthly``), the hotspot maps of the current period and
    what the comparison could not know (``quality``, sentences)."""

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

    Raises
    ------
    NotFoundError
        When the store holds no incidents or no area layer.
    """
    change = change_by_area(store, group, opts)
    spots = category_hotspots(store, groups, group, opts)
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
