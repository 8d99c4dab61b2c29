"""The ``geo-service`` command line.

Each command group lives in its own module of this package, listed in :data:`COMMAND_MODULES`;
a module exposes ``register(subparsers)``, which adds its sub-commands and sets ``handler`` on each
to a function ``handler(args, settings) -> int``. The CLI calls the same service functions as the
web layer. A :class:`~geo_service.errors.GeoServiceError` becomes a one-line message and the exit
code its class carries (:data:`EXIT_CODES`); ``--debug`` shows the full traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path

from geo_service import __version__
from geo_service.config import Settings, load_settings
from geo_service.errors import GeoServiceError

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

#: Modules of this package that register sub-commands, in the order --help lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "geo_service.cli.ingest",
    "geo_service.cli.demo",
    "geo_service.cli.stats",
    "geo_service.cli.hotspots",
    "geo_service.cli.rtc",
    "geo_service.cli.serve",
    "geo_service.cli.store_admin",
    "geo_service.cli.reference",
    "geo_service.cli.brief",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="geo-service",
        description="Hotspot maps and beat-level change tables for Community Safety Partnerships.",
        epilog="exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"geo-service {__version__}")
    parser.add_argument("--config", type=Path, help="settings TOML file (or GEO_SERVICE_CONFIG)")
    parser.add_argument(
        "--store", type=Path, help="store directory (or GEO_SERVICE_STORE; default data/store)"
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks and debug logs")
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q", "--quiet", action="store_true", help="warnings and errors only; no progress bars"
    )
    loudness.add_argument(
        "-v", "--verbose", action="store_true", help="debug messages too (tracebacks: --debug)"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    _accept_store_after_command(subparsers)
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
                "--store", type=Path, default=argparse.SUPPRESS, help="store directory"
            )
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
    settings = load_settings(args.config)
    if args.store is not None:
        settings = replace(settings, store=args.store)
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
