"""A stored reference layer (roads) cut short: `check` names it, every read refuses it (exit 2,
HTTP 503), never a traceback or a map drawn without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_service._paths import project_folder
from geo_service.cli import main
from geo_service.config import Settings
from geo_service.errors import StoreDamagedError
from geo_service.reference import read_reference
from geo_service.store import Store
from geo_service.web import create_app
from tests.reliability.store_fixtures import build_store


@pytest.fixture
def damaged(tmp_path: Path) -> Path:
    root = build_store(tmp_path) / "store"
    roads = project_folder("boundaries") / "demo_roads.geojson"
    assert main(["-q", "--store", str(root), "reference", "add", "roads", str(roads)]) == 0
    path = root / "reference" / "roads.parquet"
    path.write_bytes(path.read_bytes()[:2000])  # cut short, as a failed copy leaves it
    return root


def test_check_names_the_damaged_reference_layer(damaged: Path, capsys) -> None:
    capsys.readouterr()
    assert main(["--store", str(damaged), "check"]) == 2
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1
    assert "reference/roads.parquet: the stored roads reference layer is unreadable" in problems[0]
    assert "geo-service reference add roads PATH" in problems[0]


def test_reads_refuse_it_with_503(damaged: Path) -> None:
    with pytest.raises(StoreDamagedError, match="roads reference layer is unreadable"):
        read_reference(damaged, "roads")
    store = Store(damaged)
    app = create_app(Settings(store=damaged, tiles="none"), store=store)
    app.config.update(TESTING=True)
    page = app.test_client().get("/category/Burglary")
    assert page.status_code == 503
    assert "roads reference layer is unreadable" in page.get_data(as_text=True)


def test_the_503_page_keeps_its_styles(damaged: Path) -> None:
    app = create_app(Settings(store=damaged, tiles="none"), store=Store(damaged))
    app.config.update(TESTING=True)
    (damaged / "CURRENT").write_text("v999999\n")  # the published version is gone
    client = app.test_client()
    assert client.get("/").status_code == 503
    with client.get("/static/css/geo_service.css") as css:
        assert css.status_code == 200 and b"{" in css.get_data()
