"""The pages, the report and their downloads read no incident rows from a kept store.

On a national store a read of the rows is a read of tens of millions; the pages read the counts
and files kept per version instead (docs/cubes.md). This asks every page and download of the
demo store (crime, anti-social behaviour, fires and collisions over beats) on a fresh app and
counts the calls to ``Store.incidents``: there must be none.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from geo_service.config import Settings
from geo_service.store import Store
from geo_service.web import create_app

COLLISIONS = "Road traffic collision"


def _paths(store: Store) -> list[str]:
    """Every page and download on the demo's default options, the category ones for the
    collisions (each category page asks the same services for any group: one group stands for
    all, and the collisions' is the smallest)."""
    code = str(store.layer("beat")["code"].iloc[0])
    paths = ["/", "/report", "/collisions", "/collisions/map.js", f"/area/beat/{code}",
             f"/area/beat/{code}/map.js", f"/api/area/beat/{code}/changes.csv",
             "/api/looking-back.csv", "/api/forces.csv", "/api/summary.json"]  # fmt: skip
    for name in ("sites.csv", "outside.csv", "ksi.csv", "sites.geojson", "points.geojson",
                 "severity.csv"):  # fmt: skip
        paths.append(f"/api/collisions/{name}")
    for group in (COLLISIONS,):
        paths += [f"/category/{group}", f"/category/{group}/map.js", f"/patrol/{group}",
                  f"/patrol/{group}/map.js", f"/api/patrol/{group}.csv"]  # fmt: skip
        api = f"/api/category/{group}"
        paths += [f"{api}/change.csv", f"{api}/monthly.csv", f"{api}/hotspots.geojson",
                  f"{api}/areas.geojson", f"{api}/hot-cells.geojson", f"{api}/emerging.geojson",
                  f"{api}/shifts.json", f"{api}/evaluation.json", f"{api}/rates.csv"]  # fmt: skip
        paths += [f"{api}/hotspots/{method}.geojson" for method in ("kde", "dbscan", "hdbscan")]
    return paths


def test_no_page_reads_the_rows(
    demo_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(shutil.copytree(demo_store.root, tmp_path / "store"))
    for derived in store.root.glob("*/*/backtest-*.parquet"):  # kept by other tests' pages
        derived.unlink()
    reads: list[dict[str, Any]] = []
    rows = Store.incidents
    monkeypatch.setattr(Store, "incidents", lambda self, **kw: reads.append(kw) or rows(self, **kw))
    app = create_app(Settings(store=store.root, tiles="none"), store=store)
    app.config.update(TESTING=True)
    client = app.test_client()
    asked = []
    for path in _paths(store):
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        asked.append((path, len(reads)))
    read_by = [path for (path, n), (_, before) in zip(asked, [("", 0), *asked], strict=False)
               if n > before]  # fmt: skip
    assert read_by == []
