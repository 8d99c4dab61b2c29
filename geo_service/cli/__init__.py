"""The ``geo-service`` command line.

Each command group lives in its own module of this package. :data:`COMMANDS` lists every command
with its module and one-line help, so ``geo-service --help`` lists them all without importing
any: a command's module (and so pandas, geopandas, scipy ...) is imported only when that command
runs. A module exposes ``register(subparsers)``, which adds its sub-commands and sets ``handler``
on each to a function ``handler(args, settings) -> int``. The CLI calls the same service
functions as the web layer. A :class:`~geo_service.errors.GeoServiceError` becomes a one-line
message and the exit code its class carries (:data:`EXIT_CODES`); ``--debug`` shows the full
traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo_service import __version__
from geo_service.errors import GeoServiceError

if TYPE_CHECKING:
    from geo_service.config import Settings

#: Exit codes of the command line (also in ``geo-service --help`` and docs/store.md).
EXIT_CODES: tuple[tuple[int, str], ...] = (
    (0, "success"),
    (
        2,
        "usage: bad arguments, or an input file refused as a whole (the store is unchanged);"
        " or the store is damaged (`geo-service check` lists, `geo-service repair` fixes)",
    ),
    (3, "bad data: the command is well formed but the data cannot answer it"),
    (4, "store busy: another process is writing the store; try again when it has finished"),
    (130, "interrupted (Ctrl-C)"),
    (141, "the reader of the output went away (e.g. `| head`)"),
)

#: (command, module that registers it, help) in the order --help lists them. The help must be
#: the module's own (tests/cli/test_registration.py checks it); the module is imported only when
#: its command runs.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("ingest", "geo_service.cli.ingest", "load incident files into the store"),
    (
        "boundaries",
        "geo_service.cli.ingest",
        "add area layers, their denominators and names, and layers dissolved from parents",
    ),
    ("status", "geo_service.cli.ingest", "what the store holds"),
    ("demo", "geo_service.cli.demo", "generate and ingest the demo borough"),
    (
        "summary",
        "geo_service.cli.stats",
        "the 'Looking back' table: each category group, two periods",
    ),
    ("change", "geo_service.cli.stats", "one row per area: counts, change, significance"),
    (
        "area",
        "geo_service.cli.stats",
        "one area (beat, ward) for a JAG meeting: every category's change there",
    ),
    (
        "forces",
        "geo_service.cli.stats",
        "incidents per reporting force (police.uk 'Reported by'), both periods",
    ),
    ("report", "geo_service.cli.stats", "write a strategic-assessment HTML document"),
    ("hotspots", "geo_service.cli.hotspots", "a hotspot map of one category, with its accuracy"),
    (
        "shifts",
        "geo_service.cli.hotspots",
        "previous vs current period per area or grid cell, with significance",
    ),
    (
        "repeat-locations",
        "geo_service.cli.rtc",
        "road-collision cluster sites (N collisions within R m in Y years)",
    ),
    (
        "evaluate",
        "geo_service.cli.rtc",
        "backtest hotspot methods: hit rate and PAI over the latest months",
    ),
    (
        "rates",
        "geo_service.cli.rates",
        "incidents per 1,000 residents per area, or per cell with the dual KDE",
    ),
    ("serve", "geo_service.cli.serve", "serve the web pages for the store"),
    (
        "remove",
        "geo_service.cli.ingest",
        "remove stored input files (their rows; other files' copies of them stay)",
    ),
    ("check", "geo_service.cli.store_admin", "check every file of the store against its manifest"),
    (
        "repair",
        "geo_service.cli.store_admin",
        "repair the store from its manifests (never inventing rows)",
    ),
    ("unlock", "geo_service.cli.unlock", "remove the writer lock a killed writer left at a URL"),
    (
        "reference",
        "geo_service.cli.reference",
        "roads and place names drawn on maps (tiles off), address points weighting population",
    ),
    (
        "brief",
        "geo_service.cli.brief",
        "next month's patrol zones as an A4 briefing pack (PDF/PNG) or a table",
    ),
)


_SCHEDULER_HELP = (
    "where ingest loads and joins its batches: 'local' (a Dask cluster on this machine) or "
    "tcp://HOST:PORT (a Dask scheduler); needs pip install 'geo_service[dask]'"
)


class _LazyCommands(argparse._SubParsersAction):
    """Sub-commands whose parsers are placeholders (name and help) until one is chosen.

    When argparse reaches the command name, the module that registers it is imported and its
    real parsers replace the placeholders, then parsing goes on as usual; so ``--help`` and
    every other command never import that module.
    """

    #: Command -> the module that registers it.
    modules: Mapping[str, str] = {name: module for name, module, _ in COMMANDS}

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        name = values[0] if isinstance(values, Sequence) and values else None
        if isinstance(name, str) and name in self.modules:
            self._name_parser_map.update(registered_parsers(self.modules[name], self._prog_prefix))
        super().__call__(parser, namespace, values, option_string)


def registered_parsers(module: str, prog_prefix: str) -> dict[str, argparse.ArgumentParser]:
    """The parsers ``module``'s ``register`` adds, by command name, with the global flags."""
    scratch = argparse._SubParsersAction(
        option_strings=[], prog=prog_prefix, parser_class=argparse.ArgumentParser
    )
    importlib.import_module(module).register(scratch)
    _accept_store_after_command(scratch)
    return dict(scratch._name_parser_map)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser: every command listed, none of their modules imported yet."""
    parser = argparse.ArgumentParser(
        prog="geo-service",
        description="Hotspot maps and beat-level change tables for Community Safety Partnerships.",
        epilog="exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"geo-service {__version__}")
    parser.add_argument("--config", type=Path, help="settings TOML file (or GEO_SERVICE_CONFIG)")
    parser.add_argument(
        "--store", type=str, help="store directory (or GEO_SERVICE_STORE; default data/store)"
    )
    parser.add_argument(
        "--scheduler", help=_SCHEDULER_HELP + " (or GEO_SERVICE_SCHEDULER; default: this process)"
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q", "--quiet", action="store_true", help="warnings and errors only; no progress bars"
    )
    loudness.add_argument(
        "-v", "--verbose", action="store_true", help="debug messages too (tracebacks: --debug)"
    )
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, action=_LazyCommands
    )
    for name, _, text in COMMANDS:
        subparsers.add_parser(name, help=text)
    return parser


def _accept_store_after_command(subparsers: argparse._SubParsersAction) -> None:
    """Let every command take ``--store``, ``--quiet`` and ``--verbose`` after its name too
    (``geo-service serve --store D``).

    SUPPRESS keeps a sub-command's default from overwriting a ``--store`` given before it.
    """
    for command in subparsers.choices.values():
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        for action in nested:
            _accept_store_after_command(action)
        if not nested and "--store" not in command._option_string_actions:
            command.add_argument(
                "--store", type=str, default=argparse.SUPPRESS, help="store directory"
            )
        if not nested and "--scheduler" not in command._option_string_actions:
            command.add_argument("--scheduler", default=argparse.SUPPRESS, help=_SCHEDULER_HELP)
        if not nested and "--quiet" not in command._option_string_actions:
            loudness = command.add_mutually_exclusive_group()
            loudness.add_argument(
                "-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                help="warnings and errors only; no progress bars",
            )  # fmt: skip
            loudness.add_argument(
                "-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                help="debug messages too",
            )  # fmt: skip


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from the config file and environment, overridden by global flags."""
    from dataclasses import replace

    from geo_service.config import load_settings, store_folder

    settings = load_settings(args.config)
    if args.store is not None:
        settings = replace(settings, store=store_folder(args.store, where="--store"))
    if args.scheduler is not None:
        from geo_service.engine import check_scheduler

        settings = replace(settings, scheduler=check_scheduler(args.scheduler, where="--scheduler"))
    return settings


def _log_level(args: argparse.Namespace) -> int:
    if args.debug or args.verbose:
        return logging.DEBUG
    return logging.WARNING if args.quiet else logging.INFO


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=_log_level(args),
        format="%(levelname)s %(name)s: %(message)s" if args.debug else "%(message)s",
    )
    logging.getLogger().setLevel(_log_level(args))
    try:
        return int(args.handler(args, settings_from_args(args)))
    except GeoServiceError as exc:
        if args.debug:
            raise
        print(f"geo-service: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("geo-service: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away: stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
