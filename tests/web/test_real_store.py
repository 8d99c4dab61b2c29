"""The app over a real :class:`geo_service.store.Store` on disk: no layer yet, and new ingests."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pandas as pd
import pytest

from geo_service import schema
from geo_service.config import Settings
from geo_service.store import FileRecord, Store
from geo_service.web import create_app
from tests.web.conftest import incidents

NO_REJECTS = pd.DataFrame({"file": [], "line": []})
HINT = "geo-service boundaries add"


def write(store: Store, frame: pd.DataFrame, name: str) -> None:
    """Store ``frame`` as the rows of one input file called ``name``."""
    rows = frame.assign(
        incident_id=[f"{name}:{i}" for i in range(len(frame))],
        source_file=name,
        source_line=range(2, len(frame) + 2),
    )
    sha = hashlib.sha256(name.encode()).hexdigest()
    months = tuple(sorted(rows["month"].astype(str).unique()))
    record = FileRecord(f"/in/{name}", name, "test", sha, len(rows), 0, 0, months)
    store.write_incidents(schema.conform(rows), [record], rejects=NO_REJECTS, kind="police-uk")


def unjoined(seed: int = 7) -> pd.DataFrame:
    return incidents(seed).drop(columns=["area_beat"])


def app_for(store: Store):  # type: ignore[no-untyped-def]
    application = create_app(Settings(store=store.root, tiles="none"), store=store)
    application.config.update(TESTING=True)
    return application


def burglary_counts(frame: pd.DataFrame) -> tuple[int, int]:
    """Burglaries in Aug 11 - Jul 12 and Aug 12 - Jul 13, by a plain pandas groupby."""
    burglary = frame[frame["category"] == "Burglary"]
    year = burglary["month"].astype(str).map(lambda m: "current" if m >= "2012-08" else "previous")
    counts = burglary.groupby(year).size()
    return int(counts["previous"]), int(counts["current"])


@pytest.fixture
def no_layer(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    write(store, unjoined(), "first.csv")
    return store


def test_overview_and_collisions_work_without_a_layer(no_layer: Store) -> None:
    client = app_for(no_layer).test_client()
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:400]
    previous, current = burglary_counts(unjoined())
    row = re.search(r"Burglary</a></td>(.*?)</tr>", html, re.S).group(1)
    assert f">{previous}<" in row and f">{current}<" in row
    assert HINT in html  # says how to get area tables
    collisions = client.get("/collisions")
    assert collisions.status_code == 200
    assert "A41 / A4146" in collisions.get_data(as_text=True)
    assert client.get("/collisions/map.js").status_code == 200


@pytest.mark.parametrize("path", ["/category/Burglary", "/report", "/area/beat/D1A"])
def test_pages_needing_a_layer_say_how_to_add_one(no_layer: Store, path: str) -> None:
    response = app_for(no_layer).test_client().get(path)
    assert response.status_code == 404
    assert HINT in response.get_data(as_text=True)


def test_api_without_a_layer(no_layer: Store) -> None:
    client = app_for(no_layer).test_client()
    table = client.get("/api/looking-back.json").get_json()
    burglary = next(r for r in table if r["group"] == "Burglary")
    assert (burglary["previous"], burglary["current"]) == burglary_counts(unjoined())
    missing = client.get("/api/category/Burglary/change.json")
    assert missing.status_code == 404 and HINT in missing.get_json()["error"]


def test_collision_map_without_a_layer_opens_on_the_collisions(no_layer: Store) -> None:
    script = app_for(no_layer).test_client().get("/collisions/map.js").get_data(as_text=True)
    bounds = re.search(r"fitBounds\(\s*\[\[([-\d.]+),\s*([-\d.]+)\],\s*\[([-\d.]+),", script)
    assert bounds is not None
    lat = float(bounds.group(1))
    assert 51.6 < lat < 51.8  # Hemel Hempstead, not (0, 0)
