"""The briefing pack: a category's patrol zones on one A4 page that needs no browser.

:func:`brief_bytes` draws the map (zones numbered, area outlines, reference roads, legend,
scale bar, north arrow) and the ranked zone table with matplotlib alone, and writes PDF or PNG.
matplotlib was chosen over WeasyPrint or reportlab because it already draws the map image, its
PDF backend needs no system libraries (WeasyPrint needs Pango) and one figure gives both the
PDF and the PNG, so the two can never differ. Pages beyond the first carry the rest of the zone
table when there are more zones than fit.
"""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd

from geo_service.brief.page import BriefInputs, render_brief
from geo_service.services.context import StoreLike, StoreSummary
from geo_service.services.patrol import PatrolZones, reference_roads

__all__ = ["BriefInputs", "brief_bytes", "write_brief"]


def brief_inputs(
    store: StoreLike, found: PatrolZones, *, area: tuple[str, str] | None = None,
    layer: str | None = None, source: str = "",
) -> BriefInputs:  # fmt: skip
    """What the page draws besides the zones: area outlines, focus area, roads, source line."""
    from geo_service.services.context import store_summary, study_layer_name

    name = area[0] if area else study_layer_name(store, layer)
    areas = store.layer(name) if name else None
    focus = None
    if area is not None and areas is not None:
        focus = areas[areas["code"].astype(str) == area[1]]
    return BriefInputs(
        areas=areas if areas is not None else gpd.GeoDataFrame(geometry=[], crs="EPSG:27700"),
        focus=focus,
        roads=reference_roads(store),
        source=source or _source_line(store_summary(store)),
        demo=store.is_demo(),
    )


def _source_line(summary: StoreSummary) -> str:
    months = summary.months
    held = f", {months[0]} to {months[-1]}" if months else ""
    return f"Source: {', '.join(summary.sources)}{held} (geo_service store)."


def brief_bytes(found: PatrolZones, inputs: BriefInputs, *, fmt: str = "pdf") -> bytes:
    """The briefing pack as PDF (every page) or PNG (the first page, 150 dpi) bytes."""
    buffer = io.BytesIO()
    render_brief(found, inputs, buffer, fmt=fmt)
    return buffer.getvalue()


def write_brief(
    found: PatrolZones,
    store: StoreLike,
    out: Path,
    *,
    fmt: str = "pdf",
    area: tuple[str, str] | None = None,
    layer: str | None = None,
    source: str = "",
) -> None:
    """Write the briefing pack of ``found`` to ``out`` (see :func:`brief_bytes`)."""
    inputs = brief_inputs(store, found, area=area, layer=layer, source=source)
    out.write_bytes(brief_bytes(found, inputs, fmt=fmt))
