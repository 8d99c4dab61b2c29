"""The HTML pages: overview, category, area (beat), collisions and report, with their map scripts.

Each view parses the query string, fetches (cached) results from :mod:`geo_service.services`, builds
the map with :mod:`geo_service.maps.views` and renders a template. A page's map bootstrap script and
its density image have URLs of their own beside the page (``.../map.js``, ``.../density.png``) with
the same query string, so the page needs no inline script and the image is fetched only when the
density layer is switched on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from flask import Blueprint, Response, render_template, request, url_for

from geo_service._paths import project_folder
from geo_service.analysis import kde
from geo_service.categories import CategoryGroup
from geo_service.cluster_rules import load_cluster_rules
from geo_service.errors import NotFoundError
from geo_service.maps import views as map_views
from geo_service.maps.assets import MapParts
from geo_service.maps.legends import SEQUENTIAL, Legend
from geo_service.maps.raster import surface_overlay
from geo_service.services import collisions as collision_services
from geo_service.services import context, tables
from geo_service.services.collisions import CollisionSites
from geo_service.services.context import StoreSummary
from geo_service.services.hotspots import CategoryHotspots
from geo_service.services.options import RuleOptions, ViewOptions
from geo_service.services.report import DEFAULT_TITLE, ReportOptions, report_document
from geo_service.services.views import CategoryView, category_view
from geo_service.web import present
from geo_service.web.params import rule_options, view_options
from geo_service.web.state import WebState, web_state

blueprint = Blueprint("pages", __name__)
#: Most sites listed on the collisions page (all of them are in the CSV and JSON exports).
MAX_SITE_ROWS = 50
#: The demo's context layer (synthetic main roads), drawn on demo maps' plain background.
DEMO_ROADS = project_folder("boundaries") / "demo_roads.geojson"
#: The collisions page's KSI trend table (recorded and severity-adjusted, per calendar year).
KSI_COLUMNS = (
    present.Column("year", "Year", "text"),
    present.Column("collisions", "Collisions", "int"),
    present.Column("fatal", "Fatal", "int"),
    present.Column("serious", "Serious (recorded)", "int"),
    present.Column("ksi", "KSI (recorded)", "int"),
    present.Column("serious_adjusted", "Serious (adjusted)", "float"),
    present.Column("ksi_adjusted", "KSI (adjusted)", "float"),
    present.Column("unadjusted", "Not adjusted", "int"),
)
#: First column of the area page's table.
CATEGORY_COLUMN = present.Column("group", "Category")
#: What a page that needs area boundaries says when the store has none.
NO_LAYER = (
    "this page needs an area layer (beats or wards) and the store has none yet; add one with "
    "`geo-service boundaries add beat PATH...` (or `ward`), then reload"
)
#: Query-string keys a page's own links carry on (page, collision-rule and area-map options).
QUERY_KEYS = (
    "period_end", "months", "layer", "against", "print", "rule", "min_count", "radius_m", "years",
    "ksi_only", "highway_authority", "category", "title", "peer_layer", "peer_code",
    "exclude_force",
)  # fmt: skip


@dataclass(frozen=True)
class MapBundle:
    """A rendered map, its legends and its density image (if any)."""

    parts: MapParts
    legends: tuple[Legend, ...]
    png: bytes | None = None


@blueprint.route("/")
def overview() -> str:
    """The looking-back table, monthly sparklines and links to every page."""
    state, summary, opts = request_context()
    view = overview_results(state, summary, opts)
    table = view.table[_any_incidents(view.table)]
    areas = (
        state.cached(("layer", opts.layer), lambda: state.store.layer(opts.layer))
        if opts.layer
        else context.empty_layer()
    )
    forces = state.cached(
        ("forces", opts.key()), lambda: tables.reporting_forces(state.store, opts)
    ).table
    force_columns = (
        present.Column("reported_by", "Reported by"),
        present.Column("previous", view.previous.label, "int"),
        present.Column("current", view.current.label, "int"),
    )
    return render_template(
        "overview.html",
        force_columns=force_columns if len(forces) > 1 else (),
        force_rows=present.cells(forces, force_columns) if len(forces) > 1 else [],
        excluded=opts.exclude_forces,
        summary=summary,
        opts=opts,
        view=view,
        table=table,
        columns=present.headings(table, present.LOOKING_BACK_COLUMNS),
        rows=present.cells(table, present.LOOKING_BACK_COLUMNS),
        empty=[g for g in view.table["group"] if g not in set(table["group"])],
        areas=list(zip(areas["code"], areas["name"], strict=True)),
        no_layer=NO_LAYER if not opts.layer else None,
        present=present,
    )


@blueprint.route("/category/<path:name>")
def category(name: str) -> str:
    """The category page: map with switchable layers, beat table, monthly chart, accuracy."""
    summary, opts, group, view, bundle = category_request(name)
    monthly = view.monthly["count"]
    return render_template(
        "category.html",
        summary=summary,
        opts=opts,
        view=view,
        bundle=bundle,
        map_js=_url("pages.category_map_js", name=group.name, **opts.query()),
        columns=present.headings(view.table, present.change_columns(view.table)),
        rows=present.cells(view.table, present.change_columns(view.table)),
        bars=present.monthly_bars(
            list(monthly.index), list(monthly), current_from=view.current.start
        ),
        accuracy=view.hotspots.accuracy,
        present=present,
    )


@blueprint.route("/category/<path:name>/map.js")
def category_map_js(name: str) -> Response:
    """The category map's bootstrap script."""
    return _script(category_request(name)[4])


@blueprint.route("/category/<path:name>/density.png")
def category_density(name: str) -> Response:
    """The category's density surface as a PNG overlay."""
    png = category_request(name)[4].png
    if png is None:
        raise NotFoundError(f"no density surface for {name!r}")
    return Response(png, mimetype="image/png", headers={"Cache-Control": "max-age=300"})


@blueprint.route("/area/<layer>/<code>")
def area(layer: str, code: str) -> str:
    """Everything about one area for a JAG meeting."""
    state, summary, opts, view, group = _area_request(layer, code)
    rows = view.changes[_any_incidents(view.changes)]
    columns = present.change_columns(rows, (CATEGORY_COLUMN,))
    return render_template(
        "area.html",
        summary=summary,
        opts=opts,
        view=view,
        group=group,
        others=[
            name
            for name, n in zip(rows["group"], _counted(rows), strict=True)
            if n and name != group.name
        ],
        map_js=_url(
            "pages.area_map_js",
            layer=layer,
            code=code,
            category=group.name,
            **opts.query(without=("layer",)),
        ),
        columns=present.headings(rows, columns),
        rows=present.cells(rows, columns),
        bundle=_area_bundle(state, group, code, opts),
        present=present,
    )


@blueprint.route("/area/<layer>/<code>/map.js")
def area_map_js(layer: str, code: str) -> Response:
    """The area map's bootstrap script."""
    state, _summary, opts, _view, group = _area_request(layer, code)
    return _script(_area_bundle(state, group, code, opts))


@blueprint.route("/collisions")
def collisions() -> str:
    """Repeat-collision sites ranked, severity by year, and the collision map."""
    state, summary, opts = request_context()
    rules = request_rule_options()
    view, bundle = collision_results(state, opts, rules)
    site_columns: tuple[present.Column, ...] = (
        present.Column("rank_count", "Rank", "int"),
        present.Column("road", "Road"),
        present.Column("count", "Collisions", "int"),
        present.Column("fatal", "Fatal", "int"),
        present.Column("serious", "Serious", "int"),
        present.Column("slight", "Slight", "int"),
        present.Column("casualties", "Casualties", "int"),
        present.Column("ksi_casualties", "KSI casualties", "int"),
        present.Column("pedestrian_casualties", "Pedestrians", "int"),
        present.Column("cyclist_casualties", "Cyclists", "int"),
        present.Column("motorcyclist_casualties", "Motorcyclists", "int"),
        present.Column("by_year", "By year"),
        present.Column("approximate", "Approximate locations", "int"),
        present.Column("area_name", "Area"),
        present.Column("first_date", "First", "date"),
        present.Column("last_date", "Last", "date"),
    )
    if "approximate" in view.sites and not view.sites["approximate"].gt(0).any():
        site_columns = tuple(c for c in site_columns if c.key != "approximate")
    severity_columns = [
        present.Column(c, "Severity", "text") if c == "severity" else present.Column(c, c, "int")
        for c in view.severity.columns
    ]
    return render_template(
        "collisions.html",
        summary=summary,
        opts=opts,
        view=view,
        bundle=bundle,
        rules=rules,
        presets=load_cluster_rules(),
        max_rows=MAX_SITE_ROWS,
        map_js=_url("pages.collisions_map_js", **known_args()),
        known=known_args(),
        site_columns=present.headings(view.sites, site_columns),
        site_rows=present.cells(view.sites.head(MAX_SITE_ROWS), site_columns),
        severity_columns=severity_columns,
        severity_rows=present.cells(view.severity, severity_columns),
        ksi_columns=present.headings(view.ksi_trend, KSI_COLUMNS),
        ksi_rows=present.cells(view.ksi_trend, KSI_COLUMNS),
        present=present,
    )


@blueprint.route("/collisions/map.js")
def collisions_map_js() -> Response:
    """The collision map's bootstrap script."""
    state, _summary, opts = request_context()
    return _script(collision_results(state, opts, request_rule_options())[1])


@blueprint.route("/report")
def report() -> Response:
    """The strategic-assessment document (self-contained HTML with inline CSS, no script)."""
    state, _summary, opts = request_context()
    require_layer(opts)
    chosen = ReportOptions(
        view=opts,
        title=request.args.get("title") or DEFAULT_TITLE,
        peer_layer=request.args.get("peer_layer") or None,
        peer_code=request.args.get("peer_code") or None,
        highest_first=state.settings.positions == "highest-first",
        risk=state.settings.risk,
    )
    document = state.cached(
        ("report", chosen), lambda: report_document(state.store, state.groups, chosen)
    )
    response = Response(document, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    return response


@blueprint.route("/favicon.ico")
def favicon() -> Response:
    """No icon (answered, so browsers log no error)."""
    return Response(status=204)


def _counted(table: pd.DataFrame) -> np.ndarray:
    """Rows with an incident counted in either period."""
    total = table["previous"].fillna(0) + table["current"].fillna(0)
    return (total > 0).to_numpy(dtype=bool)


def _any_incidents(table: pd.DataFrame) -> np.ndarray:
    """Rows with an incident in either period, or with a period that has no data (shown so
    that "no data" is said, never hidden)."""
    unknown = table["previous"].isna() | table["current"].isna()
    return _counted(table) | unknown.to_numpy(dtype=bool)


def request_context(*, layer: str | None = None) -> tuple[WebState, StoreSummary, ViewOptions]:
    state = web_state()
    summary = state.summary()
    if not summary.months:
        raise NotFoundError(
            f"the store at {state.settings.store} holds no incidents yet; "
            "ingest data first (`geo-service ingest` or `geo-service demo`)"
        )
    args = dict(request.args)
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


def _area_request(
    layer: str, code: str
) -> tuple[WebState, StoreSummary, ViewOptions, tables.AreaView, CategoryGroup]:
    """For an area URL: state, store summary, options, the area's view and its map category."""
    state, summary, opts = request_context(layer=layer)
    groups = groups_for(state, summary)
    view = area_results(state, groups, code, opts)
    return state, summary, opts, view, _area_group(groups, view, request.args.get("category"))


def request_rule_options() -> RuleOptions:
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

    def make() -> tuple[CategoryView, MapBundle]:
        view = category_view_results(state, group, opts)
        density = _density(view.hotspots, _density_url(state, group, opts))
        parts, legends = map_views.category_map(
            view.areas,
            view.table,
            hotspots=_frames(view.hotspots),
            density=density,
            tiles=_tiles(state),
            roads=_roads(state),
        )
        return view, MapBundle(parts, legends, density.image.png if density else None)

    return state.cached(("category", group.name, opts.key()), make)


def _area_group(
    groups: tuple[CategoryGroup, ...], view: tables.AreaView, wanted: str | None
) -> CategoryGroup:
    if wanted:
        return context.resolve_group(groups, wanted)
    busiest = view.changes.sort_values("current", ascending=False, kind="stable")
    return (
        context.resolve_group(groups, str(busiest["group"].iloc[0])) if len(busiest) else groups[0]
    )


def _area_bundle(state: WebState, group: CategoryGroup, code: str, opts: ViewOptions) -> MapBundle:
    def make() -> MapBundle:
        view, _bundle = category_results(state, group, opts)
        focus = view.areas[view.areas["code"].astype(str) == code]
        spots = view.hotspots.clipped(focus)
        parts, legends = map_views.category_map(
            view.areas,
            view.table,
            hotspots=_frames(spots),
            density=_density(spots, _density_url(state, group, opts)),
            tiles=_tiles(state),
            focus=focus,
            roads=_roads(state),
        )
        return MapBundle(parts, legends)

    return state.cached(("area-map", group.name, code, opts.key()), make)


def collision_view(state: WebState, opts: ViewOptions, rules: RuleOptions) -> CollisionSites:
    """The (cached) collision sites, severity and KSI trend under ``rules``; no folium map."""
    # A period end the page defaulted to is the latest month of any source; the collision
    # window then ends at the latest collision instead (the collision data may end earlier).
    asked = request.args.get("period_end") or None
    return state.cached(
        ("collision-view", opts.key(), asked, rules),
        lambda: collision_services.collision_sites(
            state.store, rules, period_end=asked, layer=opts.layer or None
        ),
    )


def collision_results(
    state: WebState, opts: ViewOptions, rules: RuleOptions
) -> tuple[CollisionSites, MapBundle]:
    """The collision view and its map, as the collisions page draws it (cached)."""

    def make() -> tuple[CollisionSites, MapBundle]:
        view = collision_view(state, opts, rules)
        parts, legends = map_views.collisions_map(
            view.collisions, view.sites, areas=view.areas, tiles=_tiles(state), roads=_roads(state)
        )
        return view, MapBundle(parts, legends)

    asked = request.args.get("period_end") or None
    return state.cached(("collisions", opts.key(), asked, rules), make)


def _density_url(state: WebState, group: CategoryGroup, opts: ViewOptions) -> str:
    """The density image's URL, naming the store version so a browser never shows a stale image."""
    version = state.store.version() or ""
    return _url("pages.category_density", name=group.name, **opts.query(), v=version)


def _density(spots: CategoryHotspots, url: str) -> map_views.Density | None:
    density = spots.kde
    if density is None or density.breaks is None or density.surface is None:
        return None
    if len(density.breaks) < 2:
        return None
    grid = spots.grid
    classes = kde.classify(density.surface, density.breaks)
    classes = classes * grid.inside
    xs = grid.x0 + (0.5 + np.arange(grid.nx)) * grid.cell_m
    ys = grid.y0 + (0.5 + np.arange(grid.ny)) * grid.cell_m
    colours = SEQUENTIAL[-(len(density.breaks) - 1) :]
    image = surface_overlay(classes, xs, ys, colours=colours)
    edges = tuple(float(b) for b in density.breaks)
    return map_views.Density(image=image, url=url, edges=edges, colours=tuple(colours))


def _frames(spots: CategoryHotspots) -> map_views.HotspotFrames:
    return map_views.HotspotFrames(spots.clusters, spots.hot_cells, spots.emerging_hot)


def _roads(state: WebState) -> gpd.GeoDataFrame | None:
    """The demo's synthetic road lines as map context, when the store holds the demo."""
    if not state.summary().demo or not DEMO_ROADS.is_file():
        return None
    return state.cached(("demo-roads",), lambda: gpd.read_file(DEMO_ROADS).to_crs("EPSG:27700"))


def _tiles(state: WebState) -> map_views.Tiles:
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


def _url(endpoint: str, **values: Any) -> str:
    """``url_for`` with query values from the options (typed for any value)."""
    return url_for(endpoint, **values)


def _script(bundle: MapBundle) -> Response:
    return Response(bundle.parts.script, mimetype="text/javascript")


@blueprint.app_context_processor
def _template_helpers() -> dict[str, object]:
    def print_url() -> str:
        values: dict[str, Any] = known_args(print="1") | (request.view_args or {})
        return url_for(request.endpoint or "pages.overview", **values)

    return {"print_url": print_url}
