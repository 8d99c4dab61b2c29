"""The API and exports: every table as CSV and JSON, every layer as GeoJSON.

Views parse the request, take the (cached) service results the pages use, and write them with
:mod:`geo_service.export`, as the CLI does: formula-neutralised CSV, JSON records, RFC 7946
GeoJSON. Every answer carries an ETag and Last-Modified from the store version, so a client
can ask again cheaply (``If-None-Match`` gives 304).
"""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any

import geopandas as gpd
import pandas as pd
from flask import Blueprint, Response, request

from geo_service import export
from geo_service.errors import InputError
from geo_service.maps import views as map_views
from geo_service.maps.builders import drawn_collisions
from geo_service.schema import CRS
from geo_service.services import context, tables
from geo_service.services import hotspots as hotspot_services
from geo_service.services import rates as rate_services
from geo_service.services.collisions import sites_meta
from geo_service.services.evaluation import evaluate, evaluation_document
from geo_service.services.options import METHODS, HotspotOptions, ViewOptions
from geo_service.services.views import CategoryView
from geo_service.web import results
from geo_service.web.params import asked_period, evaluate_options, hotspot_options, shift_options
from geo_service.web.security import content_disposition
from geo_service.web.state import web_state

blueprint = Blueprint("api", __name__)

_FMT = "<any(csv, json, xlsx):fmt>"
#: Properties of each collision point.
POINT_COLUMNS = ("incident_id", "month", "severity", "road_1", "road_2", "location_text")
#: Boundary simplification of area layers served to maps (metres; shared edges kept shared).
SIMPLIFY_M = 50.0
_MIMETYPES = {
    "csv": "text/csv",
    "json": "application/json",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "gpkg": "application/geopackage+sqlite3",
}


def _cached_response(body: str | bytes, mimetype: str, **headers: str) -> Response:
    """``body`` with the store version's ETag and Last-Modified; 304 when the client has it."""
    state = web_state()
    tags = export.cache_headers(
        state.store.version(),
        request.path,
        request.args.to_dict(flat=False),
        modified=_published(state.store),
    )
    # ``If-None-Match`` is answered (304) for every request in the app's after-request step, so
    # that a cached answer is checked against each request's own headers.
    return Response(body, mimetype=mimetype, headers={**tags, **headers})


def _published(store: object) -> datetime | None:
    """When the store's current version was published (its manifest says), if it says."""
    manifest = getattr(store, "manifest", None)
    stamp = getattr(manifest(), "published_at", None) if callable(manifest) else None
    try:
        return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        return None


def table_response(frame: pd.DataFrame, fmt: str, *, name: str) -> Response:
    """``frame`` as a formula-safe CSV or Excel download, or a JSON array of records."""
    headers = {"Content-Disposition": content_disposition(f"{name}.{fmt}")}
    if fmt in ("xlsx", "gpkg"):
        return _cached_response(_file_bytes(frame, fmt, name), _MIMETYPES[fmt], **headers)
    buffer = io.StringIO()
    export.export_frame(frame, fmt, out=buffer)
    return _cached_response(buffer.getvalue(), _MIMETYPES[fmt], **(headers if fmt == "csv" else {}))


def _file_bytes(frame: pd.DataFrame, fmt: str, name: str) -> bytes:
    buffer = io.BytesIO()
    export.export_frame(frame, fmt, out=buffer, layer=name)
    return buffer.getvalue()


def geojson_response(
    layer: gpd.GeoDataFrame,
    *,
    columns: list[str] | None = None,
    meta: dict[str, Any] | None = None,
    simplify_m: float | None = None,
) -> Response:
    """``layer`` as RFC 7946 GeoJSON (WGS84, counter-clockwise rings), ``meta`` as a member."""
    chosen = columns if columns is not None else [c for c in layer.columns if c != "geometry"]
    frame = layer[[c for c in chosen if c in layer.columns] + ["geometry"]]
    document = export.geojson_document(frame, meta=meta, simplify_m=simplify_m)
    return _cached_response(json.dumps(document, ensure_ascii=False), "application/geo+json")


@blueprint.route(f"/looking-back.{_FMT}")
def looking_back(fmt: str) -> Response:
    """The overview's looking-back table."""
    state, summary, opts = results.request_context()
    view = results.overview_results(state, summary, opts)
    return table_response(view.table, fmt, name=f"looking-back-{opts.period_end}")


@blueprint.route(f"/forces.{_FMT}")
def forces(fmt: str) -> Response:
    """Incidents per reporting force (police.uk ``Reported by``) in both periods."""
    state, _summary, opts = results.request_context()
    result = state.cached(
        ("forces", opts.key()), lambda: tables.reporting_forces(state.store, opts)
    )
    return table_response(result.table, fmt, name=f"forces-{opts.period_end}")


@blueprint.route(f"/category/<path:name>/change.{_FMT}")
def change_table(name: str, fmt: str) -> Response:
    """The change table of a category by area (without the page's maps)."""
    opts, result = _change_by_area(name)
    return table_response(result.table, fmt, name=f"change-{result.layer}-{opts.period_end}")


@blueprint.route(f"/category/<path:name>/monthly.{_FMT}")
def monthly(name: str, fmt: str) -> Response:
    """Monthly counts of a category over both periods."""
    opts, result = _change_by_area(name)
    return table_response(result.monthly.reset_index(), fmt, name=f"monthly-{opts.period_end}")


def _change_by_area(name: str) -> tuple[ViewOptions, tables.ChangeByArea]:
    """The (cached) change table of category ``name``: the tables alone, no hotspot maps."""
    state, summary, opts = results.request_context()
    results.require_layer(opts)
    group = context.resolve_group(results.groups_for(state, summary), name)
    result = state.cached(
        ("change", group.name, opts.key()),
        lambda: tables.change_by_area(state.store, group, opts),
    )
    return opts, result


@blueprint.route("/category/<path:name>/hotspots.geojson")
def hotspots_geojson(name: str) -> Response:
    """The category's DBSCAN clusters (current period) as polygons."""
    return _map_response(_category_view(name).hotspots.dbscan)


@blueprint.route("/category/<path:name>/areas.geojson")
def areas_geojson(name: str) -> Response:
    """The area layer with the category's counts and change (the choropleth values)."""
    view = _category_view(name)
    return geojson_response(map_views.area_values(view.areas, view.table), simplify_m=SIMPLIFY_M)


@blueprint.route("/category/<path:name>/hot-cells.geojson")
def hot_cells_geojson(name: str) -> Response:
    """The category's Gi* hot grid cells (current period) with their counts and confidence."""
    return geojson_response(_category_view(name).hotspots.hot_cells)


@blueprint.route("/category/<path:name>/emerging.geojson")
def emerging_geojson(name: str) -> Response:
    """The category's emerging-hotspot cells, every class (as ``hotspots --method emerging``)."""
    return _map_response(_category_view(name).hotspots.emerging)


@blueprint.route("/category/<path:name>/hotspots/<method>.<any(geojson, gpkg, csv):fmt>")
def hotspot_map_geojson(name: str, method: str, fmt: str) -> Response:
    """One hotspot map with its accuracy, for any method and options the CLI takes.

    Query: the page options plus ``cell_m``, ``hex``, ``bandwidth_m``, ``eps_m``,
    ``min_samples``, ``permutations``, ``seed``, ``areas``, ``step_months``, ``accuracy``.
    """
    state, _summary, opts = results.request_context()
    chosen: HotspotOptions = hotspot_options(
        request.args, category=name, method=method, view=opts, methods=METHODS
    )
    result = state.cached(
        ("hotspot-map", chosen),
        lambda: hotspot_services.hotspot_map(state.store, state.groups, chosen),
    )
    if fmt != "geojson":
        # As the CLI: CSV lists a KDE map's cells, a GeoPackage its merged class polygons.
        frame = result.frame if fmt == "csv" else result.drawn
        return table_response(frame, fmt, name=f"hotspots-{method}-{result.meta['period_end']}")
    return geojson_response(result.drawn, meta=result.meta)


@blueprint.route("/category/<path:name>/shifts.<any(geojson, csv, json):fmt>")
def shifts(name: str, fmt: str) -> Response:
    """Change of the category per area (or grid cell: ``cells=1``, ``cell_m``, ``hex=1``)
    between the two periods of the page options, with p, q and a label."""
    state, _summary, opts = results.request_context()
    chosen = shift_options(request.args, category=name, view=opts)
    result = state.cached(
        ("shifts", chosen), lambda: hotspot_services.shifts(state.store, state.groups, chosen)
    )
    if fmt == "geojson":
        return geojson_response(result.frame, meta=result.meta)
    table = export.with_centroid(result.frame)
    return table_response(table, fmt, name=f"shifts-{opts.period_end}")


@blueprint.route("/category/<path:name>/evaluation.json")
def evaluation(name: str) -> Response:
    """The backtest of every hotspot method on the category (as ``geo-service evaluate``)."""
    state, _summary, opts = results.request_context()
    chosen = evaluate_options(request.args, category=name, view=opts)
    kinds = request.args.get("map_kinds", "0")
    if kinds not in ("0", "1"):
        raise InputError(f"map_kinds={kinds!r}: expected 0 or 1")
    result = state.cached(
        ("evaluate", chosen, kinds),
        lambda: evaluate(state.store, state.groups, chosen, with_map_kinds=kinds == "1"),
    )
    body = evaluation_document(result, result.summary)
    return _cached_response(json.dumps(body, ensure_ascii=False), "application/json")


@blueprint.route("/category/<path:name>/rates.<any(csv, json, geojson, gpkg, xlsx):fmt>")
def rates(name: str, fmt: str) -> Response:
    """Incidents per 1,000 residents per area of the page's layer and period (as
    ``geo-service rates``); ``cells=1``: per grid cell with the dual (risk-adjusted) KDE."""
    state, _summary, opts = results.request_context()
    cells = request.args.get("cells", "0")
    if cells not in ("0", "1"):
        raise InputError(f"cells={cells!r}: allowed: 0, 1")
    period = asked_period(request.args, opts)  # left out: as the CLI's `rates` chooses
    result = state.cached(
        ("rates", name, period["period_end"], period["months"], opts.layer),
        lambda: rate_services.rates_for_period(
            state.store, state.groups, name, **period, layer=opts.layer or None
        ),
    )
    frame, stem = result.frame(cells=cells == "1"), f"rates-{result.layer}-{result.month_to}"
    buffer: io.BytesIO | io.StringIO = io.BytesIO() if fmt in ("gpkg", "xlsx") else io.StringIO()
    export.export_frame(frame, fmt, out=buffer, meta=result.meta, layer="rates")
    mimetype = "application/geo+json" if fmt == "geojson" else _MIMETYPES[fmt]
    disposition = {"Content-Disposition": content_disposition(f"{stem}.{fmt}")}
    return _cached_response(buffer.getvalue(), mimetype, **(disposition if fmt != "json" else {}))


def _map_response(found: hotspot_services.HotspotMap | None) -> Response:
    if found is None:
        empty = gpd.GeoDataFrame({"count": pd.Series(dtype="int64")}, geometry=[], crs=CRS)
        return geojson_response(empty)
    return geojson_response(found.frame, meta=found.meta)


def _category_view(name: str) -> CategoryView:
    """The category's tables and hotspot maps (cached with the page's), without its map."""
    state, summary, opts = results.request_context()
    group = context.resolve_group(results.groups_for(state, summary), name)
    return results.category_view_results(state, group, opts)


@blueprint.route(f"/area/<layer>/<code>/changes.{_FMT}")
def area_changes(layer: str, code: str, fmt: str) -> Response:
    """Every category's change in one area."""
    state, summary, opts = results.request_context(layer=layer)
    groups = results.groups_for(state, summary)
    view = results.area_results(state, groups, code, opts)
    return table_response(view.changes, fmt, name=f"area-{code}-{opts.period_end}")


@blueprint.route("/layers/<layer>.geojson")
def layer_geojson(layer: str) -> Response:
    """A stored area layer (boundaries simplified together, so neighbours do not overlap)."""
    state = web_state()
    frame = state.cached(("layer", layer), lambda: state.store.layer(layer))
    return geojson_response(
        frame,
        columns=["code", "name", "parent", "population", "households"],
        simplify_m=SIMPLIFY_M,
    )


@blueprint.route(f"/collisions/sites.{_FMT}")
def sites(fmt: str) -> Response:
    """Repeat-collision sites in the layer's areas under the rule in the query string."""
    state, _summary, opts, asked = results.collision_context()
    view = results.collision_view(state, opts, results.request_rule_options(), asked)
    table = export.with_centroid(view.sites)
    return table_response(table, fmt, name=f"collision-sites-{view.period_end}")


@blueprint.route(f"/collisions/outside.{_FMT}")
def sites_outside(fmt: str) -> Response:
    """Repeat-collision sites outside every area of the layer (reported apart)."""
    state, _summary, opts, asked = results.collision_context()
    view = results.collision_view(state, opts, results.request_rule_options(), asked)
    table = export.with_centroid(view.outside)
    return table_response(table, fmt, name=f"collision-sites-outside-{view.period_end}")


@blueprint.route(f"/collisions/ksi.{_FMT}")
def ksi_trend(fmt: str) -> Response:
    """Recorded and severity-adjusted KSI collisions per whole calendar year."""
    state, _summary, opts, asked = results.collision_context()
    view = results.collision_view(state, opts, results.request_rule_options(), asked)
    return table_response(view.ksi_trend, fmt, name=f"ksi-trend-{view.period_end}")


@blueprint.route("/collisions/sites.geojson")
def sites_geojson() -> Response:
    """Repeat-collision sites as points (as ``repeat-locations --format geojson``)."""
    state, _summary, opts, asked = results.collision_context()
    view = results.collision_view(state, opts, results.request_rule_options(), asked)
    return geojson_response(view.sites, meta=sites_meta(view))


@blueprint.route("/collisions/points.geojson")
def collision_points() -> Response:
    """The collisions the map draws (rule window): most severe first, at most ``MAX_POINTS``."""
    state, _summary, opts, asked = results.collision_context()
    view = results.collision_view(state, opts, results.request_rule_options(), asked)
    drawn = drawn_collisions(view.collisions)
    points = gpd.GeoDataFrame(
        drawn[[c for c in POINT_COLUMNS if c in drawn.columns]],
        geometry=gpd.points_from_xy(drawn["x"], drawn["y"]),
        crs=CRS,
    )
    return geojson_response(points)


@blueprint.route(f"/collisions/severity.{_FMT}")
def severity(fmt: str) -> Response:
    """Collisions per severity and year."""
    state, _summary, opts, asked = results.collision_context()
    view = results.collision_view(state, opts, results.request_rule_options(), asked)
    return table_response(view.severity, fmt, name=f"collision-severity-{view.period_end}")


@blueprint.route("/summary.json")
def summary() -> Response:
    """Months, sources, categories and layers held."""
    state, held, _opts = results.request_context()
    body = {
        "months": list(held.months),
        "sources": list(held.sources),
        "categories": list(held.categories),
        "layers": list(held.layers),
        "demo": held.demo,
        "store_version": state.store.version(),
    }
    return _cached_response(json.dumps(body), "application/json")
