"""What every store-reading command shares: the period flags, opening the store, writing output."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd

from geo_service.config import Settings
from geo_service.errors import InputError
from geo_service.progress import Progress, bar
from geo_service.services.options import AGAINST

if TYPE_CHECKING:
    from geo_service.store import Store

logger = logging.getLogger(__name__)

#: Formats of the table commands (summary, change, area, evaluate): ``xlsx`` needs ``--out``.
TABLE_FORMATS = ("table", "csv", "json", "xlsx")
#: Formats of the layer commands (hotspots, shifts, repeat-locations): binary ones need ``--out``.
LAYER_FORMATS = ("geojson", "csv", "json", "gpkg", "xlsx", "shp")
#: Formats written as bytes to a file, never to standard output.
BINARY_FORMATS = ("xlsx", "gpkg", "shp")


def period_args(parser: argparse.ArgumentParser, *, forces: bool = True) -> None:
    """``--period-end``, ``--months`` and ``--against``: the comparison, as on every page.

    What is left out is chosen from the data as the pages choose it
    (:func:`geo_service.services.options.resolve_view`).
    """
    parser.add_argument(
        "--period-end", metavar="YYYY-MM", help="last month (default: the latest month held)"
    )
    parser.add_argument(
        "--months",
        type=int,
        help="months per period (default: the longest, up to 12, that both periods cover)",
    )
    parser.add_argument(
        "--against",
        choices=AGAINST,
        help="compare with the preceding months or the same months a year earlier (default: "
        "year-earlier for one month, else whichever the data covers, preceding first at 12)",
    )
    if not forces:
        return
    parser.add_argument(
        "--exclude-force",
        action="append",
        default=[],
        metavar="FORCE",
        help="leave out rows reported by FORCE (police.uk 'Reported by', e.g. 'British "
        "Transport Police'); repeatable",
    )


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars: asked for (``--progress``) or standard error is a terminal, and not
    ``--quiet``."""
    if getattr(args, "quiet", False):
        return False
    return bool(getattr(args, "progress", False) or sys.stderr.isatty())


def progress_of(args: argparse.Namespace) -> Progress | None:
    """The progress wrapper long steps report to (:func:`geo_service.progress.bar`), or None."""
    return bar if show_progress(args) else None


def open_store(settings: Settings) -> Store:
    """The store of ``settings`` (imported here so ``--help`` stays light)."""
    from geo_service.store import Store

    return Store(settings.store)


def write_frame(frame: pd.DataFrame, fmt: str, *, out: TextIO | None = None) -> None:
    """Write ``frame`` as an aligned text table, CSV (formula-safe) or JSON records."""
    from geo_service import export

    stream = out or sys.stdout
    if fmt == "table":
        stream.write(frame.to_string(index=False, na_rep="-") + "\n")
    elif fmt in ("csv", "json"):
        export.export_frame(frame, fmt, out=stream)
    else:
        raise InputError(f"unknown format {fmt!r}; allowed: {', '.join(TABLE_FORMATS)}")


def check_out(args: argparse.Namespace) -> None:
    """Refuse a binary ``--format`` without ``--out`` before any work is done.

    Raises
    ------
    InputError
        For a format of :data:`BINARY_FORMATS` with no ``--out`` (or ``--out -``).
    """
    fmt, out = getattr(args, "format", None), getattr(args, "out", None)
    if fmt in BINARY_FORMATS and (out is None or str(out) == "-"):
        raise InputError(f"--format {fmt} writes a file: give it with --out FILE.{fmt}")


def export_to(
    frame: pd.DataFrame,
    fmt: str,
    out: Path | None,
    *,
    meta: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> int:
    """Write ``frame`` with :func:`geo_service.export.export_frame`: text formats to standard
    output or ``out``, binary ones (:data:`BINARY_FORMATS`) to the file ``out`` only.

    A layer written as CSV, JSON or Excel carries each feature's centroid (lon/lat and metres)
    instead of its geometry, so a spreadsheet can map it.

    Raises
    ------
    InputError
        For a binary format without ``--out``.
    """
    from geo_service import export

    if fmt in BINARY_FORMATS:
        if out is None or str(out) == "-":
            raise InputError(f"--format {fmt} writes a file: give it with --out FILE.{fmt}")
        export.export_frame(frame, fmt, out=Path(out), meta=meta, layer=name)
        logger.info("wrote %d rows to %s", len(frame), out)
        return 0
    return write_to(
        out, len(frame), lambda stream: export.export_frame(frame, fmt, out=stream, meta=meta)
    )


def write_to(out: Path | None, rows: int, emit: Callable[[TextIO], None]) -> int:
    """Run ``emit`` on standard output (``out`` None or ``-``), or on the file ``out``."""
    if out is None or str(out) == "-":
        emit(sys.stdout)
    else:
        try:
            with open(out, "w", encoding="utf-8", newline="") as handle:
                emit(handle)
        except OSError as exc:
            raise InputError(f"{out}: cannot write ({exc.strerror})") from exc
        logger.info("wrote %d rows to %s", rows, out)
    return 0
