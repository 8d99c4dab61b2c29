"""Tests for the ``rates`` command: per-beat rates of the demo against a pandas count over the
beats' populations, the basis in every format's metadata, and the refusals (exit 2 and 3)."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.store import LayerInfo, Store
from tests.cli.conftest import assign_by_x, two_wards, write_rows

CATEGORY = "Dwelling burglary"
#: The force extract's subcategories of the group (geo_service/data/categories.toml).
DWELLING = (
    "Burglary dwelling",
    "Burglary dwelling - attempt",
    "Distraction burglary",
    "Aggravated burglary dwelling",
)
PERIOD = ("--period-end", "2013-07", "--months", "12")


def _run(store: Store, *args: str) -> int:
    return main(["--store", str(store.root), "rates", "--category", CATEGORY, *args])


def test_csv_rates_per_beat_against_pandas(demo_store, capsys, caplog) -> None:
    capsys.readouterr()
    with caplog.at_level(logging.INFO, logger="geo_service.cli.rates"):
        assert _run(demo_store, *PERIOD, "--format", "csv") == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("code")
    incidents = demo_store.incidents(month_from="2012-08", month_to="2013-07")
    dwelling = incidents["category"].eq("Burglary") & incidents["subcategory"].isin(DWELLING)
    counts = incidents.loc[dwelling, "area_beat"].value_counts()
    beats = demo_store.layer("beat").set_index("code")
    assert len(table) == len(beats) == 25
    for code in beats.index:
        assert table.loc[code, "count"] == counts.get(code, 0)
        expected = 1000.0 * counts.get(code, 0) / beats.loc[code, "population"]
        assert table.loc[code, "rate_per_1000"] == pytest.approx(expected, rel=1e-12)
    assert table["count"].sum() > 100
    line = " ".join(r.getMessage() for r in caplog.records)
    assert "denominator population of beat, areal weighting" in line
    assert "masked below 50 smoothed residents per cell" in line


def test_geojson_cells_carry_the_basis(demo_store, capsys) -> None:
    capsys.readouterr()
    assert _run(demo_store, *PERIOD, "--cells", "--cell-m", "200", "--format", "geojson") == 0
    document = json.loads(capsys.readouterr().out)
    meta = document["geo_service"]
    assert meta["weighting"] == "areal" and meta["layer"] == "beat"
    assert meta["denominator"] == "population of layer 'beat'"
    assert meta["cell_m"] == 200.0 and meta["min_residents"] == 50.0 and meta["bandwidth_m"] > 0
    rows = pd.DataFrame([f["properties"] for f in document["features"]])
    beats = demo_store.layer("beat")
    assert rows["residents"].sum() == pytest.approx(beats["population"].sum(), rel=1e-9)
    positive = rows["residents"] > 0
    np.testing.assert_allclose(
        rows.loc[positive, "rate_per_1000"],
        1000.0 * rows.loc[positive, "count"] / rows.loc[positive, "residents"],
        rtol=1e-12,
    )


def test_gpkg_needs_out_and_writes_the_areas(demo_store, tmp_path: Path) -> None:
    assert _run(demo_store, *PERIOD, "--format", "gpkg") == 2
    out = tmp_path / "rates.gpkg"
    assert _run(demo_store, *PERIOD, "--format", "gpkg", "--out", str(out)) == 0
    layer = gpd.read_file(out)
    assert len(layer) == 25 and "rate_per_1000" in layer.columns


def test_a_layer_without_population_is_refused_with_exit_3(tmp_path: Path, capsys) -> None:
    store = Store(tmp_path / "store")
    wards = two_wards(500000.0, 200000.0, 1000.0)

    def assign(frame: pd.DataFrame, layers: object = None) -> pd.DataFrame:
        return assign_by_x(frame, 501000.0)

    store.write_layer("ward", wards, info=LayerInfo(path="squares"), assign=assign)
    rows = pd.DataFrame(
        {
            "incident_id": ["a", "b"],
            "month": ["2021-01", "2021-01"],
            "category": ["Burglary", "Burglary"],
            "x": [500100.0, 501500.0],
            "y": [200100.0, 200500.0],
            "source": ["test", "test"],
        }
    )
    write_rows(store, assign(rows), "b.csv")
    code = main(["--store", str(store.root), "rates", "--category", "Burglary"])
    assert code == 3
    assert "geo-service boundaries denominators ward" in capsys.readouterr().err
