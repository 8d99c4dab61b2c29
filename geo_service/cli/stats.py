"""``summary``, ``change`` and ``report``: what went up, what went down.

Each handler parses its flags into :class:`~geo_service.services.options.ViewOptions`, calls
:mod:`geo_service.services.tables` or :mod:`geo_service.services.report`, and writes the result.
Percentages are shown to one decimal place as the strategic assessment rounds them (-11.9 %).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from geo_service.cli._output import (
    TABLE_FORMATS,
    check_out,
    export_to,
    open_store,
    period_args,
    progress_of,
    write_frame,
)
from geo_service.config import Settings
from geo_service.errors import InputError
from geo_service.services.context import StoreLike, require_incidents
from geo_service.services.options import ViewOptions, resolve_view

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``summary``, ``change`` and ``report`` commands."""
    summary = subparsers.add_parser(
        "summary", help="the 'Looking back' table: each category group, two periods"
    )
    period_args(summary)
    summary.add_argument(
        "--layer", help="count incidents inside this layer's areas (default: beat, ward, district)"
    )
    summary.add_argument("--format", choices=TABLE_FORMATS, default="table")
    summary.add_argument("--out", type=Path, help="file to write (needed for xlsx)")
    summary.set_defaults(handler=_summary)

    table = subparsers.add_parser("change", help="one row per area: counts, change, significance")
    table.add_argument("--layer", help="area layer (default: beat, ward or district)")
    period_args(table)
    table.add_argument(
        "--category", default="All crime", help="a category group or category (default All crime)"
    )
    table.add_argument("--format", choices=TABLE_FORMATS, default="table")
    table.add_argument("--out", type=Path, help="file to write (needed for xlsx)")
    table.set_defaults(handler=_change)

    area = subparsers.add_parser(
        "area", help="one area (beat, ward) for a JAG meeting: every category's change there"
    )
    area.add_argument("code", help="the area's code, e.g. D2A")
    area.add_argument("--layer", help="area layer (default: beat, ward or district)")
    period_args(area)
    area.add_argument("--format", choices=TABLE_FORMATS, default="table")
    area.add_argument("--out", type=Path, help="file to write (needed for xlsx)")
    area.set_defaults(handler=_area)

    forces = subparsers.add_parser(
        "forces", help="incidents per reporting force (police.uk 'Reported by'), both periods"
    )
    forces.add_argument("--layer", help="count inside this layer (default: beat, ward, district)")
    period_args(forces)
    forces.add_argument("--format", choices=TABLE_FORMATS, default="table")
    forces.add_argument("--out", type=Path, help="file to write (needed for xlsx)")
    forces.set_defaults(handler=_forces)

    report = subparsers.add_parser("report", help="write a strategic-assessment HTML document")
    period_args(report)
    report.add_argument("--out", type=Path, required=True, help="HTML file to write ('-': stdout)")
    report.add_argument("--layer", help="area layer of the local tables (default: beat, ward)")
    report.add_argument("--title", default="Strategic assessment", help="document title")
    report.add_argument("--peer-layer", help="layer of peer areas, e.g. district")
    report.add_argument("--peer-code", help="code of this borough in --peer-layer")
    report.set_defaults(handler=_report)


def view_options(args: argparse.Namespace, store: StoreLike) -> ViewOptions:
    """The comparison of the period flags and ``--layer``, the rest chosen from the data."""
    require_incidents(store)
    return resolve_view(
        store.coverage().all_months(),
        period_end=args.period_end,
        months=args.months,
        against=args.against,
        layer=getattr(args, "layer", None) or "",
        exclude_forces=tuple(getattr(args, "exclude_force", ())),
    )


def _summary(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.analysis.change import rounded
    from geo_service.services.context import store_groups
    from geo_service.services.tables import looking_back

    store = open_store(settings)
    result = looking_back(store, store_groups(store, settings.groups()), view_options(args, store))
    table = result.table
    if args.format == "table":
        where = f" inside {result.layer}" if result.layer else ""
        sys.stdout.write(f"{result.previous.label} vs {result.current.label}{where}\n")
        table = _display(rounded(table)).rename(
            columns={"previous": result.previous.label, "current": result.current.label}
        )
    if args.format == "table":
        write_frame(table, "table")
    else:
        export_to(table, args.format, args.out, name="looking_back")
    _quality(result.quality, args.format)
    return 0


def _quality(notes: tuple[str, ...], fmt: str) -> None:
    """What the comparison could not know: below the table, or on stderr beside CSV/JSON."""
    for note in notes:
        if fmt == "table":
            sys.stdout.write(f"note: {note}\n")
        else:
            logger.warning("note: %s", note)


def _change(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.services.context import group_named
    from geo_service.services.tables import BASIS_COLUMNS, CHANGE_COLUMNS, change_by_area

    store = open_store(settings)
    group = group_named(store, settings.groups(), args.category)
    result = change_by_area(store, group, view_options(args, store))
    if args.format == "table":
        from geo_service.analysis.change import rounded

        sys.stdout.write(
            f"{group.name} by {result.layer}: {result.previous.label} vs {result.current.label}\n"
        )
        shown = [c for c in CHANGE_COLUMNS if c not in BASIS_COLUMNS]
        write_frame(_display(rounded(result.table).loc[:, shown]), "table")
        for line in _footnotes(result.table):
            sys.stdout.write(line + "\n")
    else:
        # every column, as /api/category/<name>/change.<fmt> gives it: the note says why a
        # % change is blank
        export_to(result.table, args.format, args.out, name="change")
    _quality(result.quality, args.format)
    return 0


def _area(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.analysis.change import rounded
    from geo_service.services.context import store_groups
    from geo_service.services.tables import area_view

    store = open_store(settings)
    groups = store_groups(store, settings.groups())
    view = area_view(store, groups, args.code, view_options(args, store))
    columns = ["group", *(c for c in view.changes.columns if c not in ("group", "code", "name"))]
    table = view.changes.loc[:, columns]
    if args.format == "table":
        sys.stdout.write(
            f"{view.code} {view.name} ({view.layer}): {view.previous.label} vs "
            f"{view.current.label}\n"
        )
        keep = ["group", "previous", "current", "change", "pct_change", "rate", "p", "q", "label"]
        write_frame(_display(rounded(table).loc[:, keep]), "table")
    else:
        export_to(table, args.format, args.out, name="area")
    _quality(view.quality, args.format)
    return 0


def _forces(args: argparse.Namespace, settings: Settings) -> int:
    check_out(args)
    from geo_service.services.tables import reporting_forces

    store = open_store(settings)
    result = reporting_forces(store, view_options(args, store))
    if args.format == "table":
        where = f" inside {result.layer}" if result.layer else ""
        sys.stdout.write(f"{result.previous.label} vs {result.current.label}{where}\n")
        table = result.table.rename(
            columns={"previous": result.previous.label, "current": result.current.label}
        )
        write_frame(table, "table")
        return 0
    return export_to(result.table, args.format, args.out, name="forces")


def _report(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service.services.report import ReportOptions, report_document

    store = open_store(settings)
    opts = ReportOptions(
        view=view_options(args, store),
        title=args.title,
        peer_layer=args.peer_layer,
        peer_code=args.peer_code,
        highest_first=settings.positions == "highest-first",
        risk=settings.risk,
    )
    html = report_document(store, settings.groups(), opts, progress=progress_of(args))
    if str(args.out) == "-":
        sys.stdout.write(html)
        return 0
    try:
        args.out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{args.out}: cannot write the report ({exc.strerror})") from exc
    logger.info("wrote %s", args.out)
    return 0


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """Signed changes and percentages with a % sign, as the assessment prints them."""
    out = table.copy()
    out["change"] = ["-" if pd.isna(v) else f"{int(v):+d}" if v else "0" for v in out["change"]]
    out["pct_change"] = [f"{v:+.1f}%" if pd.notna(v) else "-" for v in out["pct_change"]]
    if "share" in out.columns:
        out["share"] = [f"{v:.1f}%" if pd.notna(v) else "-" for v in out["share"]]
    return out


def _footnotes(table: pd.DataFrame) -> list[str]:
    lines = [
        f"{column}: {text}"
        for column in ("coverage", "window", "omitted")
        if column in table.columns
        for text in table[column].dropna().astype(str).unique()
        if text
    ]
    per = table["rate_per"].dropna().unique()
    if len(per):
        lines.append(f"rate: current-period count per {per[0]}")
    for row in table.loc[table["note"] != ""].itertuples(index=False):
        lines.append(f"{row.code}: {row.note}")
    return lines
