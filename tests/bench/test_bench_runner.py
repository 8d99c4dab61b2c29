"""The benchmark runner's contract: discovery, the per-process child, printed figures, paired
ratios, and docs tables rewritten from the JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import MODULES
from bench.__main__ import _run_one, benchmarks, summary_lines
from bench.docs import render, rewrite
from bench.startup import TARGETS, paired_ratio


def test_every_module_with_run_is_a_benchmark() -> None:
    found = benchmarks()
    assert found["startup"] == "bench.startup"
    assert {k: v for k, v in found.items() if k in MODULES} == dict(MODULES)
    assert "docs" not in found and "__main__" not in found


def test_paired_ratio_is_the_median_of_per_pair_ratios() -> None:
    # Pairs 2/1, 3/1, 10/2: ratios 2, 3, 5 -> 3 (a ratio of medians would say 3/1 = 3 too, but
    # 2, 3, 10 against 1, 1, 2 with an outlier pair shows the difference below).
    assert paired_ratio([2.0, 3.0, 10.0], [1.0, 1.0, 2.0]) == 3.0
    assert paired_ratio([4.0, 4.0, 4.0], [1.0, 2.0, 4.0]) == 2.0


def test_summary_lines_state_figures_ratios_and_targets() -> None:
    result = {
        "cpu_seconds": {"help": 0.07, "change": 1.2},
        "baseline": {"ref": "abc", "ratio_baseline_over_current": {"help": 15.0}},
        "targets_met": {"help": True, "change": True, "status": False},
    }
    assert summary_lines(result) == [
        "cpu_seconds: help 0.07, change 1.2",
        "before/after vs abc: help 15.0x",
        "targets: 2 of 3 met (missed: status)",
    ]


def test_docs_block_is_rewritten_from_the_json(tmp_path: Path) -> None:
    rows = [{"measure": "help", "CPU s": 0.071, "met": True}, {"measure": "a|b", "CPU s": 2}]
    machine = {"time": "2026-11-30T18:00:00+00:00", "commit": "abc1234", "cores": 2, "python": "3"}
    (tmp_path / "startup.json").write_text(json.dumps({"table": rows, "machine": machine}))
    text = "Intro\n<!-- bench:startup -->\nold figures\n<!-- /bench -->\nOutro\n"
    new = rewrite(text, tmp_path)
    assert new == (
        "Intro\n<!-- bench:startup -->\n"
        "| measure | CPU s | met |\n|---|---|---|\n| help | 0.071 | yes |\n| a\\|b | 2 |  |\n\n"
        "Measured 2026-11-30T18:00:00+00:00 at commit abc1234 (2 cores, Python 3).\n"
        "<!-- /bench -->\nOutro\n"
    )
    assert rewrite(new, tmp_path) == new  # idempotent
    missing = "<!-- bench:nothing -->\nkept\n<!-- /bench -->\n"
    assert rewrite(missing, tmp_path) == missing
    assert render([]) == "(no rows)\n"


def test_child_writes_the_modules_result_with_machine_info(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "probe_bench.py").write_text(
        "def run(*, quick):\n    return {'cpu_seconds': {'x': 1.5}, 'quick': quick}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _run_one("probe_bench", "probe", quick=True, out=tmp_path / "out") == 0
    written = json.loads((tmp_path / "out" / "probe-quick.json").read_text())
    assert written["cpu_seconds"] == {"x": 1.5} and written["quick"] is True
    assert written["benchmark"] == "probe-quick" and written["machine"]["cores"] >= 1


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_startup_targets_are_cpu_seconds(name: str) -> None:
    assert 0 < TARGETS[name] <= 2.0
