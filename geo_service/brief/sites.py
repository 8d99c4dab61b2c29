"""The highways briefing pack: ranked repeat-collision sites on one A4 page (matplotlib only)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import geopandas as gpd
import pandas as pd

from geo_service.brief.page import (
    A4_IN,
    ROAD_COLOUR,
    _cut,
    _free_spot,
    _north_arrow,
    _scale_bar,
    _wrapped,
    draw_table,
    frame_map,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SITE_COLOUR = "#6a51a3"
SEVERITY_COLOURS = {"Fatal": "#000000", "Serious": "#d7301f", "Slight": "#fdae61"}
#: Sites numbered on the map and listed in the table.
SITE_ROWS = 20


@dataclass(frozen=True, eq=False)
class SitesBrief:
    """What the highways pack shows.

    Attributes
    ----------
    title
        The page title.
    rule
        The cluster rule in words.
    sites
        Ranked sites (EPSG:27700) with ``rank_count``, ``road``, ``count``, ``ksi``,
        ``by_year``, ``area_name`` and ``streets`` (named roads nearby, may be empty).
    collisions
        The collisions of the window (``x``, ``y``, ``severity``).
    areas, roads
        Area outlines and reference roads (or None).
    source
        Where the data come from.
    """

    title: str
    rule: str
    sites: gpd.GeoDataFrame
    collisions: pd.DataFrame
    areas: gpd.GeoDataFrame
    roads: gpd.GeoDataFrame | None
    source: str


def render_sites_brief(brief: SitesBrief, out: IO[bytes], *, fmt: str) -> None:
    """Draw the highways pack and write it to ``out`` as ``"pdf"`` or ``"png"``."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=A4_IN)
    figure.text(0.06, 0.965, brief.title, fontsize=14, weight="bold", va="top")
    figure.text(0.06, 0.935, _wrapped(brief.rule, 110), fontsize=8.5, va="top")
    axes = figure.add_axes((0.06, 0.42, 0.88, 0.48))
    _draw(axes, brief)
    _scale_bar(axes)
    _north_arrow(axes)
    _table(figure, brief.sites.head(SITE_ROWS))
    figure.text(0.06, 0.035, _wrapped(brief.source, 130), fontsize=6.5, va="bottom")
    figure.savefig(out, format=fmt, dpi=150 if fmt == "png" else None)


def _draw(axes: Axes, brief: SitesBrief) -> None:
    shown = brief.sites.head(SITE_ROWS)
    extent = shown if len(shown) else brief.areas
    minx, miny, maxx, maxy = extent.total_bounds
    pad = max(maxx - minx, maxy - miny) * 0.08 + 300.0
    box = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    if len(brief.areas):
        brief.areas.boundary.plot(ax=axes, color="#555555", linewidth=0.5)
    if brief.roads is not None and len(brief.roads):
        brief.roads.cx[box[0] : box[2], box[1] : box[3]].plot(
            ax=axes, color=ROAD_COLOUR, linewidth=1.0
        )
    located = brief.collisions.dropna(subset=["x", "y"])
    for severity, colour in SEVERITY_COLOURS.items():
        some = located.loc[located["severity"] == severity]
        axes.scatter(some["x"], some["y"], s=3, color=colour, label=severity, zorder=2)
    points = shown.geometry.representative_point()
    gap = (box[2] - box[0]) * 0.03  # about a label's width on the page
    placed: list[tuple[float, float]] = []
    for point, rank in zip(points, shown["rank_count"], strict=True):
        x, y = _free_spot(point.x, point.y, placed, gap)
        placed.append((x, y))
        moved = (x, y) != (point.x, point.y)
        axes.annotate(
            str(int(rank)), (point.x, point.y), xytext=(x, y), ha="center", va="center",
            fontsize=6.5, color="white", weight="bold", zorder=3,
            bbox={"boxstyle": "circle,pad=0.2", "fc": SITE_COLOUR, "ec": "white", "lw": 0.8},
            arrowprops={"arrowstyle": "-", "color": SITE_COLOUR, "lw": 0.8} if moved else None,
        )  # fmt: skip
    axes.legend(loc="lower right", fontsize=6.5, title="Collisions", title_fontsize=7)
    frame_map(axes, box)


def _table(figure: Figure, sites: gpd.GeoDataFrame) -> None:
    header = ["Rank", "Road", "Named roads nearby", "Coll.", "KSI", "By year", "Area"]
    rows = [
        [
            str(int(r.rank_count)), _cut(str(r.road), 22), _cut(str(r.streets), 30),
            str(int(r.count)), str(r.ksi), _cut(str(r.by_year), 36), _cut(str(r.area_name), 22),
        ]
        for r in sites.itertuples()
    ]  # fmt: skip
    if not rows:
        figure.text(0.06, 0.4, "No site meets the rule.", fontsize=9, va="top")
        return
    height = 0.018 * (len(rows) + 1)
    axes = figure.add_axes((0.06, 0.4 - height, 0.88, height))
    draw_table(axes, rows, header, widths=[0.05, 0.15, 0.2, 0.06, 0.05, 0.27, 0.17], fontsize=6.5)
