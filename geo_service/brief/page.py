"""Drawing the briefing pack's A4 page with matplotlib (no pyplot state, no browser)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely

from geo_service.services.patrol import PatrolZones

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: A4 portrait in inches.
A4_IN = (8.27, 11.69)
ZONE_COLOUR = "#b30000"
ROAD_COLOUR = "#7f6f5f"
#: Zone rows on the first page (under the map) and on each further page.
FIRST_PAGE_ROWS = 12
LATER_PAGE_ROWS = 40
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True, eq=False)
class BriefInputs:
    """What the page draws besides the zones.

    Attributes
    ----------
    areas
        Area outlines (EPSG:27700), drawn thin.
    focus
        One area drawn thick and zoomed to (a beat's brief), or None.
    roads
        Reference road lines with ``name`` and ``ref``, or None.
    source
        Where the incidents come from (a line of text).
    demo
        Whether the data are the synthetic demo's (said on the page).
    """

    areas: gpd.GeoDataFrame
    focus: gpd.GeoDataFrame | None
    roads: gpd.GeoDataFrame | None
    source: str
    demo: bool


def render_brief(found: PatrolZones, inputs: BriefInputs, out: IO[bytes], *, fmt: str) -> None:
    """Draw the pack and write it to ``out`` as ``fmt`` (``"pdf"``: all pages; ``"png"``: the
    first page)."""
    from matplotlib.backends.backend_pdf import PdfPages

    pages = [_first_page(found, inputs)]
    rest = found.zones.iloc[FIRST_PAGE_ROWS:]
    for start in range(0, len(rest), LATER_PAGE_ROWS):
        pages.append(_table_page(found, rest.iloc[start : start + LATER_PAGE_ROWS]))
    if fmt == "png":
        pages[0].savefig(out, format="png", dpi=150)
        return
    with PdfPages(out, metadata={"Title": _title(found), "Creator": "geo_service"}) as pdf:
        for figure in pages:
            pdf.savefig(figure)


def _title(found: PatrolZones) -> str:
    where = f" in {found.focus}" if found.focus else ""
    return f"Patrol zones{where}: {found.category}, forecast for {_month(found.forecast_month)}"


def _month(month: str) -> str:
    year, number = month.split("-")
    return f"{MONTHS[int(number) - 1]} {year}"


def _first_page(found: PatrolZones, inputs: BriefInputs) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_IN)
    title = _title(found)
    # 14 pt bold fits about 60 characters across A4: a longer title (an area's) is set smaller
    figure.text(0.06, 0.965, title, fontsize=min(14.0, 14.0 * 60 / len(title)), weight="bold",
                va="top")  # fmt: skip
    lines = [found.statement()]
    if len(found.zones) > FIRST_PAGE_ROWS:
        lines.append(
            f"This page lists zones 1 to {FIRST_PAGE_ROWS} (the map numbers them all); zones "
            f"{FIRST_PAGE_ROWS + 1} to {len(found.zones)} follow on the next pages."
        )
    if inputs.demo:
        lines.append("DEMONSTRATION DATA: synthetic geography, roads and incidents.")
    figure.text(0.06, 0.935, _wrapped(" ".join(lines), 110), fontsize=8.5, va="top")
    axes = figure.add_axes((0.06, 0.40, 0.88, 0.46))
    _draw_map(axes, found, inputs)
    _legend(axes, found, inputs)
    _scale_bar(axes)
    _north_arrow(axes)
    _zone_table(figure, found.zones.head(FIRST_PAGE_ROWS), found, top=0.375)
    _footer(figure, found, inputs)
    return figure


def _table_page(found: PatrolZones, zones: gpd.GeoDataFrame) -> Figure:
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_IN)
    figure.text(0.06, 0.965, _title(found) + " (continued)", fontsize=12, weight="bold", va="top")
    _zone_table(figure, zones, found, top=0.93)
    return figure


def _wrapped(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width))


def _draw_map(axes: Axes, found: PatrolZones, inputs: BriefInputs) -> None:
    zones = found.zones
    extent = inputs.focus if inputs.focus is not None and len(inputs.focus) else zones
    if extent is None or extent.empty:
        extent = inputs.areas
    minx, miny, maxx, maxy = extent.total_bounds
    pad = max(maxx - minx, maxy - miny) * 0.08 + 300.0
    box = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    if len(inputs.areas):
        inputs.areas.boundary.plot(ax=axes, color="#555555", linewidth=0.5)
    if inputs.roads is not None and len(inputs.roads):
        roads = inputs.roads.cx[box[0] : box[2], box[1] : box[3]]
        roads.plot(ax=axes, color=ROAD_COLOUR, linewidth=1.2)
        _road_labels(axes, roads, box)
    for coverage, outline in zip(found.levels["coverage"], found.levels.geometry, strict=True):
        if float(coverage) != found.coverage and outline is not None and not outline.is_empty:
            style = "--" if coverage > found.coverage else ":"
            gpd.GeoSeries([outline]).boundary.plot(
                ax=axes, color="#fc8d59" if coverage > found.coverage else "#67000d",
                linewidth=0.8, linestyle=style,
            )  # fmt: skip
    if len(zones):
        zones.plot(ax=axes, color=ZONE_COLOUR, alpha=0.35, edgecolor=ZONE_COLOUR, linewidth=1.2)
        gap = (box[2] - box[0]) * 0.03  # about a number's width on the page
        placed: list[tuple[float, float]] = []
        # A zone reaching beyond the frame (an area's brief) is numbered on its part inside it.
        frame = shapely.box(*box)
        shown = zones.geometry.intersection(frame)
        shown = shown.where(~shown.is_empty, zones.geometry)
        for point, number in zip(shown.representative_point(), zones["zone"], strict=True):
            x, y = _free_spot(point.x, point.y, placed, gap)
            placed.append((x, y))
            moved = (x, y) != (point.x, point.y)
            axes.annotate(
                str(int(number)), (point.x, point.y), xytext=(x, y), ha="center", va="center",
                fontsize=7, color="white", weight="bold",
                bbox={"boxstyle": "circle,pad=0.2", "fc": ZONE_COLOUR, "ec": "white", "lw": 0.8},
                arrowprops={"arrowstyle": "-", "color": ZONE_COLOUR, "lw": 0.8} if moved else None,
            )  # fmt: skip
    if inputs.focus is not None and len(inputs.focus):
        inputs.focus.boundary.plot(ax=axes, color="#000000", linewidth=2.0)
    frame_map(axes, box)


def frame_map(axes: Axes, box: Sequence[float]) -> None:
    """Show exactly ``box`` (``minx, miny, maxx, maxy`` in metres, EPSG:27700) at equal scale,
    with no ticks or axis labels: the map frame every briefing pack draws."""
    axes.set_xlim(box[0], box[2])
    axes.set_ylim(box[1], box[3])
    axes.set_aspect("equal")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.set_xlabel("")
    axes.set_ylabel("")


def _free_spot(
    x: float, y: float, placed: list[tuple[float, float]], gap: float
) -> tuple[float, float]:
    """``(x, y)``, or the nearest of rings of positions around it that is at least ``gap`` from
    every label already placed, so no number hides another (a leader line joins it to its site)."""
    candidates = [(x, y)] + [
        (x + ring * gap * dx, y + ring * gap * dy)
        for ring in (1, 2, 3)
        for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1.4), (1.4, 0), (0, -1.4), (-1.4, 0))
    ]
    for cx, cy in candidates:
        if all((cx - px) ** 2 + (cy - py) ** 2 >= gap**2 for px, py in placed):
            return cx, cy
    return candidates[-1]


def _road_labels(axes: Axes, roads: gpd.GeoDataFrame, box: tuple[float, ...]) -> None:
    """The longest stretch of each named road, labelled once at its middle."""
    labels = roads.assign(_label=[n or r for n, r in zip(roads["name"], roads["ref"], strict=True)])
    labels = labels[labels["_label"].astype(str).str.len() > 0]
    labels = labels.assign(_m=labels.length).sort_values("_m", ascending=False)
    labels = labels.drop_duplicates("_label").head(12)
    for geometry, text in zip(labels.geometry, labels["_label"], strict=True):
        point = geometry.interpolate(0.5, normalized=True)
        if box[0] < point.x < box[2] and box[1] < point.y < box[3]:
            axes.annotate(
                str(text), (point.x, point.y), fontsize=6, color="#3b2f24", ha="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75},
            )  # fmt: skip


def _legend(axes: Axes, found: PatrolZones, inputs: BriefInputs) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Patch(fc=ZONE_COLOUR, alpha=0.5, ec=ZONE_COLOUR,
              label=f"Patrol zone (top {found.coverage:g} % of area), numbered by rank"),
        Line2D([], [], color="#555555", lw=0.5, label="Area boundary"),
    ]  # fmt: skip
    if inputs.roads is not None and len(inputs.roads):
        handles.append(Line2D([], [], color=ROAD_COLOUR, lw=1.2, label="Road (reference layer)"))
    for coverage in found.levels["coverage"]:
        if float(coverage) != found.coverage:
            colour = "#fc8d59" if coverage > found.coverage else "#67000d"
            style = "--" if coverage > found.coverage else ":"
            handles.append(
                Line2D([], [], color=colour, ls=style, label=f"Top {coverage:g} % of area")
            )
    axes.legend(handles=handles, loc="lower right", fontsize=6.5, framealpha=0.9)


def _scale_bar(axes: Axes) -> None:
    """A bar of a round length, about a fifth of the map's width, at the lower left."""
    x0, x1 = axes.get_xlim()
    y0, y1 = axes.get_ylim()
    target = (x1 - x0) / 5
    length = 10 ** math.floor(math.log10(target))
    for step in (5, 2, 1):
        if step * length <= target:
            length *= step
            break
    x, y = x0 + (x1 - x0) * 0.04, y0 + (y1 - y0) * 0.04
    axes.plot([x, x + length], [y, y], color="black", lw=3, solid_capstyle="butt")
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length:g} m"
    axes.text(x + length / 2, y + (y1 - y0) * 0.015, text, ha="center", fontsize=7)


def _north_arrow(axes: Axes) -> None:
    axes.annotate(
        "N", xy=(0.95, 0.95), xytext=(0.95, 0.86), xycoords="axes fraction", ha="center",
        fontsize=9, weight="bold", arrowprops={"arrowstyle": "-|>", "color": "black", "lw": 1.5},
    )  # fmt: skip


def _zone_table(figure: Figure, zones: gpd.GeoDataFrame, found: PatrolZones, *, top: float) -> None:
    header = ["Zone", "Share", "km²", _month(found.last_month), "12 months", "In / streets"]
    rows = [
        [
            str(int(z.zone)),
            "-" if not np.isfinite(z.forecast_share) else f"{100 * z.forecast_share:.0f} %",
            f"{z.area_km2:.2f}",
            str(int(z.last_month)),
            str(int(z.last_year)),
            _cut("; ".join(p for p in (z.areas, "; ".join(z.names)) if p), 70),
        ]
        for z in zones.itertuples()
    ]
    if not rows:
        figure.text(0.06, top, "No zone: the forecast is zero everywhere.", fontsize=9, va="top")
        return
    height = min(0.02 * (len(rows) + 1), top - 0.06)
    axes = figure.add_axes((0.06, top - height, 0.88, height))
    draw_table(axes, rows, header, widths=[0.06, 0.08, 0.07, 0.09, 0.1, 0.6], fontsize=7)


def draw_table(
    axes: Axes, rows: list[list[str]], header: list[str], *, widths: list[float], fontsize: float
) -> None:
    """A pack's table on ``axes``: grey rules, a bold shaded header row, left-aligned cells."""
    axes.axis("off")
    table = axes.table(
        cellText=rows, colLabels=header, loc="upper center", cellLoc="left", colWidths=widths
    )
    table.auto_set_font_size(False)
    table.set_fontsize(fontsize)
    for (row, _col), cell in table.get_celld().items():
        cell.set_edgecolor("#cccccc")
        if row == 0:
            cell.set_facecolor("#eeeeee")
            cell.set_text_props(weight="bold")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _footer(figure: Figure, found: PatrolZones, inputs: BriefInputs) -> None:
    chosen = (
        "No smoothing method beat these counts in a back-test"
        if found.is_baseline
        else "Chosen month by month in a back-test from the months before each only"
    )
    how = (
        f"How this is made: {found.method_text}, {found.cell_m:g} m grid cells, incidents up to "
        f"{_month(found.last_month)}. {chosen} ({found.origins} months). Hit rate: the share "
        f"of a month's incidents inside the zones ({100 * found.hit_rate:.0f} %). PAI: hit rate "
        f"divided by the share of area outlined ({found.pai:.1f}; 1 = no better than chance). "
        "Locations are approximate (police.uk points are snapped to nearby map points)."
    )
    source = inputs.source or "Incidents held in the geo_service store."
    figure.text(0.06, 0.045, _wrapped(how + " " + source, 130), fontsize=6.5, va="bottom")
