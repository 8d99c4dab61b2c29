"""``brief``: a category's patrol zones (optionally one area's) as a briefing pack or a table.

``--out brief.pdf`` (or ``.png``) writes the A4 briefing pack of :mod:`geo_service.brief`;
``.csv`` and ``.geojson`` write the ranked zones exactly as the patrol page's downloads do. All
come from :func:`geo_service.services.patrol.patrol_zones`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from geo_service.cli._output import open_store, write_to
from geo_service.config import Settings
from geo_service.errors import InputError

logger = logging.getLogger(__name__)
#: What ``--out``'s suffix (or ``--format``) may ask for.
BRIEF_FORMATS = ("pdf", "png", "csv", "geojson")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``brief`` command."""
    brief = subparsers.add_parser(
        "brief", help="next month's patrol zones as an A4 briefing pack (PDF/PNG) or a table"
    )
    brief.add_argument("--category", required=True, help="a category group or category")
    brief.add_argument(
        "--area", metavar="LAYER:CODE", help="only the zones touching this area (e.g. beat:D1A)"
    )
    brief.add_argument(
        "--coverage", type=float, default=5.0, help="percent of the area outlined: 1, 5 or 10 (5)"
    )
    brief.add_argument("--layer", help="area layer of the study area (default: beat or ward)")
    brief.add_argument("--cell-m", type=float, help="grid cell size in metres (default: auto)")
    brief.add_argument("--format", choices=BRIEF_FORMATS, help="default: from --out's suffix")
    brief.add_argument("--out", type=Path, help="file to write (csv and geojson: or stdout)")
    brief.set_defaults(handler=_brief)


def brief_format(args: argparse.Namespace) -> str:
    """The format asked: ``--format``, else ``--out``'s suffix, else CSV."""
    if args.format:
        return str(args.format)
    if args.out is None or str(args.out) == "-":
        return "csv"
    suffix = args.out.suffix.lower().lstrip(".")
    if suffix not in BRIEF_FORMATS:
        raise InputError(
            f"--out {args.out}: expected a file ending in .{', .'.join(BRIEF_FORMATS)} "
            "(or give --format)"
        )
    return suffix


def _area(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    layer, sep, code = text.partition(":")
    if not sep or not layer or not code:
        raise InputError(f"--area {text!r}: expected LAYER:CODE, e.g. beat:D1A")
    return layer, code


def _brief(args: argparse.Namespace, settings: Settings) -> int:
    fmt = brief_format(args)
    area = _area(args.area)
    if fmt in ("pdf", "png") and (args.out is None or str(args.out) == "-"):
        raise InputError(f"a {fmt.upper()} briefing pack is a file: give it with --out FILE.{fmt}")
    from geo_service import export
    from geo_service.services.patrol import PatrolOptions, area_of, patrol_zones

    store = open_store(settings)
    opts = PatrolOptions(
        category=args.category, coverage=args.coverage, layer=args.layer, cell_m=args.cell_m
    )
    found = patrol_zones(store, settings.groups(), opts)
    if area is not None:
        found = found.within(area_of(store, *area))
    logger.info("%s", found.statement())
    if fmt == "csv":
        return write_to(args.out, len(found.zones), lambda s: export.write_csv(found.table(), s))
    if fmt == "geojson":
        return write_to(
            args.out,
            len(found.zones),
            lambda s: export.write_geojson(found.features(), s, meta=found.meta()),
        )
    from geo_service.brief import write_brief

    write_brief(found, store, Path(args.out), fmt=fmt, area=area, layer=args.layer)
    logger.info("wrote the briefing pack to %s", args.out)
    return 0
