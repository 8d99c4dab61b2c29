"""Rewrite the benchmark tables in the docs from ``bench/results/*.json``.

A doc marks a table with a block::

    <!-- bench:startup -->
    ...anything (replaced)...
    <!-- /bench -->

``bench:NAME`` renders the ``table`` of ``bench/results/NAME.json`` (a list of rows, each a
mapping column -> value) as a Markdown table, followed by the commit and time of the run;
``bench:NAME.KEY`` renders its ``KEY`` instead. So the docs quote exactly the figures the JSON
holds. ``python -m bench.docs`` rewrites every ``docs/*.md`` and ``README.md`` in place
(``make bench`` runs it after the benchmarks); ``--check`` only reports stale blocks (exit 1).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
BLOCK = re.compile(
    r"(<!-- bench:(?P<name>[\w-]+)(?:\.(?P<key>\w+))? -->\n)(?P<body>.*?)(<!-- /bench -->)",
    re.DOTALL,
)


def render(rows: Sequence[Mapping[str, Any]], machine: Mapping[str, Any] | None = None) -> str:
    """A Markdown table of ``rows`` (columns in the first row's order) and where it ran."""
    if not rows:
        return "(no rows)\n"
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    lines += ["| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |" for row in rows]
    if machine:
        lines.append("")
        lines.append(
            f"Measured {machine.get('time', '?')} at commit {machine.get('commit', '?')} "
            f"({machine.get('cores', '?')} cores, Python {machine.get('python', '?')})."
        )
    return "\n".join(lines) + "\n"


def rewrite(text: str, results_dir: Path = RESULTS_DIR) -> str:
    """``text`` with every bench block filled from its JSON (missing results left as they are)."""

    def fill(match: re.Match[str]) -> str:
        path = results_dir / f"{match['name']}.json"
        if not path.is_file():
            return match.group(0)
        result = json.loads(path.read_text("utf-8"))
        rows = result.get(match["key"] or "table")
        if not isinstance(rows, list):
            return match.group(0)
        return match.group(1) + render(rows, result.get("machine")) + match.group(5)

    return BLOCK.sub(fill, text)


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check``, verify) the bench blocks of docs/*.md and README.md."""
    parser = argparse.ArgumentParser(prog="python -m bench.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="report stale blocks, change none")
    args = parser.parse_args(argv)
    stale = []
    for path in [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]:
        if not path.is_file():
            continue
        text = path.read_text("utf-8")
        new = rewrite(text)
        if new != text:
            stale.append(path.relative_to(ROOT).as_posix())
            if not args.check:
                path.write_text(new, "utf-8")
    verb = "stale" if args.check else "rewritten"
    print(f"{verb}: {', '.join(stale)}" if stale else "docs match bench/results")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
