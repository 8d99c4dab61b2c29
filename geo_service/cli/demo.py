"""The ``demo`` command: write the synthetic demo borough's input files and ingest them.

The input set (boundaries, denominators, force crime extract, ASB incidents, police.uk monthly
files, fire-service export, STATS19 collisions) is written deterministically for ``--seed`` into
``--out``, then loaded into the store with the same service functions as ``geo-service ingest``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from geo_service.cli._output import show_progress
from geo_service.config import Settings
from geo_service.demo import DEFAULT_SEED

logger = logging.getLogger(__name__)

_HELP = (
    "Write a SYNTHETIC demo borough (beats with the Dacorum 2014/15 strategic assessment's codes "
    "and names, incidents calibrated to its figures) in the real input formats, then ingest it. "
    "By default the force crime extract and ASB file are ingested; --public-only ingests the "
    "police.uk version of the same records instead (never both: they would be counted twice)."
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` command."""
    parser = subparsers.add_parser(
        "demo", help="generate and ingest the demo borough", description=_HELP
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="folder for the generated input files (default: <store>/../demo-input)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})"
    )
    parser.add_argument("--no-ingest", action="store_true", help="only write the input files")
    parser.add_argument(
        "--if-missing",
        action="store_true",
        help="do nothing when the store already holds incidents",
    )
    parser.add_argument(
        "--public-only",
        action="store_true",
        help="ingest the police.uk files instead of the force extract + ASB file",
    )
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    # also accepted after the command (as the Makefile writes it); the global flag otherwise
    parser.add_argument("--store", type=str, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.set_defaults(handler=_demo)


def default_out(store: Path) -> Path:
    """Where the demo input set goes when ``--out`` is not given: beside the store."""
    return Path(store).parent / "demo-input"


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service.demo.build import (
        check_can_ingest,
        ingest_demo,
        store_has_incidents,
        write_demo,
    )

    if args.if_missing and not args.no_ingest and store_has_incidents(settings.store):
        logger.info("store %s already holds incidents; demo not regenerated", settings.store)
        return 0
    if not args.no_ingest:
        check_can_ingest(settings.store, public_only=args.public_only)
    out = args.out or default_out(settings.store)
    started = time.perf_counter()
    files = write_demo(out, seed=args.seed)
    logger.info("demo input set written to %s (seed %d)", out, args.seed)
    if not args.no_ingest:
        summaries = ingest_demo(
            settings.store, files, public_only=args.public_only, progress=show_progress(args)
        )
        for summary in summaries:
            first = Path(summary.files[0].path).name if summary.files else ""
            more = f" and {len(summary.files) - 1} more" if len(summary.files) > 1 else ""
            logger.info("%s %s%s: %s", summary.kind, first, more, summary.lines()[-1])
        which = "police.uk files" if args.public_only else "force extract + ASB incidents"
        logger.info("demo ingested into %s (%s, fires, collisions)", settings.store, which)
    logger.info(
        "done in %.1f s; the demo geography and records are SYNTHETIC",
        time.perf_counter() - started,
    )
    return 0
