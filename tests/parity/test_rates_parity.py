"""One core, two faces for rates: ``geo-service rates`` and ``/api/category/<name>/rates.<fmt>``
give the same answer on the demo store (CSV byte for byte, GeoJSON and JSON value for value)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import geopandas as gpd
import pytest

from geo_service.config import Settings
from geo_service.web import create_app
from tests.parity.test_cli_web_parity import run_cli, web_get
from tests.web.conftest import MemoryStore, beats, incidents

CATEGORY = "Dwelling burglary"
QUERY = "period_end=2013-07&months=12&layer=beat"
CLI_PERIOD = ("--period-end", "2013-07", "--months", "12", "--layer", "beat")


@pytest.fixture(scope="module")
def client(demo_app: Any) -> Any:
    return demo_app.test_client()


def _url(fmt: str, extra: str = "") -> str:
    return f"/api/category/{quote(CATEGORY)}/rates.{fmt}?{QUERY}{extra}"


@pytest.mark.parametrize("cells", [False, True])
def test_rates_csv_is_the_same_on_both_faces(demo_store, client, capsys, cells) -> None:
    flags = ("--cells",) if cells else ()
    cli = run_cli(demo_store, capsys, "rates", "--category", CATEGORY, *CLI_PERIOD, *flags)
    web = web_get(client, _url("csv", "&cells=1" if cells else "")).get_data(as_text=True)
    assert cli.replace("\r\n", "\n") == web.replace("\r\n", "\n")
    header = cli.splitlines()[0]
    expected = "cell,row,col,count,residents" if cells else "code,name,population,count"
    assert header.startswith(expected)
    assert len(cli.splitlines()) > (1000 if cells else 25)


def test_rates_geojson_and_json_are_the_same_on_both_faces(demo_store, client, capsys) -> None:
    for fmt in ("geojson", "json"):
        cli = json.loads(
            run_cli(demo_store, capsys, "rates", "--category", CATEGORY, *CLI_PERIOD,
                    "--cells", "--format", fmt)
        )  # fmt: skip
        web = web_get(client, _url(fmt, "&cells=1")).get_json()
        assert cli == web
    meta = web["geo_service"]
    assert meta["weighting"] == "areal" and meta["period"] == "2012-08..2013-07"
    assert meta["denominator"] == "population of layer 'beat'" and meta["min_residents"] == 50.0


def test_rates_gpkg_holds_the_same_areas(demo_store, client, tmp_path) -> None:
    out = tmp_path / "rates.gpkg"
    from geo_service.cli import main

    assert main(["--store", str(demo_store.root), "rates", "--category", CATEGORY,
                 *CLI_PERIOD, "--format", "gpkg", "--out", str(out)]) == 0  # fmt: skip
    cli = gpd.read_file(out)
    (tmp_path / "web.gpkg").write_bytes(web_get(client, _url("gpkg")).get_data())
    web = gpd.read_file(tmp_path / "web.gpkg")
    assert cli.drop(columns="geometry").equals(web.drop(columns="geometry"))
    assert cli.geometry.geom_equals(web.geometry).all() and len(cli) == 25


def test_a_bad_cells_flag_is_400(client) -> None:
    response = client.get(_url("csv", "&cells=2"))
    assert response.status_code == 400
    assert "cells='2'" in response.get_data(as_text=True)


def test_rates_without_population_are_422_naming_the_command() -> None:
    bare = MemoryStore(incidents(), {"beat": beats().drop(columns="population")})
    app = create_app(Settings(store=Path("memory"), tiles="none"), store=bare)
    app.config.update(TESTING=True)
    response = app.test_client().get("/api/category/Burglary/rates.json")
    assert response.status_code == 422
    assert "geo-service boundaries denominators beat" in response.get_data(as_text=True)
