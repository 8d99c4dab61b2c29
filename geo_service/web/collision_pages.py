"""The collisions pages: repeat-collision sites ranked, severity, KSI trend, map and brief.

Routes of the ``pages`` blueprint (:mod:`geo_service.web.pages`).
"""

from __future__ import annotations

import io

import pandas as pd
import shapely
from flask import Response, render_template, request

from geo_service import reference
from geo_service.analysis.repeat_locations import SITE_REACH_M
from geo_service.cluster_rules import load_cluster_rules
from geo_service.projection import to_lonlat
from geo_service.schema import ROAD_TRAFFIC_COLLISION
from geo_service.services.collisions import CollisionSites
from geo_service.services.options import ViewOptions
from geo_service.web import present, results
from geo_service.web.pages import blueprint
from geo_service.web.state import WebState

#: Most sites listed on the collisions page (all of them are in the CSV and JSON exports).
MAX_SITE_ROWS = 50

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


@blueprint.route("/collisions")
def collisions() -> str:
    """Repeat-collision sites ranked, severity by year, and the collision map."""
    state, summary, opts, asked = results.collision_context()
    if ROAD_TRAFFIC_COLLISION not in summary.categories:
        # Said as what the store holds, not as a failed request: the page is linked from every
        # page, and a partnership may not have loaded its collisions yet.
        return render_template("no_collisions.html", summary=summary, present=present)
    rules = results.request_rule_options()
    view, bundle = results.collision_results(state, opts, rules, asked)
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
        map_js=results.url("pages.collisions_map_js", **results.known_args()),
        known=results.known_args(),
        site_columns=present.headings(sites, site_columns),
        site_rows=present.cells(sites.head(MAX_SITE_ROWS), site_columns),
        site_links=_site_area_links(sites.head(MAX_SITE_ROWS), opts),
        site_zoom=list(zip(sites["lat"], sites["lon"], strict=True))[:MAX_SITE_ROWS],
        severity_columns=severity_columns,
        severity_rows=present.cells(view.severity, severity_columns),
        ksi_columns=present.headings(view.ksi_trend, KSI_COLUMNS),
        ksi_rows=present.cells(view.ksi_trend, KSI_COLUMNS),
        present=present,
        reach_km=f"{SITE_REACH_M / 1000:g}",
    )


def _site_table(state: WebState, view: CollisionSites) -> tuple[pd.DataFrame, list[str]]:
    """The ranked sites with named roads nearby (reference layer), one column per year, and
    each site's lon/lat for its row's map link."""
    sites = view.sites
    if sites.empty:
        return sites.assign(streets="", lat=[], lon=[]), []
    radius = float(view.rule.radius_m) + 30.0
    streets = reference.names_near(results.roads(state), sites.geometry, radius_m=radius)
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
        results.url("pages.area", layer=opts.layer, code=str(code), **rest)
        if pd.notna(code)
        else None
        for code in sites["area_code"]
    ]


@blueprint.route("/collisions/brief.<any(pdf, png):fmt>")
def collisions_brief(fmt: str) -> Response:
    """The highways briefing pack: ranked sites on an A4 page (PDF, or PNG)."""
    from geo_service.brief.sites import SitesBrief, render_sites_brief

    state, summary, opts, asked = results.collision_context()
    rules = results.request_rule_options()
    view, _bundle = results.collision_results(state, opts, rules, asked)

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
            roads=results.roads(state),
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
    state, _summary, opts, asked = results.collision_context()
    rules = results.request_rule_options()
    return results.script(results.collision_results(state, opts, rules, asked)[1])
