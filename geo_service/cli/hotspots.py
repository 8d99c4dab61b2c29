"""Commands for hotspot maps and where things moved: ``hotspots`` and ``shifts``.

``hotspots`` builds one hotspot map of a category over the months ending ``--period-end`` (kernel
density, DBSCAN or HDBSCAN clusters, Getis-Ord Gi* cells, or emerging hot-spot classes) and states
beside it how well that kind of map predicted the following month over the past year (hit rate
and PAI at 5 % of the area, from :mod:`geo_service.analysis.evaluation`). ``shifts`` compares the
period with the one before, per area of a layer or per grid cell, with significance and FDR.

GeoJSON output is in WGS84 (as web maps expect) with the method, its parameters and the accuracy
figures in a top-level ``geo_service`` member; CSV output has the same in the log (stderr).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box

from geo_service.analysis import clusters, emerging, gistar, kde, shifts
from geo_service.analysis.evaluation import History, Method, accuracy_for
from geo_service.analysis.grid import Grid, HexGrid, hex_grid_for
from geo_service.analysis.periods import Period, rolling_periods
from geo_service.categories import CategoryGroup, find_group, load_groups
from geo_service.cli._output import write_frame
from geo_service.cli._store_args import study_grid, study_layer_name, write_to
from geo_service.config import Settings
from geo_service.errors import InputError, NotFoundError
from geo_service.schema import CRS, area_column, has_location
from geo_service.store import Store

logger = logging.getLogger(__name__)

METHODS = ("kde", "dbscan", "hdbscan", "gistar", "emerging")
#: Layers that bound the study area when ``--layer`` is not given, in order of preference.
#: The automatic emerging time step holds at least this many incidents on average.
EMERGING_INCIDENTS_PER_STEP = 200
_COLUMNS = ["category", "subcategory", "month", "occurred_at", "time_known", "x", "y"]


@dataclass(frozen=True)
class StudyData:
    """What every hotspot command works on: the study area and the incidents of one category."""

    group: CategoryGroup
    period: Period
    grid: Grid
    layer_name: str | None
    areas: gpd.GeoDataFrame | None
    incidents: pd.DataFrame  # every located incident of the group up to the period end

    def cells(self, hexagons: bool) -> Grid | HexGrid:
        """The square grid, or hexagons of the same cell size over the same study area."""
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
        return hex_grid_for(area, cell_m=self.grid.cell_m)

    def in_period(self) -> pd.DataFrame:
        """The located incidents of the period inside the study area."""
        chosen = self.incidents.loc[self.period.contains(self.incidents["month"])]
        cell = self.grid.cell_index(chosen["x"].to_numpy(), chosen["y"].to_numpy())
        keep = (cell >= 0) & self.grid.inside.ravel()[np.maximum(cell, 0)]
        return chosen.loc[keep]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hotspots`` and ``shifts`` commands."""
    hot = subparsers.add_parser("hotspots", help="a hotspot map of one category, with its accuracy")
    _common_args(hot)
    hot.add_argument("--method", choices=METHODS, default="kde", help="hotspot method")
    hot.add_argument("--bandwidth-m", type=float, help="KDE bandwidth (default: automatic)")
    hot.add_argument("--eps-m", type=float, help="DBSCAN radius (default: scaled to the data)")
    hot.add_argument("--min-samples", type=int, help="DBSCAN core size (default: scaled)")
    hot.add_argument("--permutations", type=int, default=999, help="Gi* permutations (0: none)")
    hot.add_argument("--seed", type=int, default=0, help="seed of the Gi* permutations")
    hot.add_argument("--areas", action="store_true", help="gistar: on the layer's area counts")
    hot.add_argument(
        "--step-months", type=int, help="emerging: months per time step (default: automatic)"
    )
    hot.add_argument("--no-accuracy", action="store_true", help="skip the backtest figures")
    hot.add_argument("--format", choices=("geojson", "csv"), default="geojson")
    hot.set_defaults(handler=_hotspots)

    moved = subparsers.add_parser(
        "shifts", help="previous vs current period per area or grid cell, with significance"
    )
    _common_args(moved)
    moved.add_argument(
        "--against",
        choices=("previous", "last-year"),
        default="previous",
        help="compare with the months just before (default) or the same months a year earlier",
    )
    moved.add_argument("--format", choices=("csv", "geojson"), default="csv")
    moved.set_defaults(handler=_shifts)


def _common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--category", required=True, help="a category group or category")
    parser.add_argument("--period-end", required=True, metavar="YYYY-MM", help="last month")
    parser.add_argument("--months", type=int, default=12, help="months in the period (12)")
    parser.add_argument("--layer", help="area layer of the study area (default: beat or ward)")
    parser.add_argument("--cell-m", type=float, help="grid cell size in metres (default: auto)")
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    parser.add_argument(
        "--hex", action="store_true", help="hexagonal cells (gistar, emerging and cell shifts)"
    )


# ----------------------------------------------------------------------------------- hotspots
def _hotspots(args: argparse.Namespace, settings: Settings) -> int:
    data = study_data(Store(settings.store), args, settings)
    points = data.in_period()
    if points.empty:
        raise NotFoundError(
            f"no located {data.group.name!r} incidents in {data.period.label} inside the study area"
        )
    held = set(Store(settings.store).months())
    missing = [m for m in data.period.months if m not in held]
    if missing:
        logger.warning("the store has no incidents for %s; the map covers fewer months", missing)
    x, y = points["x"].to_numpy(), points["y"].to_numpy()
    builders: dict[str, Callable[..., tuple[gpd.GeoDataFrame, dict[str, Any], Method]]] = {
        "kde": _kde_map,
        "dbscan": _dbscan_map,
        "hdbscan": _hdbscan_map,
        "gistar": _gistar_map,
        "emerging": _emerging_map,
    }
    frame, parameters, method = builders[args.method](data, x, y, args)
    meta: dict[str, Any] = {
        "method": args.method,
        "category": data.group.name,
        "period": data.period.label,
        "incidents": len(points),
        "cell_m": data.grid.cell_m,
        "layer": data.layer_name,
        **parameters,
        "accuracy": None if args.no_accuracy else _accuracy(data, args.method, method),
    }
    logger.info("%s", _describe(meta))
    return write_to(args.out, len(frame), lambda out: _emit(frame, args.format, out, meta))


def _kde_map(data: StudyData, x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> tuple:
    bandwidth = args.bandwidth_m or kde.auto_bandwidth_m(x, y)
    surface = kde.kde_surface(x, y, data.grid, bandwidth_m=bandwidth)
    inside = surface[data.grid.inside]
    edges = kde.class_breaks(inside)
    frame = data.grid.to_geodataframe(
        {
            "count": data.grid.counts(x, y),
            "density_per_km2": surface,
            "class": kde.classify(surface, edges),
        }
    )
    frame = frame.loc[frame["density_per_km2"] > 0].reset_index(drop=True)
    months = data.period.n_months
    method = _kde_method(bandwidth, months)
    return frame, {"bandwidth_m": bandwidth, "class_breaks": edges.tolist()}, method


def _kde_method(bandwidth_m: float, months: int) -> Method:
    def score(history: History) -> np.ndarray:
        hx, hy, _ = history.recent(months)
        return kde.kde_surface(hx, hy, history.grid, bandwidth_m=bandwidth_m)

    return score


def _dbscan_map(data: StudyData, x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> tuple:
    area_m2 = float(data.grid.inside.sum()) * data.grid.cell_m**2
    frame = clusters.dbscan_clusters(
        x, y, eps_m=args.eps_m, min_samples=args.min_samples, areas=data.areas,
        study_area_m2=area_m2,
    )  # fmt: skip
    eps, min_samples = frame.attrs["eps_m"], frame.attrs["min_samples"]
    months = data.period.n_months

    def score(history: History) -> np.ndarray:
        hx, hy, _ = history.recent(months)
        found = clusters.dbscan_clusters(
            hx, hy, eps_m=args.eps_m, min_samples=args.min_samples, study_area_m2=area_m2
        )
        return clusters.cluster_cells(history.grid, found)

    return frame, {"eps_m": eps, "min_samples": min_samples}, score


def _hdbscan_map(data: StudyData, x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> tuple:
    frame = clusters.hdbscan_clusters(x, y, areas=data.areas, min_samples=args.min_samples)
    size = frame.attrs["min_cluster_size"]
    months = data.period.n_months

    def score(history: History) -> np.ndarray:
        hx, hy, _ = history.recent(months)
        found = clusters.hdbscan_clusters(hx, hy, min_cluster_size=size)
        return clusters.cluster_cells(history.grid, found)

    return frame, {"min_cluster_size": size}, score


def _gistar_map(data: StudyData, x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> tuple:
    if args.areas:
        return _gistar_areas_map(data, x, y, args)
    cells = data.cells(args.hex)
    counts = cells.counts(x, y)
    frame = gistar.gi_star_grid(cells, counts, permutations=args.permutations, seed=args.seed)
    frame = frame.loc[(frame["count"] > 0) | (frame["bin"] != 0)].reset_index(drop=True)
    months = data.period.n_months

    inside = data.grid.inside.ravel()
    weights = gistar.grid_weights(data.grid)

    def score(history: History) -> np.ndarray:
        recent = history.monthly_counts[-months:].sum(axis=0).ravel()[inside]
        result = gistar.gi_star(recent.astype(float), weights, permutations=0)
        flat = np.zeros(inside.size)
        flat[inside] = np.maximum(result.bins, 0)
        return flat.reshape(data.grid.shape)

    parameters = {
        "permutations": args.permutations,
        "seed": args.seed,
        "weights": "hexagon neighbours" if args.hex else "queen",
        "cells": "hexagons" if args.hex else "squares",
    }
    return frame, parameters, score


def _gistar_areas_map(
    data: StudyData, x: np.ndarray, y: np.ndarray, args: argparse.Namespace
) -> tuple:
    if data.areas is None:
        raise InputError("--areas needs an area layer; add one with `geo-service boundaries add`")
    point_i, area_i = data.areas.sindex.query(shapely.points(x, y), predicate="within")
    counts = np.bincount(
        area_i[np.unique(point_i, return_index=True)[1]], minlength=len(data.areas)
    )
    frame = gistar.gi_star_areas(data.areas, counts, permutations=args.permutations, seed=args.seed)
    parameters = {"permutations": args.permutations, "seed": args.seed, "cells": data.layer_name,
                  "weights": "queen contiguity"}  # fmt: skip
    return frame, parameters, None


def _emerging_map(data: StudyData, x: np.ndarray, y: np.ndarray, args: argparse.Namespace) -> tuple:
    grid = data.cells(args.hex)
    points = data.in_period()
    step_months = args.step_months or _auto_step_months(len(points), data.period.n_months)
    month_of = {m: i // step_months for i, m in enumerate(data.period.months)}
    step = points["month"].astype(str).map(month_of).to_numpy()
    steps = max(month_of.values()) + 1
    if steps < 3:
        raise InputError(
            f"emerging hot spots need at least 3 time steps; {data.period.n_months} months in "
            f"steps of {step_months} give {steps} (use more --months or a smaller --step-months)"
        )
    cube = np.stack([grid.counts(x[step == t], y[step == t]) for t in range(steps)])
    inside = grid.inside.ravel()
    table = emerging.emerging_hotspots(
        cube.reshape(steps, -1)[:, inside], gistar.grid_weights(grid)
    )
    frame = grid.to_geodataframe({"count": cube.sum(axis=0)})
    for column in emerging.EMERGING_COLUMNS:
        frame[column] = table[column].to_numpy()
    frame = frame.loc[frame["pattern"] != emerging.NO_PATTERN].reset_index(drop=True)
    parameters = {
        "time_steps": steps,
        "step_months": step_months,
        "cells": "hexagons" if args.hex else "squares",
    }
    return frame, parameters, None


def _auto_step_months(incidents: int, months: int) -> int:
    """The shortest of 1, 2, 3, 4, 6 months giving >= 200 incidents per step and >= 3 steps."""
    fitting = [s for s in (1, 2, 3, 4, 6) if months // s >= 3]
    for step_months in fitting:
        if incidents * step_months / months >= EMERGING_INCIDENTS_PER_STEP:
            return step_months
    return fitting[-1] if fitting else 1


def _accuracy(data: StudyData, name: str, method: Method | None) -> dict[str, Any] | None:
    if method is None:
        logger.info("no backtest for %s maps of classes or areas (it ranks grid cells)", name)
        return None
    try:
        accuracy = accuracy_for(
            data.incidents, data.grid, method=name, methods={name: method},
            last_month=data.period.end, months=12,
        )  # fmt: skip
    except InputError as exc:
        logger.info("accuracy not available: %s", exc)
        return None
    return {**asdict(accuracy), "statement": accuracy.statement()}


def _describe(meta: dict[str, Any]) -> str:
    accuracy = meta.get("accuracy")
    stated = accuracy["statement"] if accuracy else "accuracy not available"
    return (
        f"{meta['method']} map of {meta['category']}, {meta['period']}: "
        f"{meta['incidents']} incidents; {stated}"
    )


# ------------------------------------------------------------------------------------ shifts
def _shifts(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.store)
    lag = 12 if args.against == "last-year" else args.months
    data = study_data(store, args, settings, history_months=lag + args.months)
    current = data.period
    previous = current.shifted(-lag)
    _check_covered(store, previous, current)
    per_area = args.cell_m is None and not args.hex
    if per_area and data.layer_name is not None and data.areas is not None:
        incidents = store.incidents(
            month_from=previous.start, month_to=current.end,
            columns=[*_COLUMNS, area_column(data.layer_name)],
        )  # fmt: skip
        frame = shifts.area_shifts(
            incidents, data.areas, layer=data.layer_name, group=data.group, previous=previous,
            current=current,
        )  # fmt: skip
    else:
        cells = data.cells(args.hex)
        frame = shifts.cell_shifts(
            data.incidents, cells, group=data.group, previous=previous, current=current
        )
        frame = frame.loc[(frame["previous"] > 0) | (frame["current"] > 0)].reset_index(drop=True)
    meta = {
        "category": data.group.name,
        "previous": previous.label,
        "current": current.label,
        "unit": "cell" if "cell" in frame.columns else data.layer_name,
        "significant": int((frame["q"] < 0.05).sum()),
    }
    logger.info(
        "%s: %s vs %s, %d %s(s), %d significant", meta["category"], meta["previous"],
        meta["current"], len(frame), meta["unit"], meta["significant"],
    )  # fmt: skip
    return write_to(args.out, len(frame), lambda out: _emit(frame, args.format, out, meta))


def _check_covered(store: Store, *periods: Period) -> None:
    held = set(store.months())
    for period in periods:
        missing = [m for m in period.months if m not in held]
        if missing:
            raise InputError(
                f"period {period.label} is not covered by the store: no incidents for "
                f"{', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}; the store holds "
                f"{min(held)}..{max(held)} (choose --period-end, --months or --against to fit)"
            )


# ------------------------------------------------------------------------------ study data
def study_data(
    store: Store, args: argparse.Namespace, settings: Settings, *, history_months: int = 24
) -> StudyData:
    """The category's located incidents up to the period end and the grid over the study area."""
    if args.months < 1:
        raise InputError(f"--months must be at least 1, got {args.months}")
    _, period = rolling_periods(args.period_end, months=args.months)
    if not store.months():
        raise NotFoundError(f"store {store.root} holds no incidents; add some with `ingest`")
    group = find_group(load_groups(settings.categories), args.category)
    start = period.shifted(-max(history_months, args.months)).start
    frame = store.incidents(month_from=start, month_to=period.end, columns=_COLUMNS)
    incidents = frame.loc[group.mask(frame) & has_location(frame)]
    name = study_layer_name(store, args.layer)
    areas = store.layer(name) if name is not None else None
    grid = study_grid(areas, incidents, cell_m=args.cell_m)
    return StudyData(group, period, grid, name, areas, incidents)


# ------------------------------------------------------------------------------------ output
def _emit(frame: gpd.GeoDataFrame, fmt: str, stream: TextIO, meta: dict[str, Any]) -> None:
    if fmt == "geojson":
        geo = gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS).to_crs("EPSG:4326")
        geo.attrs = {}
        document = json.loads(geo.to_json(drop_id=True, ensure_ascii=False))
        document["geo_service"] = meta
        json.dump(document, stream, ensure_ascii=False, default=_plain)
        stream.write("\n")
        return
    write_frame(pd.DataFrame(frame.drop(columns="geometry")), "csv", out=stream)


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, shapely.Geometry):
        return value.wkt
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
