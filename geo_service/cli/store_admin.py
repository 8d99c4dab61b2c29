"""``geo-service check`` and ``geo-service repair``: the store checked in depth, and repaired.

Both only parse and print; the work is :func:`geo_service.store.verify.check_store` and
:func:`geo_service.store.repair.repair_store`. Each ends with exit code 0 when the store is
intact (after the repair, for ``repair``) and 2 when it is not.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from geo_service.config import Settings

_CHECK_HELP = """\
Check every file of the published store version against its manifest: each partition, held and
layer file read whole against its recorded SHA-256, no file missing or unlisted, the rows of each
input file against the manifest, the kept summary against a fresh count. Prints each problem;
exit code 0 when the store is intact, 2 when it is not. (Every command already makes the cheap
check, of sizes and Parquet footers, before reading the store.)"""

_REPAIR_HELP = """\
Repair what can be repaired from the manifests, never inventing a row: restore a missing or
changed file from an identical copy (an unlisted copy beside it, or a kept earlier version), move
unlisted files aside to <store>/removed/, rebuild the kept summary, publish the newest intact
earlier version when the current one stays damaged, record the checksums of a store written
before they were, and remove what interrupted writes left. Names the input files (with their
recorded SHA-256) whose rows must be ingested again. Exit code 0 when the store is then intact,
2 when it is not."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``check`` and ``repair`` commands."""
    check = subparsers.add_parser(
        "check", help="check every file of the store against its manifest",
        description=_CHECK_HELP,
    )  # fmt: skip
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.set_defaults(handler=_check)
    repair = subparsers.add_parser(
        "repair", help="repair the store from its manifests (never inventing rows)",
        description=_REPAIR_HELP,
    )  # fmt: skip
    repair.add_argument("--json", action="store_true", help="print what was done as JSON")
    repair.set_defaults(handler=_repair)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service.store.verify import check_store

    report = check_store(settings.store)
    if args.json:
        _print_json(asdict(report) | {"clean": report.clean})
        return 0 if report.clean else 2
    print(f"store {report.store}, version {report.version or '(none)'}: "
          f"{report.files_read} files read in full, {report.bytes_read / 1e6:.1f} MB")  # fmt: skip
    for problem in report.problems:
        print(f"problem: {problem.message}")
    for note in report.notes:
        print(f"note: {note}")
    if report.clean:
        print("the store is intact")
        return 0
    print(f"{len(report.problems)} problem(s): run `geo-service repair` to fix what can be fixed")
    return 2


def _repair(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service.store.repair import repair_store

    report = repair_store(settings.store)
    if args.json:
        _print_json(asdict(report) | {"clean": report.clean})
        return 0 if report.clean else 2
    for action in report.actions:
        print(f"repaired: {action}")
    for path in report.reingest:
        print(f"ingest again: {path}")
    for problem in report.unrepaired:
        print(f"not repaired: {problem}")
    if not report.actions and report.clean:
        print("nothing to repair: the store is intact")
    elif report.clean:
        print(f"the store is intact (version {report.version or '(none)'})")
    if report.reingest:
        print("the rows of the files above are not in the store: ingest them again")
    return 0 if report.clean else 2


def _print_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, indent=1, default=str))
