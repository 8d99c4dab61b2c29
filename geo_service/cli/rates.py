"""``rates``: a category's incidents per 1,000 residents per area, or per grid cell with the dual
(risk-adjusted) KDE.

The flags become the arguments of :func:`geo_service.services.rates.rates_for_period`, which the
API and the category page ask too. GeoJSON, JSON, GeoPackage and Excel carry the basis (the
denominator and its layer, areal or dasymetric weighting, the mask threshold, the bandwidth) in
their metadata (``geo_service`` member, layer metadata, a sheet); CSV has it in the log (stderr).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from geo_service.cli._output import check_out, export_to, open_store
from geo_service.config import Settings

logger = logging.getLogger(__name__)

#: Formats of ``rates``: binary ones need ``--out``.
FORMATS = ("csv", "json", "geojson", "gpkg", "xlsx")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``rates`` command."""
    rates = subparsers.add_parser(
        "rates", help="incidents per 1,000 residents per area, or per cell with the dual KDE"
    )
    rates.add_argument("--category", required=True, help="a category group or category")
    rates.add_argument("--layer", help="area layer with population (default: beat or ward)")
    rates.add_argument(
        "--cells",
        action="store_true",
        help="grid cells: residents, rate and the dual (risk-adjusted) KDE (default: areas)",
    )
    rates.add_argument(
        "--period-end",
        metavar="YYYY-MM",
        help="last month (default: the latest month the category's sources hold)",
    )
    rates.add_argument("--months", type=int, default=12, help="months in the period (12)")
    rates.add_argument("--cell-m", type=float, help="grid cell size in metres (default: auto)")
    rates.add_argument("--bandwidth-m", type=float, help="dual KDE bandwidth (default: automatic)")
    rates.add_argument("--format", choices=FORMATS, default="csv", help="binary formats need --out")
    rates.add_argument("--out", type=Path, help="file to write (default: standard output)")
    rates.set_defaults(handler=_rates)


def _rates(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.services.rates import describe, rates_for_period

    result = rates_for_period(
        open_store(settings), settings.groups(), args.category, period_end=args.period_end,
        months=args.months, layer=args.layer, cell_m=args.cell_m, bandwidth_m=args.bandwidth_m,
    )  # fmt: skip
    logger.info("%s", describe(result))
    frame = result.frame(cells=args.cells)
    return export_to(frame, args.format, args.out, meta=result.meta, name="rates")
