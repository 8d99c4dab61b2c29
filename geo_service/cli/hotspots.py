"""``hotspots`` and ``shifts``: hotspot maps with their accuracy, and where things moved.

Both parse their flags into options and call :mod:`geo_service.services.hotspots`; the page and
the API ask the same functions. GeoJSON output is RFC 7946 (WGS84) with the method, its
parameters and the accuracy figures in a top-level ``geo_service`` member, streamed feature by
feature; a KDE map is written as one merged polygon per density class (what the map draws) unless
``--cells`` asks for the grid cells. CSV output has a centroid per feature (the cells of a KDE
map) and the same figures in the log (stderr).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from geo_service.cli._output import (
    LAYER_FORMATS,
    check_out,
    export_to,
    open_store,
    period_args,
    progress_of,
)
from geo_service.config import Settings
from geo_service.services.options import METHODS, HotspotOptions, ShiftOptions

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``hotspots`` and ``shifts`` commands."""
    hot = subparsers.add_parser("hotspots", help="a hotspot map of one category, with its accuracy")
    _common_args(hot)
    hot.add_argument("--months", type=int, default=12, help="months in the period (12)")
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
    hot.add_argument(
        "--cells",
        action="store_true",
        help="kde: one square per grid cell in every format (default: GeoJSON and GeoPackage "
        "get one merged polygon per density class, as the map draws it; CSV gets cells)",
    )
    hot.add_argument(
        "--format", choices=LAYER_FORMATS, default="geojson", help="binary formats need --out"
    )
    hot.set_defaults(handler=_hotspots)

    moved = subparsers.add_parser(
        "shifts", help="previous vs current period per area or grid cell, with significance"
    )
    _common_args(moved, period=False)
    period_args(moved)
    moved.add_argument("--cells", action="store_true", help="grid cells even with a layer")
    moved.add_argument(
        "--format", choices=LAYER_FORMATS, default="csv", help="binary formats need --out"
    )
    moved.set_defaults(handler=_shifts)


def _common_args(parser: argparse.ArgumentParser, *, period: bool = True) -> None:
    parser.add_argument("--category", required=True, help="a category group or category")
    if period:
        parser.add_argument(
            "--period-end",
            metavar="YYYY-MM",
            help="last month (default: the latest month the category's sources hold)",
        )
        parser.add_argument(
            "--exclude-force",
            action="append",
            default=[],
            metavar="FORCE",
            help="leave out rows reported by FORCE (police.uk 'Reported by'); repeatable",
        )
    parser.add_argument("--layer", help="area layer of the study area (default: beat or ward)")
    parser.add_argument("--cell-m", type=float, help="grid cell size in metres (default: auto)")
    parser.add_argument("--out", type=Path, help="file to write (default: standard output)")
    parser.add_argument(
        "--hex", action="store_true", help="hexagonal cells (gistar, emerging and cell shifts)"
    )


def hotspot_options(args: argparse.Namespace) -> HotspotOptions:
    """The map options of the ``hotspots`` flags."""
    return HotspotOptions(
        category=args.category,
        period_end=args.period_end,
        months=args.months,
        layer=args.layer,
        method=args.method,
        cell_m=args.cell_m,
        hexagons=args.hex,
        bandwidth_m=args.bandwidth_m,
        eps_m=args.eps_m,
        min_samples=args.min_samples,
        permutations=args.permutations,
        seed=args.seed,
        areas=args.areas,
        step_months=args.step_months,
        accuracy=not args.no_accuracy,
        exclude_forces=tuple(args.exclude_force),
    )


def _hotspots(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.services import hotspots

    result = hotspots.hotspot_map(
        open_store(settings), settings.groups(), hotspot_options(args), progress=progress_of(args)
    )
    logger.info("%s", hotspots.describe(result))
    merged = args.format not in _CELL_FORMATS and not args.cells
    frame = result.drawn if merged else result.frame
    return export_to(frame, args.format, args.out, meta=result.meta, name="hotspots")


#: Table formats, which list a KDE map's cells rather than its merged class polygons.
_CELL_FORMATS = ("csv", "json", "xlsx")


def _shifts(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.services import hotspots

    opts = ShiftOptions(
        category=args.category, period_end=args.period_end, months=args.months,
        against=args.against, layer=args.layer, cell_m=args.cell_m, hexagons=args.hex,
        cells=args.cells, exclude_forces=tuple(args.exclude_force),
    )  # fmt: skip
    result = hotspots.shifts(open_store(settings), settings.groups(), opts)
    meta = result.meta
    logger.info(
        "%s: %s vs %s, %d %s(s), %d significant", meta["category"], meta["previous"],
        meta["current"], len(result.frame), meta["unit"], meta["significant"],
    )  # fmt: skip
    return export_to(result.frame, args.format, args.out, meta=meta, name="shifts")
