"""``repeat-locations`` and ``evaluate``: collision cluster sites, and hotspot-map accuracy.

``repeat-locations`` lists road-collision cluster sites under a preset rule (optionally changed by
flags) in the study layer's areas, and the sites outside every area apart; with ``--roads`` it
gives collisions per km of each named road instead. ``evaluate`` runs the rolling-origin backtest
of the hotspot methods for one category and names the method that predicts best. Both call
:mod:`geo_service.services`, as the collisions page does.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import geopandas as gpd
import pandas as pd

from geo_service.cli._output import (
    LAYER_FORMATS,
    TABLE_FORMATS,
    check_out,
    export_to,
    open_store,
    progress_of,
    write_frame,
)
from geo_service.config import Settings
from geo_service.errors import InputError
from geo_service.services.options import EvaluateOptions, RuleOptions

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``repeat-locations`` and ``evaluate`` commands."""
    sites = subparsers.add_parser(
        "repeat-locations", help="road-collision cluster sites (N collisions within R m in Y years)"
    )
    sites.add_argument("--rule", default="default", help="rule preset (default, somerset, ksi)")
    sites.add_argument("--min-count", type=int, help="collisions needed for a site")
    sites.add_argument("--radius-m", type=float, help="one radius for all sites (metres)")
    sites.add_argument("--years", type=int, help="years counted back from --period-end")
    sites.add_argument("--ksi-only", action="store_true", help="count fatal and serious only")
    sites.add_argument(
        "--highway-authority", metavar="CODE", help="only collisions on this authority's roads "
        "(STATS19 local_authority_highway, ONS code, e.g. E10000015)",
    )  # fmt: skip
    sites.add_argument(
        "--ksi-trend", action="store_true",
        help="recorded and severity-adjusted KSI collisions per whole calendar year instead",
    )  # fmt: skip
    sites.add_argument("--period-end", metavar="YYYY-MM", help="last month (default: latest)")
    sites.add_argument("--layer", help="area layer labelling the sites (default: beat or ward)")
    sites.add_argument(
        "--outside", action="store_true", help="list the sites outside every area instead"
    )
    sites.add_argument("--roads", type=Path, help="road line file: give collisions per km instead")
    sites.add_argument("--road-name-col", default="name", help="road name column of --roads")
    sites.add_argument(
        "--format", choices=LAYER_FORMATS, default="csv", help="binary formats need --out"
    )
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
    evaluate.add_argument(
        "--map-kinds",
        action="store_true",
        help="also backtest every map kind (Gi* cells and areas, clusters, emerging classes, "
        "patrol zones) beside the best naive baseline on the same area; slower",
    )
    evaluate.add_argument("--format", choices=TABLE_FORMATS, default="table")
    evaluate.add_argument("--out", type=Path, help="file to write (needed for xlsx)")
    evaluate.set_defaults(handler=_evaluate)


def rule_options(args: argparse.Namespace) -> RuleOptions:
    """The cluster-site rule of the ``repeat-locations`` flags."""
    return RuleOptions(
        rule=args.rule,
        min_count=args.min_count,
        radius_m=args.radius_m,
        years=args.years,
        ksi_only=args.ksi_only,
        highway_authority=args.highway_authority,
    )


def _repeat_locations(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.services import collisions

    store = open_store(settings)
    if args.roads is not None:
        table = collisions.road_rates(store, _roads(args.roads, args.road_name_col))
        return export_to(table, _table_format(args.format, "--roads"), args.out, name="roads")
    result = collisions.collision_sites(
        store, rule_options(args), period_end=args.period_end, layer=args.layer
    )
    logger.info("%s", collisions.describe(result))
    if result.note:
        logger.warning("note: %s", result.note)
    if args.ksi_trend:
        fmt = _table_format(args.format, "--ksi-trend")
        return export_to(result.ksi_trend, fmt, args.out, name="ksi_trend")
    chosen = result.outside if args.outside else result.sites
    meta = collisions.sites_meta(result)
    return export_to(chosen, args.format, args.out, meta=meta, name="repeat_sites")


def _table_format(fmt: str, what: str) -> str:
    """``fmt`` for a table with no geometry; a map format is refused, naming the allowed."""
    if fmt in ("geojson", "gpkg", "shp"):
        raise InputError(f"{what} gives a table, not a map: use --format csv, json or xlsx")
    return fmt


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


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.analysis.evaluation import hit_rate_curve
    from geo_service.services.evaluation import evaluate, evaluation_document

    coverages = tuple(float(c) for c in range(101)) if args.curve else _coverages(args.coverage)
    opts = EvaluateOptions(
        category=args.category, months=args.months, horizon_months=args.horizon_months,
        coverages=coverages, cell_m=args.cell_m, layer=args.layer,
    )  # fmt: skip
    result = evaluate(
        open_store(settings), settings.groups(), opts, progress=progress_of(args),
        with_map_kinds=args.map_kinds,
    )  # fmt: skip
    shown: pd.DataFrame = (
        hit_rate_curve(result.summary) if args.curve else result.table if args.detail
        else result.summary
    )  # fmt: skip
    if args.format == "json" and args.out is None:
        json.dump(evaluation_document(result, shown), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return 0
    if args.format != "table" and (args.format == "xlsx" or args.out is not None):
        meta = {"category": result.category, "best_method": result.best_method,
                "first_origin": result.first_origin, "last_origin": result.last_origin}  # fmt: skip
        return export_to(shown, args.format, args.out, meta=meta, name="backtest")
    write_frame(shown.round(4) if args.format == "table" else shown, args.format)
    if args.format == "table":
        sys.stdout.write(
            f"\nbest method: {result.best_method} (origins {result.first_origin}.."
            f"{result.last_origin}, {result.cell_m:g} m cells)\n"
        )
        if result.map_accuracy is not None:
            sys.stdout.write("\nevery map kind beside the best naive baseline on the same area:\n")
            write_frame(result.map_accuracy.round(4), "table")
    return 0


def _coverages(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise InputError(f"--coverage: expected percentages like 1,5,10, got {text!r}") from None
    if not values or any(not 0 < v <= 100 for v in values):
        raise InputError(f"--coverage: each value must be in (0, 100], got {text!r}")
    return values
