"""The API and exports: every table as CSV and JSON, every layer as GeoJSON.

Tables come from the same cached service results as the pages. CSV cells that a spreadsheet would
read as a formula (text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return) get a
leading apostrophe. GeoJSON is EPSG:4326, boundaries simplified to 20 m, coordinates rounded to 6
decimals; text is not HTML-escaped here (it is data, not markup).
"""

from __future__ import annotations

import io
import json

import geopandas as gpd
import pandas as pd
from flask import Blueprint, Response

from geo_service.cli._output import records
from geo_service.maps import views as map_views
from geo_service.maps.builders import drawn_collisions
from geo_service.maps.geojson import light_geojson
from geo_service.schema import CRS
from geo_service.web import pages, services
from geo_service.web.state import web_state

blueprint = Blueprint("api", __name__)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FMT = "<any(csv, json):fmt>"
#: Properties of each collision point.
POINT_COLUMNS = ("incident_id", "month", "severity", "road_1", "road_2", "location_text")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot start a spreadsheet formula."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column]):
            out[column] = out[column].map(_neutralise, na_action="ignore")
    return out


def _neutralise(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def table_response(frame: pd.DataFrame, fmt: str, *, name: str) -> Response:
    """``frame`` as a CSV download or a JSON array of records."""
    if fmt == "csv":
        buffer = io.StringIO()
        csv_safe(frame).to_csv(buffer, index=False, lineterminator="\n")
        headers = {"Content-Disposition": f'attachment; filename="{name}.csv"'}
        return Response(buffer.getvalue(), mimetype="text/csv", headers=headers)
    body = json.dumps(records(frame), ensure_ascii=False)
    return Response(body, mimetype="application/json")


def geojson_response(layer: gpd.GeoDataFrame, *, columns: list[str] | None = None) -> Response:
    """``layer`` as light GeoJSON (simplified, rounded, EPSG:4326)."""
    chosen = columns if columns is not None else [c for c in layer.columns if c != "geometry"]
    data = light_geojson(layer, properties=[c for c in chosen if c in layer.columns])
    return Response(json.dumps(data, ensure_ascii=False), mimetype="application/geo+json")


@blueprint.route(f"/looking-back.{_FMT}")
def looking_back(fmt: str) -> Response:
    """The overview's looking-back table."""
    state, summary, opts = pages.request_context()
    view = pages.overview_results(state, summary, opts)
    return table_response(view.table, fmt, name=f"looking-back-{opts.period_end}")


@blueprint.route(f"/category/<name>/change.{_FMT}")
def change_table(name: str, fmt: str) -> Response:
    """The change table of a category by area."""
    _summary, opts, _group, view, _bundle = pages.category_request(name)
    return table_response(view.table, fmt, name=f"change-{opts.layer}-{opts.period_end}")


@blueprint.route(f"/category/<name>/monthly.{_FMT}")
def monthly(name: str, fmt: str) -> Response:
    """Monthly counts of a category over both periods."""
    _summary, opts, _group, view, _bundle = pages.category_request(name)
    return table_response(view.monthly.reset_index(), fmt, name=f"monthly-{opts.period_end}")


@blueprint.route("/category/<name>/hotspots.geojson")
def hotspots_geojson(name: str) -> Response:
    """The category's point clusters (current period) as polygons."""
    return geojson_response(_category_view(name).hotspots.clusters)


@blueprint.route("/category/<name>/areas.geojson")
def areas_geojson(name: str) -> Response:
    """The area layer with the category's counts and change (the choropleth values)."""
    view = _category_view(name)
    return geojson_response(map_views.area_values(view.areas, view.table))


@blueprint.route("/category/<name>/hot-cells.geojson")
def hot_cells_geojson(name: str) -> Response:
    """The category's Gi* hot grid cells (current period) with their counts and confidence."""
    return geojson_response(_category_view(name).hotspots.hot_cells)


@blueprint.route("/category/<name>/emerging.geojson")
def emerging_geojson(name: str) -> Response:
    """The category's emerging-hotspot grid cells (the hot classes) with their pattern."""
    return geojson_response(_category_view(name).hotspots.emerging)


def _category_view(name: str) -> services.CategoryView:
    return pages.category_request(name)[3]


@blueprint.route(f"/area/<layer>/<code>/changes.{_FMT}")
def area_changes(layer: str, code: str, fmt: str) -> Response:
    """Every category's change in one area."""
    state, summary, opts = pages.request_context(layer=layer)
    groups = pages.groups_for(state, summary)
    view = pages.area_results(state, groups, code, opts)
    return table_response(view.changes, fmt, name=f"area-{code}-{opts.period_end}")


@blueprint.route("/layers/<layer>.geojson")
def layer_geojson(layer: str) -> Response:
    """A stored area layer."""
    state = web_state()
    frame = state.cached(("layer", layer), lambda: state.store.layer(layer))
    return geojson_response(frame, columns=["code", "name", "parent", "population", "households"])


@blueprint.route(f"/collisions/sites.{_FMT}")
def sites(fmt: str) -> Response:
    """Repeat-collision sites under the rule in the query string."""
    state, _summary, opts = pages.request_context()
    view, _bundle = pages.collision_results(state, opts, pages.request_rule_options())
    table = pd.DataFrame(view.sites.drop(columns="geometry"))
    return table_response(table, fmt, name=f"collision-sites-{opts.period_end}")


@blueprint.route("/collisions/sites.geojson")
def sites_geojson() -> Response:
    """Repeat-collision sites as points."""
    state, _summary, opts = pages.request_context()
    view, _bundle = pages.collision_results(state, opts, pages.request_rule_options())
    return geojson_response(view.sites.drop(columns=["collision_ids"], errors="ignore"))


@blueprint.route("/collisions/points.geojson")
def collision_points() -> Response:
    """The collisions the map draws (rule window): most severe first, at most ``MAX_POINTS``."""
    state, _summary, opts = pages.request_context()
    view, _bundle = pages.collision_results(state, opts, pages.request_rule_options())
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
    state, _summary, opts = pages.request_context()
    view, _bundle = pages.collision_results(state, opts, pages.request_rule_options())
    return table_response(view.severity, fmt, name=f"collision-severity-{opts.period_end}")


@blueprint.route("/summary.json")
def summary() -> Response:
    """Months, sources, categories and layers held."""
    state, held, _opts = pages.request_context()
    body = {
        "months": list(held.months),
        "sources": list(held.sources),
        "categories": list(held.categories),
        "layers": list(held.layers),
        "synthetic": held.synthetic,
        "store_version": state.store.version(),
    }
    return Response(json.dumps(body), mimetype="application/json")
