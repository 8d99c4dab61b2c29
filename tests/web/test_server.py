"""The server's promises: allowed hosts, no Host reflection, safe file names, routable categories,
tiles off by default, one computation per result under concurrency, a byte-bounded cache and
normalised cache keys."""

from __future__ import annotations

import argparse
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geo_service.config import Settings, load_settings
from geo_service.errors import InputError, StoreDamagedError
from geo_service.services import tables
from geo_service.web import create_app
from geo_service.web.params import rule_options
from geo_service.web.security import content_disposition, host_name
from geo_service.web.state import STATE_KEY, LruCache, approximate_size
from tests.web.conftest import MemoryStore, beats, incidents

PRESETS = ["default", "ksi", "somerset"]


def fresh_app(store: MemoryStore | None = None, **settings: Any):  # type: ignore[no-untyped-def]
    chosen = store if store is not None else MemoryStore(incidents(), {"beat": beats()})
    app = create_app(Settings(store=Path("m"), **settings), store=chosen)
    app.config.update(TESTING=True)
    return app


# ------------------------------------------------------------------------------ hosts
@pytest.mark.parametrize(
    "host",
    ["evil.example", "127.0.0.1.nip.io", "localhost.evil.example", "a" * 64 + ".example", "a" * 64],
)
def test_unknown_host_is_refused_before_any_work(host: str) -> None:
    store = MemoryStore(incidents(), {"beat": beats()})
    response = fresh_app(store).test_client().get("/", headers={"Host": host})
    assert response.status_code == 400
    assert b"answers only requests addressed to 127.0.0.1, localhost, [::1]" in response.data
    assert store.reads == 0  # refused before the store was read


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST:5000", "127.0.0.1:8080", "[::1]:5000"])
def test_loopback_names_are_answered(host: str) -> None:
    response = fresh_app().test_client().get("/api/summary.json", headers={"Host": host})
    assert response.status_code == 200


def test_allowed_hosts_setting_and_domain_entries() -> None:
    client = fresh_app(allowed_hosts=("geo.example.org", ".council.example")).test_client()
    for host, status in (
        ("geo.example.org", 200),
        ("jag.council.example", 200),
        ("council.example", 200),
        ("localhost", 400),
        ("evilcouncil.example", 400),
    ):
        assert client.get("/api/summary.json", headers={"Host": host}).status_code == status
    long_label = "a" * 64 + ".council.example"  # allowed by the domain, malformed: still 400
    assert client.get("/", headers={"Host": long_label}).status_code == 400


def test_allowed_hosts_from_environment() -> None:
    settings = load_settings(environ={"GEO_SERVICE_ALLOWED_HOSTS": "geo.example.org, LocalHost"})
    assert settings.allowed_hosts == ("geo.example.org", "localhost")
    with pytest.raises(InputError, match="allowed_hosts must be host names"):
        load_settings(environ={"GEO_SERVICE_ALLOWED_HOSTS": " , "})


def test_host_name_parsing() -> None:
    assert host_name("Example.ORG:443") == "example.org"
    assert host_name("[::1]:5000") == "[::1]"
    assert host_name("a" * 63 + ".example") == "a" * 63 + ".example"
    for bad in ("a" * 64 + ".example", "exa mple.org", "example.org:http", "[::1", "-a.example"):
        assert host_name(bad) is None


def test_redirects_never_reflect_the_host() -> None:
    client = fresh_app(allowed_hosts=("geo.example.org",)).test_client()
    response = client.get("/api//summary.json", headers={"Host": "geo.example.org"})
    assert response.status_code == 308
    assert response.headers["Location"] == "/api/summary.json"


# ------------------------------------------------------------------------------ downloads
def test_content_disposition_rfc6266() -> None:
    value = content_disposition('area-D1"Å;x\r\n-2013-07.csv')
    assert value == (
        'attachment; filename="area-D1_A_x_-2013-07.csv"; '
        "filename*=UTF-8''area-D1%22%C3%85%3Bx%0D%0A-2013-07.csv"
    )


def test_area_code_with_a_quote_gives_a_well_formed_header() -> None:
    odd = 'D1"Å'
    frame = incidents()
    frame["area_beat"] = frame["area_beat"].replace({"D1A": odd})
    layer = beats()
    layer["code"] = layer["code"].replace({"D1A": odd})
    client = fresh_app(MemoryStore(frame, {"beat": layer})).test_client()
    response = client.get("/api/area/beat/D1%22%C3%85/changes.csv")
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="area-D1_A-2013-07.csv"; '
        "filename*=UTF-8''area-D1%22%C3%85-2013-07.csv"
    )
    looking = client.get("/api/looking-back.csv").headers["Content-Disposition"]
    assert looking.endswith("filename*=UTF-8''looking-back-2013-07.csv")


# ------------------------------------------------------------------------------ categories
def test_category_with_a_slash_is_routable_everywhere() -> None:
    frame = incidents()
    frame["category"] = frame["category"].replace({"Deliberate fire": "Criminal damage/arson"})
    expected = int((frame["category"] == "Criminal damage/arson").sum())
    client = fresh_app(MemoryStore(frame, {"beat": beats()})).test_client()
    overview = client.get("/").get_data(as_text=True)
    assert 'href="/category/Criminal%20damage/arson' in overview
    page = client.get("/category/Criminal%20damage/arson")
    assert page.status_code == 200 and b"Criminal damage/arson" in page.data
    assert client.get("/category/Criminal%20damage/arson/map.js").status_code == 200
    table = client.get("/api/category/Criminal%20damage/arson/monthly.json").get_json()
    assert sum(row["count"] or 0 for row in table) == expected


# ------------------------------------------------------------------------------ tiles
def test_tiles_off_by_default_and_tile_host_named_for_templates() -> None:
    for tiles, host in (
        (None, None),
        ("auto", None),
        ("openstreetmap", "tile.openstreetmap.org"),
        ("https://{s}.tiles.example.org/{z}/{x}/{y}.png", "*.tiles.example.org"),
    ):
        app = fresh_app(**({} if tiles is None else {"tiles": tiles}))
        with app.test_request_context("/"):
            context: dict[str, Any] = {}
            app.update_template_context(context)
        assert context["tile_host"] == host


# ------------------------------------------------------------------------------ cache
def test_concurrent_requests_for_one_cold_page_compute_it_once(monkeypatch) -> None:
    calls: list[int] = []
    real = tables.looking_back

    def slow_looking_back(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        time.sleep(0.3)  # long enough for every thread to arrive while it runs
        return real(*args, **kwargs)

    monkeypatch.setattr(tables, "looking_back", slow_looking_back)
    app = fresh_app()
    app.test_client().get("/api/summary.json")  # the summary cached; the overview still cold
    start = threading.Barrier(8)
    statuses: list[int] = []
    bodies: set[bytes] = set()

    def ask() -> None:
        client = app.test_client()
        start.wait()
        response = client.get("/")
        statuses.append(response.status_code)
        bodies.add(response.data)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8 and len(bodies) == 1
    assert calls == [1]


def test_waiters_share_the_error_of_the_computation() -> None:
    cache = LruCache(max_bytes=10_000)
    calls: list[int] = []
    gate = threading.Event()

    def failing() -> str:
        calls.append(1)
        gate.wait(5)
        raise InputError("bad value")

    errors: list[str] = []

    def ask() -> None:
        try:
            cache.get_or_make("k", failing)
        except InputError as exc:
            errors.append(exc.message)

    threads = [threading.Thread(target=ask) for _ in range(5)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    gate.set()
    for thread in threads:
        thread.join()
    assert calls == [1] and errors == ["bad value"] * 5 and len(cache) == 0


def test_cache_is_bounded_in_bytes() -> None:
    cache = LruCache(max_bytes=1_000_000)
    block = 400_000 // 8  # float64 values per 400 kB
    for key in "abcd":
        cache.get_or_make(key, lambda: np.zeros(block))
    assert cache.held() == ["c", "d"] and cache.bytes == 800_000
    cache.get_or_make("huge", lambda: np.zeros(2 * block * 2))  # 1.6 MB: larger than the cache
    assert "huge" not in cache.held() and cache.bytes <= 1_000_000


def test_approximate_size_counts_frames_and_containers() -> None:
    frame = pd.DataFrame({"n": np.arange(1000, dtype="int64"), "s": ["x" * 50] * 1000})
    size = approximate_size(frame)
    assert size == int(frame.memory_usage(deep=True, index=True).sum())
    assert size > 1000 * (8 + 50)
    assert approximate_size((frame, b"y" * 10_000)) > size + 10_000


def test_cache_mb_setting_sizes_the_cache() -> None:
    app = fresh_app(cache_mb=64)
    assert app.extensions[STATE_KEY].cache.max_bytes == 64 * 1024 * 1024
    with pytest.raises(InputError, match="cache_mb must be a whole number from 16"):
        load_settings(environ={"GEO_SERVICE_CACHE_MB": "1"})


# ------------------------------------------------------------------------------ keys
def test_numbers_are_canonical_and_precision_is_bounded() -> None:
    same = {rule_options({"radius_m": raw}, presets=PRESETS) for raw in ("100", "100.0", "1e2")}
    assert len(same) == 1 and next(iter(same)).radius_m == 100.0
    with pytest.raises(InputError, match=r"radius_m='100.0000001': expected at most 2 decimal"):
        rule_options({"radius_m": "100.0000001"}, presets=PRESETS)
    for bad in ("nan", "inf", "1e400", "0x10"):
        with pytest.raises(InputError, match="expected a number from 5 to 1000"):
            rule_options({"radius_m": bad}, presets=PRESETS)


def test_equal_queries_share_one_result_and_odd_keys_are_not_cached_whole() -> None:
    app = fresh_app()
    client = app.test_client()
    cache = app.extensions[STATE_KEY].cache
    for raw in ("50", "50.0", "5e1", "50.00"):
        assert client.get(f"/api/collisions/sites.json?radius_m={raw}").status_code == 200
    views = [key for key in cache.held() if key[1] == "collision-view"]
    assert len(views) == 1
    assert client.get("/api/collisions/sites.json?radius_m=50.0000001").status_code == 400
    before = len(cache.held())
    for k in range(20):
        assert client.get(f"/api/summary.json?utm_source={k}").status_code == 200
    assert len(cache.held()) == before  # unknown keys: answered, never cached whole


def test_cached_answers_still_honour_if_none_match() -> None:
    client = fresh_app().test_client()
    first = client.get("/api/looking-back.json")
    again = client.get("/api/looking-back.json", headers={"If-None-Match": first.headers["ETag"]})
    assert first.status_code == 200 and again.status_code == 304 and again.data == b""
    assert client.get("/api/looking-back.json").data == first.data


# ------------------------------------------------------------------------------ damage
class _DamagedStore(MemoryStore):
    def incidents(self, **kwargs: Any) -> pd.DataFrame:
        raise StoreDamagedError("versions/v000002/incidents/part.parquet: listed file missing")


def test_damaged_store_answers_503_naming_the_problem() -> None:
    client = fresh_app(_DamagedStore(incidents(), {"beat": beats()})).test_client()
    page = client.get("/")
    assert page.status_code == 503 and b"listed file missing" in page.data
    api = client.get("/api/looking-back.json")
    assert api.status_code == 503 and "listed file missing" in api.get_json()["error"]


def test_serve_options_add_hosts_and_check_threads() -> None:
    from geo_service.cli.serve import _settings

    def chosen(**given: Any) -> Settings:
        values = {"host": None, "port": None, "threads": None, "allow_host": []} | given
        return _settings(argparse.Namespace(**values), Settings())

    default = chosen()
    assert default.allowed_hosts == ("127.0.0.1", "localhost", "[::1]") and default.threads == 8
    wider = chosen(host="192.0.2.7", allow_host=["Geo.Example.org"], threads=16)
    assert wider.allowed_hosts[-2:] == ("geo.example.org", "192.0.2.7") and wider.threads == 16
    assert chosen(host="::1").allowed_hosts == ("127.0.0.1", "localhost", "[::1]")
    assert chosen(host="0.0.0.0").allowed_hosts == ("127.0.0.1", "localhost", "[::1]")
    with pytest.raises(InputError, match="--threads 0: expected a whole number from 1 to 256"):
        chosen(threads=0)


def test_approximate_size_counts_geometry_coordinates() -> None:
    layer = beats()  # four squares: 5 coordinates each (closed rings)
    plain = int(layer.memory_usage(deep=True, index=True).sum())
    assert approximate_size(layer) == plain + 4 * 5 * 16 + 4 * 100
