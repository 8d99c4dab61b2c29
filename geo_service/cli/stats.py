"""Commands that answer "what went up, what went down": ``summary``, ``change`` and ``report``.

Each handler reads the store, calls the pure functions of :mod:`geo_service.analysis.change` or
:func:`geo_service.report.build_report`, and writes the result. Percentages are shown to one
decimal place as the strategic assessment rounds them (-11.9 %).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from geo_service.analysis import change
from geo_service.analysis.counts import within_layer
from geo_service.analysis.periods import Period, rolling_periods, year_on_year_periods
from geo_service.categories import CategoryGroup, find_group, load_groups
from geo_service.cli._output import TABLE_FORMATS, write_frame
from geo_service.config import Settings
from geo_service.errors import InputError, NotFoundError
from geo_service.report import DEFAULT_PRIORITIES, Peers, build_report
from geo_service.schema import CATEGORIES
from geo_service.store import Store

logger = logging.getLogger(__name__)

#: Columns of the ``change`` command, in order (the interface the web pages also show).
CHANGE_OUTPUT = (
    "code", "name", "previous", "current", "change", "pct_change",
    "share", "rank", "rate", "p", "q", "label",
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``summary``, ``change`` and ``report`` commands."""
    summary = subparsers.add_parser(
        "summary", help="the 'Looking back' table: each category group, two periods"
    )
    _period_args(summary)
    summary.add_argument("--layer", help="count only incidents inside this layer's areas")
    summary.add_argument("--format", choices=TABLE_FORMATS, default="table")
    summary.set_defaults(handler=_summary)

    table = subparsers.add_parser("change", help="one row per area: counts, change, significance")
    table.add_argument("--layer", required=True, help="area layer, e.g. beat or ward")
    _period_args(table)
    table.add_argument(
        "--category", default="All crime", help="a category group or category (default All crime)"
    )
    table.add_argument("--format", choices=TABLE_FORMATS, default="table")
    table.set_defaults(handler=_change)

    report = subparsers.add_parser("report", help="write a strategic-assessment HTML document")
    _period_args(report, against=False)
    report.add_argument("--out", type=Path, required=True, help="HTML file to write")
    report.add_argument("--layer", default="beat", help="area layer of the local tables")
    report.add_argument("--title", default="Strategic assessment", help="document title")
    report.add_argument("--peer-layer", help="layer of peer areas, e.g. district")
    report.add_argument("--peer-code", help="code of this borough in --peer-layer")
    report.set_defaults(handler=_report)


def _period_args(parser: argparse.ArgumentParser, *, against: bool = True) -> None:
    parser.add_argument("--period-end", required=True, metavar="YYYY-MM", help="last month")
    parser.add_argument("--months", type=int, default=12, help="months per period (default 12)")
    if against:
        parser.add_argument(
            "--against",
            choices=tuple(_AGAINST),
            default="preceding",
            help="compare with the preceding months (default) or the same months a year earlier",
        )


_AGAINST = {"preceding": rolling_periods, "year-earlier": year_on_year_periods}


def _periods(args: argparse.Namespace) -> tuple[Period, Period]:
    return _AGAINST[args.against](args.period_end, months=args.months)


def _read(store: Store, *periods: Period) -> pd.DataFrame:
    """Stored incidents of the months ``periods`` span (all months when none are given)."""
    stored = store.months()
    if not stored:
        raise NotFoundError(
            f"store {store.root} holds no incidents; add some with `geo-service ingest`"
        )
    if not periods:
        return store.incidents()
    wanted = sorted({m for p in periods for m in p.months})
    missing = sorted(set(wanted) - set(stored))
    if missing:
        shown = ", ".join(missing[:6]) + (" ..." if len(missing) > 6 else "")
        logger.warning(
            "no incidents stored for %d of the %d months compared (%s); the store holds %s..%s",
            len(missing), len(wanted), shown, stored[0], stored[-1],
        )  # fmt: skip
    return store.incidents(month_from=wanted[0], month_to=wanted[-1])


def _summary(args: argparse.Namespace, settings: Settings) -> int:
    previous, current = _periods(args)
    store = Store(settings.store)
    incidents = _read(store, previous, current)
    if args.layer:
        store.layer(args.layer)
        incidents = within_layer(incidents, args.layer)
    table = change.rounded(
        change.looking_back(incidents, load_groups(settings.categories), previous, current)
    )
    if args.format == "table":
        sys.stdout.write(f"{previous.label} vs {current.label}\n")
        table = _display(table).rename(
            columns={"previous": previous.label, "current": current.label}
        )
    write_frame(table, args.format)
    return 0


def _change(args: argparse.Namespace, settings: Settings) -> int:
    previous, current = _periods(args)
    store = Store(settings.store)
    areas = store.layer(args.layer)
    incidents = _read(store, previous, current)
    group = _group(load_groups(settings.categories), args.category, incidents)
    table = change.change_table(
        incidents, layer=args.layer, areas=areas, group=group, previous=previous, current=current
    )
    shown = change.rounded(table)
    if args.format == "table":
        sys.stdout.write(f"{group.name} by {args.layer}: {previous.label} vs {current.label}\n")
        write_frame(_display(shown.loc[:, list(CHANGE_OUTPUT)]), "table")
        for line in _footnotes(table):
            sys.stdout.write(line + "\n")
    else:
        write_frame(shown.loc[:, list(CHANGE_OUTPUT)], args.format)
    return 0


def _report(args: argparse.Namespace, settings: Settings) -> int:
    store = Store(settings.store)
    areas = store.layer(args.layer)
    peers = None
    if bool(args.peer_layer) != bool(args.peer_code):
        raise InputError("--peer-layer and --peer-code go together; give both or neither")
    if args.peer_layer:
        peer_areas = store.layer(args.peer_layer)
        if args.peer_code not in set(peer_areas["code"].astype("str")):
            raise NotFoundError(
                f"--peer-code {args.peer_code!r} is not an area of layer {args.peer_layer!r}; "
                f"its codes: {', '.join(peer_areas['code'].astype('str'))}"
            )
        peers = Peers(layer=args.peer_layer, areas=peer_areas, code=args.peer_code)
    incidents = _read(store)
    html = build_report(
        incidents,
        layer=args.layer,
        areas=areas,
        groups=load_groups(settings.categories),
        period_end=args.period_end,
        months=args.months,
        priorities=DEFAULT_PRIORITIES,
        title=args.title,
        peers=peers,
    )
    try:
        args.out.write_text(html, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{args.out}: cannot write the report ({exc.strerror})") from exc
    logger.info("wrote %s", args.out)
    return 0


def _group(groups: tuple[CategoryGroup, ...], name: str, incidents: pd.DataFrame) -> CategoryGroup:
    """The group called ``name``, or a group of the category ``name`` when that is a known or
    stored category; otherwise NotFoundError listing what is allowed."""
    stored = set(incidents["category"].dropna().astype("str"))
    if name.casefold() in {g.name.casefold() for g in groups}:
        return find_group(groups, name)
    spelled = {c.casefold(): c for c in (*CATEGORIES, *sorted(stored))}
    if name.casefold() in spelled:
        return find_group(groups, spelled[name.casefold()])
    allowed = [g.name for g in groups] + sorted(set(CATEGORIES) | stored)
    raise NotFoundError(
        f"--category {name!r} is neither a group nor a category; allowed: {', '.join(allowed)}"
    )


def _display(table: pd.DataFrame) -> pd.DataFrame:
    """Signed changes and percentages with a % sign, as the assessment prints them."""
    out = table.copy()
    out["change"] = [f"{int(v):+d}" if v else "0" for v in out["change"]]
    out["pct_change"] = [f"{v:+.1f}%" if pd.notna(v) else "-" for v in out["pct_change"]]
    if "share" in out.columns:
        out["share"] = [f"{v:.1f}%" if pd.notna(v) else "-" for v in out["share"]]
    return out


def _footnotes(table: pd.DataFrame) -> list[str]:
    lines = []
    per = table["rate_per"].dropna().unique()
    if len(per):
        lines.append(f"rate: current-period count per {per[0]}")
    for row in table.loc[table["note"] != ""].itertuples(index=False):
        lines.append(f"{row.code}: {row.note}")
    return lines
