"""A small real-format store for the store's reliability tests, built through the command line.

Two wards (W1, W2, 1 km squares in British National Grid) and police.uk street files: January
2020 with 5 burglaries, January 2021 with 9, so ``summary --layer ward --months 1`` says
"Burglary 5 -> 9". Test modules build it once (:func:`build_store`) and copy it for each test.
"""

from __future__ import annotations

from pathlib import Path

from shapely.geometry import box

from geo_service.cli import main
from tests.store.conftest import P_W1, P_W2, _layer_file, police_row, write_police_csv


def police_file(folder: Path, month: str, rows: int) -> Path:
    """A police.uk street file of ``rows`` burglaries in ``month``, alternating W1 and W2."""
    return write_police_csv(
        folder / f"{month}-test-street.csv",
        [
            police_row(f"{month}-{i}", month, P_W1 if i % 2 else P_W2, "Burglary")
            for i in range(rows)
        ],
    )


def build_store(folder: Path) -> Path:
    """Build ``folder/store`` (ward layer, then both months in one ingest); returns ``folder``.

    The inputs are left in ``folder/in``.
    """
    wards = _layer_file(
        folder / "wards.geojson",
        {"WD13CD": ["W1", "W2"], "WD13NM": ["West", "East"]},
        [box(500000, 200000, 501000, 201000), box(501000, 200000, 502000, 201000)],
    )
    police_file(folder / "in", "2020-01", 5)
    police_file(folder / "in", "2021-01", 9)
    root = str(folder / "store")
    assert main(["-q", "--store", root, "boundaries", "add", "ward", str(wards)]) == 0
    assert main(["-q", "--store", root, "ingest", "police-uk", str(folder / "in")]) == 0
    return folder
