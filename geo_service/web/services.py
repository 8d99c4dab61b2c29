"""Service functions behind pages and API: read the store, call the analysis, return results.

Framework-free (no Flask, no folium): each function takes a store and validated options and
returns frames or a frozen dataclass, so the CLI, the web layer and the tests call the same code.
All the statistics come from :mod:`geo_service.analysis`; this module only selects the incidents
and the periods and puts the results together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import geopandas as gpd
import pandas as pd

from geo_service.analysis import breakdowns, change, patterns
from geo_service.analysis.counts import within_layer
from geo_service.analysis.periods import Period, rolling_periods, shift_month
from geo_service.analysis.repeat_locations import ClusterRule, cluster_rule, repeat_locations
from geo_service.categories import CategoryGroup, categories_of, find_group
from geo_service.errors import NotFoundError
from geo_service.report import build_report
from geo_service.schema import (
    CRS,
    ROAD_TRAFFIC_COLLISION,
    area_column,
    has_location,
)
from geo_service.web import hotspots
from geo_service.web.params import RuleOptions, ViewOptions

#: Columns every analysis here needs.
_BASE_COLUMNS = ("category", "subcategory", "month", "occurred_at", "time_known", "x", "y")
#: Text in a layer's name or description marking synthetic (demo) geography.
SYNTHETIC_MARK = "synthetic"


class StoreLike(Protocol):
    """What the web layer reads from a store (:class:`geo_service.store.Store`)."""

    def version(self) -> str | None: ...
    def months(self) -> list[str]: ...
    def layer_names(self) -> list[str]: ...
    def layer(self, name: str) -> gpd.GeoDataFrame: ...
    def incidents(self, **kwargs: Any) -> pd.DataFrame: ...


@dataclass(frozen=True)
class StoreSummary:
    """What a store holds, for page headers and links."""

    months: tuple[str, ...]
    sources: tuple[str, ...]
    categories: tuple[str, ...]
    layers: tuple[str, ...]
    synthetic: bool


@dataclass(frozen=True)
class Overview:
    """The overview page: the looking-back table and a monthly series per row."""

    previous: Period
    current: Period
    table: pd.DataFrame
    monthly: dict[str, list[int]]


@dataclass(frozen=True)
class CategoryView:
    """Everything the category page shows for one category group."""

    name: str
    previous: Period
    current: Period
    table: pd.DataFrame
    areas: gpd.GeoDataFrame
    monthly: pd.DataFrame
    hotspots: hotspots.Hotspots


@dataclass(frozen=True)
class AreaView:
    """One area (beat) for a JAG meeting: each category's change there, its series and hotspots."""

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


def store_summary(store: StoreLike) -> StoreSummary:
    """Months, sources, categories and layers in ``store``."""
    frame = store.incidents(columns=["source", "category"])
    layers = tuple(store.layer_names())
    synthetic = _is_synthetic(store)
    return StoreSummary(
        months=tuple(store.months()),
        sources=tuple(sorted(frame["source"].dropna().astype(str).unique())),
        categories=tuple(sorted(frame["category"].dropna().astype(str).unique())),
        layers=layers,
        synthetic=synthetic,
    )


def page_groups(
    groups: Sequence[CategoryGroup], summary: StoreSummary
) -> tuple[CategoryGroup, ...]:
    """The configured groups followed by every stored plain category not named by a group."""
    covered = {g.name.casefold() for g in groups} | {
        g.include[0].category.casefold() for g in groups if _is_plain(g)
    }
    extra = [find_group((), c) for c in summary.categories if c.casefold() not in covered]
    return (*groups, *extra)


def _is_plain(group: CategoryGroup) -> bool:
    """True when ``group`` is exactly one whole category (no subcategory or hour filter)."""
    if len(group.include) != 1:
        return False
    s = group.include[0]
    return s.subcategories is None and s.exclude_subcategories is None and s.hours is None


def resolve_category(groups: Sequence[CategoryGroup], name: str) -> CategoryGroup:
    """The group called ``name``, else the group that is exactly category ``name``.

    Raises
    ------
    NotFoundError
        Listing the groups when there is neither.
    """
    for group in groups:
        if group.name.casefold() == name.casefold():
            return group
    for group in groups:
        if _is_plain(group) and group.include[0].category.casefold() == name.casefold():
            return group
    allowed = ", ".join(g.name for g in groups)
    raise NotFoundError(f"no category or group {name!r}; available: {allowed}")


def overview(store: StoreLike, groups: Sequence[CategoryGroup], opts: ViewOptions) -> Overview:
    """The looking-back table of ``groups`` and each group's monthly counts over both periods."""
    previous, current = rolling_periods(opts.period_end, months=opts.months)
    # Borough totals: a force-wide store is cut to the layer's extent, as the report does.
    incidents = _incidents(store, None, previous, current, layers=(opts.layer,))
    if opts.layer:  # without a layer: every stored incident
        incidents = within_layer(incidents, opts.layer)
    table = change.looking_back(incidents, list(groups), previous, current)
    both = Period(previous.start, current.end)
    monthly = {
        g.name: patterns.monthly_series(incidents, group=g, period=both)["count"].tolist()
        for g in groups
    }
    return Overview(previous=previous, current=current, table=table, monthly=monthly)


def category_view(store: StoreLike, group: CategoryGroup, opts: ViewOptions) -> CategoryView:
    """Change table by area, monthly series and hotspot layers for ``group``."""
    previous, current = rolling_periods(opts.period_end, months=opts.months)
    incidents = _incidents(store, group, previous, current, layers=(opts.layer,))
    areas = store.layer(opts.layer)
    table = change.change_table(
        incidents, layer=opts.layer, areas=areas, group=group, previous=previous, current=current
    )
    both = Period(previous.start, current.end)
    borough = within_layer(incidents, opts.layer)
    monthly = patterns.monthly_series(borough, group=group, period=both)
    spots = hotspots.hotspots_for(borough, areas, group=group, previous=previous, current=current)
    return CategoryView(
        name=group.name,
        previous=previous,
        current=current,
        table=table,
        areas=areas,
        monthly=monthly,
        hotspots=spots,
    )


def area_view(
    store: StoreLike, groups: Sequence[CategoryGroup], code: str, opts: ViewOptions
) -> AreaView:
    """Every group's change in area ``code`` of ``opts.layer``, its monthly series and movers."""
    areas = store.layer(opts.layer)
    match = areas[areas["code"].astype(str) == code]
    if match.empty:
        raise NotFoundError(
            f"no area {code!r} in layer {opts.layer!r}; "
            f"available: {', '.join(areas['code'].astype(str))}"
        )
    previous, current = rolling_periods(opts.period_end, months=opts.months)
    incidents = _incidents(store, None, previous, current, layers=(opts.layer,))
    rows = []
    for group in groups:
        table = change.change_table(
            incidents,
            layer=opts.layer,
            areas=areas,
            group=group,
            previous=previous,
            current=current,
        )
        row = table[table["code"].astype(str) == code]
        rows.append(row.assign(group=group.name))
    changes = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    here = incidents[incidents[area_column(opts.layer)].astype(str) == code]
    both = Period(previous.start, current.end)
    monthly = {
        g.name: patterns.monthly_series(here, group=g, period=both)["count"].tolist()
        for g in groups
    }
    increases, decreases = change.top_movers(
        changes.drop(columns=["code"]).assign(code=changes["group"])
    )
    return AreaView(
        layer=opts.layer,
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


def _incidents(
    store: StoreLike,
    group: CategoryGroup | None,
    previous: Period,
    current: Period,
    *,
    layers: Sequence[str],
) -> pd.DataFrame:
    columns = [*_BASE_COLUMNS, *(area_column(name) for name in layers if name)]
    return store.incidents(
        categories=_categories(group),
        month_from=previous.start,
        month_to=current.end,
        columns=columns,
    )


def _categories(group: CategoryGroup | None) -> list[str] | None:
    """Store categories a group can match (None: all), so the store prunes what it reads."""
    return None if group is None else categories_of(group)


def empty_layer() -> gpd.GeoDataFrame:
    """A standard area layer with no areas (pages of a store that has no layer yet)."""
    columns: dict[str, list[object]] = {
        "code": [],
        "name": [],
        "parent": [],
        "population": [],
        "households": [],
    }
    return gpd.GeoDataFrame(columns, geometry=[], crs=CRS)


def _is_synthetic(store: StoreLike) -> bool:
    """True when a stored layer came from the demo's synthetic boundary files.

    The store records each layer's origin (its file path and read report) in its manifest; the
    demo's files are named ``demo_*.geojson`` and describe themselves as synthetic.
    """
    is_demo = getattr(store, "is_demo", None)
    if is_demo is not None:  # a real Store records the demo flag in its manifest
        return bool(is_demo())
    manifest = getattr(store, "manifest", None)
    if manifest is None:
        return False
    for info in manifest().get("layers", {}).values():
        text = str(info).casefold()
        path = str(info.get("path", "")) if isinstance(info, dict) else ""
        if SYNTHETIC_MARK in text or Path(path).name.startswith("demo_"):
            return True
    return False


@dataclass(frozen=True)
class CollisionsView:
    """The collisions page: ranked repeat-collision sites, severity by year, collisions drawn."""

    rule: ClusterRule
    period_end: str
    sites: gpd.GeoDataFrame
    severity: pd.DataFrame
    collisions: pd.DataFrame
    areas: gpd.GeoDataFrame


def collisions_view(store: StoreLike, opts: ViewOptions, rule_opts: RuleOptions) -> CollisionsView:
    """Repeat-collision sites under the chosen rule and collisions by severity per year."""
    rule = _rule(rule_opts)
    years = max(rule.years, 3)
    first = shift_month(opts.period_end, -12 * years + 1)
    columns = [
        "incident_id",
        *_BASE_COLUMNS,
        "severity",
        "urban_rural",
        "location_text",
        "road_1",
        "road_2",
        *([area_column(opts.layer)] if opts.layer else []),
    ]
    collisions = store.incidents(
        categories=[ROAD_TRAFFIC_COLLISION],
        month_from=first,
        month_to=opts.period_end,
        columns=columns,
    )
    if opts.layer:
        areas = store.layer(opts.layer)
        collisions = within_layer(collisions, opts.layer)
    else:  # no layer yet: every stored collision, sites without area names
        areas = empty_layer()
    sites = repeat_locations(collisions, rule=rule, period_end=opts.period_end, areas=areas)
    periods = [rolling_periods(shift_month(opts.period_end, -12 * k))[1] for k in range(years)]
    severity = breakdowns.severity_by_period(collisions, list(reversed(periods)))
    window_start = shift_month(opts.period_end, -12 * rule.years + 1)
    in_window = collisions[collisions["month"].astype(str) >= window_start]
    return CollisionsView(
        rule=rule,
        period_end=opts.period_end,
        sites=sites,
        severity=severity,
        collisions=in_window.loc[has_location(in_window)],
        areas=areas,
    )


def report_document(store: StoreLike, groups: Sequence[CategoryGroup], opts: ViewOptions) -> str:
    """The strategic-assessment HTML document of :func:`geo_service.report.build_report`."""
    previous, _current = rolling_periods(opts.period_end, months=opts.months)
    incidents = store.incidents(
        month_from=shift_month(previous.start, -12), month_to=opts.period_end
    )
    return build_report(
        incidents,
        layer=opts.layer,
        areas=store.layer(opts.layer),
        groups=tuple(groups),
        period_end=opts.period_end,
        months=opts.months,
    )


def _rule(opts: RuleOptions) -> ClusterRule:
    preset = cluster_rule(opts.rule)
    changes: dict[str, Any] = {}
    if opts.min_count is not None:
        changes["min_count"] = opts.min_count
    if opts.radius_m is not None:
        changes.update(radius_m=opts.radius_m, urban_radius_m=None, rural_radius_m=None)
    if opts.years is not None:
        changes["years"] = opts.years
    return replace(preset, name=f"{preset.name} (adjusted)", **changes) if changes else preset
