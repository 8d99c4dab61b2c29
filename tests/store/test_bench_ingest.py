"""The ingest benchmark's quick run: it completes and writes a result file of the agreed shape."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from bench import MODULES
from bench.__main__ import main
from bench.ingest import (
    DOCS,
    QUICK_SCALE,
    QUICK_SIZES,
    TEN_YEARS,
    render_markdown,
    write_police_files,
)


def test_quick_run_writes_results(tmp_path: Path) -> None:
    assert main(["ingest", "--quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "ingest-quick.json").read_text("utf-8"))
    assert result["benchmark"] == "ingest-quick" and result["quick"] is True
    machine = result["machine"]
    assert machine["cores"] == os.cpu_count() and machine["packages"]["pandas"] == pd.__version__
    # the no-op re-ingest needs the Hertfordshire months and a store of them: without, it says
    # why and its target is left unmeasured
    no_op = {"no_op_cpu_seconds_max"} if "skipped" not in result["no_op_reingest"] else set()
    assert set(result["targets_met"]) == {
        "speedup_vs_naive_min", "ingest_cpu_seconds_max", "peak_memory_mb_max",
        "scale_peak_memory_mb_max", *no_op,
    }  # fmt: skip
    (size,) = result["sizes"]
    assert size["rows"] == QUICK_SIZES[0] and size["files"] == 12 and size["counts_identical"]
    assert size["pipeline"]["rows_read"] == size["ingest"]["rows_read"] == QUICK_SIZES[0]
    assert size["ingest"]["stored"] == QUICK_SIZES[0]  # synthetic rows are all valid and unique
    assert size["pipeline"]["counts"] == size["naive"]["counts"] == size["ingest"]["counts"]
    assert len(size["naive"]["counts"]) == 25
    for stage in ("pipeline", "ingest", "naive"):
        run = size[stage]
        assert run["seconds"] > 0 and run["cpu_seconds"] > 0
        # Peak memory is the child's own (not inherited from this process): above its start.
        assert run["memory_at_start_mb"] < run["peak_memory_mb"] < 2000
    for scale, (rows, months) in zip(result["scale"], QUICK_SCALE, strict=True):
        assert (scale["rows"], scale["months"], scale["rows_read"], scale["stored"]) == (
            rows, months, rows, rows,
        )  # fmt: skip
        assert scale["versions_published"] == 1 and scale["in_a_ward"] == scale["ward_sum"] > 0
        again = scale["no_op_reingest"]
        assert again["files"] == months and again["rows_read"] == rows
    no_op = result["no_op_reingest"]
    assert "skipped" in no_op or (no_op["files"] == 13 and no_op["rows_read"] == 108_465)


def test_synthetic_files_are_police_uk_shaped(tmp_path: Path) -> None:
    assert write_police_files(tmp_path, 1200, seed=1) == 12
    frames = [
        pd.read_csv(p, dtype={"Crime ID": "str"}) for p in sorted(tmp_path.glob("*/*-street.csv"))
    ]
    frame = pd.concat(frames, ignore_index=True)
    assert len(frame) == 1200 and frame["Month"].nunique() == 12
    asb = frame["Crime type"] == "Anti-social behaviour"
    assert frame.loc[asb, "Crime ID"].isna().all() and frame.loc[~asb, "Crime ID"].notna().all()
    assert 0.15 < asb.mean() < 0.35
    assert frame["Crime ID"].dropna().is_unique


def test_files_are_split_evenly_over_ten_years(tmp_path: Path) -> None:
    assert write_police_files(tmp_path, 1205, seed=2, months=TEN_YEARS) == 120
    files = sorted(tmp_path.glob("*/*-street.csv"))
    assert files[0].name == "2011-01-synthetic-street.csv"
    assert files[-1].name == "2020-12-synthetic-street.csv"
    sizes = [len(pd.read_csv(p)) for p in files]
    assert sizes[:5] == [11] * 5 and sizes[5:] == [10] * 115  # 1205 = 120 * 10 + 5
    ids = pd.concat(pd.read_csv(p, dtype={"Crime ID": "str"})["Crime ID"] for p in files)
    assert ids.dropna().is_unique


def test_protocol_lists_this_module() -> None:
    assert MODULES["ingest"] == "bench.ingest"


def test_docs_quote_the_committed_results() -> None:
    """docs/store.md's benchmark figures are the committed JSON's, as generated."""
    result = json.loads((DOCS.parents[1] / "bench" / "results" / "ingest.json").read_text("utf-8"))
    text = DOCS.read_text("utf-8")
    region = text.split("<!-- ingest-bench:start -->")[1].split("<!-- ingest-bench:end -->")[0]
    assert region.strip() == render_markdown(result).strip()
