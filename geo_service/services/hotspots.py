"""Hotspot maps, their backtested accuracy, and where things moved: one function per question.

:func:`hotspot_map` builds one map of a category over the months ending a period end - kernel
density (class breaks shared with the previous period, head/tail), DBSCAN or HDBSCAN clusters,
Getis-Ord Gi* cells (or areas) with FDR, or emerging hot-spot classes - and states how well that
kind of map predicted the following month over the past year (hit rate and PAI at 5 % of the
area, :func:`geo_service.analysis.evaluation.accuracy_for`). :func:`category_hotspots` is the set
of maps a category page draws, made by the same function, so the page, the API and the CLI show
the same features. :func:`shifts` compares two periods per area or grid cell.

From a :class:`~geo_service.store.Store` over a study layer, the maps read counts, not rows
(:func:`cube_read`, docs/cubes.md): Gi* and emerging maps on square cells the grid cube's counted
cells (:mod:`geo_service.store.grid_cube`) when it keeps the layer at the grid's cell size;
kernel density, DBSCAN, HDBSCAN, Gi* by area, hexagons, the category page and :func:`shifts`
the layer's density cube (its incidents counted by location), and shifts per area the area
cube. Each gives the maps the rows give.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

from geo_service.analysis import clusters, emerging, gistar, kde
from geo_service.analysis import shifts as shift_stats
from geo_service.analysis.evaluation import Accuracy, accuracy_for, map_accuracy_for, map_kinds
from geo_service.analysis.grid import Grid, HexGrid, grid_for, hex_grid_for
from geo_service.analysis.hotspot_methods import History, Method
from geo_service.analysis.periods import (
    Period,
    latest_run,
    month_label,
    origins,
    parse_month,
    rolling_periods,
    shift_month,
)
from geo_service.analysis.weights import grid_weights
from geo_service.categories import CategoryGroup, categories_of
from geo_service.coverage import MAX_LAG_MONTHS
from geo_service.errors import DataError, InputError, NotFoundError
from geo_service.progress import Progress, quiet
from geo_service.schema import CRS, area_column, has_location
from geo_service.services.context import (
    StoreLike,
    formed_group,
    group_named,
    require_incidents,
    study_grid,
    study_layer_name,
)
from geo_service.services.options import (
    METHODS,
    HotspotOptions,
    ShiftOptions,
    ViewOptions,
    resolve_view,
)
from geo_service.services.tables import without_forces
from geo_service.store import Store, cubes

logger = logging.getLogger(__name__)
_G = TypeVar("_G", Grid, HexGrid)

#: Class-break method of density maps: head/tail breaks suit crime's heavy-tailed densities.
BREAKS = "head_tail"
#: The automatic emerging time step holds at least this many incidents on average.
EMERGING_INCIDENTS_PER_STEP = 200
#: Percentage of the study area whose top cells score a map (hit rate and PAI).
COVERAGE_PCT = 5.0
#: Target months of the accuracy backtest.
ACCURACY_MONTHS = 12
#: Methods that can use hexagonal cells (density and clusters are drawn on the square raster).
HEX_METHODS = ("gistar", "emerging")
#: Emerging classes a patrol map draws (the hot ones; cold spots are not patrol targets).
DRAWN_KIND = "hot spot"
_COLUMNS = [
    "category", "subcategory", "month", "occurred_at", "time_known", "x", "y",
    "location_precision",
]  # fmt: skip
#: A location recorded as exact; any other stated precision is approximate (a fall-back pair).
EXACT = "exact"


@dataclass(frozen=True, eq=False)
class StudyData:
    """The study area and the located incidents of one group up to the period end.

    Attributes
    ----------
    group
        What the sources can honestly form of the group asked for (the parts their detail
        allows, :meth:`geo_service.coverage.Coverage.formable`), under the name asked for.
    period
        The mapped period (whole months).
    grid
        The square grid over the study area (the layer, or the box of 98 % of the incidents).
    layer
        The study layer name; None when the store has none.
    areas
        The study layer's areas (EPSG:27700), or None.
    incidents
        Every located incident of ``group`` from ``history_months`` months before the period to
        its end (the backtest and the previous period need them); ``x``, ``y`` in EPSG:27700
        metres.
    notes
        Sentences saying what the map leaves out, where its period was moved to the months its
        sources hold, or which of its months they do not hold.
    held
        Months ``"YYYY-MM"`` the group's sources hold (sorted); empty: not known, every month
        taken as held.
    """

    group: CategoryGroup
    period: Period
    grid: Grid
    layer: str | None
    areas: gpd.GeoDataFrame | None
    incidents: pd.DataFrame
    notes: tuple[str, ...] = ()
    held: tuple[str, ...] = ()

    def holds(self, period: Period) -> bool:
        """Whether the group's sources hold every month of ``period``.

        Parameters
        ----------
        period
            The months asked about.

        Returns
        -------
        bool
            True when :attr:`held` is empty (not known) or has each of ``period.months``.
        """
        return not self.held or set(period.months) <= set(self.held)

    def cells(self, hexagons: bool) -> Grid | HexGrid:
        """The square grid, or hexagons of the same cell size over the same study area.

        Parameters
        ----------
        hexagons
            True for hexagons over the layer's areas (or over the box of the grid's inside cells).

        Returns
        -------
        Grid or HexGrid
        """
        if not hexagons:
            return self.grid
        xc, yc = self.grid.centres()
        half = self.grid.cell_m / 2
        inside = self.grid.inside
        area = (
            self.areas
            if self.areas is not None
            else box(xc[inside].min() - half, yc[inside].min() - half,
                     xc[inside].max() + half, yc[inside].max() + half)
        )  # fmt: skip
        hexagons_over = hex_grid_for(area, cell_m=self.grid.cell_m)
        return (
            hexagons_over
            if self.areas is None
            else with_cells_holding(hexagons_over, self.incidents)
        )

    def in_period(self, period: Period | None = None) -> pd.DataFrame:
        """The located incidents of ``period`` (default: the study period) in the study area.

        Parameters
        ----------
        period
            The months wanted; None: :attr:`period`.

        Returns
        -------
        pandas.DataFrame
            The rows of :attr:`incidents` in those months: with a layer, every one (they are the
            incidents assigned to its areas, as the area tables count them); without, those
            whose grid cell is inside the study box.
        """
        chosen = self.incidents.loc[(period or self.period).contains(self.incidents["month"])]
        if self.areas is not None:
            return chosen  # already the incidents of the layer's areas (:func:`study_data`)
        cell = self.grid.cell_index(chosen["x"].to_numpy(), chosen["y"].to_numpy())
        keep = (cell >= 0) & self.grid.inside.ravel()[np.maximum(cell, 0)]
        return chosen.loc[keep]


@dataclass(frozen=True, eq=False)
class HotspotMap:
    """One hotspot map: its features (EPSG:27700), what it rests on, and its accuracy.

    Attributes
    ----------
    method
        One of :data:`~geo_service.services.options.METHODS`.
    frame
        The features, EPSG:27700. kde: cells with positive density (``cell``, ``row``, ``col``,
        ``count``, ``density_per_km2``, ``class``); dbscan/hdbscan: cluster polygons
        (:func:`~geo_service.analysis.clusters.cluster_polygons`); gistar: cells with incidents
        or a non-zero bin (:func:`~geo_service.analysis.gistar.gi_star_grid`), or every area;
        emerging: cells with a pattern (:data:`~geo_service.analysis.emerging.EMERGING_COLUMNS`).
    meta
        The method, category, period, incident count, approximate locations, notes, ``counted``
        (the sentence saying which incidents the map counts: those of the layer's areas, as the
        tables; also the last note), cell size (metres), layer and the method's parameters, plus
        ``accuracy`` (a dict, or ``None`` when not measured).
    grid
        The study grid.
    accuracy
        The backtested accuracy, or None.
    surface, previous_surface
        For KDE, the densities per km^2 on ``grid`` in the period and the one before, shape
        ``grid.shape``; else None.
    breaks
        For KDE, the class edges both surfaces share (head/tail breaks); else None.
    """

    method: str
    frame: gpd.GeoDataFrame
    meta: dict[str, Any]
    grid: Grid
    accuracy: Accuracy | None = None
    surface: np.ndarray | None = None
    previous_surface: np.ndarray | None = None
    breaks: np.ndarray | None = None

    @property
    def drawn(self) -> gpd.GeoDataFrame:
        """The features as the map draws them: for KDE the cells of each density class merged
        into one polygon (:func:`density_classes`), else :attr:`frame`."""
        if self.method != "kde" or self.breaks is None:
            return self.frame
        return density_classes(self.frame, self.breaks, cell_m=self.grid.cell_m)


def density_classes(
    cells: gpd.GeoDataFrame, breaks: np.ndarray, *, cell_m: float
) -> gpd.GeoDataFrame:
    """Density cells merged into one (multi)polygon per class, as the density map draws them.

    The squares of a class are unioned as a coverage (they share edges exactly), so a district's
    12,000 cells become five shapes: a twentieth of the GeoJSON and of the time to write it.

    Parameters
    ----------
    cells
        KDE cells with ``class``, ``count`` and ``density_per_km2`` (EPSG:27700).
    breaks
        The class edges (:func:`~geo_service.analysis.kde.class_breaks`).
    cell_m
        Cell size in metres.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per class present, highest first, EPSG:27700: ``class``,
        ``density_from_per_km2`` and ``density_to_per_km2`` (the class edges), ``cells``,
        ``count`` (incidents in those cells), ``area_km2``, ``label`` and geometry.
    """
    rows = []
    for value, group in cells.groupby("class", sort=True):
        k = int(value)
        low, high = float(breaks[k - 1]), float(breaks[min(k, len(breaks) - 1)])
        rows.append({
            "class": k,
            "density_from_per_km2": low,
            "density_to_per_km2": high,
            "cells": len(group),
            "count": int(group["count"].sum()),
            "area_km2": len(group) * cell_m * cell_m / 1e6,
            "label": f"class {k} of {len(breaks) - 1}: {low:,.0f} to {high:,.0f} incidents per km²",
            "geometry": shapely.coverage_union_all(group.geometry.to_numpy()),
        })  # fmt: skip
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=CRS) if rows else _empty_cells()
    return frame.sort_values("class", ascending=False, ignore_index=True) if rows else frame


def study_data(
    store: StoreLike,
    groups: Sequence[CategoryGroup],
    *,
    category: str,
    period_end: str | None,
    months: int,
    layer: str | None,
    cell_m: float | None,
    history_months: int = 24,
    exclude_forces: Sequence[str] = (),
    from_cube: bool = False,
    density_cube: bool = False,
) -> StudyData:
    """The group's located incidents up to the period end and the grid over the study area.

    Parameters
    ----------
    store
        The store read.
    groups
        The settings' category groups.
    category
        Group or category name.
    period_end
        Last month, ``"YYYY-MM"``; ``None`` is the latest month the group's sources hold, and a
        period end up to :data:`~geo_service.coverage.MAX_LAG_MONTHS` after it moves back to it
        (as the tables compare a source that ends early over its own latest months).
    months
        Length of the period in months (1 or more).
    layer
        The study layer; None: the default study layer.
    cell_m
        Grid cell size in metres; None: automatic.
    history_months
        Months of incidents kept before the period (default 24; at least ``months``).
    exclude_forces
        Reporting forces whose rows are left out.
    from_cube
        For maps that only count incidents per square cell (Gi*, emerging): read the store's
        grid cube (:func:`geo_service.store.grid_cube.counted_cells`) when it keeps the study
        layer at the grid's cell size, so :attr:`StudyData.incidents` are counted cell centres
        (with ``n``) giving every cell count the rows give. Otherwise (no layer, a cell size the
        cube does not keep, a store that is not a :class:`~geo_service.store.Store`) the rows.
    density_cube
        For kernel density, DBSCAN, hexagons, the category page's four maps and shifts: read
        the store's density cube instead, the layer's incidents counted by location (with
        ``n``), which gives those maps, every cell count and the backtests the rows give, when
        there is a layer and the store is a :class:`~geo_service.store.Store`. Otherwise the
        rows.

    Returns
    -------
    StudyData

    Raises
    ------
    InputError
        When ``months`` is below 1, the period end is not ``YYYY-MM``, or the grid cannot be
        built (``cell_m``).
    DataError
        When no source supplies the group, or none carries the detail it needs.
    NotFoundError
        When the store holds no incidents, or the category or layer is unknown, or there is
        neither a layer nor a located incident.
    """
    if months < 1:
        raise InputError(f"months must be at least 1, got {months}")
    require_incidents(store)
    name = study_layer_name(store, layer)  # an unknown layer is the user's to fix first
    formed = formed_group(store, groups, category)
    group, held, notes = formed.group, formed.held, list(formed.notes)
    end = period_end or held[-1]
    if held[-1] < end <= shift_month(held[-1], MAX_LAG_MONTHS):
        notes.append(
            f"The data of {group.name} ends {month_label(held[-1])}: the map covers the "
            f"{months} months to {month_label(held[-1])}, not to {month_label(end)}."
        )
        end = held[-1]
    _, period = rolling_periods(end, months=months)
    held_set = set(held)
    missing = [m for m in period.months if m not in held_set]
    if missing:
        absent = _spans(missing)
        notes.append(
            f"The data of {group.name} holds {period.n_months - len(missing)} of the "
            f"{period.n_months} months of {period.label} (none for {absent}): the map shows the "
            "months held only."
        )
    start = period.shifted(-max(history_months, months)).start
    columns = [*_COLUMNS, "source", "reported_by"]
    areas = store.layer(name) if name is not None else None
    # with a layer the grid rests on the layer alone (study_grid), so the cube can be chosen
    # by its cell size before anything is read
    grid = grid_for(areas, cell_m=cell_m) if areas is not None else None
    # only the group's categories are read; the group's mask then keeps exactly the rows it
    # kept from the whole store
    categories = categories_of(group)
    frame = None
    if from_cube or density_cube:
        frame = _cube_rows(
            store, name, grid, categories=categories, month_from=start, month_to=period.end,
            density=density_cube,
        )  # fmt: skip
    if frame is None:
        frame = store.incidents(
            categories=categories, month_from=start, month_to=period.end,
            columns=columns if name is None else [*columns, area_column(name)],
        )  # fmt: skip
    frame = without_forces(frame, exclude_forces)
    incidents = frame.loc[group.mask(frame) & has_location(frame)]
    if grid is None:
        grid = study_grid(areas, incidents, cell_m=cell_m)
    if areas is not None and name is not None:
        incidents = _in_areas(incidents, areas, name)
        grid = with_cells_holding(grid, incidents)
    return StudyData(group, period, grid, name, areas, incidents, tuple(notes), tuple(held))


def _spans(months: Sequence[str]) -> str:
    """Sorted ``months`` as runs of consecutive months: ``"Aug 11 to Jun 12, Sep 12"``."""
    runs: list[list[str]] = []
    for month in months:
        if runs and parse_month(month) == parse_month(runs[-1][-1]) + 1:
            runs[-1].append(month)
        else:
            runs.append([month])
    return ", ".join(
        month_label(run[0]) if len(run) == 1 else f"{month_label(run[0])} to {month_label(run[-1])}"
        for run in runs
    )


def _listed(months: Sequence[str]) -> str:
    """``months`` as ``"2021-01, 2021-02 ..."``: the first six, then an ellipsis."""
    return ", ".join(months[:6]) + (" ..." if len(months) > 6 else "")


def _cube_rows(
    store: StoreLike,
    layer: str | None,
    grid: Grid | None,
    *,
    categories: Sequence[str],
    month_from: str,
    month_to: str,
    density: bool = False,
) -> pd.DataFrame | None:
    """The grid cube's counted cells of the study layer at the grid's cell size (``density``:
    the density cube's incidents counted by location), or None (the caller reads the rows)
    when there is no layer or the store keeps no such cube. ``grid`` is needed for the grid
    cube only."""
    if layer is None or (grid is None and not density) or not isinstance(store, Store):
        logger.debug("hotspot counts read rows: no study layer or not a kept store")
        return None
    from geo_service.store import grid_cube

    cell_m = grid_cube.DENSITY_CELL_M if density or grid is None else grid.cell_m
    return grid_cube.counted_cells(
        store, layer=layer, cell_m=cell_m, categories=categories, month_from=month_from,
        month_to=month_to, density=density,
    )  # fmt: skip


def layer_incidents(
    store: StoreLike,
    group: CategoryGroup,
    layer: str,
    areas: gpd.GeoDataFrame,
    *,
    month_from: str,
    month_to: str,
    with_text: bool = False,
) -> pd.DataFrame:
    """The group's incidents in an area of ``layer`` over the months, located or not.

    From a :class:`~geo_service.store.Store`, the layer's density cube (the incidents counted by
    location, with ``n``; :func:`geo_service.store.grid_cube.counted_cells`); else the rows.
    Both give every count per area, per cell and by location the rows give.

    Parameters
    ----------
    store
        The store read.
    group
        The category group selected.
    layer, areas
        The layer's name and its areas: an incident belongs to it when its stored area code is
        one of their codes (as the area tables count).
    month_from, month_to
        Inclusive ``"YYYY-MM"`` bounds.
    with_text
        Also ``location_text`` (the density cube counts by it; from the rows it is read).

    Returns
    -------
    pandas.DataFrame
        ``category``, ``subcategory``, ``month``, ``source``, ``x``, ``y`` (NaN: no location),
        ``occurred_at``, ``time_known``, ``area_<layer>``, ``location_text`` when asked (and
        always from the cube) and, from the cube, ``n`` (incidents per row).
    """
    categories = categories_of(group)
    frame = _cube_rows(
        store, layer, None, categories=categories, month_from=month_from, month_to=month_to,
        density=True,
    )  # fmt: skip
    if frame is None:
        text = ["location_text"] if with_text else []
        frame = store.incidents(
            categories=categories, month_from=month_from, month_to=month_to,
            columns=[*_COLUMNS, "source", area_column(layer), *text],
        )  # fmt: skip
    return _in_areas(frame.loc[group.mask(frame)], areas, layer, keep_column=True)


def backtest_incidents(
    store: StoreLike,
    group: CategoryGroup,
    layer: str | None,
    *,
    month_from: str,
    month_to: str,
    cell_m: float | None,
    where: str,
    with_text: bool = False,
) -> tuple[pd.DataFrame, Grid, gpd.GeoDataFrame | None]:
    """The incidents a forecast backtest or patrol map rests on, and its study grid.

    With a layer, the incidents of its areas (:func:`layer_incidents`: from a kept store its
    density cube, as the tables and maps count them) on the grid over the areas and every cell
    holding one; without, every located incident of the group on the grid over 98 % of them.

    Parameters
    ----------
    store, group
        The store read and the category group.
    layer
        The study layer's name, or None.
    month_from, month_to
        Inclusive ``"YYYY-MM"`` bounds.
    cell_m
        Grid cell size in metres; None: automatic.
    where
        The end of the refusal's sentence ("in the last 24 months").
    with_text
        Also ``location_text``.

    Returns
    -------
    tuple
        The incidents (located or not; ``n`` from the cube), the grid, and the layer's areas
        (or None).

    Raises
    ------
    DataError
        No located incident: "no located incidents of <group> <where>".
    """
    areas = store.layer(layer) if layer is not None else None
    if layer is not None and areas is not None:
        incidents = layer_incidents(
            store, group, layer, areas, month_from=month_from, month_to=month_to,
            with_text=with_text,
        )  # fmt: skip
    else:  # only the group's categories, months and columns: a backtest needs no more
        text = ["location_text"] if with_text else []
        frame = store.incidents(
            categories=categories_of(group), month_from=month_from, month_to=month_to,
            columns=[*_COLUMNS, "source", *text],
        )  # fmt: skip
        incidents = frame.loc[group.mask(frame)]
    located = incidents.loc[has_location(incidents)]
    if located.empty:
        raise DataError(f"no located incidents of {group.name!r} {where}")
    grid = study_grid(areas, located, cell_m=cell_m)
    if areas is not None:  # border cells holding the areas' incidents count, as on the maps
        grid = with_cells_holding(grid, located)
    return incidents, grid, areas


def incident_count(points: pd.DataFrame) -> int:
    """How many incidents ``points`` stand for: its rows, or the sum of ``n`` of counted cells.

    Parameters
    ----------
    points
        Incidents, or counted cell centres (:func:`geo_service.store.grid_cube.counted_cells`).

    Returns
    -------
    int
    """
    return int(points["n"].sum()) if "n" in points.columns else len(points)


def cell_counts(cells: Grid | HexGrid, points: pd.DataFrame) -> np.ndarray:
    """Incidents per cell of ``cells`` (int64, shape ``cells.shape``), rows or counted cells.

    Parameters
    ----------
    cells
        The grid counted into.
    points
        Incidents (``x``, ``y``), or counted cell centres with ``n`` (each centre counts ``n``).

    Returns
    -------
    numpy.ndarray
    """
    x, y = points["x"].to_numpy(dtype=float), points["y"].to_numpy(dtype=float)
    if "n" not in points.columns:
        return cells.counts(x, y)
    # sums of whole numbers below 2**53 are exact in float64, so the cast loses nothing
    return cells.counts(x, y, weights=points["n"].to_numpy(dtype=float)).astype(np.int64)


def _in_areas(
    incidents: pd.DataFrame, areas: gpd.GeoDataFrame, layer: str, *, keep_column: bool = False
) -> pd.DataFrame:
    """The incidents assigned to one of the layer's areas (the stored area column), as counted
    by the area tables (:func:`~geo_service.analysis.counts.counts_by_area`); the area column
    dropped unless ``keep_column``."""
    codes = pd.Index(areas["code"].astype(str), dtype="str")
    known = incidents[area_column(layer)].isin(codes).to_numpy(dtype=bool, na_value=False)
    found = incidents.loc[known]
    return found if keep_column else found.drop(columns=[area_column(layer)])


def with_cells_holding(grid: _G, incidents: pd.DataFrame) -> _G:
    """``grid`` with every cell that holds one of ``incidents`` inside the study area too.

    A cell whose centre lies just outside the layer can still hold incidents of a border area;
    marking it inside keeps them on the cell maps (Gi*, emerging) and in the backtest.

    Parameters
    ----------
    grid
        A square or hexagonal grid.
    incidents
        Located incidents (``x``, ``y`` in EPSG:27700 metres).

    Returns
    -------
    Grid or HexGrid
        A copy of ``grid`` whose ``inside`` also marks every cell holding an incident.
    """
    cell = grid.cell_index(incidents["x"].to_numpy(), incidents["y"].to_numpy())
    held = np.zeros(grid.nx * grid.ny, dtype=bool)
    held[cell[cell >= 0]] = True
    inside = grid.inside | held.reshape(grid.shape)
    inside.flags.writeable = False
    return replace(grid, inside=inside)


def hotspot_map(
    store: StoreLike,
    groups: Sequence[CategoryGroup],
    opts: HotspotOptions,
    *,
    data: StudyData | None = None,
    progress: Progress | None = None,
) -> HotspotMap:
    """One hotspot map of ``opts.category`` by ``opts.method``, with its backtested accuracy.

    Accuracy is the hit rate and PAI (Chainey, Tompson & Uhlig 2008) at :data:`COVERAGE_PCT` % of
    the area over up to :data:`ACCURACY_MONTHS` target months the sources hold, one month ahead
    (fewer when they hold fewer before the period's end; none at the first month held); it is
    not measured for Gi* by area or emerging maps, nor when the backtest refuses the data.

    Parameters
    ----------
    store, groups
        The store and the settings' category groups.
    opts
        The map's options; see :class:`~geo_service.services.options.HotspotOptions`.
    data
        The study data when the caller already has it (same category, period and layer).
    progress
        Shows progress over the permutations and the backtest (:mod:`geo_service.progress`).

    Returns
    -------
    HotspotMap

    Raises
    ------
    InputError
        For an unknown method or options the data cannot support (fewer than 3 emerging time
        steps, Gi* by area without a layer, too many points for HDBSCAN, bad DBSCAN values).
    DataError
        When no located incident of the category lies in the study area in the period, or the
        sources cannot form the group (:func:`study_data`).
    NotFoundError
        When the store holds no incidents, or the category or layer is unknown.
    """
    if opts.method not in METHODS:
        raise InputError(f"method={opts.method!r}: allowed: {', '.join(METHODS)}")
    if opts.hexagons and opts.method not in HEX_METHODS:
        raise InputError(
            f"hexagonal cells are drawn by the {' and '.join(HEX_METHODS)} methods; "
            f"{opts.method} maps are drawn on square cells (leave out --hex / hex=1)"
        )
    data = data or study_data(
        store, groups, category=opts.category, period_end=opts.period_end, months=opts.months,
        layer=opts.layer, cell_m=opts.cell_m, exclude_forces=opts.exclude_forces,
        from_cube=cube_read(opts) == "grid", density_cube=cube_read(opts) == "density",
    )  # fmt: skip
    points = data.in_period()
    if points.empty:
        raise DataError(
            f"no located {data.group.name!r} incidents in {data.period.label} inside the study area"
        )
    x, y = points["x"].to_numpy(dtype=float), points["y"].to_numpy(dtype=float)
    built = _BUILDERS[opts.method](data, x, y, opts, progress or quiet)
    kind = "gistar-areas" if opts.method == "gistar" and opts.areas else opts.method
    accuracy = (
        _kept_accuracy(store, data, kind, built, progress or quiet) if opts.accuracy else None
    )
    found = incident_count(points)
    counted = (
        f"The map counts the {found:,} incidents inside the {data.layer} areas, as the tables do."
        if data.layer is not None
        else f"The map counts the {found:,} located incidents in the study box (no area "
        "layer is stored)."
    )
    meta: dict[str, Any] = {
        "method": opts.method,
        "category": data.group.name,
        "period": data.period.label,
        "period_end": data.period.end,
        "months": data.period.n_months,
        "incidents": found,
        "approximate_locations": approximate_locations(points),
        "notes": [*data.notes, *_none_found(opts.method, built, found), counted],
        "counted": counted,
        "cell_m": data.grid.cell_m,
        "layer": data.layer,
        **built.parameters,
        "accuracy": None if accuracy is None else accuracy_dict(accuracy),
    }
    return HotspotMap(
        method=opts.method,
        frame=built.frame,
        meta=meta,
        grid=data.grid,
        accuracy=accuracy,
        surface=built.surface,
        previous_surface=built.previous_surface,
        breaks=built.breaks,
    )


def cube_read(opts: HotspotOptions) -> str:
    """Which of the store's cubes the map ``opts`` asks for reads in place of the rows.

    ``"grid"``: Gi* and emerging hot spots on square cells need only incidents per study-grid
    cell (:func:`geo_service.store.grid_cube.counted_cells`). ``"density"``: kernel density,
    DBSCAN, HDBSCAN, Gi* by area (each location in its area polygon) and Gi* and emerging hot
    spots on hexagons read the incidents counted by location, each weighted by the incidents
    it stands for. Either falls back to the rows where the store keeps no such cube (no
    study layer, another cell size, a store that is not a :class:`~geo_service.store.Store`).

    Parameters
    ----------
    opts
        The map's options.

    Returns
    -------
    str
        ``"grid"`` or ``"density"``.
    """
    if opts.method == "emerging" or (opts.method == "gistar" and not opts.areas):
        return "density" if opts.hexagons else "grid"
    return "density"


def approximate_locations(points: pd.DataFrame) -> int:
    """How many of ``points`` have only an approximate location.

    An approximate location is a fall-back coordinate pair, e.g. rounded to 50 m where the exact
    point was withheld: any stated ``location_precision`` other than ``"exact"``.

    Parameters
    ----------
    points
        Incidents, with ``location_precision`` where known (or counted cells, with ``n``).

    Returns
    -------
    int
        0 when the column is absent.
    """
    if "location_precision" not in points.columns:
        return 0
    precision = points["location_precision"].astype("string")
    approximate = (precision.notna() & (precision != EXACT)).to_numpy(dtype=bool)
    if "n" in points.columns:  # counted cells: each stands for n incidents
        return int(points["n"].to_numpy()[approximate].sum())
    return int(approximate.sum())


def accuracy_dict(accuracy: Accuracy) -> dict[str, Any]:
    """The accuracy figures and their one-sentence statement, JSON-ready.

    Parameters
    ----------
    accuracy
        The backtested accuracy.

    Returns
    -------
    dict
        The fields of :class:`~geo_service.analysis.evaluation.Accuracy` and ``statement``.
    """
    return {**asdict(accuracy), "statement": accuracy.statement()}


def describe(hotspots: HotspotMap) -> str:
    """One line for the log: method, category, period, incidents and accuracy.

    Parameters
    ----------
    hotspots
        A hotspot map.

    Returns
    -------
    str
    """
    meta = hotspots.meta
    accuracy = meta.get("accuracy")
    stated = accuracy["statement"] if accuracy else "accuracy not available"
    approximate = meta.get("approximate_locations") or 0
    rounded = f" ({approximate} at an approximate location)" if approximate else ""
    notes = "".join(f"; note: {n}" for n in meta.get("notes") or ())
    return (
        f"{meta['method']} map of {meta['category']}, {meta['period']}: "
        f"{meta['incidents']} incidents{rounded}; {stated}{notes}"
    )


# ------------------------------------------------------------------------ the category page
@dataclass(frozen=True, eq=False)
class CategoryHotspots:
    """The maps a category page draws: density, clusters, Gi* cells and emerging classes.

    Attributes
    ----------
    kde, dbscan, gistar, emerging
        Each is the :class:`HotspotMap` the CLI's ``hotspots --method`` gives for the same
        options (Gi* with ``--permutations 0``: the same cells and bins, without pseudo
        p-values), or ``None`` when it could not be drawn (e.g. ``emerging`` when the period is
        too short for three time steps).
    grid
        The study grid.
    """

    kde: HotspotMap | None
    dbscan: HotspotMap | None
    gistar: HotspotMap | None
    emerging: HotspotMap | None
    grid: Grid

    @property
    def notes(self) -> tuple[str, ...]:
        """What the maps leave out, or where their period was moved (each said once)."""
        found = (m for m in (self.kde, self.dbscan, self.gistar, self.emerging) if m is not None)
        return tuple(dict.fromkeys(n for m in found for n in m.meta.get("notes") or ()))

    @property
    def accuracy(self) -> Accuracy | None:
        """The density map's backtested accuracy."""
        return None if self.kde is None else self.kde.accuracy

    @property
    def clusters(self) -> gpd.GeoDataFrame:
        """DBSCAN cluster polygons."""
        return _frame_or_empty(self.dbscan)

    @property
    def hot_cells(self) -> gpd.GeoDataFrame:
        """Gi* hot cells at 90 % or more (FDR): count, label and tooltip (EPSG:27700)."""
        if self.gistar is None:
            return _empty_cells()
        frame = self.gistar.frame
        hot = frame.loc[frame["bin"] > 0, ["count", "label", "tooltip", "geometry"]]
        return hot.reset_index(drop=True)

    @property
    def emerging_hot(self) -> gpd.GeoDataFrame:
        """Emerging-hotspot cells of the hot classes, with their pattern (EPSG:27700)."""
        if self.emerging is None:
            return _empty_cells()
        frame = self.emerging.frame
        hot = frame["pattern"].astype(str).str.endswith(DRAWN_KIND)
        return frame.loc[hot, ["pattern", "geometry"]].reset_index(drop=True)

    def clipped(self, area: gpd.GeoDataFrame) -> CategoryHotspots:
        """The same maps with only the features that touch ``area`` (an area page).

        Parameters
        ----------
        area
            The area's polygons (EPSG:27700).

        Returns
        -------
        CategoryHotspots
            The KDE map unchanged; clusters, Gi* and emerging features that intersect ``area``.
        """
        shape = area.geometry.union_all()

        def touching(found: HotspotMap | None) -> HotspotMap | None:
            if found is None or not len(found.frame):
                return found
            return replace(found, frame=found.frame[found.frame.intersects(shape)])

        return replace(
            self,
            dbscan=touching(self.dbscan),
            gistar=touching(self.gistar),
            emerging=touching(self.emerging),
        )


def category_hotspots(
    store: StoreLike, groups: Sequence[CategoryGroup], group: CategoryGroup, opts: ViewOptions
) -> CategoryHotspots:
    """Density (with accuracy), DBSCAN clusters, Gi* cells and emerging classes of ``group``.

    Each over the current period of ``opts``, with the default options of each method, as the
    CLI's, except that Gi* runs no permutations: the page draws its bins, which rest on the
    analytical z and FDR q. A map whose method refuses the data is left out (``None``) and
    logged.

    Parameters
    ----------
    store
        The store read.
    groups
        The settings' category groups.
    group
        The category group mapped.
    opts
        Period end, months, comparison, layer and forces left out.

    Returns
    -------
    CategoryHotspots

    Raises
    ------
    InputError
        The options' comparison is not usable.
    DataError
        The sources cannot form the group.
    NotFoundError
        The store holds no incidents, or the layer is unknown.
    """
    _previous, current = opts.periods()
    base = HotspotOptions(
        category=group.name, period_end=current.end, months=current.n_months,
        layer=opts.layer or None, accuracy=False, exclude_forces=opts.exclude_forces,
    )  # fmt: skip
    # One read serves the four maps: the density cube's counted centres nest in the study
    # cells (Gi*, emerging: the rows' counts) and weight the kernel density and DBSCAN.
    data = study_data(
        store, [group, *groups], category=group.name, period_end=base.period_end,
        months=base.months, layer=base.layer, cell_m=None, exclude_forces=opts.exclude_forces,
        density_cube=True,
    )  # fmt: skip
    maps: dict[str, HotspotMap | None] = {}
    for method in ("kde", "dbscan", "gistar", "emerging"):
        # The page draws Gi* bins, which rest on the analytical z and FDR q ("normal"
        # inference): permutations would only add pseudo p-values it does not show.
        permutations = 0 if method == "gistar" else base.permutations
        chosen = replace(base, method=method, accuracy=method == "kde", permutations=permutations)
        try:
            maps[method] = hotspot_map(store, groups, chosen, data=data)
        except (InputError, NotFoundError, DataError) as exc:
            logger.info("%s map of %s not drawn: %s", method, group.name, exc)
            maps[method] = None
    return CategoryHotspots(
        kde=maps["kde"],
        dbscan=maps["dbscan"],
        gistar=maps["gistar"],
        emerging=maps["emerging"],
        grid=data.grid,
    )


# ------------------------------------------------------------------------- map builders
@dataclass(frozen=True, eq=False)
class _Built:
    frame: gpd.GeoDataFrame
    parameters: dict[str, Any]
    method: Method | None
    surface: np.ndarray | None = None
    previous_surface: np.ndarray | None = None
    breaks: np.ndarray | None = None


def point_weights(points: pd.DataFrame) -> np.ndarray | None:
    """Incidents each point stands for: ``n`` of counted cells or locations, None for rows (one
    each).

    Parameters
    ----------
    points
        Incidents, or counted rows with ``n``.

    Returns
    -------
    numpy.ndarray or None
        float64, one per row of ``points``.
    """
    return points["n"].to_numpy(dtype=float) if "n" in points.columns else None


def _kde_map(
    data: StudyData, x: np.ndarray, y: np.ndarray, opts: HotspotOptions, progress: Progress
) -> _Built:
    weights = point_weights(data.in_period())  # the points x, y are of (counted cells or rows)
    bandwidth = float(opts.bandwidth_m or kde.auto_bandwidth_m(x, y, weights=weights))
    surface = kde.kde_surface(x, y, data.grid, bandwidth_m=bandwidth, weights=weights)
    earlier = data.period.shifted(-data.period.n_months)
    inside = data.grid.inside
    previous = None
    if data.holds(earlier):  # a period not held is no data: not drawn, not in the breaks
        before = data.in_period(earlier)
        previous = kde.kde_surface(
            before["x"].to_numpy(dtype=float), before["y"].to_numpy(dtype=float), data.grid,
            bandwidth_m=bandwidth, weights=point_weights(before),
        )  # fmt: skip
    shared = [surface[inside]] if previous is None else [previous[inside], surface[inside]]
    edges = kde.class_breaks(shared, method=BREAKS)
    counts = data.grid.counts(x, y, weights=weights)
    frame = data.grid.to_geodataframe(
        {
            "count": counts if weights is None else counts.astype(np.int64),
            "density_per_km2": surface,
            "class": kde.classify(surface, edges),
        }
    )
    frame = frame.loc[frame["density_per_km2"] > 0].reset_index(drop=True)
    parameters = {
        "bandwidth_m": bandwidth,
        "class_breaks": edges.tolist(),
        "class_method": BREAKS,
        "previous_period": earlier.label if previous is not None else None,
    }
    return _Built(frame, parameters, _kde_method(bandwidth, data.period.n_months),
                  surface, previous, edges)  # fmt: skip


def _kde_method(bandwidth_m: float, months: int) -> Method:
    def score(history: History) -> np.ndarray:
        hx, hy, _ = history.recent(months)
        weights = history.recent_weights(months)
        return kde.kde_surface(hx, hy, history.grid, bandwidth_m=bandwidth_m, weights=weights)

    return score


def _study_area_m2(data: StudyData) -> float:
    return float(data.grid.inside.sum()) * data.grid.cell_m**2


def _dbscan_map(
    data: StudyData, x: np.ndarray, y: np.ndarray, opts: HotspotOptions, progress: Progress
) -> _Built:
    area_m2 = _study_area_m2(data)
    frame = clusters.dbscan_clusters(
        x, y, eps_m=opts.eps_m, min_samples=opts.min_samples, areas=data.areas,
        study_area_m2=area_m2, weights=point_weights(data.in_period()),
    )  # fmt: skip
    months = data.period.n_months
    eps_m, min_samples = frame.attrs["eps_m"], frame.attrs["min_samples"]

    def score(history: History) -> np.ndarray:
        # The map's own parameters on the incidents moved to their cell centres: the cost is
        # bounded by the occupied cells however many incidents there are (unsnapped fire or
        # collision points made this backtest super-linear).
        counts = history.monthly_counts[-months:].sum(axis=0)
        return clusters.snapped_cluster_cells(
            history.grid, counts, eps_m=eps_m, min_samples=min_samples
        )

    parameters = {
        "eps_m": frame.attrs["eps_m"],
        "min_samples": frame.attrs["min_samples"],
        **_bound_parameters(frame),
    }
    return _Built(cluster_words(_plain_attrs(frame), eps_m=frame.attrs["eps_m"]), parameters, score)


def _hdbscan_map(
    data: StudyData, x: np.ndarray, y: np.ndarray, opts: HotspotOptions, progress: Progress
) -> _Built:
    frame = clusters.hdbscan_clusters(
        x, y, areas=data.areas, min_samples=opts.min_samples,
        weights=point_weights(data.in_period()),
    )  # fmt: skip
    size = frame.attrs["min_cluster_size"]
    months = data.period.n_months

    def score(history: History) -> np.ndarray:
        hx, hy, _ = history.recent(months)
        found = clusters.hdbscan_clusters(
            hx, hy, min_cluster_size=size, weights=history.recent_weights(months)
        )
        return clusters.cluster_cells(history.grid, found)

    parameters = {"min_cluster_size": size, **_bound_parameters(frame)}
    return _Built(cluster_words(_plain_attrs(frame)), parameters, score)


def _none_found(method: str, built: _Built, incidents: int) -> list[str]:
    """A sentence for a cluster map that found no hotspot, so an empty map is not read as
    "no hotspots here" (none at these settings; clusters over the area bound left out)."""
    if method not in ("dbscan", "hdbscan") or len(built.frame):
        return []
    dropped = int(built.parameters.get("incidents_dropped_as_spread_out") or 0)
    spread = (
        f"; {dropped:,} of them lay in clusters wider than the "
        f"{built.parameters.get('max_hotspot_km2'):g} km² a hotspot may cover and were left out "
        "as spread out"
        if dropped
        else ""
    )
    return [
        f"No hotspot was found among the {incidents:,} incidents at these settings{spread}. An "
        "empty map is not evidence that incidents are spread evenly: see the kernel density map."
    ]


def _bound_parameters(frame: gpd.GeoDataFrame) -> dict[str, Any]:
    bound = frame.attrs["max_area_m2"]
    return {
        "max_hotspot_km2": None if bound is None else bound / 1e6,
        "clusters_split": frame.attrs["split"],
        "incidents_dropped_as_spread_out": frame.attrs["dropped"],
    }


def cluster_words(frame: gpd.GeoDataFrame, *, eps_m: float | None = None) -> gpd.GeoDataFrame:
    """Cluster polygons with their number and a sentence for the map's tooltip.

    Parameters
    ----------
    frame
        Clusters from :func:`~geo_service.analysis.clusters.cluster_polygons`, numbered by size
        (``cluster`` 0 the largest).
    eps_m
        DBSCAN's radius in metres (the sentence then says how close the incidents are); None for
        HDBSCAN.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``hotspot`` (1 the most incidents), ``label`` (``"Hotspot 1"``) and
        ``tooltip`` (e.g. ``"Hotspot 1: 42 incidents at 9 places, each within 180 m of another;
        area 0.30 km²"``).
    """
    out = frame.copy()
    rank = out["cluster"].to_numpy(dtype=np.int64) + 1
    out["hotspot"] = rank
    out["label"] = [f"Hotspot {k}" for k in rank]
    close = "" if eps_m is None else f", each within {eps_m:.0f} m of another"
    out["tooltip"] = [
        f"Hotspot {k}: {count:,} incidents at {places:,} place{'s' * (places != 1)}{close}; "
        f"area {area / 1e6:.2f} km²"
        for k, count, places, area in zip(
            rank, out["count"], out["locations"], out["area_m2"], strict=True
        )
    ]
    return out


def _gistar_map(
    data: StudyData, x: np.ndarray, y: np.ndarray, opts: HotspotOptions, progress: Progress
) -> _Built:
    if opts.areas:
        return _gistar_areas_map(data, x, y, opts, progress)
    cells = data.cells(opts.hexagons)
    counts = cell_counts(cells, data.in_period())
    frame = gistar.gi_star_grid(
        cells, counts, permutations=opts.permutations, seed=opts.seed, progress=progress
    )
    frame = gistar_words(frame.loc[(frame["count"] > 0) | (frame["bin"] != 0)])
    months = data.period.n_months
    inside = data.grid.inside.ravel()
    weights = grid_weights(data.grid)

    def score(history: History) -> np.ndarray:
        recent = history.monthly_counts[-months:].sum(axis=0).ravel()[inside]
        result = gistar.gi_star(recent.astype(float), weights, permutations=0)
        flat = np.zeros(inside.size)
        flat[inside] = np.maximum(result.bins, 0)
        return flat.reshape(data.grid.shape)

    parameters = {
        "permutations": opts.permutations,
        "seed": opts.seed,
        "weights": "hexagon neighbours" if opts.hexagons else "queen",
        "cells": "hexagons" if opts.hexagons else "squares",
    }
    return _Built(frame, parameters, score)


def gistar_words(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Gi* cells with a sentence for the map's tooltip that says why a cell is hot or cold.

    Parameters
    ----------
    frame
        Cells from :func:`~geo_service.analysis.gistar.gi_star_grid` (``count``, ``label``,
        ``bin``, ``neighbour_count``).

    Returns
    -------
    geopandas.GeoDataFrame
        A copy (index reset) with ``tooltip``, e.g. ``"Hot spot, 95 % confidence: 0 incidents
        here; hot because its neighbours hold 57"``.
    """
    out = frame.reset_index(drop=True)
    words = []
    for count, label, kind, around in zip(
        out["count"], out["label"], out["bin"], out["neighbour_count"], strict=True
    ):
        text = f"{str(label)[:1].upper()}{str(label)[1:]}: {int(count):,} incident"
        text += "s" * (count != 1) + " here"
        if kind > 0 and count == 0:
            text += f"; hot because its neighbours hold {int(around):,}"
        elif kind != 0:
            text += f", {int(around):,} in its neighbours"
        words.append(text)
    out["tooltip"] = words
    return out


def _gistar_areas_map(
    data: StudyData, x: np.ndarray, y: np.ndarray, opts: HotspotOptions, progress: Progress
) -> _Built:
    if data.areas is None:
        raise InputError(
            "Gi* by area needs an area layer; add one with `geo-service boundaries add`"
        )
    point_i, area_i = data.areas.sindex.query(shapely.points(x, y), predicate="within")
    first = np.unique(point_i, return_index=True)[1]  # a point on a shared edge counts once
    weights = point_weights(data.in_period())  # the density cube's locations: n incidents each
    counts = np.bincount(
        area_i[first], weights=None if weights is None else weights[point_i[first]],
        minlength=len(data.areas),
    ).astype(np.int64)  # fmt: skip
    frame = gistar.gi_star_areas(
        data.areas, counts, permutations=opts.permutations, seed=opts.seed, progress=progress
    )
    parameters = {"permutations": opts.permutations, "seed": opts.seed, "cells": data.layer,
                  "weights": "queen contiguity"}  # fmt: skip
    return _Built(frame, parameters, None)


def _emerging_map(
    data: StudyData, x: np.ndarray, y: np.ndarray, opts: HotspotOptions, progress: Progress
) -> _Built:
    grid = data.cells(opts.hexagons)
    points = data.in_period()
    step_months = opts.step_months or auto_step_months(incident_count(points), data.period.n_months)
    month_of = {m: i // step_months for i, m in enumerate(data.period.months)}
    step = points["month"].astype(str).map(month_of).to_numpy()
    steps = max(month_of.values()) + 1
    if steps < 3:
        raise InputError(
            f"emerging hot spots need at least 3 time steps; {data.period.n_months} months in "
            f"steps of {step_months} give {steps} (use more months or a smaller step)"
        )
    cube = np.stack([cell_counts(grid, points.loc[step == t]) for t in range(steps)])
    inside = grid.inside.ravel()
    table = emerging.emerging_hotspots(cube.reshape(steps, -1)[:, inside], grid_weights(grid))
    frame = grid.to_geodataframe({"count": cube.sum(axis=0)})
    for column in emerging.EMERGING_COLUMNS:
        frame[column] = table[column].to_numpy()
    frame = frame.loc[frame["pattern"] != emerging.NO_PATTERN].reset_index(drop=True)
    parameters = {
        "time_steps": steps,
        "step_months": step_months,
        "cells": "hexagons" if opts.hexagons else "squares",
    }
    return _Built(frame, parameters, None)


def auto_step_months(incidents: int, months: int) -> int:
    """The shortest of 1, 2, 3, 4, 6 months giving >= 200 incidents per step and >= 3 steps.

    Parameters
    ----------
    incidents
        Incidents in the period.
    months
        Length of the period in months.

    Returns
    -------
    int
        The step in months; the longest step giving 3 steps when none reaches 200 incidents,
        1 when no step gives 3.
    """
    fitting = [s for s in (1, 2, 3, 4, 6) if months // s >= 3]
    for step_months in fitting:
        if incidents * step_months / months >= EMERGING_INCIDENTS_PER_STEP:
            return step_months
    return fitting[-1] if fitting else 1


_Builder = Callable[[StudyData, np.ndarray, np.ndarray, HotspotOptions, Progress], _Built]
_BUILDERS: dict[str, _Builder] = {
    "kde": _kde_map,
    "dbscan": _dbscan_map,
    "hdbscan": _hdbscan_map,
    "gistar": _gistar_map,
    "emerging": _emerging_map,
}


def _kept_accuracy(
    store: StoreLike, data: StudyData, kind: str, built: _Built, progress: Progress
) -> Accuracy | None:
    """:func:`_accuracy`, kept per store version (:func:`geo_service.services.kept.kept_accuracy`):
    the backtest is a tenth of a second of every cold category page, and its result rests only
    on the version's data and the inputs named here."""
    from geo_service.services.kept import kept_accuracy

    inputs = {
        "kind": kind,
        "group": repr(data.group),
        "period": [data.period.end, data.period.n_months],
        "layer": data.layer,
        "grid": _grid_key(data.grid),
        "incidents": _frame_digest(data.incidents),
        "parameters": repr(built.parameters),
        "backtest": [ACCURACY_MONTHS, COVERAGE_PCT],
    }
    return kept_accuracy(store, inputs, lambda: _accuracy(data, kind, built.method, progress))


def _grid_key(grid: Grid) -> list[Any]:
    """A grid's corner, cell, shape and a digest of its study-area mask."""
    inside = hashlib.sha256(np.ascontiguousarray(grid.inside).tobytes()).hexdigest()
    return [grid.x0, grid.y0, grid.cell_m, grid.nx, grid.ny, inside]


def _frame_digest(frame: pd.DataFrame) -> list[Any]:
    """Rows, columns and a digest of every value of the study's incidents (what the backtest
    reads), so a kept accuracy is used only for the very rows it was computed from."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return [len(frame), list(map(str, frame.columns)), hashlib.sha256(hashed.tobytes()).hexdigest()]


def _accuracy(
    data: StudyData, name: str, method: Method | None, progress: Progress
) -> Accuracy | None:
    """The map's backtested accuracy beside the best naive baseline's.

    A map that ranks cells (``method`` given) is scored on its top :data:`COVERAGE_PCT` % of
    the area; a map that marks an area (emerging classes, Gi* by area: ``method`` None) on the
    area it marks at each origin (:func:`~geo_service.analysis.evaluation.map_accuracy_for`).
    """
    try:
        months = _accuracy_months(data)
        if method is not None:
            return accuracy_for(
                data.incidents, data.grid, method=name, methods={name: method},
                last_month=data.period.end, months=months, coverage=COVERAGE_PCT,
                progress=progress,
            )  # fmt: skip
        kinds = map_kinds(data.grid, areas=data.areas)
        if name not in kinds:
            logger.info("no backtest for %s maps without an area layer", name)
            return None
        return map_accuracy_for(
            data.incidents, data.grid, kind=name, method=kinds[name],
            last_month=data.period.end, months=months,
        )  # fmt: skip
    except InputError as exc:
        logger.info("accuracy not available: %s", exc)
        return None


def _accuracy_months(data: StudyData) -> int:
    """Target months of a map's backtest: up to :data:`ACCURACY_MONTHS` ending at the period's
    end, each held by the group's sources with at least its origin month held before it (as
    :func:`~geo_service.services.evaluation.evaluate` chooses them), so a month the store does
    not hold is never scored as a month of no incidents.

    Raises
    ------
    InputError
        The period's end is not held, or no month before it is.
    """
    if not data.held:  # not known: every month taken as held
        return ACCURACY_MONTHS
    run = latest_run([m for m in data.held if m <= data.period.end])
    if not run or run[-1] != data.period.end:
        raise InputError(f"the sources do not hold {data.period.end}: no backtest")
    first, last = origins(run, months_wanted=ACCURACY_MONTHS, horizon=1)
    return parse_month(last) - parse_month(first) + 1


def _plain_attrs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = frame.copy()
    out.attrs = {}
    return out


def _frame_or_empty(found: HotspotMap | None) -> gpd.GeoDataFrame:
    return _empty_cells() if found is None else found.frame


def _empty_cells() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"count": pd.Series(dtype="int64")}, geometry=[], crs=CRS)


# ------------------------------------------------------------------------------------ shifts
@dataclass(frozen=True, eq=False)
class Shifts:
    """Change per area (or grid cell) between two periods, with p, q and a label.

    Attributes
    ----------
    frame
        :func:`~geo_service.analysis.shifts.area_shifts` (every area) or
        :func:`~geo_service.analysis.shifts.cell_shifts` (cells with an incident in either
        period), EPSG:27700.
    meta
        category, previous, current (period labels), against, unit (``"cell"`` or the layer)
        and significant (number of rows with q < 0.05).
    """

    frame: gpd.GeoDataFrame
    meta: dict[str, Any]


def shifts(store: StoreLike, groups: Sequence[CategoryGroup], opts: ShiftOptions) -> Shifts:
    """Period-on-period (or year-on-year) change of ``opts.category`` per area or cell.

    Per area of the study layer unless ``opts`` asks for cells (``cells``, ``cell_m`` or
    ``hexagons``) or no layer is stored. The comparison left out of ``opts`` is chosen from the
    months the category's own sources hold (:func:`~geo_service.services.options.resolve_view`).

    Parameters
    ----------
    store
        The store read.
    groups
        The settings' category groups.
    opts
        Category, comparison, layer, cells and forces left out.

    Returns
    -------
    Shifts

    Raises
    ------
    DataError
        When either period holds a month the category's sources do not cover, or the sources
        cannot form the group.
    InputError
        When the comparison asked for is not usable (unknown ``against``, ``months`` below 1,
        period end outside the months held).
    NotFoundError
        When the store holds no incidents, or the category or layer is unknown.
    """
    require_incidents(store)
    group = group_named(store, groups, opts.category)
    held = store.coverage().months_of(group)
    view = resolve_view(held, period_end=opts.period_end, months=opts.months, against=opts.against)
    previous, current = view.periods()
    lag_months = current.n_months if view.against == "preceding" else 12
    data = study_data(
        store, [group, *groups], category=group.name, period_end=view.period_end,
        months=view.months, layer=opts.layer, cell_m=opts.cell_m,
        history_months=lag_months + view.months, exclude_forces=opts.exclude_forces,
        density_cube=True,
    )  # fmt: skip
    _check_covered(held, previous, current)
    per_area = opts.cell_m is None and not opts.hexagons and not opts.cells
    if per_area and data.layer is not None and data.areas is not None:
        incidents = without_forces(
            _area_rows(store, data.layer, data.group, previous.start, current.end),
            opts.exclude_forces,
        )
        frame = shift_stats.area_shifts(
            incidents, data.areas, layer=data.layer, group=data.group, previous=previous,
            current=current,
        )  # fmt: skip
    else:
        frame = shift_stats.cell_shifts(
            data.incidents, data.cells(opts.hexagons), group=data.group, previous=previous,
            current=current,
        )  # fmt: skip
        frame = frame.loc[(frame["previous"] > 0) | (frame["current"] > 0)].reset_index(drop=True)
    meta = {
        "category": data.group.name,
        "previous": previous.label,
        "current": current.label,
        "against": view.against,
        "unit": "cell" if "cell" in frame.columns else data.layer,
        "significant": int((frame["q"] < 0.05).sum()),
    }
    return Shifts(frame, meta)


def _area_rows(
    store: StoreLike, layer: str, group: CategoryGroup, month_from: str, month_to: str
) -> pd.DataFrame:
    """The group's categories' incidents with their area in ``layer`` over the months: from a
    :class:`~geo_service.store.Store` its area cube's counted rows, else the rows."""
    categories = categories_of(group)
    if isinstance(store, Store):
        return cubes.counted_incidents(
            store, layer=layer, categories=categories, month_from=month_from, month_to=month_to
        )
    return store.incidents(
        categories=categories, month_from=month_from, month_to=month_to,
        columns=[*_COLUMNS, "source", "reported_by", area_column(layer)],
    )  # fmt: skip


def _check_covered(held_months: Sequence[str], *periods: Period) -> None:
    """Refuse a comparison over months the category's sources do not hold (never counted 0)."""
    held = set(held_months)
    for period in periods:
        missing = [m for m in period.months if m not in held]
        if missing:
            span = f"{min(held)}..{max(held)}" if held else "no months"
            raise DataError(
                f"period {period.label} is not covered by the data of this category: no data "
                f"for {_listed(missing)}; its sources "
                f"hold {span} (choose the period end, months or comparison to fit)"
            )
