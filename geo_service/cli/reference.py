"""``reference add``: load a roads or place-names layer once, drawn on maps when tiles are off,
or an address layer that places residents for the rate maps (dasymetric weighting).

The layer is kept in the store's folder beside (not inside) its versioned incident data; see
:mod:`geo_service.reference`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from geo_service.config import Settings

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reference`` command group (``reference add KIND PATH``)."""
    from geo_service.reference import KINDS

    group = subparsers.add_parser(
        "reference",
        help="roads and place names drawn on maps (tiles off), address points weighting population",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="store a reference layer (replaces one of the same kind)")
    add.add_argument(
        "kind",
        choices=tuple(KINDS),
        help="roads (lines), places (points) or addresses (points, or building polygons)",
    )
    add.add_argument("path", type=Path, help="GeoPackage, Shapefile, GeoJSON or GeoParquet file")
    add.add_argument("--source-layer", help="layer to read from a file holding several")
    add.set_defaults(handler=_add)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service.reference import add_reference

    info = add_reference(settings.store, args.kind, args.path, source_layer=args.source_layer)
    print(
        f"reference {info.kind}: {info.features:,} features ({info.named:,} named) stored in "
        f"{info.path}"
        + (f"; {info.dropped:,} without usable geometry left out" if info.dropped else "")
    )
    return 0
