"""Change tables: the looking-back summary, change by area for one category, one area's view.

Each function reads the store once for the months its comparison spans and calls
:mod:`geo_service.analysis.change` and :mod:`~geo_service.analysis.patterns`; the CLI prints the
result and the pages render it, so both show the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from geo_service.analysis import change, patterns
from geo_service.analysis.counts import within_layer
from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup, categories_of
from geo_service.errors import NotFoundError
from geo_service.schema import area_column
from geo_service.services.context import StoreLike, require_incidents, study_layer_name
from geo_service.services.options import ViewOptions

#: Columns every table here reads from the store (plus the layer's area column).
BASE_COLUMNS: tuple[str, ...] = (
    "source", "category", "subcategory", "month", "occurred_at", "time_known", "x", "y",
)  # fmt: skip
#: Columns of a change table, in order (CLI output, page tables and CSV exports).
CHANGE_COLUMNS: tuple[str, ...] = (
    "code", "name", "previous", "current", "change", "pct_change",
    "share", "rank", "rate", "p", "q", "label",
)  # fmt: skip


@dataclass(frozen=True)
class LookingBack:
    """The looking-back table (one row per group) and each group's monthly counts.

    ``layer`` is the layer whose areas bound the counts (``None``: every stored incident);
    ``monthly`` maps a group name to its counts per month over both periods.
    """

    layer: str | None
    previous: Period
    current: Period
    table: pd.DataFrame
    monthly: dict[str, list[int]]


@dataclass(frozen=True)
class ChangeByArea:
    """One category group's change per area of ``layer`` (columns :data:`CHANGE_COLUMNS` and
    ``rate_per``, ``note``), the layer's areas and the group's monthly counts in the layer."""

    group: CategoryGroup
    layer: str
    previous: Period
    current: Period
    table: pd.DataFrame
    areas: gpd.GeoDataFrame
    monthly: pd.DataFrame


@dataclass(frozen=True)
class AreaView:
    """One area for a JAG meeting: every group's change there, its series and top movers."""

    layer: str
    code: str
    name: str
    area: gpd.GeoDataFrame
    previous: Period
    current: Period
    changes: pd.DataFrame
    monthly: dict[str, list[int]]
    increases: pd.DataFrame
    decreases: pd.DataFrame


def view_layer(store: StoreLike, opts: ViewOptions) -> str | None:
    """The layer of ``opts``, else the default study layer (``None``: the store has none)."""
    return study_layer_name(store, opts.layer or None)


def looking_back(
    store: StoreLike, groups: Sequence[CategoryGroup], opts: ViewOptions
) -> LookingBack:
    """The "Looking back" table of ``groups`` inside the study layer, and monthly series.

    Parameters
    ----------
    store
        The store read.
    groups
        The rows, in order (the settings' category groups).
    opts
        Period end, months, comparison and layer (empty: the default study layer; with no layer
        stored, every stored incident counts).
    """
    require_incidents(store)
    layer = view_layer(store, opts)
    previous, current = opts.periods()
    incidents = _read(store, None, previous, current, layer=layer)
    if layer:
        incidents = within_layer(incidents, layer)
    table = change.looking_back(incidents, list(groups), previous, current)
    both = _span(previous, current)
    monthly = {
        g.name: patterns.monthly_series(incidents, group=g, period=both)["count"].tolist()
        for g in groups
    }
    return LookingBack(layer, previous, current, table, monthly)


def change_by_area(store: StoreLike, group: CategoryGroup, opts: ViewOptions) -> ChangeByArea:
    """``group``'s change per area of the study layer, and its monthly counts in the layer.

    Raises
    ------
    NotFoundError
        When the store holds no incidents or no area layer.
    """
    require_incidents(store)
    layer = required_layer(store, opts)
    previous, current = opts.periods()
    incidents = _read(store, group, previous, current, layer=layer)
    areas = store.layer(layer)
    table = change.change_table(
        incidents, layer=layer, areas=areas, group=group, previous=previous, current=current
    )
    inside = within_layer(incidents, layer)
    monthly = patterns.monthly_series(inside, group=group, period=_span(previous, current))
    return ChangeByArea(group, layer, previous, current, table, areas, monthly)


def area_view(
    store: StoreLike, groups: Sequence[CategoryGroup], code: str, opts: ViewOptions
) -> AreaView:
    """Every group's change in area ``code`` of the study layer, its monthly series and movers.

    Raises
    ------
    NotFoundError
        When ``code`` is not an area of the layer (listing the codes).
    """
    require_incidents(store)
    layer = required_layer(store, opts)
    areas = store.layer(layer)
    match = areas[areas["code"].astype(str) == code]
    if match.empty:
        raise NotFoundError(
            f"no area {code!r} in layer {layer!r}; "
            f"available: {', '.join(areas['code'].astype(str))}"
        )
    previous, current = opts.periods()
    incidents = _read(store, None, previous, current, layer=layer)
    rows = []
    for group in groups:
        table = change.change_table(
            incidents, layer=layer, areas=areas, group=group, previous=previous, current=current
        )
        rows.append(table[table["code"].astype(str) == code].assign(group=group.name))
    changes = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    here = incidents[incidents[area_column(layer)].astype(str) == code]
    both = _span(previous, current)
    monthly = {
        g.name: patterns.monthly_series(here, group=g, period=both)["count"].tolist()
        for g in groups
    }
    increases, decreases = change.top_movers(
        changes.drop(columns=["code"]).assign(code=changes["group"])
    )
    return AreaView(
        layer=layer,
        code=code,
        name=str(match["name"].iloc[0]),
        area=match,
        previous=previous,
        current=current,
        changes=changes,
        monthly=monthly,
        increases=increases,
        decreases=decreases,
    )


def required_layer(store: StoreLike, opts: ViewOptions) -> str:
    """The study layer of ``opts``; :class:`NotFoundError` saying how to add one when none."""
    layer = view_layer(store, opts)
    if not layer:
        raise NotFoundError(
            "this needs an area layer (beats or wards) and the store has none yet; add one with "
            "`geo-service boundaries add beat PATH...` (or `ward`)"
        )
    return layer


def _span(previous: Period, current: Period) -> Period:
    """Both periods and any months between them (a year-earlier comparison leaves a gap)."""
    return Period(min(previous.start, current.start), max(previous.end, current.end))


def _read(
    store: StoreLike,
    group: CategoryGroup | None,
    previous: Period,
    current: Period,
    *,
    layer: str | None,
) -> pd.DataFrame:
    """The stored incidents of ``group`` (all: ``None``) in the months the periods span."""
    span = _span(previous, current)
    columns = [*BASE_COLUMNS, *([area_column(layer)] if layer else [])]
    return store.incidents(
        categories=None if group is None else categories_of(group),
        month_from=span.start,
        month_to=span.end,
        columns=columns,
    )
