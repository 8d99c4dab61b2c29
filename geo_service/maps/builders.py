"""Folium maps and layers built from analysis results (folium is imported only in this package).

Every builder takes frames in EPSG:27700 and adds one switchable layer to a map, returning the
:class:`~geo_service.maps.legends.Legend` that explains it. Feature properties shown in tooltips
are HTML-escaped (Folium inserts them with ``innerHTML``), boundaries are simplified and
coordinates rounded by :func:`~geo_service.maps.geojson.light_geojson`, and points are capped, so
a page stays light whatever the store holds.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service.analysis.grid import Grid
from geo_service.analysis.kde import classify
from geo_service.maps.geojson import dissolve_cells, light_geojson
from geo_service.maps.legends import (
    EMERGING_COLOURS,
    NO_DATA,
    NOT_SIGNIFICANT,
    SEQUENTIAL,
    SEVERITY_COLOURS,
    Legend,
    change_colour,
    change_legend,
    classed_colour,
    count_breaks,
    count_legend,
    difference_legend,
    significant,
)
from geo_service.maps.raster import OverlayImage, surface_overlay
from geo_service.projection import to_lonlat, transformer
from geo_service.schema import CRS

if TYPE_CHECKING:
    import folium

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "&copy; OpenStreetMap contributors"
#: Most collision points drawn on one map (the most severe first).
MAX_POINTS = 2000
#: Most repeat-collision sites drawn, and most given a text label (the best ranked).
MAX_SITES = 200
MAX_LABELS = 20


def tile_url(tiles: str) -> str | None:
    """The tile URL template for a ``Settings.tiles`` value; None for "none"."""
    if tiles == "none":
        return None
    return OSM_URL if tiles == "openstreetmap" else tiles


def tile_origin(tiles: str) -> str | None:
    """``scheme://host`` of the tile server (for the Content-Security-Policy), or None."""
    url = tile_url(tiles)
    if url is None:
        return None
    parts = urlsplit(url.replace("{s}", "*"))
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else None


def base_map(
    bounds_m: Sequence[float], *, tiles: str = "none", attribution: str = ""
) -> folium.Map:
    """An empty map fitted to ``bounds_m`` (minx, miny, maxx, maxy in EPSG:27700 metres)."""
    import folium

    (south, west), (north, east) = _lonlat_box(bounds_m)
    fmap = folium.Map(
        location=[(south + north) / 2, (west + east) / 2], tiles=None, control_scale=True
    )
    url = tile_url(tiles)
    if url is not None:
        credit = OSM_ATTRIBUTION if url == OSM_URL else (attribution or url)
        # An overlay, not a base layer: the base layers are the exclusive thematic shadings.
        folium.TileLayer(tiles=url, attr=credit, name="Map tiles", overlay=True).add_to(fmap)
    fmap.fit_bounds([[south, west], [north, east]])
    return fmap


def finish_map(fmap: folium.Map) -> folium.Map:
    """Add the layer switcher (expanded, so the layers are visible and printable)."""
    import folium

    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def choropleth_layer(
    fmap: folium.Map,
    areas: gpd.GeoDataFrame,
    *,
    value: str,
    name: str,
    fields: Sequence[tuple[str, str]],
    show: bool = True,
    breaks: str = "quantiles",
    whole: bool = True,
    note: str = "",
) -> Legend:
    """A base layer of areas filled by column ``value``, in classes of the ``breaks`` method
    (:data:`~geo_service.maps.legends.BREAK_METHODS`); ``whole`` for counts.

    ``fields`` are the ``(column, label)`` pairs shown in the tooltip.
    """
    values = areas[value].to_numpy(dtype=float, na_value=np.nan)
    edges = count_breaks(values, method=breaks, whole=whole)
    colours = [classed_colour(v, edges, SEQUENTIAL) for v in values]
    styled = areas.assign(_fill=colours, _weight=1)
    _area_geojson(fmap, styled, name=name, fields=fields, show=show, base=True)
    return count_legend(name, edges, note=note, shown=show, base=True)


def change_layer(
    fmap: folium.Map,
    areas: gpd.GeoDataFrame,
    *,
    name: str,
    fields: Sequence[tuple[str, str]],
    show: bool = False,
) -> Legend:
    """A base layer of areas filled by % change (diverging) where the change is significant,
    pale grey elsewhere, so a colour always means a real change.

    ``areas`` needs columns ``pct_change``, ``current`` and ``significant``.
    """
    pct = areas["pct_change"].to_numpy(dtype=float, na_value=np.nan)
    current = areas["current"].to_numpy(dtype=float, na_value=0.0)
    real = areas["significant"].to_numpy(dtype=bool, na_value=False)
    colours = [
        change_colour(p, c) if sig else (NOT_SIGNIFICANT if np.isfinite(p) or c > 0 else NO_DATA)
        for p, c, sig in zip(pct, current, real, strict=True)
    ]
    styled = areas.assign(_fill=colours, _weight=np.where(real, 2.5, 1.0))
    _area_geojson(fmap, styled, name=name, fields=fields, show=show, base=True)
    return change_legend(name, shown=show)


def blank_layer(fmap: folium.Map, *, name: str) -> None:
    """An empty base layer, so the user can switch every shading off."""
    import folium

    folium.FeatureGroup(name=name, overlay=False, show=False).add_to(fmap)


def density_layer(
    fmap: folium.Map,
    image: OverlayImage,
    *,
    url: str,
    name: str,
    edges: Sequence[float],
    colours: Sequence[str],
    unit: str,
    note: str = "",
    show: bool = False,
) -> Legend:
    """A base layer: a density surface as one image fetched from ``url`` (the PNG of ``image``).

    Class k (drawn in ``colours[k - 1]``) holds values in ``(edges[k - 1], edges[k]]``.
    """
    _image_layer(fmap, image, url=url, name=name, show=show)
    entries = tuple(
        (colour, f"{significant(edges[k])} to {significant(edges[k + 1])} {unit}")
        for k, colour in enumerate(colours)
    )
    return Legend(title=name, entries=entries, note=note, shown=show, base=True)


def difference_layer(
    fmap: folium.Map,
    image: OverlayImage,
    *,
    url: str,
    name: str,
    edges: Sequence[float],
    unit: str,
) -> Legend:
    """A base layer: current minus previous density, diverging classes (never shown first)."""
    _image_layer(fmap, image, url=url, name=name, show=False)
    return difference_legend(name, edges, unit)


#: Name of the category map's risk-adjusted (dual KDE) base layer.
RISK_ADJUSTED = "Risk-adjusted density (per 1,000 residents)"


@dataclass(frozen=True)
class RiskAdjusted:
    """The dual KDE drawn as an image: its URL, class edges, colours and a note on its basis."""

    image: OverlayImage
    url: str
    edges: tuple[float, ...]
    colours: tuple[str, ...]
    note: str


def risk_adjusted_overlay(
    grid: Grid, surface: np.ndarray, edges: Sequence[float] | np.ndarray, *, url: str, note: str
) -> RiskAdjusted | None:
    """The dual KDE ``surface`` (per 1,000 residents, NaN where masked) classed by ``edges``
    in the density maps' colours; None when there is nothing to class (fewer than 2 edges)."""
    if len(edges) < 2:
        return None
    xs = grid.x0 + (0.5 + np.arange(grid.nx)) * grid.cell_m
    ys = grid.y0 + (0.5 + np.arange(grid.ny)) * grid.cell_m
    colours = SEQUENTIAL[-(len(edges) - 1) :]
    values = np.nan_to_num(np.asarray(surface, dtype=float), nan=0.0)  # masked: left clear
    classes = classify(values, np.asarray(edges, dtype=float)) * grid.inside
    image = surface_overlay(classes, xs, ys, colours=colours)
    return RiskAdjusted(image, url, tuple(float(e) for e in edges), tuple(colours), note)


def risk_adjusted_layer(fmap: folium.Map, layer: RiskAdjusted) -> Legend:
    """A base layer: the risk-adjusted (dual) density, never shown first, with its legend."""
    return density_layer(
        fmap, layer.image, url=layer.url, name=RISK_ADJUSTED, edges=layer.edges,
        colours=layer.colours, unit="per 1,000 residents", note=layer.note,
    )  # fmt: skip


def _image_layer(fmap: folium.Map, image: OverlayImage, *, url: str, name: str, show: bool) -> None:
    import folium

    layer = folium.raster_layers.ImageOverlay(
        image="https://invalid/",
        bounds=[list(image.bounds[0]), list(image.bounds[1])],
        name=name,
        show=show,
        overlay=False,
    )
    # Folium reads a plain path as a local file to embed; the overlay is a same-site URL instead.
    layer.url = url
    layer.add_to(fmap)


def hotspot_layer(
    fmap: folium.Map,
    clusters: gpd.GeoDataFrame,
    hot_cells: gpd.GeoDataFrame,
    *,
    name: str,
    show: bool = False,
) -> Legend:
    """Cluster polygons (``count`` column) and Gi* hot cells (``count``, ``label``) in one layer."""
    import folium

    group = folium.FeatureGroup(name=name, show=show)
    if len(hot_cells):
        hot_cells = dissolve_cells(hot_cells, by="label", total="count")
        _geojson(
            hot_cells.assign(_fill="#fc9272", _weight=0.5),
            [("label", "Gi*"), ("count", "Incidents")],
        ).add_to(group)
    if len(clusters):
        # The clusters' own words when the analysis gives them; never an internal cluster id.
        words = next((c for c in ("tooltip", "label") if c in clusters), None)
        fields = [(words, "Cluster")] if words else []
        _geojson(
            clusters.assign(_fill="#cb181d", _weight=2), [*fields, ("count", "Incidents")]
        ).add_to(group)
    group.add_to(fmap)
    entries = (("#cb181d", "point cluster (count in tooltip)"), ("#fc9272", "Gi* hot cell"))
    note = (
        "A Gi* hot cell is judged with its neighbours, so a cell holding few or no incidents "
        "itself is hot when the cells around it hold many."
    )
    return Legend(title=name, entries=entries, note=note if len(hot_cells) else "", shown=show)


def emerging_layer(
    fmap: folium.Map, cells: gpd.GeoDataFrame, *, name: str, show: bool = False
) -> Legend:
    """Grid cells coloured by emerging-hotspot class (column ``pattern``)."""
    import folium

    cells = dissolve_cells(cells, by="pattern")
    kinds = [str(p).split(" ")[0].lower() for p in cells["pattern"]]
    colours = [EMERGING_COLOURS.get(k, NO_DATA) for k in kinds]
    layer = _geojson(cells.assign(_fill=colours, _weight=0.3), [("pattern", "Pattern")])
    folium.FeatureGroup(name=name, show=show).add_child(layer).add_to(fmap)
    entries = tuple((c, f"{k} hot spot") for k, c in EMERGING_COLOURS.items() if k in set(kinds))
    note = (
        "Gi* in each time step of the current period (a month, or a few months when incidents "
        "are few) with a Mann-Kendall trend; hot spots only."
    )
    return Legend(title=name, entries=entries, note=note, shown=show)


def outline_layer(
    fmap: folium.Map,
    areas: gpd.GeoDataFrame,
    *,
    name: str,
    fields: Sequence[tuple[str, str]],
    weight: float = 1.5,
) -> None:
    """Area outlines with no fill (context for other layers), shown by default."""
    import folium

    styled = areas.assign(_fill="none", _weight=weight)
    layer = _geojson(styled, fields, fill_opacity=0.0)
    folium.FeatureGroup(name=name, show=True).add_child(layer).add_to(fmap)


def roads_layer(
    fmap: folium.Map, roads: gpd.GeoDataFrame, *, name: str, fields: Sequence[tuple[str, str]]
) -> Legend:
    """Road lines as context (a plain background has no streets), named in tooltips."""
    import folium

    styled = roads.assign(_fill="none", _weight=3)
    layer = _geojson(styled, fields, fill_opacity=0.0, colour="#7f6f5f")
    folium.FeatureGroup(name=name, show=True).add_child(layer).add_to(fmap)
    return Legend(title=name, entries=(("#7f6f5f", "main road (hover for its name)"),))


#: Patrol zones' fill and outline, and the thin outlines of the other coverage levels.
ZONE_COLOUR = "#b30000"
LEVEL_COLOURS: dict[float, str] = {1.0: "#67000d", 5.0: "#b30000", 10.0: "#fc8d59"}


def patrol_layer(
    fmap: folium.Map,
    zones: gpd.GeoDataFrame,
    levels: gpd.GeoDataFrame,
    *,
    name: str,
    fields: Sequence[tuple[str, str]],
    base: bool = False,
) -> Legend:
    """Numbered patrol zones (column ``zone``) filled, with the other coverages' outlines.

    Each zone's number is drawn at a point inside it (a numbered marker, never a street label,
    so numbers cannot hide each other's text); the zones are listed beside the map. ``base``
    makes it one of the map's exclusive base shadings, off at first (the category map).
    """
    import folium

    group = folium.FeatureGroup(name=name, overlay=not base, show=not base)
    chosen = float(zones["coverage"].iloc[0]) if len(zones) else None
    for coverage, outline in zip(levels["coverage"], levels.geometry, strict=True):
        if float(coverage) == chosen or outline is None or outline.is_empty:
            continue
        frame = gpd.GeoDataFrame(
            {"_fill": ["none"], "_weight": [1.5], "level": [f"top {coverage:g} % of the area"]},
            geometry=[outline],
            crs=levels.crs,
        )
        colour = LEVEL_COLOURS.get(float(coverage), "#555555")
        _geojson(frame, [("level", "Outline")], fill_opacity=0.0, colour=colour).add_to(group)
    if len(zones):
        styled = zones.assign(_fill=ZONE_COLOUR, _weight=2.5)
        _geojson(styled, fields, fill_opacity=0.35, colour=ZONE_COLOUR).add_to(group)
        lonlat = to_lonlat(zones.geometry.representative_point().to_numpy())
        for point, number in zip(lonlat, zones["zone"], strict=True):
            icon = folium.DivIcon(
                html=f'<span class="zone-number">{int(number)}</span>',
                icon_size=(22, 22),
                icon_anchor=(11, 11),
            )
            folium.Marker([round(point.y, 6), round(point.x, 6)], icon=icon).add_to(group)
    group.add_to(fmap)
    entries = [(ZONE_COLOUR, f"patrol zone (top {chosen:g} % of the area), numbered by rank")]
    entries += [
        (LEVEL_COLOURS.get(float(c), "#555555"), f"outline: top {c:g} % of the area")
        for c in levels["coverage"]
        if float(c) != chosen
    ]
    return Legend(title=name, entries=tuple(entries), shown=not base, base=base)


def drawn_collisions(collisions: pd.DataFrame) -> pd.DataFrame:
    """The collisions a map draws: most severe first (stable), at most :data:`MAX_POINTS`."""
    rank = collisions["severity"].map({"Fatal": 0, "Serious": 1, "Slight": 2}).fillna(3)
    ranked = collisions.assign(_rank=rank).sort_values("_rank", kind="stable")
    return ranked.head(MAX_POINTS).drop(columns="_rank")


def collisions_layer(
    fmap: folium.Map, collisions: pd.DataFrame, *, name: str, scope: str = ""
) -> Legend:
    """Collisions as small circles coloured by severity (at most :data:`MAX_POINTS`); ``scope``
    (a sentence: which collisions these are) opens the legend's note."""
    import folium

    drawn = drawn_collisions(collisions)
    geometry = gpd.points_from_xy(drawn["x"], drawn["y"], crs=CRS)
    colours = [SEVERITY_COLOURS.get(str(s), NO_DATA) for s in drawn["severity"]]
    points = gpd.GeoDataFrame(
        drawn[["severity", "month", "location_text"]].assign(_fill=colours, _weight=0.5),
        geometry=geometry,
        crs=CRS,
    )
    fields = [("severity", "Severity"), ("month", "Month"), ("location_text", "Location")]
    marker = folium.CircleMarker(radius=4)
    layer = _geojson(points, fields, marker=marker, fill_opacity=0.9)
    folium.FeatureGroup(name=name, show=True).add_child(layer).add_to(fmap)
    entries = tuple((c, s) for s, c in SEVERITY_COLOURS.items())
    capped = (
        f"At most {MAX_POINTS:,} collisions drawn, most severe first."
        if len(collisions) > MAX_POINTS
        else ""
    )
    return Legend(title=name, entries=entries, note=" ".join(n for n in (scope, capped) if n))


def sites_layer(
    fmap: folium.Map, sites: gpd.GeoDataFrame, *, name: str, fields: Sequence[tuple[str, str]]
) -> Legend:
    """The first :data:`MAX_SITES` sites (points or polygons, in rank order) with the first
    :data:`MAX_LABELS` labelled (column ``label``)."""
    import folium

    drawn = sites.head(MAX_SITES)
    styled = drawn.assign(_fill="#6a51a3", _weight=2)
    group = folium.FeatureGroup(name=name, show=True)
    _geojson(styled, fields, marker=folium.CircleMarker(radius=9)).add_to(group)
    labelled = drawn.head(MAX_LABELS)
    lonlat = shapely.point_on_surface(to_lonlat(labelled.geometry.to_numpy()))
    for point, label in zip(lonlat, labelled["label"], strict=True):
        icon = folium.DivIcon(html=f'<span class="road-label">{html.escape(str(label))}</span>')
        folium.Marker([round(point.y, 6), round(point.x, 6)], icon=icon).add_to(group)
    group.add_to(fmap)
    note = f"The first {MAX_SITES} of {len(sites):,} sites drawn." if len(sites) > MAX_SITES else ""
    entries = (("#6a51a3", f"repeat-collision site; the first {MAX_LABELS} labelled (rank, road)"),)
    return Legend(title=name, entries=entries, note=note)


def _area_geojson(
    fmap: folium.Map,
    areas: gpd.GeoDataFrame,
    *,
    name: str,
    fields: Sequence[tuple[str, str]],
    show: bool,
    base: bool = False,
) -> None:
    import folium

    layer = _geojson(areas, fields)
    folium.FeatureGroup(name=name, show=show, overlay=not base).add_child(layer).add_to(fmap)


def _geojson(
    frame: gpd.GeoDataFrame,
    fields: Sequence[tuple[str, str]],
    *,
    marker: folium.CircleMarker | None = None,
    fill_opacity: float = 0.7,
    colour: str = "#333333",
) -> folium.GeoJson:
    import folium

    columns = [c for c, _ in fields]
    data = light_geojson(frame, properties=[*columns, "_fill", "_weight"], escape_html=True)
    aliases = [html.escape(label) for _, label in fields]

    def style(feature: dict) -> dict:
        fill = feature["properties"]["_fill"]
        return {
            "fillColor": fill,
            "color": colour,
            "weight": feature["properties"]["_weight"],
            "fill": fill != "none",
            "fillOpacity": 0.0 if fill == "none" else fill_opacity,
        }

    # Folium checks tooltip fields against the features, so an empty layer gets none.
    has_rows = len(frame) > 0
    tooltip = (
        folium.GeoJsonTooltip(fields=columns, aliases=aliases) if columns and has_rows else None
    )
    return folium.GeoJson(data, style_function=style, tooltip=tooltip, marker=marker)


def _lonlat_box(bounds_m: Sequence[float]) -> tuple[tuple[float, float], tuple[float, float]]:
    minx, miny, maxx, maxy = (float(b) for b in bounds_m)
    xs = np.array([minx, maxx, minx, maxx])
    ys = np.array([miny, miny, maxy, maxy])
    lon, lat = transformer(CRS, "EPSG:4326").transform(xs, ys)
    return (round(float(lat.min()), 6), round(float(lon.min()), 6)), (
        round(float(lat.max()), 6),
        round(float(lon.max()), 6),
    )
