"""Commands for collision cluster sites and map accuracy: ``repeat-locations`` and ``evaluate``.

``repeat-locations`` lists road-collision cluster sites under a preset rule (optionally changed by
flags), labelled with the area layer they fall in; with ``--roads`` it gives collisions per km of
each named road instead. ``evaluate`` runs the rolling-origin backtest of the hotspot methods for
one category over the latest months and names the method that predicts best.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TextIO

import geopandas as gpd
import pandas as pd

from geo_service.analysis.evaluation import (
    backtest,
    best_method,
    default_methods,
    hit_rate_curve,
    summarise_backtest,
)
from geo_service.analysis.periods import format_month, parse_month
from geo_service.analysis.repeat_locations import (
    ClusterRule,
    collisions_per_km,
    repeat_locations,
)
from geo_service.categories import find_group, load_groups
from geo_service.cli._output import TABLE_FORMATS, records, write_frame
from geo_service.cli._store_args import study_grid, study_layer_name, write_to
from geo_service.cluster_rules import cluster_rule, load_cluster_rules, rule_with_overrides
from geo_service.config import Settings
from geo_service.errors import InputError, NotFoundError
from geo_service.schema import CRS, ROAD_TRAFFIC_COLLISION, has_location
from geo_service.store import Store

logger = logging.getLogger(__name__)

#: Layers used to label sites and bound the study area when ``--layer`` is not given, in order.
_EVAL_COLUMNS = ["category", "subcategory", "month", "occurred_at", "time_known", "x", "y"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``repeat-locations`` and ``evaluate`` commands."""
    sites = subparsers.add_parser(
        "repeat-locations", help="road-collision cluster sites (N collisions within R m in Y years)"
    )
    sites.add_argument("--rule", default="default", choices=sorted(load_cluster_rules()))
    sites.add_argument("--min-count", type=int, help="collisions needed for a site")
    sites.add_argument("--radius-m", type=float, help="one radius for all sites (metres)")
    sites.add_argument("--years", type=int, help="years counted back from --period-end")
    sites.add_argument("--ksi-only", action="store_true", help="count fatal and serious only")
    sites.add_argument("--period-end", metavar="YYYY-MM", help="last month (default: latest)")
    sites.add_argument("--layer", help="area layer labelling the sites (default: beat or ward)")
    sites.add_argument("--roads", type=Path, help="road line file: give collisions per km instead")
    sites.add_argument("--road-name-col", default="name", help="road name column of --roads")
    sites.add_argument("--format", choices=("csv", "geojson"), default="csv")
    sites.add_argument("--out", type=Path, help="file to write (default: standard output)")
    sites.set_defaults(handler=_repeat_locations)

    evaluate = subparsers.add_parser(
        "evaluate", help="backtest hotspot methods: hit rate and PAI over the latest months"
    )
    evaluate.add_argument("--category", required=True, help="a category group or category")
    evaluate.add_argument("--coverage", default="1,5,10", help="percent of area, e.g. 1,5,10")
    evaluate.add_argument("--months", type=int, default=12, help="target months (default 12)")
    evaluate.add_argument("--horizon-months", type=int, default=1, help="months predicted")
    evaluate.add_argument("--cell-m", type=float, help="grid cell size (default: automatic)")
    evaluate.add_argument("--layer", help="area layer bounding the study area")
    evaluate.add_argument("--detail", action="store_true", help="one row per origin month")
    evaluate.add_argument(
        "--curve", action="store_true", help="mean hit rate at every 1 %% of area, per method"
    )
    evaluate.add_argument("--format", choices=TABLE_FORMATS, default="table")
    evaluate.set_defaults(handler=_evaluate)


# ---------------------------------------------------------------------------- repeat-locations
def _repeat_locations(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.store)
    collisions = store.incidents(categories=[ROAD_TRAFFIC_COLLISION])
    if collisions.empty:
        raise NotFoundError(
            f"store {store.root} holds no road traffic collisions; ingest STATS19 files first"
        )
    if args.roads is not None:
        table = collisions_per_km(collisions, _roads(args.roads, args.road_name_col))
        return write_to(args.out, len(table), lambda out: _emit(table, "csv", out))
    rule = _rule(args)
    period_end = args.period_end or str(collisions["month"].max())
    layer_name = study_layer_name(store, args.layer)
    areas = store.layer(layer_name) if layer_name else None
    sites = repeat_locations(collisions, rule=rule, period_end=period_end, areas=areas)
    logger.info(
        "%d sites: %s, window of %d years ending %s", len(sites), _describe(rule), rule.years,
        period_end,
    )  # fmt: skip
    return write_to(args.out, len(sites), lambda out: _emit(sites, args.format, out))


def _rule(args: argparse.Namespace) -> ClusterRule:
    return rule_with_overrides(
        cluster_rule(args.rule),
        min_count=args.min_count,
        radius_m=args.radius_m,
        years=args.years,
        ksi_only=args.ksi_only,
    )


def _describe(rule: ClusterRule) -> str:
    radius = (
        f"{rule.urban_radius_m:g} m urban / {rule.rural_radius_m:g} m rural"
        if rule.urban_radius_m is not None and rule.rural_radius_m is not None
        else f"{rule.radius_m:g} m"
    )
    return f"at least {rule.min_count} of {'/'.join(rule.severities)} within {radius}"


def _roads(path: Path, name_col: str) -> gpd.GeoDataFrame:
    try:
        roads = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"{path}: cannot read road layer ({exc})") from exc
    if name_col not in roads.columns:
        raise InputError(
            f"{path}: no road name column {name_col!r}; columns are {list(roads.columns)} "
            "(choose one with --road-name-col)"
        )
    return roads.rename(columns={name_col: "name"})


def _emit(frame: pd.DataFrame, fmt: str, stream: TextIO) -> None:
    if fmt == "geojson":
        geo = gpd.GeoDataFrame(frame, geometry="geometry", crs=CRS).to_crs("EPSG:4326")
        for column in ("first_date", "last_date"):
            geo[column] = pd.to_datetime(geo[column]).dt.strftime("%Y-%m-%d")
        stream.write(geo.to_json(drop_id=True, ensure_ascii=False) + "\n")
        return
    table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    write_frame(table, "csv", out=stream)


# ---------------------------------------------------------------------------------- evaluate
def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.store)
    months = store.months()
    if not months:
        raise NotFoundError(
            f"store {store.root} holds no incidents; add some with `geo-service ingest`"
        )
    group = find_group(load_groups(settings.categories), args.category)
    frame = store.incidents(columns=_EVAL_COLUMNS)
    incidents = frame.loc[group.mask(frame)]
    if not has_location(incidents).any():
        raise NotFoundError(f"no located incidents of {args.category!r} in store {store.root}")
    first_origin, last_origin = _origins(
        months, months_wanted=args.months, horizon=args.horizon_months
    )
    name = study_layer_name(store, args.layer)
    areas = store.layer(name) if name is not None else None
    grid = study_grid(areas, incidents, cell_m=args.cell_m)
    coverages = [float(c) for c in range(101)] if args.curve else _coverages(args.coverage)
    table = backtest(
        incidents, grid, methods=default_methods(cell_m=grid.cell_m), first_origin=first_origin,
        last_origin=last_origin, horizon_months=args.horizon_months, coverages=coverages,
    )  # fmt: skip
    summary = summarise_backtest(table)
    best = best_method(summary, coverage=5 if 5 in coverages else coverages[0])
    shown = hit_rate_curve(summary) if args.curve else table if args.detail else summary
    if args.format == "json":
        document = {
            "category": group.name, "cell_m": grid.cell_m, "first_origin": first_origin,
            "last_origin": last_origin, "horizon_months": args.horizon_months,
            "best_method": best, "rows": records(shown),
        }  # fmt: skip
        json.dump(document, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        write_frame(shown.round(4), args.format)
        if args.format == "table":
            sys.stdout.write(
                f"\nbest method: {best} (origins {first_origin}..{last_origin}, "
                f"{grid.cell_m:g} m cells)\n"
            )
    return 0


def _origins(months: list[str], *, months_wanted: int, horizon: int) -> tuple[str, str]:
    """Origins whose targets are the latest ``months_wanted`` months (at least one of history)."""
    if months_wanted < 1 or horizon < 1:
        raise InputError("--months and --horizon-months must be at least 1")
    first_data, last_data = parse_month(months[0]), parse_month(months[-1])
    last = last_data - horizon
    first = max(last - months_wanted + 1, first_data)
    if last < first:
        raise InputError(
            f"the store covers {months[0]}..{months[-1]}; a backtest needs at least "
            f"{horizon + 1} months"
        )
    if last - first + 1 < months_wanted:
        logger.info("only %d origin months available", last - first + 1)
    return format_month(first), format_month(last)


def _coverages(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--coverage: expected percentages like 1,5,10, got {text!r}") from None
    if not values or any(not 0 < v <= 100 for v in values):
        raise InputError(f"--coverage: each value must be in (0, 100], got {text!r}")
    return values
