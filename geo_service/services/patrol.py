"""Patrol zones: next month's forecast of one category drawn as numbered zones to patrol.

The category's rolling-origin forecast backtest
(:func:`geo_service.services.evaluation.forecast_backtest`, kept per store version by
:mod:`geo_service.services.kept`) chooses its default map among the forecast candidates
(:func:`geo_service.analysis.forecast.forecast_candidates`: time-weighted counts, counts blended
with a narrow kernel, empirical-Bayes rates) and the naive baselines: the forecast when it beat
both baselines at 5 % of the area, otherwise the better baseline
(:attr:`~geo_service.services.evaluation.ForecastBacktest.default`). That map's candidate is
run once more on everything known up to the latest month held, giving next month's forecast per grid
cell. The top 1, 5 and 10 % of the study area's cells are selected (ties kept in grid order, as
a map must draw some cells), touching cells (queen contiguity) are merged into zones, and the
zones are numbered by the forecast they hold, largest first. Each zone carries its area, the
incidents inside it last month and over the last 12 months, and the street and place names
inside it from the reference layers (:mod:`geo_service.reference`).

The expected share of incidents is the forecast backtest's: the mean share of each next month's
incidents that the default's top cells held (for the forecast, the candidate chosen at each
origin from the origins before it only, so no month is scored by a choice that saw it), beside
the share a map drawn at random would hold (the area share) and the best naive baseline's.

One function, :func:`patrol_zones`, serves the page, the API and the ``brief`` command.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service import reference
from geo_service.analysis.evaluation import incident_history
from geo_service.analysis.forecast import (
    BASELINES,
    FORECAST,
    bandwidth_of,
    describe,
    forecast_candidates,
)
from geo_service.analysis.grid import Grid
from geo_service.analysis.hotspot_methods import History
from geo_service.analysis.periods import format_month, parse_month
from geo_service.analysis.raster import raster_labels
from geo_service.categories import CategoryGroup
from geo_service.errors import DataError, InputError, NotFoundError
from geo_service.schema import CRS, has_location
from geo_service.services.context import (
    StoreLike,
    formed_group,
    group_named,
    study_layer_name,
)
from geo_service.services.evaluation import ForecastBacktest
from geo_service.services.hotspots import backtest_incidents, point_weights
from geo_service.services.kept import PATROL_FILE, kept_forecast_backtest, kept_value
from geo_service.services.options import EvaluateOptions

logger = logging.getLogger(__name__)

#: Coverages (percent of the study area) a patrol map offers.
COVERAGES: tuple[float, ...] = (1.0, 5.0, 10.0)
#: Columns of :attr:`PatrolZones.zones` besides geometry.
ZONE_COLUMNS = (
    "zone", "coverage", "cells", "area_km2", "forecast", "forecast_share", "last_month",
    "last_year", "areas", "names",
)  # fmt: skip


@dataclass(frozen=True)
class PatrolOptions:
    """What a patrol map is asked for.

    Parameters
    ----------
    category
        Category or group name.
    coverage
        Percentage of the study area to outline, one of :data:`COVERAGES` (default 5).
    layer
        Study area layer; None: the default study layer.
    cell_m
        Grid cell size in metres; None: automatic.
    """

    category: str
    coverage: float = 5.0
    layer: str | None = None
    cell_m: float | None = None


@dataclass(frozen=True, eq=False)
class PatrolZones:
    """Next month's patrol zones of one category and how far they can be trusted.

    Attributes
    ----------
    category
        The group's name.
    forecast_month, last_month
        The month forecast and the latest month held, ``"YYYY-MM"``.
    method
        The candidate drawn (:attr:`~geo_service.analysis.forecast.DefaultChoice.map_method`,
        e.g. ``"blend-h6-a0.2"``, or a naive baseline when no forecast beat it);
        ``method_text`` says it in words (:func:`~geo_service.analysis.forecast.describe`).
    bandwidth_m
        The blend's kernel or the empirical-Bayes neighbourhood in metres, else None.
    cell_m
        Grid cell size in metres.
    coverage
        The percentage of the area asked for; ``area_share`` the fraction actually outlined.
    hit_rate, pai
        The default map's mean backtest hit rate (fraction) and PAI at ``coverage``: the
        ``"forecast"`` row (the candidate chosen at each origin from the origins before it) of
        the forecast backtest, or the baseline's row when the default is a baseline.
    baseline, baseline_hit_rate
        The best naive baseline at ``coverage`` and its mean hit rate.
    origins, first_origin, last_origin
        The backtest's number of origin months and their range.
    zones
        One row per zone at ``coverage`` (:data:`ZONE_COLUMNS`, EPSG:27700), zone 1 first.
    levels
        One row per coverage of :data:`COVERAGES`: ``coverage``, ``area_share`` and the outline
        of the selected cells.
    focus
        The area the zones were narrowed to by :meth:`within` ("Adeyfield East (ward
        E05004691)"), or None for the whole study area.
    """

    category: str
    forecast_month: str
    last_month: str
    method: str
    method_text: str
    bandwidth_m: float | None
    cell_m: float
    coverage: float
    area_share: float
    hit_rate: float
    pai: float
    baseline: str | None
    baseline_hit_rate: float | None
    origins: int
    first_origin: str
    last_origin: str
    zones: gpd.GeoDataFrame
    levels: gpd.GeoDataFrame
    focus: str | None = None

    @property
    def is_baseline(self) -> bool:
        """Whether no forecast beat the naive baselines, so the zones are a baseline's counts."""
        return self.method in BASELINES

    @property
    def baseline_words(self) -> str:
        """The best naive baseline in words (e.g. "last year's counts"); "" when none."""
        return BASELINE_WORDS.get(self.baseline or "", self.baseline or "")

    def percents(self) -> tuple[str, str]:
        """The hit rate and the best baseline's as percentages ("58 %", "57 %"), with one
        decimal when whole numbers would show two different figures as the same."""
        own, base = 100 * self.hit_rate, 100 * (self.baseline_hit_rate or 0.0)
        digits = 1 if f"{own:.0f}" == f"{base:.0f}" and own != base else 0
        return f"{own:.{digits}f} %", f"{base:.{digits}f} %"

    def statement(self) -> str:
        """The zones' expected share of incidents in words, beside the best naive baseline's."""
        share = 100 * self.area_share
        held, base = self.percents()
        if self.is_baseline:
            held = f"{100 * self.hit_rate:.0f} %"
        months = (
            f"in back-tests over the {self.origins} months "
            f"{_month_words(_next(self.first_origin))} to {_month_words(_next(self.last_origin))}"
        )
        if self.focus is None:
            text = (
                f"These {len(self.zones)} zones, {share:.0f} % of the area, held {held} of "
                f"each month's incidents {months}; a map drawn at random would hold {share:.0f} %."
            )
        else:
            # The back-test scores the whole study area's zones; one area's share is not known.
            text = (
                f"{len(self.zones)} of the zones touch {self.focus}. Across the whole study area "
                f"the zones, {share:.0f} % of its area, held {held} of each month's incidents "
                f"{months}; a map drawn at random would hold {share:.0f} %."
            )
        if self.is_baseline:
            counts = BASELINE_WORDS[self.method]
            return (
                f"No smoothing method beat {counts} for {self.category} in back-tests, so these "
                f"zones are {counts} per cell. " + text
            )
        if self.baseline is not None and self.baseline_hit_rate is not None:
            text += f" {_sentence_case(self.baseline_words)} alone would have held {base}."
        return text

    def how_made(self) -> str:
        """How the map is made and chosen, in words (the page's and the brief's note)."""
        made = (
            f"{_sentence_case(self.method_text)}, using incidents up to "
            f"{_month_words(self.last_month)}."
        )
        if self.is_baseline:
            chosen = (
                f"In a back-test over the {self.origins} months to {_month_words(self.last_month)}"
                f" no smoothing method (time-weighted counts, counts blended with a kernel, "
                f"empirical-Bayes rates) predicted the next month better than "
                f"{BASELINE_WORDS[self.method]}, so the map is those counts."
            )
        else:
            chosen = (
                f"It was chosen in a back-test over the {self.origins} months to "
                f"{_month_words(self.last_month)}: for each month, every candidate (time-weighted "
                f"counts, counts blended with a kernel, empirical-Bayes rates, and last month's "
                f"and last year's counts) drew a map from the months before it only; the "
                f"candidate best on the months already scored was used, and the hit rate is of "
                f"those choices. This map is drawn by the candidate best over all the months."
            )
        return made + " " + chosen

    def table(self) -> pd.DataFrame:
        """The zones as a plain table (no geometry; names joined by "; ")."""
        return pd.DataFrame(self.features().drop(columns="geometry")).reset_index(drop=True)

    def features(self) -> gpd.GeoDataFrame:
        """The zones with their names joined by "; " (for GeoJSON and GeoPackage exports)."""
        return self.zones.assign(names=["; ".join(n) for n in self.zones["names"]])

    def meta(self) -> dict[str, object]:
        """What the zones rest on, JSON-ready (the same in every export)."""
        return {
            "category": self.category,
            "forecast_month": self.forecast_month,
            "last_month": self.last_month,
            "method": self.method,
            "method_text": self.method_text,
            "bandwidth_m": self.bandwidth_m,
            "cell_m": self.cell_m,
            "coverage": self.coverage,
            "area_share": self.area_share,
            "hit_rate": self.hit_rate,
            "pai": self.pai,
            "baseline": self.baseline,
            "baseline_hit_rate": self.baseline_hit_rate,
            "origins": self.origins,
            "statement": self.statement(),
        }

    def within(self, area: gpd.GeoDataFrame) -> PatrolZones:
        """The same forecast with only the zones touching ``area`` (one row of a layer, with
        ``code`` and ``name``, e.g. a beat), renumbered from 1; :attr:`focus` names the area."""
        shape = shapely.union_all(area.geometry.to_numpy())
        touching = self.zones[self.zones.intersects(shape)].copy()
        touching["zone"] = np.arange(1, len(touching) + 1)
        narrowed = _replace_zones(self, touching.reset_index(drop=True))
        return replace(narrowed, focus=_area_label(area))


#: The naive baselines in words, as a sentence names them.
BASELINE_WORDS = {
    "previous-12-months": "last year's counts",
    "previous-month": "last month's counts",
}


def patrol_zones(
    store: StoreLike, groups: Sequence[CategoryGroup], opts: PatrolOptions
) -> PatrolZones:
    """Next month's patrol zones of ``opts.category`` from its backtested default map.

    Parameters
    ----------
    store
        The store read; its reference roads and places (when loaded) name the zones' streets.
    groups
        The settings' category groups.
    opts
        Category, coverage, study layer and cell size.

    Returns
    -------
    PatrolZones

    Raises
    ------
    InputError
        A coverage not in :data:`COVERAGES`, or a store too short to backtest.
    DataError
        No located incident of the category, or the default map is not a forecast candidate.
    NotFoundError
        Unknown category or layer, or an empty store.
    """
    if opts.coverage not in COVERAGES:
        allowed = ", ".join(f"{c:g}" for c in COVERAGES)
        raise InputError(f"coverage {opts.coverage:g}: expected one of {allowed} (% of the area)")
    # The zones are the whole study area's, the same for every area page of a version: kept
    # beside the version, so a fresh process (or another area's page) reads them back.
    inputs = {
        "patrol": repr(group_named(store, groups, opts.category)),
        "options": repr(opts),
        "reference": _reference_files(store),
    }
    return kept_value(
        store, PATROL_FILE, inputs, lambda: _computed_zones(store, groups, opts),
        dump=_zones_to_json, load=_zones_from_json, column="patrol",
    )  # fmt: skip


def _computed_zones(
    store: StoreLike, groups: Sequence[CategoryGroup], opts: PatrolOptions
) -> PatrolZones:
    """:func:`patrol_zones` computed afresh (the backtest itself is kept apart)."""
    # kept per store version: a fresh process reads the backtest instead of re-running it
    evaluation = kept_forecast_backtest(
        store, groups, EvaluateOptions(category=opts.category, coverages=COVERAGES,
                                       cell_m=opts.cell_m, layer=opts.layer),
    )  # fmt: skip
    last_month = format_month(parse_month(evaluation.last_origin) + evaluation.horizon_months)
    history, places = _history(store, groups, opts, evaluation, last_month)
    candidates = forecast_candidates(cell_m=evaluation.cell_m)
    default = evaluation.default
    if default is None or default.map_method not in candidates:
        chosen = None if default is None else default.map_method
        raise DataError(f"the backtest's default map {chosen!r} is not a forecast candidate")
    scores = np.asarray(candidates[default.map_method](history), dtype=float)
    roads = reference_roads(store)
    zones, levels = _zones(history, scores, opts.coverage, roads)
    zones.insert(ZONE_COLUMNS.index("areas"), "areas", _area_names(store, opts, zones))
    zones["names"] = _with_incident_places(zones, places)
    return _result(evaluation, opts.coverage, last_month, zones, levels)


def _reference_files(store: StoreLike) -> list[list[object]]:
    """Each stored reference layer's kind, size and modification time (ns): the zones' street
    names come from them, and adding one again replaces its file."""
    root = getattr(store, "root", None)
    found: list[list[object]] = []
    for kind in reference.KINDS:
        path = reference.reference_path(Path(root), kind) if root else None
        if path is not None and path.is_file():
            stat = path.stat()
            found.append([kind, stat.st_size, stat.st_mtime_ns])
    return found


#: Types of the zones' columns as kept (``names``: tuples of text; geometry: WKB).
_ZONE_TYPES: dict[str, Any] = {
    "zone": int, "coverage": float, "cells": int, "area_km2": float, "forecast": float,
    "forecast_share": float, "last_month": int, "last_year": int, "areas": "str",
}  # fmt: skip


def _zones_to_json(found: PatrolZones) -> dict[str, object]:
    """``found`` as JSON-ready values (floats exact; geometries as WKB hex)."""
    fields = {k: getattr(found, k) for k in found.__dataclass_fields__}
    zones, levels = fields.pop("zones"), fields.pop("levels")
    return {
        "fields": fields,
        "zones": {
            **{c: zones[c].tolist() for c in _ZONE_TYPES},
            "names": [list(n) for n in zones["names"]],
            "geometry": shapely.to_wkb(zones.geometry.to_numpy(), hex=True).tolist(),
        },
        "levels": {
            "coverage": levels["coverage"].tolist(),
            "area_share": levels["area_share"].tolist(),
            "geometry": shapely.to_wkb(levels.geometry.to_numpy(), hex=True).tolist(),
        },
    }


def _zones_from_json(value: dict[str, Any]) -> PatrolZones:
    """:func:`_zones_to_json` read back."""
    zones, levels = value["zones"], value["levels"]
    zone_frame = pd.DataFrame({c: pd.Series(zones[c], dtype=t) for c, t in _ZONE_TYPES.items()})
    zone_frame["names"] = [tuple(n) for n in zones["names"]]
    geometry = shapely.from_wkb(np.asarray(zones["geometry"], dtype=object))
    zone_frame = gpd.GeoDataFrame(zone_frame[list(ZONE_COLUMNS)], geometry=geometry, crs=CRS)
    level_frame = gpd.GeoDataFrame(
        {"coverage": levels["coverage"], "area_share": levels["area_share"]},
        geometry=shapely.from_wkb(np.asarray(levels["geometry"], dtype=object)),
        crs=CRS,
    )
    return PatrolZones(**value["fields"], zones=zone_frame, levels=level_frame)


def area_of(store: StoreLike, layer: str, code: str) -> gpd.GeoDataFrame:
    """Area ``code`` of the stored layer ``layer`` (one row).

    Raises
    ------
    NotFoundError
        An unknown layer or code (listing a few codes held).
    """
    areas = store.layer(layer)
    found = areas[areas["code"].astype(str) == code]
    if found.empty:
        held = ", ".join(map(str, areas["code"].head(8)))
        raise NotFoundError(f"no area {code!r} in layer {layer!r}; codes held include {held}")
    return found


def _history(
    store: StoreLike,
    groups: Sequence[CategoryGroup],
    opts: PatrolOptions,
    evaluation: ForecastBacktest,
    last_month: str,
) -> tuple[History, pd.DataFrame]:
    """What is known at the latest month held (24 months of located incidents on the grid),
    and the last 12 months' incidents as points with their location text and ``n``.

    The incidents and grid the backtest that chose the map rests on
    (:func:`~geo_service.services.hotspots.backtest_incidents`; a kept store's density cube
    counts by location text too).
    """
    group = formed_group(store, groups, opts.category).group
    first = parse_month(last_month) - 23
    frame, grid, _areas = backtest_incidents(
        store, group, study_layer_name(store, opts.layer), month_from=format_month(first),
        month_to=last_month, cell_m=evaluation.cell_m, where="in the last 24 months",
        with_text=True,
    )  # fmt: skip
    located = frame.loc[has_location(frame)]
    history = incident_history(
        located, grid, first_month=format_month(first), last_month=last_month
    )
    recent = located.loc[located["month"].astype(str) >= format_month(first + 12)]
    # points, not geometries: only the few inside the zones' bounds become points, later
    places = pd.DataFrame(
        {
            "text": recent["location_text"].astype("string").fillna("").to_numpy(),
            "x": recent["x"].to_numpy(dtype=float),
            "y": recent["y"].to_numpy(dtype=float),
            "n": np.ones(len(recent)) if "n" not in recent else point_weights(recent),
        }
    )
    return history, places


def _zones(
    history: History, scores: np.ndarray, coverage: float, roads: gpd.GeoDataFrame | None
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The numbered zones at ``coverage`` and the outline of every coverage level."""
    grid = history.grid
    rank = _cell_rank(scores, grid)
    n_inside = int(grid.inside.sum())
    boxes = grid.boxes()  # once: a polygon per cell of the grid is the costly part
    levels = []
    for level in COVERAGES:
        selected = rank < _cells_for(level, n_inside)
        outline = shapely.union_all(boxes[selected])
        levels.append((level, selected.sum() / n_inside, outline))
    chosen = rank < _cells_for(coverage, n_inside)
    zones = _zone_frame(grid, boxes, chosen, scores, history, coverage, roads)
    level_frame = gpd.GeoDataFrame(
        pd.DataFrame(levels, columns=["coverage", "area_share", "geometry"]),
        geometry="geometry",
        crs=CRS,
    )
    return zones, level_frame


def _cell_rank(scores: np.ndarray, grid: Grid) -> np.ndarray:
    """Rank (0 = highest) of every inside cell's score; outside cells rank last."""
    flat = np.where(grid.inside, np.nan_to_num(scores, nan=-np.inf), -np.inf).ravel()
    order = np.argsort(-flat, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank.reshape(grid.shape)


def _cells_for(coverage: float, n_inside: int) -> int:
    """Cells selected at ``coverage`` percent, as the backtest counts them (at least one)."""
    return max(int(np.floor(coverage / 100.0 * n_inside + 1e-9)), 1)


def _zone_frame(
    grid: Grid,
    boxes: np.ndarray,
    chosen: np.ndarray,
    scores: np.ndarray,
    history: History,
    coverage: float,
    roads: gpd.GeoDataFrame | None,
) -> gpd.GeoDataFrame:
    labels, count = raster_labels(chosen, diagonal=True)  # queen-contiguous pieces
    index = np.arange(1, count + 1)
    forecast = _sum_labels(np.clip(scores, 0, None), labels, count)
    last_month = _sum_labels(history.monthly_counts[-1], labels, count)
    last_year = _sum_labels(history.monthly_counts[-12:].sum(axis=0), labels, count)
    cells = _sum_labels(chosen, labels, count)
    shapes = [shapely.union_all(boxes[labels == k]) for k in index]
    total = float(np.clip(scores, 0, None)[grid.inside].sum())
    frame = pd.DataFrame(
        {
            "coverage": coverage,
            "cells": cells.astype(int),
            "area_km2": cells * grid.cell_area_km2,
            "forecast": forecast,
            "forecast_share": forecast / total if total > 0 else np.nan,
            "last_month": last_month.astype(int),
            "last_year": last_year.astype(int),
        }
    )
    frame = frame.assign(geometry=shapes).sort_values(
        ["forecast", "last_year"], ascending=False, kind="stable"
    )
    frame.insert(0, "zone", np.arange(1, count + 1))
    frame["names"] = [reference.names_within(roads, g) for g in frame["geometry"]]
    zones = gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS).reset_index(drop=True)
    return zones[[c for c in ZONE_COLUMNS if c != "areas"] + ["geometry"]]


def _sum_labels(values: np.ndarray, labels: np.ndarray, count: int) -> np.ndarray:
    """Sum of ``values`` over each label 1..count (``scipy.ndimage.sum_labels``' bincount)."""
    weights = np.asarray(values, dtype=float).ravel()
    return np.bincount(labels.ravel(), weights=weights, minlength=count + 1)[1:]


_PREFIX = "on or near "
#: police.uk snap points that name a kind of place, not a street: listed after street names.
GENERIC_PLACES = frozenset(
    {
        "parking area", "supermarket", "nightclub", "shopping area", "petrol station",
        "pedestrian subway", "sports/recreation area", "further/higher educational building",
        "police station", "hospital", "theatre/concert hall", "conference/exhibition centre",
        "bus/coach station", "hotel/motel", "airport/airfield/helipad", "prison",
        "park/open space",
    }
)  # fmt: skip
#: Most area names listed for a zone before "and N more".
MOST_AREAS = 4


#: A capital S after an apostrophe inside a word, as police.uk writes "St Peter'S Street".
_APOSTROPHE_S = r"(?<=[A-Za-z])'S\b"


def _with_incident_places(zones: gpd.GeoDataFrame, places: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each zone's reference names, topped up to three with the commonest location texts of
    the incidents inside it over the last 12 months (police.uk: "On or near High Street"), so a
    zone is named even with no roads layer loaded.

    ``places``: the incidents' ``text``, ``x``, ``y`` (EPSG:27700 metres) and ``n`` (incidents
    at that point: 1 for rows, more for a counted location).
    """
    if zones.empty:
        return []
    # a point outside the zones' bounds lies within none: only the others are joined
    x0, y0, x1, y1 = zones.total_bounds
    x, y = places["x"].to_numpy(), places["y"].to_numpy()
    near = places.loc[(x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)]
    points = gpd.GeoDataFrame(
        {"text": near["text"].to_numpy(), "n": near["n"].to_numpy()},
        geometry=gpd.points_from_xy(near["x"], near["y"]),
        crs=CRS,
    )
    joined = gpd.sjoin(points, zones[["zone", "geometry"]], predicate="within")
    text = joined["text"].str.strip()
    text = text.where(~text.str.lower().str.startswith(_PREFIX), text.str[len(_PREFIX) :])
    # police.uk capitalises after an apostrophe ("St Peter'S Street"): names read as people say them
    text = text.str.replace(_APOSTROPHE_S, "'s", regex=True)
    joined = joined.assign(text=text.str.strip())
    joined = joined.loc[joined["text"] != ""]
    counts = joined.groupby(["zone", "text"])["n"].sum().reset_index()
    generic = counts["text"].str.lower().isin(GENERIC_PLACES) | counts["text"].str.contains("/")
    counts = counts.assign(_generic=generic.to_numpy()).sort_values(
        ["zone", "_generic", "n", "text"], ascending=[True, True, False, True]
    )
    found = counts.groupby("zone")["text"].agg(list)
    names = []
    for zone, own in zip(zones["zone"], zones["names"], strict=True):
        kept = list(own)
        for candidate in found.get(zone, []):
            if len(kept) >= 3:
                break
            if not any(candidate.casefold() in k.casefold() for k in kept):
                kept.append(candidate)
        names.append(tuple(kept))
    return names


def _some_names(names: pd.Series) -> str:
    shown = "; ".join(map(str, names.iloc[:MOST_AREAS]))
    more = len(names) - MOST_AREAS
    return f"{shown} and {more} more" if more > 0 else shown


def _area_names(store: StoreLike, opts: PatrolOptions, zones: gpd.GeoDataFrame) -> list[str]:
    """The study layer's areas each zone lies in, most of the zone first ("; "-joined)."""
    name = study_layer_name(store, opts.layer)
    if name is None or zones.empty:
        return [""] * len(zones)
    areas = store.layer(name)
    pieces = gpd.overlay(
        zones[["zone", "geometry"]], areas[["name", "geometry"]], how="intersection",
        keep_geom_type=True,
    )  # fmt: skip
    pieces = pieces.assign(_m2=pieces.area).sort_values(["zone", "_m2"], ascending=[True, False])
    named = pieces.groupby("zone", sort=False)["name"].agg(_some_names)
    return [str(named.get(z, "")) for z in zones["zone"]]


def reference_roads(store: StoreLike) -> gpd.GeoDataFrame | None:
    """The store's roads and places reference layers in one frame, or None."""
    root = getattr(store, "root", None)
    parts = [
        layer
        for kind in reference.KINDS
        if (layer := reference.read_reference(Path(root) if root else None, kind)) is not None
    ]
    return pd.concat(parts, ignore_index=True) if parts else None


def _result(
    evaluation: ForecastBacktest,
    coverage: float,
    last_month: str,
    zones: gpd.GeoDataFrame,
    levels: gpd.GeoDataFrame,
) -> PatrolZones:
    default, summary = evaluation.default, evaluation.forecast_summary
    if default is None or summary is None:
        raise DataError(f"no forecast backtest of {evaluation.category!r}")
    at = summary[np.isclose(summary["coverage"].to_numpy(dtype=float), coverage)]
    at = at.set_index("method")
    # The nested choice (or the baseline that beat it): the figure a reader can rely on.
    own = at.loc[FORECAST if default.method == FORECAST else default.method]
    baselines = at.loc[[b for b in BASELINES if b in at.index]]
    baseline = str(baselines["hit_rate"].idxmax())
    share = float(levels.loc[levels["coverage"] == coverage, "area_share"].iloc[0])
    return PatrolZones(
        category=evaluation.category,
        forecast_month=format_month(parse_month(last_month) + 1),
        last_month=last_month,
        method=default.map_method,
        method_text=describe(default.map_method, cell_m=evaluation.cell_m),
        bandwidth_m=bandwidth_of(default.map_method, cell_m=evaluation.cell_m),
        cell_m=evaluation.cell_m,
        coverage=coverage,
        area_share=share,
        hit_rate=float(own["hit_rate"]),
        pai=float(own["pai"]),
        baseline=baseline,
        baseline_hit_rate=float(at.loc[baseline, "hit_rate"]),
        origins=int(own["origins"]),
        first_origin=evaluation.first_origin,
        last_origin=evaluation.last_origin,
        zones=zones,
        levels=levels,
    )


def _area_label(area: gpd.GeoDataFrame) -> str:
    """ "Adeyfield East (E05004691)" for one area row; its code alone without a name."""
    row = area.iloc[0]
    code = str(row.get("code", ""))
    name = row.get("name")
    return f"{name} ({code})" if isinstance(name, str) and name and name != code else code


def _replace_zones(found: PatrolZones, zones: gpd.GeoDataFrame) -> PatrolZones:
    values = {k: getattr(found, k) for k in found.__dataclass_fields__}
    return PatrolZones(**(values | {"zones": zones}))


def _sentence_case(text: str) -> str:
    """``text`` with its first letter a capital (the rest untouched, unlike ``str.capitalize``)."""
    return text[:1].upper() + text[1:]


def _next(month: str) -> str:
    return format_month(parse_month(month) + 1)


def _month_words(month: str) -> str:
    year, number = month.split("-")
    names = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return f"{names[int(number) - 1]} {year}"
