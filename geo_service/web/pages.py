"""The HTML pages: overview, category, area (beat) and report, with their map scripts.

Each view parses the query string, fetches (cached) results from :mod:`geo_service.web.results`
and renders a template. A page's map bootstrap script and its density image have URLs of their
own beside the page (``.../map.js``, ``.../density.png``) with the same query string, so the
page needs no inline script and the image is fetched only when the density layer is switched
on. The patrol pages (:mod:`geo_service.web.patrol_pages`) and the collisions pages
(:mod:`geo_service.web.collision_pages`) add their routes to the same blueprint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from flask import Blueprint, Response, render_template, request, url_for

from geo_service.categories import ALL_CRIME, CategoryGroup, categories_of
from geo_service.coverage import Coverage
from geo_service.errors import NotFoundError
from geo_service.maps.legends import (
    BREAK_METHODS,
)
from geo_service.services import context, tables
from geo_service.services.options import ViewOptions
from geo_service.services.patrol import (
    PatrolZones,
)
from geo_service.services.report import DEFAULT_TITLE, ReportOptions, report_document
from geo_service.services.views import CategoryView
from geo_service.web import present, results
from geo_service.web.state import WebState, web_state

blueprint = Blueprint("pages", __name__)


#: First column of the area page's tables.
CATEGORY_COLUMN = present.Column("group", "Group")

LEAF_COLUMN = present.Column("group", "Category")


@blueprint.route("/")
def overview() -> str:
    """The looking-back table, monthly sparklines and links to every page."""
    state, summary, opts = results.request_context()
    view = results.overview_results(state, summary, opts)
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
        no_layer=results.NO_LAYER if not opts.layer else None,
        patrollable=_patrollable(table, results.groups_for(state, summary), state.store.coverage()),
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
    summary, opts, group, view, bundle = results.category_request(name)
    monthly = view.monthly["count"]
    return render_template(
        "category.html",
        summary=summary,
        opts=opts,
        view=view,
        bundle=bundle,
        map_js=results.url(
            "pages.category_map_js", name=group.name, **opts.query(), **results.breaks_query()
        ),
        breaks=results.chosen_breaks(),
        break_methods=BREAK_METHODS,
        columns=present.headings(view.table, present.change_columns(view.table)),
        rows=present.cells(view.table, present.change_columns(view.table)),
        area_links=_area_links(view, group, opts),
        bars=present.monthly_bars(
            list(monthly.index), list(monthly), current_from=view.current.start
        ),
        accuracy=view.hotspots.accuracy,
        patrol=results.map_zones(web_state(), group, opts),
        present=present,
        risk_adjusted=results.risk_adjusted_results(web_state(), group, opts),
    )


def _area_links(view: CategoryView, group: CategoryGroup, opts: ViewOptions) -> list[str | None]:
    """The page of each row's area (None for a row that is no area, e.g. "Unallocated")."""
    known = set(view.areas["code"].astype(str))
    rest = opts.query(without=("layer",))
    return [
        results.url("pages.area", layer=opts.layer, code=code, category=group.name, **rest)
        if code in known
        else None
        for code in view.table["code"].astype(str)
    ]


@blueprint.route("/category/<path:name>/map.js")
def category_map_js(name: str) -> Response:
    """The category map's bootstrap script."""
    return results.script(results.category_request(name)[4])


@blueprint.route("/category/<path:name>/density.png")
def category_density(name: str) -> Response:
    """A density surface of the category as a PNG overlay: ``surface=current`` (default),
    ``previous`` or ``difference``."""
    wanted = request.args.get("surface") or "current"
    pngs = dict(results.category_request(name)[4].pngs)
    if wanted not in pngs:
        raise NotFoundError(f"no {wanted} density surface for {name!r}")
    return Response(pngs[wanted], mimetype="image/png", headers={"Cache-Control": "max-age=300"})


@blueprint.route("/area/<layer>/<code>")
def area(layer: str, code: str) -> str:
    """Everything about one area for a JAG meeting: a plain-words summary first."""
    from geo_service.brief.words import beat_brief

    state, summary, opts, view, group = results.area_request(layer, code)
    rows = view.changes[_any_incidents(view.changes)]
    groups = results.groups_for(state, summary)
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
        map_js=results.url(
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
        bundle=results.area_bundle(state, group, code, opts),
        present=present,
    )


def leaf_names(groups: Sequence[CategoryGroup]) -> set[str]:
    """Groups that are one whole category (not "all crime"): each incident is in exactly one."""
    return {g.name for g in groups if context.is_plain(g) and g.include[0].category != ALL_CRIME}


def _area_zones(
    state: WebState, group: CategoryGroup, opts: ViewOptions, view: tables.AreaView
) -> PatrolZones | None:
    """The map category's patrol zones touching the area, or None when they cannot be made."""
    found = results.map_zones(state, group, opts)
    return None if found is None else found.within(view.area)


@blueprint.route("/area/<layer>/<code>/map.js")
def area_map_js(layer: str, code: str) -> Response:
    """The area map's bootstrap script."""
    state, _summary, opts, _view, group = results.area_request(layer, code)
    return results.script(results.area_bundle(state, group, code, opts))


@blueprint.route("/report")
def report() -> Response:
    """The strategic-assessment document (self-contained HTML with inline CSS, no script)."""
    state, _summary, opts = results.request_context()
    results.require_layer(opts)
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


@blueprint.app_context_processor
def _template_helpers() -> dict[str, object]:
    def print_url() -> str:
        values: dict[str, Any] = results.known_args(print="1") | (request.view_args or {})
        return url_for(request.endpoint or "pages.overview", **values)

    return {"print_url": print_url}
