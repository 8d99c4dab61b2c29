"""The app over a real :class:`geo_service.store.Store` on disk: no layer yet, and new ingests."""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path

import pandas as pd
import pytest

from geo_service import schema
from geo_service.config import Settings
from geo_service.store import FileRecord, LayerInfo, Store
from geo_service.store.layout import version_path
from geo_service.web import create_app, warm_cache
from geo_service.web.state import STATE_KEY
from tests.web.conftest import beats, incidents

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


def test_collisions_page_says_no_data_when_the_store_holds_no_collisions(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    frame = unjoined()
    write(store, frame[frame["category"] != schema.ROAD_TRAFFIC_COLLISION], "crime.csv")
    client = app_for(store).test_client()
    response = client.get("/collisions")
    text = response.get_data(as_text=True)
    # the nav links here from every page: a store without collisions answers what it holds
    assert response.status_code == 200, text[:400]
    assert "holds no road traffic collisions" in text and "no data" in text
    assert "geo-service ingest stats19" in text
    assert "Collisions</th>" not in text and "Error" not in text
    assert 'href="/collisions' in client.get("/").get_data(as_text=True)
    assert "area layers: none yet." in text


def test_collision_map_without_a_layer_opens_on_the_collisions(no_layer: Store) -> None:
    script = app_for(no_layer).test_client().get("/collisions/map.js").get_data(as_text=True)
    bounds = re.search(r"fitBounds\(\s*\[\[([-\d.]+),\s*([-\d.]+)\],\s*\[([-\d.]+),", script)
    assert bounds is not None
    lat = float(bounds.group(1))
    assert 51.6 < lat < 51.8  # Hemel Hempstead, not (0, 0)


@pytest.fixture
def with_beats(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    store.write_layer("beat", beats(), info=LayerInfo(path="beats.geojson"))
    write(store, incidents(), "first.csv")
    return store


def _burglary_row(html: str) -> str:
    return re.search(r">Burglary</a>.*?</td>(.*?)</tr>", html, re.S).group(1)


def test_new_ingest_drops_the_cache_and_shows_new_numbers(with_beats: Store) -> None:
    app = app_for(with_beats)
    client = app.test_client()
    state = app.extensions[STATE_KEY]
    first = _burglary_row(client.get("/").get_data(as_text=True))
    old_version = with_beats.version()
    # Counts inside the beats, by a plain pandas filter and groupby.
    frame = incidents()
    inside = frame[frame["area_beat"].notna()]
    previous, current = burglary_counts(inside)
    assert f">{previous}<" in first and f">{current}<" in first
    write(with_beats, incidents(8), "second.csv")  # a second file of the same plan
    second = _burglary_row(client.get("/").get_data(as_text=True))
    both = pd.concat([inside, incidents(8).pipe(lambda f: f[f["area_beat"].notna()])])
    previous2, current2 = burglary_counts(both)
    assert previous2 > previous
    assert f">{previous2}<" in second and f">{current2}<" in second
    versions = {key[0] for key in state.cache.held()}
    assert versions == {with_beats.version()} and old_version not in versions


def test_density_image_url_names_the_store_version(with_beats: Store) -> None:
    client = app_for(with_beats).test_client()
    script = client.get("/category/Burglary/map.js").get_data(as_text=True)
    version = with_beats.version()
    assert f"v={version}" in script
    write(with_beats, incidents(8), "second.csv")
    newer = client.get("/category/Burglary/map.js").get_data(as_text=True)
    assert with_beats.version() != version and f"v={with_beats.version()}" in newer
    url = re.search(r'"(/category/Burglary/density\.png\?[^"]+)"', newer).group(1)
    png = client.get(url.replace("\\u0026", "&"))
    assert png.status_code == 200 and png.data[:4] == b"\x89PNG"


def test_new_version_rewarms_in_the_background(with_beats: Store, tmp_path: Path) -> None:
    groups = tmp_path / "groups.toml"  # one group, so warming is quick
    groups.write_text('[[groups]]\nname = "Burglary"\ninclude = [{ category = "Burglary" }]\n')
    settings = Settings(store=with_beats.root, tiles="none", categories=groups)
    app = create_app(settings, store=with_beats)
    warm_cache(app)  # as `serve` does at start
    state = app.extensions[STATE_KEY]
    assert any(key[1] == "category" for key in state.cache.held())
    write(with_beats, incidents(8), "second.csv")
    app.test_client().get("/api/summary.json")  # the first request to see the new version
    _join_rewarm()
    keys = state.cache.held()
    assert {key[0] for key in keys} == {with_beats.version()}
    assert ("category", "Burglary") in {key[1:3] for key in keys}


def _join_rewarm() -> None:
    for thread in threading.enumerate():
        if thread.name == "rewarm-cache":
            thread.join(timeout=120)


def test_new_version_is_shown_only_once_warm(with_beats: Store, tmp_path: Path) -> None:
    groups = tmp_path / "groups.toml"  # one group, so warming is quick
    groups.write_text('[[groups]]\nname = "Burglary"\ninclude = [{ category = "Burglary" }]\n')
    settings = Settings(store=with_beats.root, tiles="none", categories=groups, warm_areas=1)
    app = create_app(settings, store=with_beats)
    warm_cache(app)  # as `serve` does at start
    state = app.extensions[STATE_KEY]
    client = app.test_client()
    first = _burglary_row(client.get("/").get_data(as_text=True))
    old = with_beats.version()
    release = threading.Event()
    warm = state.warmer
    state.warmer = lambda version: (release.wait(60), warm(version))  # hold the re-warm
    write(with_beats, incidents(8), "second.csv")
    new = with_beats.version()
    # While the new version warms, every answer is the old version's, cached or not.
    assert _burglary_row(client.get("/").get_data(as_text=True)) == first
    summary = client.get("/api/summary.json").get_json()
    assert summary["store_version"] == old != new
    assert client.get("/api/category/Burglary/change.json").status_code == 200
    release.set()
    _join_rewarm()
    assert client.get("/api/summary.json").get_json()["store_version"] == new
    assert _burglary_row(client.get("/").get_data(as_text=True)) != first
    held = state.cache.held()
    assert {key[0] for key in held} == {new}
    assert ("response", "/area/beat/D1A", b"") in {key[1:] for key in held}


def test_an_overtaken_version_is_never_shown(with_beats: Store, tmp_path: Path) -> None:
    groups = tmp_path / "groups.toml"
    groups.write_text('[[groups]]\nname = "Burglary"\ninclude = [{ category = "Burglary" }]\n')
    settings = Settings(store=with_beats.root, tiles="none", categories=groups, warm_areas=0)
    app = create_app(settings, store=with_beats)
    warm_cache(app)
    state = app.extensions[STATE_KEY]
    client = app.test_client()
    first = with_beats.version()
    shown: list[str | None] = []
    gates: dict[str | None, threading.Event] = {}
    warm = state.warmer

    def held_warm(version: str | None) -> None:
        gates.setdefault(version, threading.Event()).wait(60)
        warm(version)

    state.warmer = held_warm
    real_show = state._show
    state._show = lambda version: (shown.append(version), real_show(version))  # type: ignore[method-assign]
    write(with_beats, incidents(8), "second.csv")
    second = with_beats.version()
    assert client.get("/api/summary.json").get_json()["store_version"] == first
    write(with_beats, incidents(9), "third.csv")
    third = with_beats.version()
    assert client.get("/api/summary.json").get_json()["store_version"] == first
    for event in (
        gates.setdefault(second, threading.Event()),
        gates.setdefault(third, threading.Event()),
    ):
        event.set()
    _join_rewarm()
    assert client.get("/api/summary.json").get_json()["store_version"] == third
    assert shown == [third]


def test_a_new_versions_backtests_are_kept_before_it_is_shown(
    with_beats: Store, tmp_path: Path
) -> None:
    groups = tmp_path / "groups.toml"  # one group, so warming is quick
    groups.write_text('[[groups]]\nname = "Burglary"\ninclude = [{ category = "Burglary" }]\n')
    settings = Settings(store=with_beats.root, tiles="none", categories=groups, warm_areas=0)
    app = create_app(settings, store=with_beats)
    warm_cache(app)  # as `serve` does at start
    state = app.extensions[STATE_KEY]
    old = with_beats.version()
    # one per category page warmed (the group and the data's own categories with patrol zones)
    kept_old = list((version_path(with_beats.root, str(old))).glob("backtest-*.parquet"))
    assert len(kept_old) >= 1
    seen: list[tuple[str | None, int]] = []
    warm = state.warmer

    def warm_then_look(version: str | None) -> None:
        warm(version)
        kept = (version_path(with_beats.root, str(version))).glob("backtest-*.parquet")
        seen.append((state.version_shown(), len(list(kept))))

    state.warmer = warm_then_look
    write(with_beats, incidents(8), "second.csv")
    new = with_beats.version()
    app.test_client().get("/api/summary.json")  # the first request to see the new version
    _join_rewarm()
    # warmed with its backtest kept while the old version was still the one shown
    assert seen == [(old, len(kept_old))]
    assert app.test_client().get("/api/summary.json").get_json()["store_version"] == new
