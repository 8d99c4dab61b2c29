"""Lazy command registration: --help lists every command from the table without importing any
command module (or pandas), and the table says what the modules register."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from geo_service.cli import COMMANDS, build_parser, main, registered_parsers

ROOT = Path(__file__).resolve().parents[2]


def _registered_help(module: str) -> dict[str, str]:
    """Command -> help of what ``module``'s register() adds, read from a fresh subparsers."""
    parser = argparse.ArgumentParser(prog="geo-service")
    subparsers = parser.add_subparsers()
    __import__(module, fromlist=["register"]).register(subparsers)
    return {a.dest: a.help for a in subparsers._choices_actions}


def test_table_matches_what_each_module_registers() -> None:
    modules = dict.fromkeys(module for _, module, _ in COMMANDS)
    registered = {}
    for module in modules:
        for name, text in _registered_help(module).items():
            registered[name] = (module, text)
    assert registered == {name: (module, text) for name, module, text in COMMANDS}


def test_help_lists_every_command_and_imports_none() -> None:
    code = (
        "import contextlib, io, json, sys\n"
        "from geo_service.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print(json.dumps({'help': out.getvalue(), 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout)
    for name, _, _ in COMMANDS:
        assert f"    {name}" in result["help"]
    heavy = {"pandas", "numpy", "geopandas", "scipy", "sklearn", "folium", "flask", "pyarrow"}
    loaded = set(result["modules"])
    assert not heavy & loaded
    assert not {module for _, module, _ in COMMANDS} & loaded


def test_a_command_gets_its_real_parser_and_the_global_flags(tmp_path: Path) -> None:
    args = build_parser().parse_args(["change", "--layer", "ward", "--store", str(tmp_path), "-q"])
    expected = ("change", "ward", str(tmp_path), True)  # the store as given: URLs are kept whole
    assert (args.command, args.layer, args.store, args.quiet) == expected
    assert callable(args.handler)
    nested = build_parser().parse_args(["boundaries", "names", "ward", "names.csv"])
    assert (nested.command, nested.action) == ("boundaries", "names")


def test_unknown_command_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["nope"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_registered_parsers_carry_store_and_loudness() -> None:
    parsers = registered_parsers("geo_service.cli.stats", "geo-service")
    assert {"summary", "change", "area", "forces", "report"} <= set(parsers)
    assert "--store" in parsers["change"]._option_string_actions
    assert "--quiet" in parsers["report"]._option_string_actions
