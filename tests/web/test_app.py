"""create_app: security headers, caching state, error pages, empty stores."""

from __future__ import annotations

from pathlib import Path

from geo_service.config import Settings
from geo_service.web import create_app, warm_cache
from geo_service.web.security import content_security_policy
from geo_service.web.state import LruCache
from tests.web.conftest import MemoryStore, beats, incidents


def test_security_headers_on_every_response(client) -> None:
    for path in ("/", "/static/css/geo_service.css", "/api/layers/beat.geojson", "/nope"):
        response = client.get(path)
        headers = response.headers
        response.close()
        policy = headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_tile_host_allowed_for_images_only() -> None:
    osm = content_security_policy("openstreetmap")
    assert "img-src 'self' data: https://tile.openstreetmap.org" in osm
    custom = content_security_policy("https://{s}.tiles.example.org/{z}/{x}/{y}.png")
    assert "img-src 'self' data: https://*.tiles.example.org" in custom
    assert "tile" not in content_security_policy("none")


def test_tiles_setting_reaches_the_map() -> None:
    store = MemoryStore(incidents(), {"beat": beats()})
    app = create_app(Settings(store=Path("m"), tiles="openstreetmap"), store=store)
    script = app.test_client().get("/category/Burglary/map.js").get_data(as_text=True)
    assert "https://tile.openstreetmap.org/{z}/{x}/{y}.png" in script


class _DemoMemoryStore(MemoryStore):
    """The fixture store, flagged as the demo's (as ``geo-service demo`` flags its store)."""

    def is_demo(self) -> bool:
        return True


def test_tiles_are_off_by_default_and_under_auto_for_every_store() -> None:
    for store in (
        MemoryStore(incidents(), {"beat": beats()}),
        _DemoMemoryStore(incidents(), {"beat": beats()}),
    ):
        for settings in (Settings(store=Path("m")), Settings(store=Path("m"), tiles="auto")):
            client = create_app(settings, store=store).test_client()
            script = client.get("/category/Burglary/map.js").get_data(as_text=True)
            policy = client.get("/").headers["Content-Security-Policy"]
            assert "openstreetmap" not in script and "tile" not in policy


def test_lru_cache_is_bounded() -> None:
    cache = LruCache(max_bytes=2 * 1100)  # room for two values of ~1 kB
    calls: list[str] = []
    for key in ("a", "b", "a", "c", "b"):
        cache.get_or_make(key, lambda key=key: calls.append(key) or key * 1000)
    # "a" survives ("a" was used after "b"), "b" is dropped by "c" and made again.
    assert calls == ["a", "b", "c", "b"] and len(cache) == 2


def test_empty_store_says_what_to_do() -> None:
    empty = MemoryStore(incidents().iloc[0:0], {"beat": beats()})
    response = create_app(Settings(store=Path("empty")), store=empty).test_client().get("/")
    assert response.status_code == 404
    assert "holds no incidents yet" in response.get_data(as_text=True)


def test_no_debug_and_unknown_route_is_html_404(client, app) -> None:
    assert app.debug is False
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "Not found" in response.get_data(as_text=True)


def test_warm_cache_computes_pages_ahead() -> None:
    store = MemoryStore(incidents(), {"beat": beats()})
    app = create_app(Settings(store=Path("m")), store=store)
    warm_cache(app)
    reads = store.reads
    for path in ("/", "/collisions", "/category/Burglary"):
        assert app.test_client().get(path).status_code == 200
    assert store.reads == reads
