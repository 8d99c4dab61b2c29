"""CLI conventions shared by every command: loudness, shipped mappings by name, progress."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from geo_service.cli import main
from geo_service.errors import InputError
from geo_service.progress import bar, quiet
from geo_service.sources._mapping import mapping_path, read_mapping, shipped_mappings


def test_quiet_and_verbose_set_the_log_level(tmp_path: Path) -> None:
    store = ["--store", str(tmp_path / "store"), "status"]
    assert main(["--quiet", *store]) == 0
    assert logging.getLogger().level == logging.WARNING
    assert main(["--verbose", *store]) == 0
    assert logging.getLogger().level == logging.DEBUG
    assert main(store) == 0
    assert logging.getLogger().level == logging.INFO
    with pytest.raises(SystemExit):  # one or the other
        main(["--quiet", "--verbose", *store])


def test_shipped_mapping_found_by_name(tmp_path: Path) -> None:
    shipped = shipped_mappings()
    assert {"lfb_incidents", "toronto_fire", "edinburgh_collisions"} <= set(shipped)
    assert mapping_path("lfb_incidents") == shipped["lfb_incidents"]
    assert mapping_path("lfb_incidents.toml") == shipped["lfb_incidents"]
    assert read_mapping("toronto_fire").name == read_mapping(shipped["toronto_fire"]).name
    own = tmp_path / "lfb_incidents.toml"  # a file of the same name wins over the shipped one
    own.write_text(shipped["lfb_incidents"].read_text("utf-8"), encoding="utf-8")
    assert mapping_path(own) == own
    with pytest.raises(InputError, match=r"shipped: demo_asb, .*lfb_incidents"):
        mapping_path("no_such_mapping")


def test_progress_wrappers_yield_every_item(capsys: pytest.CaptureFixture[str]) -> None:
    assert list(quiet(range(3), what="x", total=3)) == [0, 1, 2]
    assert list(bar(iter(range(4)), what="backtest", total=4, unit="origin")) == [0, 1, 2, 3]
    assert "backtest" in capsys.readouterr().err  # the bar is drawn on stderr


def test_backtest_reports_each_origin() -> None:
    """The backtest tells the progress wrapper how many origins it runs, and runs them all."""
    import numpy as np
    import pandas as pd
    from shapely.geometry import box

    from geo_service import schema
    from geo_service.analysis.evaluation import backtest
    from geo_service.analysis.grid import grid_for
    from geo_service.analysis.hotspot_methods import default_methods

    seen: list[tuple[str, int | None, int]] = []

    def record(items, *, what, total=None, unit="step"):  # type: ignore[no-untyped-def]
        count = 0
        for item in items:
            count += 1
            yield item
        seen.append((what, total, count))

    rng = np.random.default_rng(0)
    months = [f"2021-{m:02d}" for m in range(1, 13)]
    frame = schema.conform(
        pd.DataFrame(
            {
                "category": "Burglary",
                "month": np.repeat(months, 20),
                "x": 500000 + rng.uniform(0, 1000, 240),
                "y": 200000 + rng.uniform(0, 1000, 240),
            }
        )
    )
    grid = grid_for(box(500000, 200000, 501000, 201000), cell_m=100.0)
    backtest(
        frame, grid, methods=default_methods(cell_m=100.0), first_origin="2021-06",
        last_origin="2021-11", progress=record,
    )  # fmt: skip
    assert seen == [("backtest", 6, 6)]
