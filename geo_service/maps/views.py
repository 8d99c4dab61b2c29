"""The maps of the web pages, each composed from the layer builders of :mod:`.builders`.

Each function returns the split map (:class:`~geo_service.maps.assets.MapParts`) and the legends
of its layers. Inputs are analysis results: an area layer, a change table (columns of
:func:`geo_service.analysis.change.change_table`), hotspot frames and a density overlay.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.analysis import kde
from geo_service.analysis.grid import Grid
from geo_service.analysis.repeat_locations import SITE_REACH_M
from geo_service.maps import builders
from geo_service.maps.assets import MapParts, split_map
from geo_service.maps.legends import DIFFERENCE, SEQUENTIAL, Legend, difference_breaks
from geo_service.maps.raster import OverlayImage, surface_overlay

if TYPE_CHECKING:
    import folium

_AREA_FIELDS = (
    ("name", "Area"),
    ("code", "Code"),
    ("previous", "Previous"),
    ("current", "Current"),
    ("pct_text", "Change"),
    ("label", "Significance"),
)


@dataclass(frozen=True)
class Tiles:
    """Tile settings: ``"none"``, ``"openstreetmap"`` or a URL template, and its attribution."""

    tiles: str = "none"
    attribution: str = ""


@dataclass(frozen=True)
class HotspotFrames:
    """Hotspot shapes to draw: clusters, Gi* hot cells and emerging-hotspot cells."""

    clusters: gpd.GeoDataFrame
    hot_cells: gpd.GeoDataFrame
    emerging: gpd.GeoDataFrame


@dataclass(frozen=True)
class Surface:
    """One density image and the URL the page fetches it from."""

    image: OverlayImage
    url: str


@dataclass(frozen=True)
class Density:
    """Density overlays: the current and previous periods drawn with the same class ``edges``
    and ``colours``, and their difference with its own symmetric ``difference_edges``."""

    current: Surface
    edges: tuple[float, ...]
    colours: tuple[str, ...]
    previous: Surface | None = None
    difference: Surface | None = None
    difference_edges: tuple[float, ...] = ()
    periods: tuple[str, str] = ("previous period", "current period")


def area_values(areas: gpd.GeoDataFrame, table: pd.DataFrame) -> gpd.GeoDataFrame:
    """``areas`` joined to a change table by ``code``, with display columns for tooltips."""
    columns = ["code", "previous", "current", "change", "pct_change", "label", "q"]
    columns += [c for c in ("rate", "rate_per") if c in table]
    merged = areas[["code", "name", "geometry"]].merge(table[columns], on="code", how="left")
    pct = merged["pct_change"].to_numpy(dtype=float, na_value=np.nan)
    text = [f"{p:+.0f}%" if np.isfinite(p) else "n/a" for p in pct]
    significant = merged["q"].to_numpy(dtype=float, na_value=np.nan) < 0.05
    return gpd.GeoDataFrame(
        merged.assign(pct_text=text, significant=significant), geometry="geometry", crs=areas.crs
    )


def category_map(
    areas: gpd.GeoDataFrame,
    table: pd.DataFrame,
    *,
    hotspots: HotspotFrames,
    density: Density | None,
    tiles: Tiles,
    focus: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    breaks: str = "quantiles",
    patrol: tuple[gpd.GeoDataFrame, gpd.GeoDataFrame] | None = None,
    risk_adjusted: builders.RiskAdjusted | None = None,
) -> tuple[MapParts, tuple[Legend, ...]]:
    """The category map: exclusive base shadings (counts, rate, change, density of each period,
    density difference, risk-adjusted density when given, next month's patrol zones, none) and
    optional overlays (hotspots, emerging classes, outlines, roads).

    ``patrol`` is the patrol zones and their coverage outlines
    (:attr:`~geo_service.services.patrol.PatrolZones.zones`, ``levels``), drawn as a base layer.

    ``focus`` (an area) zooms the map to it and outlines it (the beat page); ``roads`` (lines
    with ``ref`` and ``name``) are drawn as context; ``breaks`` names the class-break method of
    the area shadings (:data:`~geo_service.maps.legends.BREAK_METHODS`).
    """
    values = area_values(areas, table)
    fmap = _base(focus if focus is not None else values, tiles)
    counts_first = focus is None or density is None
    legends = _area_shadings(fmap, values, breaks=breaks, counts_first=counts_first)
    if density is not None:
        legends += _densities(fmap, density, show=not counts_first)
    if risk_adjusted is not None:
        legends.append(builders.risk_adjusted_layer(fmap, risk_adjusted))
    if patrol is not None:
        zones, levels = patrol
        legends.append(
            builders.patrol_layer(
                fmap, zone_features(zones), levels, name="Patrol zones (next month)",
                fields=ZONE_FIELDS, base=True,
            )
        )  # fmt: skip
    builders.blank_layer(fmap, name="No shading")
    legends.append(
        builders.hotspot_layer(
            fmap,
            hotspots.clusters,
            hotspots.hot_cells,
            name="Hotspots (clusters, Gi*)",
            show=focus is not None,
        )
    )
    if len(hotspots.emerging):
        legends.append(builders.emerging_layer(fmap, hotspots.emerging, name="Emerging hot spots"))
    outline = focus if focus is not None else values
    label = "This area" if focus is not None else "Area outlines"
    weight = 1.5 if focus is None else 4.0
    fields = (("name", "Area"), ("code", "Code"))
    builders.outline_layer(fmap, outline, name=label, fields=fields, weight=weight)
    if roads is not None:
        legends.append(_roads(fmap, roads))
    return split_map(builders.finish_map(fmap)), tuple(legends)


def _area_shadings(
    fmap: folium.Map, values: gpd.GeoDataFrame, *, breaks: str, counts_first: bool
) -> list[Legend]:
    """Counts, rate (when the layer has denominators) and significant change, as base layers."""
    legends = [
        builders.choropleth_layer(
            fmap, values, value="current", name="Incidents by area", fields=_AREA_FIELDS,
            show=counts_first, breaks=breaks,
        )
    ]  # fmt: skip
    rated = "rate" in values and values["rate"].notna().any()
    if rated:
        per = str(values["rate_per"].dropna().iloc[0])
        shown = values.assign(rate_text=[_rate_text(r) for r in values["rate"]])
        legends.append(
            builders.choropleth_layer(
                fmap, shown, value="rate", name=f"Rate per {per}",
                fields=(*_AREA_FIELDS[:4], ("rate_text", f"Per {per}")), show=False,
                breaks=breaks, whole=False,
                note="Current period; areas without a denominator are grey.",
            )
        )  # fmt: skip
    legends.append(
        builders.change_layer(fmap, values, name="Change vs previous period", fields=_AREA_FIELDS)
    )
    return legends


def _rate_text(rate: float | None) -> str:
    value = float("nan") if rate is None else float(rate)
    return f"{value:.1f}" if np.isfinite(value) else "no denominator"


def _densities(fmap: folium.Map, density: Density, *, show: bool) -> list[Legend]:
    """Current and previous density with shared classes, and their difference."""
    previous_label, current_label = density.periods
    shared = (
        "Class breaks are shared by both periods' density maps, so the two compare."
        if density.previous is not None
        else f"No density is drawn for {previous_label}: the data does not hold all its months, "
        "so the classes rest on this period alone."
    )
    legends = [
        builders.density_layer(
            fmap, density.current.image, url=density.current.url,
            name=f"Density, {current_label}", edges=density.edges, colours=density.colours,
            unit="per km²", note=shared, show=show,
        )
    ]  # fmt: skip
    if density.previous is not None:
        legends.append(
            builders.density_layer(
                fmap, density.previous.image, url=density.previous.url,
                name=f"Density, {previous_label}", edges=density.edges,
                colours=density.colours, unit="per km²", note=shared,
            )
        )  # fmt: skip
    if density.difference is not None and len(density.difference_edges) > 1:
        legends.append(
            builders.difference_layer(
                fmap, density.difference.image, url=density.difference.url,
                name="Density difference", edges=density.difference_edges, unit="per km²",
            )
        )  # fmt: skip
    return legends


def density_overlays(
    grid: Grid,
    surface: np.ndarray,
    previous_surface: np.ndarray | None,
    breaks: np.ndarray,
    *,
    url: Callable[[str], str],
    periods: tuple[str, str],
) -> Density | None:
    """Density images of both periods classed by the shared ``breaks``, and their difference
    classed by its own symmetric edges (:func:`~geo_service.maps.legends.difference_breaks`).

    ``url(name)`` gives each image's address (``"current"``, ``"previous"``, ``"difference"``);
    None when there are fewer than two breaks (nothing to class).
    """
    if len(breaks) < 2:
        return None
    xs = grid.x0 + (0.5 + np.arange(grid.nx)) * grid.cell_m
    ys = grid.y0 + (0.5 + np.arange(grid.ny)) * grid.cell_m
    colours = SEQUENTIAL[-(len(breaks) - 1) :]

    def classed(values: np.ndarray, name: str) -> Surface:
        classes = kde.classify(values, breaks) * grid.inside
        return Surface(surface_overlay(classes, xs, ys, colours=colours), url(name))

    previous = difference = None
    edges: tuple[float, ...] = ()
    if previous_surface is not None:
        previous = classed(previous_surface, "previous")
        change = (surface - previous_surface) * grid.inside
        edges = difference_breaks(change[grid.inside])
        if len(edges) > 1:
            classes = _difference_classes(change, edges) * grid.inside
            difference = Surface(
                surface_overlay(classes, xs, ys, colours=DIFFERENCE), url("difference")
            )
    return Density(
        current=classed(surface, "current"),
        edges=tuple(float(b) for b in breaks),
        colours=tuple(colours),
        previous=previous,
        difference=difference,
        difference_edges=edges,
        periods=periods,
    )


def _difference_classes(change: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Class 1..6 of each cell's change by ``edges`` (0: no change, left clear)."""
    inner = np.asarray(edges[1:-1], dtype=float)
    classes = np.searchsorted(inner, change, side="left") + 1
    return np.where(change == 0, 0, classes)


def collisions_map(
    collisions: pd.DataFrame,
    sites: gpd.GeoDataFrame,
    *,
    areas: gpd.GeoDataFrame,
    tiles: Tiles,
    roads: gpd.GeoDataFrame | None = None,
) -> tuple[MapParts, tuple[Legend, ...]]:
    """Collisions by severity and the ranked repeat-collision sites with road labels."""
    extent = areas if len(areas) else _points(collisions)  # no layer yet: the collisions' extent
    fmap = _base(extent, tiles)
    if roads is not None:
        _roads(fmap, roads)
    builders.outline_layer(fmap, areas, name="Areas", fields=(("name", "Area"), ("code", "Code")))
    scope = (
        f"Drawn: the collisions within {SITE_REACH_M / 1000:g} km of the areas, among which "
        "sites are found; the sites listed are those centred in an area."
        if len(areas)
        else ""
    )
    legends = [
        builders.collisions_layer(fmap, collisions, name="Collisions by severity", scope=scope)
    ]
    if len(sites):
        fields = (
            ("rank_count", "Rank"),
            ("count", "Collisions"),
            ("ksi", "Killed or serious"),
            ("road", "Road"),
        )
        labelled = sites.assign(
            label=[
                f"{r}. {road}" for r, road in zip(sites["rank_count"], sites["road"], strict=True)
            ]
        )
        legends.append(
            builders.sites_layer(fmap, labelled, name="Repeat-collision sites", fields=fields)
        )
    return split_map(builders.finish_map(fmap)), tuple(legends)


def patrol_map(
    zones: gpd.GeoDataFrame,
    levels: gpd.GeoDataFrame,
    *,
    areas: gpd.GeoDataFrame,
    tiles: Tiles,
    focus: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> tuple[MapParts, tuple[Legend, ...]]:
    """Numbered patrol zones over area outlines and roads (``zones`` as
    :attr:`geo_service.services.patrol.PatrolZones.zones`, with a ``names`` tuple column).

    ``focus`` (an area) zooms the map to it and outlines it thick (the beat page).
    """
    # The zones are the point of the map: fit it to them (the whole area when there are none).
    extent = focus if focus is not None else zones if len(zones) else areas
    fmap = _base(extent, tiles)
    legends = []
    if roads is not None:
        legends.append(_roads(fmap, roads))
    fields = (("name", "Area"), ("code", "Code"))
    builders.outline_layer(fmap, areas, name="Area outlines", fields=fields, weight=1.0)
    if focus is not None:
        builders.outline_layer(fmap, focus, name="This area", fields=fields, weight=4.0)
    legends.append(
        builders.patrol_layer(
            fmap, zone_features(zones), levels, name="Patrol zones", fields=ZONE_FIELDS
        )
    )
    return split_map(builders.finish_map(fmap)), tuple(legends)


#: The patrol zones' tooltip: (column of :func:`zone_features`, label).
ZONE_FIELDS: tuple[tuple[str, str], ...] = (
    ("zone", "Zone"),
    ("share_text", "Share of forecast"),
    ("last_month", "Last month"),
    ("last_year", "Last 12 months"),
    ("areas", "In"),
    ("streets", "Streets"),
)


def zone_features(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Patrol zones with their tooltip texts (the ``names`` tuples joined into ``streets``)."""
    return zones.assign(
        share_text=[f"{100 * s:.0f} %" for s in zones["forecast_share"].fillna(0.0)],
        streets=["; ".join(n) or "(no named road loaded here)" for n in zones["names"]],
    ).drop(columns="names")


def _roads(fmap: folium.Map, roads: gpd.GeoDataFrame) -> Legend:
    fields = [(c, label) for c, label in (("ref", "Road"), ("name", "Name")) if c in roads]
    return builders.roads_layer(fmap, roads, name="Roads", fields=fields)


def _points(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    located = frame.dropna(subset=["x", "y"])
    geometry = gpd.points_from_xy(located["x"], located["y"])
    return gpd.GeoDataFrame(geometry=geometry, crs="EPSG:27700")


def _base(frame: gpd.GeoDataFrame, tiles: Tiles) -> folium.Map:
    bounds = frame.total_bounds if len(frame) else np.array([0.0, 0.0, 1.0, 1.0])
    pad = 200.0
    box = (bounds[0] - pad, bounds[1] - pad, bounds[2] + pad, bounds[3] + pad)
    return builders.base_map(box, tiles=tiles.tiles, attribution=tiles.attribution)
