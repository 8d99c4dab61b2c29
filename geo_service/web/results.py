"""What the pages and the API compute for a request: its options and the cached results.

Each function parses what it needs of the request (:func:`request_context`), asks
:mod:`geo_service.services` for the result, draws its map with :mod:`geo_service.maps.views`
and keeps both in the web cache (:meth:`~geo_service.web.state.WebState.cached`), so a page,
its map script, its density image and the API's export of the same question share one answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
from flask import Response, request, url_for

from geo_service import reference
from geo_service._paths import project_folder
from geo_service.categories import CategoryGroup
from geo_service.cluster_rules import load_cluster_rules
from geo_service.errors import DataError, InputError, NotFoundError
from geo_service.maps import builders
from geo_service.maps import views as map_views
from geo_service.maps.assets import MapParts
from geo_service.maps.legends import (
    BREAK_METHODS,
    Legend,
)
from geo_service.services import collisions as collision_services
from geo_service.services import context, tables
from geo_service.services import rates as rate_services
from geo_service.services.collisions import CollisionSites
from geo_service.services.context import StoreSummary
from geo_service.services.hotspots import CategoryHotspots
from geo_service.services.options import RuleOptions, ViewOptions
from geo_service.services.patrol import (
    COVERAGES,
    PatrolOptions,
    PatrolZones,
    patrol_zones,
)
from geo_service.services.views import CategoryView, category_view
from geo_service.web.params import rule_options, view_options, window_end
from geo_service.web.state import WebState, web_state

logger = logging.getLogger(__name__)


#: Most reference road lines drawn on a page's map (numbered roads first).
MAX_ROADS = 4000

#: The demo's context layer (synthetic main roads), drawn on demo maps' plain background.
DEMO_ROADS = project_folder("boundaries") / "demo_roads.geojson"

#: What a page that needs area boundaries says when the store has none.
NO_LAYER = (
    "this page needs an area layer (beats or wards) and the store has none yet; add one with "
    "`geo-service boundaries add beat PATH...` (or `ward`), then reload"
)

#: Query-string keys a page's own links carry on (page, collision-rule and area-map options).
QUERY_KEYS = (
    "period_end", "months", "layer", "against", "print", "rule", "min_count", "radius_m", "years",
    "ksi_only", "highway_authority", "category", "title", "peer_layer", "peer_code",
    "exclude_force", "breaks",
)  # fmt: skip


@dataclass(frozen=True)
class MapBundle:
    """A rendered map, its legends and its density images by surface name (if any)."""

    parts: MapParts
    legends: tuple[Legend, ...]
    pngs: tuple[tuple[str, bytes], ...] = ()


def request_context(
    *, layer: str | None = None, args: dict[str, str] | None = None
) -> tuple[WebState, StoreSummary, ViewOptions]:
    """The web state, the store summary and the request's view options (``layer``: the one in
    the URL path, which must be stored; ``args``: the query to read, default the request's);
    NotFoundError when the store holds no incidents."""
    state = web_state()
    summary = state.summary()
    if not summary.months:
        raise NotFoundError(
            f"the store at {state.settings.store} holds no incidents yet; "
            "ingest data first (`geo-service ingest` or `geo-service demo`)"
        )
    args = dict(request.args if args is None else args)
    if layer is not None:
        if not summary.layers:
            raise NotFoundError(NO_LAYER)
        if layer not in summary.layers:
            raise NotFoundError(f"no area layer {layer!r}; available: {', '.join(summary.layers)}")
        args["layer"] = layer
    opts = view_options(
        args,
        months_stored=summary.months,
        layers=summary.layers,
        exclude_forces=request.args.getlist("exclude_force"),
    )
    return state, summary, opts


def require_layer(opts: ViewOptions) -> None:
    """Raise :class:`NotFoundError` saying how to add a layer when the store has none."""
    if not opts.layer:
        raise NotFoundError(NO_LAYER)


def groups_for(state: WebState, summary: StoreSummary) -> tuple[CategoryGroup, ...]:
    """The settings' groups, then every stored category that no group is exactly."""
    return context.page_groups(state.groups, summary.categories)


def category_request(
    name: str,
) -> tuple[StoreSummary, ViewOptions, CategoryGroup, CategoryView, MapBundle]:
    """For a category URL: the store summary, options, category ``name`` and its results."""
    state, summary, opts = request_context()
    group = context.resolve_group(groups_for(state, summary), name)
    view, bundle = category_results(state, group, opts)
    return summary, opts, group, view, bundle


def area_request(
    layer: str, code: str
) -> tuple[WebState, StoreSummary, ViewOptions, tables.AreaView, CategoryGroup]:
    """For an area URL: state, store summary, options, the area's view and its map category."""
    state, summary, opts = request_context(layer=layer)
    groups = groups_for(state, summary)
    view = area_results(state, groups, code, opts)
    return state, summary, opts, view, _area_group(groups, view, request.args.get("category"))


def request_rule_options() -> RuleOptions:
    """The request's cluster-site rule (preset and overrides) for the collisions pages."""
    return rule_options(request.args, presets=sorted(load_cluster_rules()))


def overview_results(
    state: WebState, summary: StoreSummary, opts: ViewOptions
) -> tables.LookingBack:
    """The (cached) looking-back table of every page group."""
    groups = groups_for(state, summary)
    return state.cached(
        ("overview", opts.key()), lambda: tables.looking_back(state.store, groups, opts)
    )


def area_results(
    state: WebState, groups: tuple[CategoryGroup, ...], code: str, opts: ViewOptions
) -> tables.AreaView:
    """The (cached) view of area ``code`` of ``opts.layer``."""
    return state.cached(
        ("area", code, opts.key()), lambda: tables.area_view(state.store, groups, code, opts)
    )


def category_view_results(state: WebState, group: CategoryGroup, opts: ViewOptions) -> CategoryView:
    """The (cached) category view of ``group``: tables and hotspot maps, no folium map."""
    require_layer(opts)
    return state.cached(
        ("category-view", group.name, opts.key()),
        lambda: category_view(state.store, state.groups, group, opts),
    )


def category_results(
    state: WebState, group: CategoryGroup, opts: ViewOptions
) -> tuple[CategoryView, MapBundle]:
    """The category view and its map, as the category page draws it (cached)."""

    breaks = chosen_breaks()

    def make() -> tuple[CategoryView, MapBundle]:
        view = category_view_results(state, group, opts)
        density = _density(view, lambda s: _density_url(state, group, opts, s))
        zones = map_zones(state, group, opts)
        parts, legends = map_views.category_map(
            view.areas,
            view.table,
            hotspots=_frames(view.hotspots),
            density=density,
            tiles=tiles(state),
            roads=roads(state),
            breaks=breaks,
            patrol=None if zones is None else (zones.zones, zones.levels),
            risk_adjusted=(rated := risk_adjusted_results(state, group, opts)),
        )
        rate_png = (("risk-adjusted", rated.image.png),) if rated is not None else ()
        return view, MapBundle(parts, legends, _pngs(density) + rate_png)

    return state.cached(("category", group.name, opts.key(), breaks), make)


def risk_adjusted_results(
    state: WebState, group: CategoryGroup, opts: ViewOptions
) -> builders.RiskAdjusted | None:
    """The category's risk-adjusted (dual KDE) density over the page's current period, when the
    page's layer carries population (cached); None otherwise."""

    def make() -> builders.RiskAdjusted | None:
        if not rate_services.has_population(state.store.layer(opts.layer)):
            return None
        current = opts.periods()[1]
        try:
            found = rate_services.category_rates(
                state.store, state.groups, group.name, month_from=current.start,
                month_to=current.end, layer=opts.layer,
            )  # fmt: skip
        except DataError:  # e.g. no located incident: the page draws the other layers
            return None
        if found.grid is None or found.dual_surface is None or found.dual_breaks is None:
            return None
        return builders.risk_adjusted_overlay(
            found.grid, found.dual_surface, found.dual_breaks,
            url=_density_url(state, group, opts, "risk-adjusted"), note=found.basis,
        )  # fmt: skip

    return state.cached(("risk-adjusted", group.name, opts.key()), make)


def breaks_query() -> dict[str, str]:
    """``breaks=`` for a map script's URL, when not the default."""
    chosen = chosen_breaks()
    return {} if chosen == "quantiles" else {"breaks": chosen}


def chosen_breaks() -> str:
    """The ``breaks=`` class-break method asked (default quantiles)."""
    wanted = request.args.get("breaks") or "quantiles"
    if wanted not in BREAK_METHODS:
        raise InputError(f"breaks {wanted!r}: expected one of {', '.join(BREAK_METHODS)}")
    return wanted


def _pngs(density: map_views.Density | None) -> tuple[tuple[str, bytes], ...]:
    if density is None:
        return ()
    found = [("current", density.current), ("previous", density.previous),
             ("difference", density.difference)]  # fmt: skip
    return tuple((name, s.image.png) for name, s in found if s is not None)


def _area_group(
    groups: tuple[CategoryGroup, ...], view: tables.AreaView, wanted: str | None
) -> CategoryGroup:
    if wanted:
        return context.resolve_group(groups, wanted)
    busiest = view.changes.sort_values("current", ascending=False, kind="stable")
    return (
        context.resolve_group(groups, str(busiest["group"].iloc[0])) if len(busiest) else groups[0]
    )


def area_bundle(state: WebState, group: CategoryGroup, code: str, opts: ViewOptions) -> MapBundle:
    """The area page's map of ``group`` zoomed to area ``code`` (cached)."""

    def make() -> MapBundle:
        # the category's view only: its own map (folium, density, patrol levels) is not drawn here
        view = category_view_results(state, group, opts)
        focus = view.areas[view.areas["code"].astype(str) == code]
        spots = view.hotspots.clipped(focus)
        parts, legends = map_views.category_map(
            view.areas,
            view.table,
            hotspots=_frames(spots),
            density=_density(view, lambda s: _density_url(state, group, opts, s), spots=spots),
            tiles=tiles(state),
            focus=focus,
            roads=roads(state),
            breaks=breaks,
        )
        return MapBundle(parts, legends)

    breaks = chosen_breaks()
    return state.cached(("area-map", group.name, code, opts.key(), breaks), make)


def collision_context() -> tuple[WebState, StoreSummary, ViewOptions, str | None]:
    """:func:`request_context` for the collision routes, and the collision window's end asked.

    ``period_end`` is the end of the rule's window, taken as the CLI's ``repeat-locations
    --period-end`` takes it (any month: :func:`~geo_service.web.params.window_end`), not checked
    against the months the store holds as a page's comparison is. Not asked (None), the window
    ends at the latest collision held, which may be before other sources' latest month.
    """
    args = dict(request.args)
    asked = window_end(args.pop("period_end", None))
    state, summary, opts = request_context(args=args)
    return state, summary, opts, asked


def collision_view(
    state: WebState, opts: ViewOptions, rules: RuleOptions, asked: str | None
) -> CollisionSites:
    """The (cached) collision sites, severity and KSI trend under ``rules`` for the window
    ending ``asked`` (:func:`collision_context`); no folium map."""
    return state.cached(
        ("collision-view", opts.key(), asked, rules),
        lambda: collision_services.collision_sites(
            state.store, rules, period_end=asked, layer=opts.layer or None
        ),
    )


def collision_results(
    state: WebState, opts: ViewOptions, rules: RuleOptions, asked: str | None
) -> tuple[CollisionSites, MapBundle]:
    """The collision view and its map, as the collisions page draws it (cached)."""

    def make() -> tuple[CollisionSites, MapBundle]:
        view = collision_view(state, opts, rules, asked)
        parts, legends = map_views.collisions_map(
            view.collisions, view.sites, areas=view.areas, tiles=tiles(state), roads=roads(state)
        )
        return view, MapBundle(parts, legends)

    return state.cached(("collisions", opts.key(), asked, rules), make)


def _density_url(state: WebState, group: CategoryGroup, opts: ViewOptions, surface: str) -> str:
    """A density image's URL, naming the store version so a browser never shows a stale image."""
    version = state.store.version() or ""
    return url(
        "pages.category_density", name=group.name, **opts.query(), surface=surface, v=version
    )


def _density(
    view: CategoryView, url: Callable[[str], str], *, spots: CategoryHotspots | None = None
) -> map_views.Density | None:
    """The density overlays of both periods (shared breaks) and their difference."""
    found = view.hotspots if spots is None else spots
    density = found.kde
    if density is None or density.breaks is None or density.surface is None:
        return None
    # the period the map's own previous density is of (the preceding months), which is not
    # the page's comparison when that is a year earlier
    earlier = density.meta.get("previous_period") or view.previous.label
    return map_views.density_overlays(
        found.grid, density.surface, density.previous_surface, density.breaks, url=url,
        periods=(earlier, view.current.label),
    )  # fmt: skip


def _frames(spots: CategoryHotspots) -> map_views.HotspotFrames:
    return map_views.HotspotFrames(spots.clusters, spots.hot_cells, spots.emerging_hot)


def streets_loaded(state: WebState) -> bool:
    """Whether the maps draw streets of their own (a roads reference layer, or the demo's)."""
    return roads(state) is not None


def roads(state: WebState) -> gpd.GeoDataFrame | None:
    """The store's reference roads as map context (the demo's synthetic roads when a demo
    store has none loaded), at most :data:`MAX_ROADS` lines, numbered roads first."""

    def load() -> gpd.GeoDataFrame | None:
        root = getattr(state.store, "root", None)
        roads = reference.read_reference(root, "roads")
        if roads is None and state.summary().demo and DEMO_ROADS.is_file():
            roads = gpd.read_file(DEMO_ROADS).to_crs("EPSG:27700")
        if roads is None or len(roads) <= MAX_ROADS:
            return roads
        numbered = roads["ref"].astype(str).str.len().gt(0) if "ref" in roads else None
        ranked = roads.assign(_n=numbered).sort_values("_n", ascending=False, kind="stable")
        return ranked.head(MAX_ROADS).drop(columns="_n")

    return state.cached(("reference-roads",), load)


def tiles(state: WebState) -> map_views.Tiles:
    """The maps' background tiles (none, or the configured server) and attribution."""
    return map_views.Tiles(state.tiles(), state.settings.tile_attribution)


def known_args(**overrides: str) -> dict[str, str | list[str]]:
    """The request's query values under :data:`QUERY_KEYS` (others dropped; repeated ones kept
    as lists), with ``overrides``."""
    kept: dict[str, str | list[str]] = {}
    for key in QUERY_KEYS:
        values = request.args.getlist(key)
        if values:
            kept[key] = values if len(values) > 1 else values[0]
    return kept | overrides


def url(endpoint: str, **values: Any) -> str:
    """``url_for`` with query values from the options (typed for any value)."""
    return url_for(endpoint, **values)


def script(bundle: MapBundle) -> Response:
    """A map's bootstrap script as its own response (the pages carry no inline script)."""
    return Response(bundle.parts.script, mimetype="text/javascript")


def patrol_found(state: WebState, name: str, opts: ViewOptions, coverage: float) -> PatrolZones:
    """The (cached) patrol zones of category ``name`` at ``coverage`` percent of the area."""
    summary = state.summary()
    group = context.resolve_group(groups_for(state, summary), name)
    chosen = PatrolOptions(category=group.name, coverage=coverage, layer=opts.layer or None)
    return state.cached(
        ("patrol", chosen), lambda: patrol_zones(state.store, groups_for(state, summary), chosen)
    )


def patrol_results(
    state: WebState, name: str, opts: ViewOptions, coverage: float
) -> tuple[PatrolZones, MapBundle]:
    """The patrol zones and their map (cached)."""
    found = patrol_found(state, name, opts, coverage)

    def make() -> MapBundle:
        areas = state.store.layer(opts.layer) if opts.layer else context.empty_layer()
        parts, legends = map_views.patrol_map(
            found.zones, found.levels, areas=areas, tiles=tiles(state), roads=roads(state)
        )
        return MapBundle(parts, legends)

    return found, state.cached(("patrol-map", found.category, coverage, opts.layer), make)


def map_zones(state: WebState, group: CategoryGroup, opts: ViewOptions) -> PatrolZones | None:
    """The category's patrol zones at 5 % of the area (their accuracy is the default map's), or
    None when the store cannot back-test them."""
    try:
        return patrol_found(state, group.name, opts, 5.0)
    except (InputError, DataError) as exc:
        logger.info("no patrol zones for %s: %s", group.name, exc)
        return None


def coverage_asked() -> float:
    """The ``coverage=`` percent of a patrol URL (default 5); InputError when not a number."""
    text = request.args.get("coverage") or "5"
    try:
        return float(text)
    except ValueError:
        raise InputError(
            f"coverage {text!r}: expected one of {', '.join(f'{c:g}' for c in COVERAGES)}"
        ) from None
