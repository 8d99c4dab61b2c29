"""Web fixtures: a small synthetic store held in memory, and the app built on it.

Four 1 km square beats (2 x 2, sector D1 and D2) near Hemel Hempstead in EPSG:27700, and 24
months (2011-08 .. 2013-07) of made-up incidents with a fixed seed: burglaries concentrated in
beat D1A and rising, ASB falling, deliberate fires, and road collisions at two junctions. One
location text is a script-injection string, to prove escaping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from werkzeug.serving import make_server

from geo_service import schema
from geo_service.config import Settings
from geo_service.coverage import Coverage
from geo_service.web import create_app

X0, Y0 = 505_000.0, 206_000.0
INJECTION = "<script>alert(1)</script>"
MONTHS = [f"{y}-{m:02d}" for y, m in [(2011 + (7 + i) // 12, (7 + i) % 12 + 1) for i in range(24)]]


def beats() -> gpd.GeoDataFrame:
    """Four 1 km square beats, the first named with a script-injection string."""
    boxes = [
        shapely.box(X0 + i * 1000, Y0 + j * 1000, X0 + (i + 1) * 1000, Y0 + (j + 1) * 1000)
        for j in range(2)
        for i in range(2)
    ]
    return gpd.GeoDataFrame(
        {
            "code": ["D1A", "D1B", "D2A", "D2B"],
            "name": ["Town <b>Centre</b>", "Adeyfield", "Castle", "Ashridge"],
            "parent": ["D1", "D1", "D2", "D2"],
            "population": [4000.0, 6000.0, 5000.0, np.nan],
            "households": [1800.0, 2500.0, 2100.0, np.nan],
        },
        geometry=boxes,
        crs=schema.CRS,
    )


def incidents(seed: int = 7) -> pd.DataFrame:
    """Synthetic canonical incidents joined to the beat layer (column ``area_beat``)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    plan = [
        ("Burglary", 3, 6, (200.0, 300.0), 120.0),
        ("Anti-social behaviour", 12, 8, (1500.0, 1500.0), 400.0),
        ("Deliberate fire", 2, 2, (1200.0, 600.0), 150.0),
    ]
    for category, before, after, (cx, cy), spread in plan:
        for k, month in enumerate(MONTHS):
            n = before if k < 12 else after
            for _ in range(n):
                x, y = X0 + cx + rng.normal(0, spread), Y0 + cy + rng.normal(0, spread)
                rows.append(_row(category, month, x, y, "On or near High Street"))
    for k, month in enumerate(MONTHS):
        for j, (cx, cy) in enumerate([(500.0, 500.0), (1500.0, 1200.0)]):
            severity = ["Slight", "Serious", "Fatal"][(k + j) % 3 if k % 5 == 0 else 0]
            row = _row(
                "Road traffic collision",
                month,
                X0 + cx + rng.normal(0, 8),
                Y0 + cy + rng.normal(0, 8),
                INJECTION if j else "A41 junction",
            )
            rows.append(row | {"severity": severity, "road_1": "A41", "road_2": "A4146"})
    rows.append(_row("Burglary", MONTHS[-1], np.nan, np.nan, "No location"))
    frame = pd.DataFrame(rows)
    frame["incident_id"] = [f"test:{i}" for i in range(len(frame))]
    frame["source"] = np.where(frame["category"] == "Road traffic collision", "stats19", "test")
    frame["area_beat"] = _assign(frame)
    return schema.conform(frame)


def _row(category: str, month: str, x: float, y: float, where: str) -> dict[str, Any]:
    day = pd.Timestamp(f"{month}-15 14:00")
    return {
        "category": category,
        "month": month,
        "x": x,
        "y": y,
        "location_text": where,
        "occurred_at": day,
        "time_known": True,
    }


def _assign(frame: pd.DataFrame) -> list[object]:
    """Beat of each point: the beats are the 1 km cells (col + 2 * row) from (X0, Y0)."""
    codes = beats()["code"].tolist()
    col = np.floor((frame["x"].to_numpy() - X0) / 1000.0)
    row = np.floor((frame["y"].to_numpy() - Y0) / 1000.0)
    inside = (col >= 0) & (col < 2) & (row >= 0) & (row < 2)
    return [
        codes[int(c + 2 * r)] if ok else None for c, r, ok in zip(col, row, inside, strict=True)
    ]


class MemoryStore:
    """The read side of :class:`geo_service.store.Store`, over frames held in memory."""

    def __init__(self, frame: pd.DataFrame, layers: dict[str, gpd.GeoDataFrame]) -> None:
        self._frame = frame
        self._layers = layers
        self.root = Path("memory")
        self.reads = 0

    def version(self) -> str | None:
        return "v1" if len(self._frame) else None

    def is_demo(self) -> bool:
        return False

    def coverage(self) -> Coverage:
        return Coverage.from_incidents(self._frame)

    def months(self) -> list[str]:
        return sorted(self._frame["month"].dropna().unique().tolist())

    def layer_names(self) -> list[str]:
        return sorted(self._layers)

    def layer(self, name: str) -> gpd.GeoDataFrame:
        from geo_service.errors import NotFoundError

        if name not in self._layers:
            raise NotFoundError(f"no area layer {name!r}; available: {', '.join(self._layers)}")
        return self._layers[name].copy()

    def incidents(
        self,
        *,
        sources: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        month_from: str | None = None,
        month_to: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        self.reads += 1
        frame = self._frame
        mask = np.ones(len(frame), dtype=bool)
        if categories is not None:
            mask &= frame["category"].isin(categories).to_numpy()
        if sources is not None:
            mask &= frame["source"].isin(sources).to_numpy()
        if month_from is not None:
            mask &= (frame["month"] >= month_from).to_numpy()
        if month_to is not None:
            mask &= (frame["month"] <= month_to).to_numpy()
        chosen = frame.loc[mask]
        return chosen[list(columns)] if columns is not None else chosen


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    return incidents()


@pytest.fixture(scope="session")
def store(frame: pd.DataFrame) -> MemoryStore:
    """The fixture store; read-only to its users (a test that changes data builds its own)."""
    return MemoryStore(frame, {"beat": beats()})


@pytest.fixture(scope="session")
def app(store: MemoryStore):
    """One app on the fixture store for the session, so its cache computes each page once.

    A cached answer is the bytes the page would compute again, so sharing it changes no
    answer; tests of the cache itself (what it holds, when it is dropped) build a fresh app.
    """
    settings = Settings(store=Path("memory"), tiles="none")
    application = create_app(settings, store=store)
    application.config.update(TESTING=True)
    return application


@pytest.fixture(scope="session")
def client(app):
    return app.test_client()


#: Debian's Chromium, driven headless by Playwright in the browser tests.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` served from a background thread on 127.0.0.1 and a free port; yields its URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """One headless Chromium for the session (skipped when Playwright is not installed)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """The session's Chromium; the pages a test opens are closed when it ends, so no test
    sees another's pages and finished pages do not keep running their scripts."""
    before = set(chromium.contexts)
    yield chromium
    for context in chromium.contexts:
        if context not in before:
            context.close()
