"""One core, two faces for patrol zones: ``geo-service brief`` and ``/api/patrol/...`` give the
same zones (CSV byte for byte, GeoJSON feature for feature) on the demo store."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from geo_service.analysis.forecast import describe
from geo_service.config import Settings
from geo_service.services.evaluation import evaluate
from geo_service.services.options import EvaluateOptions
from tests.parity.test_cli_web_parity import run_cli, web_get

CATEGORY = "Dwelling burglary"


@pytest.fixture(scope="module")
def client(demo_app: Any) -> Any:
    return demo_app.test_client()


@pytest.mark.parametrize("coverage", ["1", "5"])
def test_patrol_csv_is_the_same_on_both_faces(demo_store, client, capsys, coverage) -> None:
    cli = run_cli(
        demo_store, capsys, "brief", "--category", CATEGORY, "--coverage", coverage,
        "--format", "csv",
    )  # fmt: skip
    url = f"/api/patrol/{quote(CATEGORY)}.csv?layer=beat&coverage={coverage}"
    web = web_get(client, url).get_data(as_text=True)
    assert cli.replace("\r\n", "\n") == web.replace("\r\n", "\n")
    header = cli.splitlines()[0]
    assert header.startswith("zone,coverage,cells,area_km2,forecast,forecast_share,last_month")
    assert len(cli.splitlines()) > 2


def test_patrol_geojson_is_the_same_on_both_faces(demo_store, client, capsys) -> None:
    cli = json.loads(run_cli(demo_store, capsys, "brief", "--category", CATEGORY, "--format",
                             "geojson"))  # fmt: skip
    web = web_get(client, f"/api/patrol/{quote(CATEGORY)}.geojson?layer=beat").get_json()
    assert cli["features"] == web["features"] and len(cli["features"]) > 0
    assert cli["geo_service"] == web["geo_service"]
    assert cli["geo_service"]["statement"].startswith(f"These {len(cli['features'])} zones, 5 %")
    # Both state the default forecast map and its nested-choice row of the forecast backtest.
    evaluation = evaluate(
        demo_store, Settings().groups(),
        EvaluateOptions(category=CATEGORY, coverages=(1.0, 5.0, 10.0), layer="beat"),
    )  # fmt: skip
    assert evaluation.default is not None and evaluation.default.method == "forecast"
    summary = evaluation.forecast_summary.set_index(["method", "coverage"])
    row = summary.loc[("forecast", 5.0)]
    meta = cli["geo_service"]
    assert meta["method"] == evaluation.default.map_method
    assert meta["hit_rate"] == pytest.approx(row["hit_rate"])
    assert meta["pai"] == pytest.approx(row["pai"])
    assert meta["method_text"] == describe(meta["method"], cell_m=evaluation.cell_m)
