"""What every use case asks first: the store, the category group, the study layer and its grid.

Each rule exists once here: a category name resolves to a group through the settings' category
groups; the study layer defaults to the first of :data:`~.options.PREFERRED_LAYERS` stored; the
study grid covers the layer (or, with no layer, the box holding 98 % of the located incidents).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from geo_service.analysis.grid import Grid, grid_for
from geo_service.categories import CategoryGroup, Selector
from geo_service.coverage import Coverage
from geo_service.errors import DataError, NotFoundError
from geo_service.schema import CATEGORIES, CRS, has_location
from geo_service.services.options import PREFERRED_LAYERS

logger = logging.getLogger(__name__)


class StoreLike(Protocol):
    """The reads every service makes of a store (:class:`geo_service.store.Store`).

    Methods
    -------
    version()
        The store's version, or None when empty.
    months()
        Months ``"YYYY-MM"`` held, sorted.
    layer_names()
        Names of the stored area layers.
    layer(name)
        A stored area layer (standard columns, EPSG:27700).
    incidents(sources=, categories=, month_from=, month_to=, columns=)
        Canonical incidents, optionally filtered.
    is_demo()
        Whether the store is the demo's (its own flag).
    coverage()
        The months and detail each source holds.
    """

    def version(self) -> str | None: ...
    def months(self) -> list[str]: ...
    def layer_names(self) -> list[str]: ...
    def layer(self, name: str) -> gpd.GeoDataFrame: ...
    def incidents(
        self,
        *,
        sources: Sequence[str] | None = ...,
        categories: Sequence[str] | None = ...,
        month_from: str | None = ...,
        month_to: str | None = ...,
        columns: Sequence[str] | None = ...,
    ) -> pd.DataFrame: ...
    def is_demo(self) -> bool: ...
    def coverage(self) -> Coverage: ...


@dataclass(frozen=True)
class StoreSummary:
    """What a store holds, for headers, links and defaults.

    Attributes
    ----------
    months
        Months ``"YYYY-MM"`` held, sorted.
    sources
        Source names, sorted.
    categories
        Categories held, sorted.
    layers
        Stored area layer names.
    demo
        The store's own flag (set by ``geo-service demo``): its geography is synthetic.
    """

    months: tuple[str, ...]
    sources: tuple[str, ...]
    categories: tuple[str, ...]
    layers: tuple[str, ...]
    demo: bool


def store_summary(store: StoreLike) -> StoreSummary:
    """Months, sources, categories and layers held by ``store``.

    They come from its coverage, which the store keeps per version.

    Parameters
    ----------
    store
        The store.

    Returns
    -------
    StoreSummary
        What it holds.
    """
    coverage = store.coverage()
    return StoreSummary(
        months=tuple(store.months()),
        sources=tuple(sorted(coverage.months)),
        categories=tuple(sorted(coverage.sources)),
        layers=tuple(store.layer_names()),
        demo=bool(store.is_demo()),
    )


def require_incidents(store: StoreLike) -> list[str]:
    """The months ``store`` holds.

    Parameters
    ----------
    store
        The store.

    Returns
    -------
    list of str
        Months ``"YYYY-MM"``, as the store lists them.

    Raises
    ------
    NotFoundError
        The store holds no incidents; the message says how to add some.
    """
    months = store.months()
    if not months:
        raise NotFoundError(
            f"the store at {getattr(store, 'root', '')} holds no incidents yet; "
            "ingest data first (`geo-service ingest` or `geo-service demo`)"
        )
    return months


def is_plain(group: CategoryGroup) -> bool:
    """True when ``group`` is exactly one whole category (no subcategory or hour filter).

    Parameters
    ----------
    group
        A category group.

    Returns
    -------
    bool
    """
    if len(group.include) != 1:
        return False
    s = group.include[0]
    return s.subcategories is None and s.exclude_subcategories is None and s.hours is None


def plain_group(category: str) -> CategoryGroup:
    """The group of every incident of ``category``.

    Parameters
    ----------
    category
        A category name, as spelled in the data.

    Returns
    -------
    CategoryGroup
        Named ``category``, one selector of the whole category.
    """
    return CategoryGroup(name=category, include=(Selector(category=category),))


def page_groups(
    groups: Sequence[CategoryGroup], stored_categories: Sequence[str]
) -> tuple[CategoryGroup, ...]:
    """The configured groups followed by every stored category no group is exactly.

    Parameters
    ----------
    groups
        The settings' category groups.
    stored_categories
        Categories the store holds.

    Returns
    -------
    tuple of CategoryGroup
        ``groups`` in order, then a plain group per stored category that is neither a group's
        name nor a plain group's category (case-insensitive).
    """
    covered = {g.name.casefold() for g in groups} | {
        g.include[0].category.casefold() for g in groups if is_plain(g)
    }
    extra = [plain_group(c) for c in stored_categories if c.casefold() not in covered]
    return (*groups, *extra)


def store_groups(store: StoreLike, groups: Sequence[CategoryGroup]) -> tuple[CategoryGroup, ...]:
    """:func:`page_groups` of ``groups`` and the categories ``store`` holds.

    These are the rows of the looking-back table and of an area's table, on the command line and
    on the pages.

    Parameters
    ----------
    store
        The store.
    groups
        The settings' category groups.

    Returns
    -------
    tuple of CategoryGroup
    """
    return page_groups(groups, store_summary(store).categories)


def resolve_group(
    groups: Sequence[CategoryGroup], name: str, *, stored_categories: Sequence[str] = ()
) -> CategoryGroup:
    """The group or category called ``name`` (case-insensitive).

    The group called ``name``, else the group that is exactly category ``name``, else the known
    or stored category ``name`` as a group of its own.

    Parameters
    ----------
    groups
        The settings' category groups.
    name
        Group or category name.
    stored_categories
        Categories the store holds, accepted besides the schema's categories.

    Returns
    -------
    CategoryGroup

    Raises
    ------
    NotFoundError
        Listing the groups and categories allowed when ``name`` is none of them.
    """
    wanted = name.casefold()
    for group in groups:
        if group.name.casefold() == wanted:
            return group
    for group in groups:
        if is_plain(group) and group.include[0].category.casefold() == wanted:
            return group
    spelled = {c.casefold(): c for c in (*CATEGORIES, *stored_categories)}
    if wanted in spelled:
        return plain_group(spelled[wanted])
    allowed = [g.name for g in groups] + sorted(set(CATEGORIES) | set(stored_categories))
    raise NotFoundError(
        f"no category or group {name!r}; allowed: {', '.join(dict.fromkeys(allowed))}"
    )


def group_named(store: StoreLike, groups: Sequence[CategoryGroup], name: str) -> CategoryGroup:
    """:func:`resolve_group` against ``groups``, then against the categories ``store`` holds.

    Parameters
    ----------
    store
        The store (its coverage is read only when ``name`` is not found otherwise).
    groups
        The settings' category groups.
    name
        Group or category name.

    Returns
    -------
    CategoryGroup

    Raises
    ------
    NotFoundError
        ``name`` is no group and no known or stored category.
    """
    try:
        return resolve_group(groups, name)
    except NotFoundError:
        stored = sorted(store.coverage().sources)
        return resolve_group(groups, name, stored_categories=stored)


@dataclass(frozen=True)
class FormedGroup:
    """A group as the store's sources can form it, for the maps, shifts and backtests.

    Attributes
    ----------
    group
        The parts the sources carry the detail for, under the name asked for.
    held
        The months the group's sources hold, sorted.
    notes
        What had to be left out, as sentences (none when the whole group can be formed).
    """

    group: CategoryGroup
    held: tuple[str, ...]
    notes: tuple[str, ...]


def formed_group(store: StoreLike, groups: Sequence[CategoryGroup], name: str) -> FormedGroup:
    """The group called ``name`` as its sources can form it, by the rule the tables use
    (:meth:`geo_service.coverage.Coverage.formable`).

    Raises
    ------
    NotFoundError
        When ``name`` is neither a group nor a category.
    DataError
        When no source supplies the group, or none carries the detail any part of it needs.
    """
    asked = group_named(store, groups, name)
    coverage = store.coverage()
    formed = coverage.formable(asked)
    held = coverage.months_of(asked)
    if not held or formed.group is None:
        raise DataError(f"{asked.name!r}: {formed.note() or 'no source in the store supplies it'}")
    notes = (f"{asked.name} {formed.note()}.",) if formed.note() else ()
    return FormedGroup(replace(formed.group, name=asked.name), held, notes)


def study_layer_name(store: StoreLike, requested: str | None) -> str | None:
    """``requested`` (checked to exist), else the first preferred layer stored, else any.

    Parameters
    ----------
    store
        The store.
    requested
        A layer name; None or "" for the default (:data:`~.options.PREFERRED_LAYERS`).

    Returns
    -------
    str or None
        The layer name; None when the store holds no layer and none was requested.

    Raises
    ------
    NotFoundError
        When ``requested`` is not stored (listing the layers).
    """
    names = store.layer_names()
    if requested:
        if requested not in names:
            shown = ", ".join(names) if names else "none yet"
            raise NotFoundError(f"no area layer {requested!r}; available: {shown}")
        return requested
    for name in PREFERRED_LAYERS:
        if name in names:
            return name
    return names[0] if names else None


def study_grid(
    areas: gpd.GeoDataFrame | None, incidents: pd.DataFrame, *, cell_m: float | None
) -> Grid:
    """The grid over ``areas``; without them, over the box holding 98 % of the located incidents.

    Parameters
    ----------
    areas
        The study layer (EPSG:27700), or None.
    incidents
        Canonical incidents (``x``, ``y`` in EPSG:27700 metres); used only without ``areas``.
    cell_m
        Cell size in metres; None: :func:`~geo_service.analysis.grid.auto_cell_m`.

    Returns
    -------
    Grid
        Square grid, inside cells by centre.

    Raises
    ------
    NotFoundError
        With no areas and no located incidents.
    InputError
        :func:`~geo_service.analysis.grid.grid_for` refuses the area or ``cell_m``.
    """
    if areas is not None:
        return grid_for(areas, cell_m=cell_m)
    located = incidents.loc[has_location(incidents)]
    if located.empty:
        raise NotFoundError("no located incidents of this category, and no area layer stored")
    low = located[["x", "y"]].quantile(0.01).to_numpy()
    high = located[["x", "y"]].quantile(0.99).to_numpy()
    logger.info("no area layer stored: the study area is the box holding 98 % of the incidents")
    return grid_for(box(*low, *np.maximum(high, low + 1.0)), cell_m=cell_m)


def empty_layer() -> gpd.GeoDataFrame:
    """A standard area layer with no areas (pages of a store that has no layer yet).

    Returns
    -------
    geopandas.GeoDataFrame
        No rows; columns code, name, parent, population, households, geometry; EPSG:27700.
    """
    columns: dict[str, list[object]] = {
        "code": [],
        "name": [],
        "parent": [],
        "population": [],
        "households": [],
    }
    return gpd.GeoDataFrame(columns, geometry=[], crs=CRS)
