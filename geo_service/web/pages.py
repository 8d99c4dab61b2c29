"""The HTML pages: overview, category, area (beat), collisions and report, with their map scripts.

Each view parses the query string, fetches (cached) results from :mod:`geo_service.services`, builds
the map with :mod:`geo_service.maps.views` and renders a template. A page's map bootstrap script and
its density image have URLs of their own beside the page (``.../map.js``, ``.../density.png``) with
the same query string, so the page needs no inline script and the image is fetched only when the
density layer is switched on.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from flask import Blueprint, Response, render_template, request, url_for

from geo_service import export, reference
from geo_service._paths import project_folder
from geo_service.categories import ALL_CRIME, CategoryGroup, categories_of
from geo_service.cluster_rules import load_cluster_rules
from geo_service.coverage import Coverage
from geo_service.errors import DataError, InputError, NotFoundError
from geo_service.maps import builders
from geo_service.maps import views as map_views
from geo_service.maps.assets import MapParts
from geo_service.maps.legends import (
    BREAK_METHODS,
    Legend,
)
from geo_service.projection import to_lonlat
from geo_service.schema import ROAD_TRAFFIC_COLLISION
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
    area_of,
    patrol_zones,
)
from geo_service.services.report import DEFAULT_TITLE, ReportOptions, report_document
from geo_service.services.views import CategoryView, category_view
from geo_service.web import present
from geo_service.web.params import rule_options, view_options
from geo_service.web.state import WebState, web_state

blueprint = Blueprint("pages", __name__)
logger = logging.getLogger(__name__)
#: Most sites listed on the collisions page (all of them are in the CSV and JSON exports).
MAX_SITE_ROWS = 50
#: Most reference road lines drawn on a page's map (numbered roads first).
MAX_ROADS = 4000
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
#: First column of the area page's tables.
CATEGORY_COLUMN = present.Column("group", "Group")
LEAF_COLUMN = present.Column("group", "Category")
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
        patrollable=_patrollable(table, groups_for(state, summary), state.store.coverage()),
        present=present,
    )


def _patrollable(
    table: pd.DataFrame, groups: Sequence[CategoryGroup], coverage: Coverage
) -> set[str]:
    """The groups a patrol map can be drawn for: formable from the data, incidents this period."""
    current = pd.to_numeric(table["current"], errors="coerce").fillna(0)
    busy = set(table.loc[(current > 0).to_numpy(), "group"].astype(str))
    return {g.name for g in groups if g.name in busy and coverage.formable(g).available}


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
        map_js=_url("pages.category_map_js", name=group.name, **opts.query(), **_breaks_query()),
        breaks=_breaks(),
        break_methods=BREAK_METHODS,
        columns=present.headings(view.table, present.change_columns(view.table)),
        rows=present.cells(view.table, present.change_columns(view.table)),
        area_links=_area_links(view, group, opts),
        bars=present.monthly_bars(
            list(monthly.index), list(monthly), current_from=view.current.start
        ),
        accuracy=view.hotspots.accuracy,
        patrol=_map_zones(web_state(), group, opts),
        present=present,
        risk_adjusted=risk_adjusted_results(web_state(), group, opts),
    )


def _area_links(view: CategoryView, group: CategoryGroup, opts: ViewOptions) -> list[str | None]:
    """The page of each row's area (None for a row that is no area, e.g. "Unallocated")."""
    known = set(view.areas["code"].astype(str))
    rest = opts.query(without=("layer",))
    return [
        _url("pages.area", layer=opts.layer, code=code, category=group.name, **rest)
        if code in known
        else None
        for code in view.table["code"].astype(str)
    ]


@blueprint.route("/category/<path:name>/map.js")
def category_map_js(name: str) -> Response:
    """The category map's bootstrap script."""
    return _script(category_request(name)[4])


@blueprint.route("/category/<path:name>/density.png")
def category_density(name: str) -> Response:
    """A density surface of the category as a PNG overlay: ``surface=current`` (default),
    ``previous`` or ``difference``."""
    wanted = request.args.get("surface") or "current"
    pngs = dict(category_request(name)[4].pngs)
    if wanted not in pngs:
        raise NotFoundError(f"no {wanted} density surface for {name!r}")
    return Response(pngs[wanted], mimetype="image/png", headers={"Cache-Control": "max-age=300"})


@blueprint.route("/patrol/<path:name>")
def patrol(name: str) -> str:
    """Next month's patrol zones of a category: map, ranked zones, reliability in words."""
    state, summary, opts = request_context()
    found, bundle = patrol_results(state, name, opts, _coverage())
    return render_template(
        "patrol.html",
        summary=summary,
        opts=opts,
        zones=found,
        bundle=bundle,
        coverages=COVERAGES,
        map_js=_url("pages.patrol_map_js", name=found.category, **_patrol_query(opts)),
        rows=_zone_rows(found),
        present=present,
    )


@blueprint.route("/patrol/<path:name>/map.js")
def patrol_map_js(name: str) -> Response:
    """The patrol map's bootstrap script."""
    state, _summary, opts = request_context()
    return _script(patrol_results(state, name, opts, _coverage())[1])


@blueprint.route("/api/patrol/<path:name>.<any(geojson, csv):fmt>")
def patrol_export(name: str, fmt: str) -> Response:
    """The patrol zones as GeoJSON (zones with their figures) or CSV (the ranked table)."""
    state, _summary, opts = request_context()
    found = patrol_found(state, name, opts, _coverage())
    if fmt == "csv":
        return Response(export.csv_text(found.table()), mimetype="text/csv")
    return Response(patrol_geojson(found), mimetype="application/geo+json")


@blueprint.route("/patrol/<path:name>/brief.<any(pdf, png):fmt>")
def patrol_brief(name: str, fmt: str) -> Response:
    """The A4 briefing pack of the patrol zones (PDF, or the first page as PNG)."""
    from geo_service.brief import brief_bytes, brief_inputs

    state, _summary, opts = request_context()
    found = patrol_found(state, name, opts, _coverage())
    area = _brief_area()
    if area is not None:
        found = found.within(area_of(state.store, *area))

    def make() -> bytes:
        inputs = brief_inputs(state.store, found, area=area, layer=opts.layer or None)
        return brief_bytes(found, inputs, fmt=fmt)

    body = state.cached(("brief", found.category, found.coverage, opts.layer, area, fmt), make)
    filename = f"patrol-{found.category}-{found.forecast_month}.{fmt}".replace(" ", "-")
    return Response(
        body,
        mimetype="application/pdf" if fmt == "pdf" else "image/png",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def _brief_area() -> tuple[str, str] | None:
    """The ``area=LAYER:CODE`` of a brief's query string, or None."""
    text = request.args.get("area") or ""
    if not text:
        return None
    layer, sep, code = text.partition(":")
    if not sep or not layer or not code:
        raise InputError(f"area {text!r}: expected LAYER:CODE, e.g. beat:D1A")
    return layer, code


def patrol_geojson(found: PatrolZones) -> str:
    """The zones as an RFC 7946 document, the forecast's figures in its metadata member."""
    stream = io.StringIO()
    export.write_geojson(found.features(), stream, meta=found.meta())
    return stream.getvalue()


def _coverage() -> float:
    text = request.args.get("coverage") or "5"
    try:
        return float(text)
    except ValueError:
        raise InputError(
            f"coverage {text!r}: expected one of {', '.join(f'{c:g}' for c in COVERAGES)}"
        ) from None


def _patrol_query(opts: ViewOptions) -> dict[str, Any]:
    return {**opts.query(), "coverage": f"{_coverage():g}"}


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
            found.zones, found.levels, areas=areas, tiles=_tiles(state), roads=_roads(state)
        )
        return MapBundle(parts, legends)

    return found, state.cached(("patrol-map", found.category, coverage, opts.layer), make)


def _zone_rows(found: PatrolZones) -> list[dict[str, Any]]:
    return [
        {
            "zone": int(row.zone),
            "share": present.percent(row.forecast_share),
            "area_km2": f"{row.area_km2:.2f}",
            "last_month": int(row.last_month),
            "last_year": int(row.last_year),
            "names": "; ".join(row.names),
            "areas": row.areas,
        }
        for row in found.zones.itertuples()
    ]


@blueprint.route("/area/<layer>/<code>")
def area(layer: str, code: str) -> str:
    """Everything about one area for a JAG meeting: a plain-words summary first."""
    from geo_service.brief.words import beat_brief

    state, summary, opts, view, group = _area_request(layer, code)
    rows = view.changes[_any_incidents(view.changes)]
    groups = groups_for(state, summary)
    brief = beat_brief(
        rows, view.monthly, present.month_text(view.current.end), leaves=leaf_names(groups),
        scope={g.name: frozenset(categories_of(g)) for g in groups},
        place=f"{view.name} ({view.code})",
    )  # fmt: skip
    leaf_columns = present.change_columns(brief.leaves, (LEAF_COLUMN,))
    group_columns = present.change_columns(brief.groups, (CATEGORY_COLUMN,))
    return render_template(
        "area.html",
        summary=summary,
        opts=opts,
        view=view,
        group=group,
        brief=brief,
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
        leaf_columns=present.headings(brief.leaves, leaf_columns),
        leaf_rows=present.cells(brief.leaves, leaf_columns),
        group_columns=present.headings(brief.groups, group_columns),
        group_rows=present.cells(brief.groups, group_columns),
        zones=_area_zones(state, group, opts, view),
        bundle=_area_bundle(state, group, code, opts),
        present=present,
    )


def leaf_names(groups: Sequence[CategoryGroup]) -> set[str]:
    """Groups that are one whole category (not "all crime"): each incident is in exactly one."""
    return {g.name for g in groups if context.is_plain(g) and g.include[0].category != ALL_CRIME}


def _area_zones(
    state: WebState, group: CategoryGroup, opts: ViewOptions, view: tables.AreaView
) -> PatrolZones | None:
    """The map category's patrol zones touching the area, or None when they cannot be made."""
    found = _map_zones(state, group, opts)
    return None if found is None else found.within(view.area)


def _map_zones(state: WebState, group: CategoryGroup, opts: ViewOptions) -> PatrolZones | None:
    """The category's patrol zones at 5 % of the area (their accuracy is the default map's), or
    None when the store cannot back-test them."""
    try:
        return patrol_found(state, group.name, opts, 5.0)
    except (InputError, DataError) as exc:
        logger.info("no patrol zones for %s: %s", group.name, exc)
        return None


@blueprint.route("/area/<layer>/<code>/map.js")
def area_map_js(layer: str, code: str) -> Response:
    """The area map's bootstrap script."""
    state, _summary, opts, _view, group = _area_request(layer, code)
    return _script(_area_bundle(state, group, code, opts))


@blueprint.route("/collisions")
def collisions() -> str:
    """Repeat-collision sites ranked, severity by year, and the collision map."""
    state, summary, opts = request_context()
    if ROAD_TRAFFIC_COLLISION not in summary.categories:
        # Said as what the store holds, not as a failed request: the page is linked from every
        # page, and a partnership may not have loaded its collisions yet.
        return render_template("no_collisions.html", summary=summary, present=present)
    rules = request_rule_options()
    view, bundle = collision_results(state, opts, rules)
    sites, years = _site_table(state, view)
    site_columns: tuple[present.Column, ...] = (
        present.Column("rank_count", "Rank", "int"),
        present.Column("road", "Road"),
        present.Column("streets", "Named roads nearby"),
        present.Column("count", "Collisions", "int"),
        *(present.Column(y, y, "int") for y in years),
        present.Column("fatal", "Fatal", "int"),
        present.Column("serious", "Serious", "int"),
        present.Column("slight", "Slight", "int"),
        present.Column("ksi", "KSI", "int"),
        present.Column("casualties", "Casualties", "int"),
        present.Column("ksi_casualties", "KSI casualties", "int"),
        present.Column("pedestrian_casualties", "Pedestrians", "int"),
        present.Column("cyclist_casualties", "Cyclists", "int"),
        present.Column("motorcyclist_casualties", "Motorcyclists", "int"),
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
        site_columns=present.headings(sites, site_columns),
        site_rows=present.cells(sites.head(MAX_SITE_ROWS), site_columns),
        site_links=_site_area_links(sites.head(MAX_SITE_ROWS), opts),
        site_zoom=list(zip(sites["lat"], sites["lon"], strict=True))[:MAX_SITE_ROWS],
        severity_columns=severity_columns,
        severity_rows=present.cells(view.severity, severity_columns),
        ksi_columns=present.headings(view.ksi_trend, KSI_COLUMNS),
        ksi_rows=present.cells(view.ksi_trend, KSI_COLUMNS),
        present=present,
    )


def _site_table(state: WebState, view: CollisionSites) -> tuple[pd.DataFrame, list[str]]:
    """The ranked sites with named roads nearby (reference layer), one column per year, and
    each site's lon/lat for its row's map link."""
    sites = view.sites
    if sites.empty:
        return sites.assign(streets="", lat=[], lon=[]), []
    radius = float(view.rule.radius_m) + 30.0
    streets = reference.names_near(_roads(state), sites.geometry, radius_m=radius)
    lonlat = to_lonlat(sites.geometry.representative_point().to_numpy())
    years = present.year_columns(sites["by_year"]) if "by_year" in sites else pd.DataFrame()
    table = pd.concat([sites.reset_index(drop=True), years.reset_index(drop=True)], axis=1)
    table = table.assign(streets=streets, lat=shapely.get_y(lonlat).round(6),
                         lon=shapely.get_x(lonlat).round(6))  # fmt: skip
    return table, list(years.columns)


def _site_area_links(sites: pd.DataFrame, opts: ViewOptions) -> list[str | None]:
    if "area_code" not in sites or not opts.layer:
        return [None] * len(sites)
    rest = opts.query(without=("layer",))
    return [
        _url("pages.area", layer=opts.layer, code=str(code), **rest) if pd.notna(code) else None
        for code in sites["area_code"]
    ]


@blueprint.route("/collisions/brief.<any(pdf, png):fmt>")
def collisions_brief(fmt: str) -> Response:
    """The highways briefing pack: ranked sites on an A4 page (PDF, or PNG)."""
    from geo_service.brief.sites import SitesBrief, render_sites_brief

    state, summary, opts = request_context()
    rules = request_rule_options()
    view, _bundle = collision_results(state, opts, rules)

    def make() -> bytes:
        sites, _years = _site_table(state, view)
        brief = SitesBrief(
            title=f"Repeat-collision sites to {present.month_text(view.period_end)}",
            rule=(
                f"Sites with at least {view.rule.min_count} collisions within "
                f"{view.rule.radius_m:g} m over {view.rule.years} years ({view.rule.name} rule): "
                f"{len(view.sites)}; the first {min(len(view.sites), 20)} are numbered on the map "
                "and listed below."
            ),
            sites=sites,
            collisions=view.collisions,
            areas=view.areas,
            roads=_roads(state),
            source=f"Source: {', '.join(summary.sources)} (geo_service store).",
        )
        buffer = io.BytesIO()
        render_sites_brief(brief, buffer, fmt=fmt)
        return buffer.getvalue()

    asked = request.args.get("period_end") or None
    body = state.cached(("collisions-brief", opts.key(), asked, rules, fmt), make)
    return Response(
        body,
        mimetype="application/pdf" if fmt == "pdf" else "image/png",
        headers={"Content-Disposition": f'inline; filename="collision-sites.{fmt}"'},
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

    breaks = _breaks()

    def make() -> tuple[CategoryView, MapBundle]:
        view = category_view_results(state, group, opts)
        density = _density(view, lambda s: _density_url(state, group, opts, s))
        zones = _map_zones(state, group, opts)
        parts, legends = map_views.category_map(
            view.areas,
            view.table,
            hotspots=_frames(view.hotspots),
            density=density,
            tiles=_tiles(state),
            roads=_roads(state),
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


def _breaks_query() -> dict[str, str]:
    """``breaks=`` for a map script's URL, when not the default."""
    chosen = _breaks()
    return {} if chosen == "quantiles" else {"breaks": chosen}


def _breaks() -> str:
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


def _area_bundle(state: WebState, group: CategoryGroup, code: str, opts: ViewOptions) -> MapBundle:
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
            tiles=_tiles(state),
            focus=focus,
            roads=_roads(state),
            breaks=breaks,
        )
        return MapBundle(parts, legends)

    breaks = _breaks()
    return state.cached(("area-map", group.name, code, opts.key(), breaks), make)


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


def _density_url(state: WebState, group: CategoryGroup, opts: ViewOptions, surface: str) -> str:
    """A density image's URL, naming the store version so a browser never shows a stale image."""
    version = state.store.version() or ""
    return _url(
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
    return map_views.density_overlays(
        found.grid, density.surface, density.previous_surface, density.breaks, url=url,
        periods=(view.previous.label, view.current.label),
    )  # fmt: skip


def _frames(spots: CategoryHotspots) -> map_views.HotspotFrames:
    return map_views.HotspotFrames(spots.clusters, spots.hot_cells, spots.emerging_hot)


def streets_loaded(state: WebState) -> bool:
    """Whether the maps draw streets of their own (a roads reference layer, or the demo's)."""
    return _roads(state) is not None


def _roads(state: WebState) -> gpd.GeoDataFrame | None:
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
