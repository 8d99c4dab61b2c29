"""The patrol pages: next month's patrol zones of a category, their map, exports and brief.

Routes of the ``pages`` blueprint (:mod:`geo_service.web.pages`).
"""

from __future__ import annotations

import io
from typing import Any

from flask import Response, render_template, request

from geo_service import export
from geo_service.errors import InputError
from geo_service.services.options import ViewOptions
from geo_service.services.patrol import (
    COVERAGES,
    PatrolZones,
    area_of,
)
from geo_service.web import present, results
from geo_service.web.pages import blueprint


@blueprint.route("/patrol/<path:name>")
def patrol(name: str) -> str:
    """Next month's patrol zones of a category: map, ranked zones, reliability in words."""
    state, summary, opts = results.request_context()
    found, bundle = results.patrol_results(state, name, opts, results.coverage_asked())
    return render_template(
        "patrol.html",
        summary=summary,
        opts=opts,
        zones=found,
        bundle=bundle,
        coverages=COVERAGES,
        map_js=results.url("pages.patrol_map_js", name=found.category, **_patrol_query(opts)),
        rows=_zone_rows(found),
        present=present,
        period_note=_period_note(opts, found),
    )


@blueprint.route("/patrol/<path:name>/map.js")
def patrol_map_js(name: str) -> Response:
    """The patrol map's bootstrap script."""
    state, _summary, opts = results.request_context()
    return results.script(results.patrol_results(state, name, opts, results.coverage_asked())[1])


@blueprint.route("/api/patrol/<path:name>.<any(geojson, csv):fmt>")
def patrol_export(name: str, fmt: str) -> Response:
    """The patrol zones as GeoJSON (zones with their figures) or CSV (the ranked table)."""
    state, _summary, opts = results.request_context()
    found = results.patrol_found(state, name, opts, results.coverage_asked())
    if fmt == "csv":
        return Response(export.csv_text(found.table()), mimetype="text/csv")
    return Response(patrol_geojson(found), mimetype="application/geo+json")


@blueprint.route("/patrol/<path:name>/brief.<any(pdf, png):fmt>")
def patrol_brief(name: str, fmt: str) -> Response:
    """The A4 briefing pack of the patrol zones (PDF, or the first page as PNG)."""
    from geo_service.brief import brief_bytes, brief_inputs

    state, _summary, opts = results.request_context()
    found = results.patrol_found(state, name, opts, results.coverage_asked())
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


def _period_note(opts: ViewOptions, found: PatrolZones) -> str | None:
    """What the page says when its query asks for another period than the zones rest on: patrol
    zones are always next month's, from every month held up to the latest (the pages' links
    carry the period on, so it is not refused)."""
    if not request.args.get("period_end") or opts.period_end == found.last_month:
        return None
    return (
        f"Patrol zones are always next month's: these rest on every month held up to "
        f"{present.month_text(found.last_month)}. The period asked for (ending "
        f"{present.month_text(opts.period_end)}) does not change them."
    )


def _patrol_query(opts: ViewOptions) -> dict[str, Any]:
    return {**opts.query(), "coverage": f"{results.coverage_asked():g}"}


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
