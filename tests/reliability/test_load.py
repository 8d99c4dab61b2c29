"""A bounded loopback load test: waitress on an ephemeral port, 20 concurrent clients.

The app starts cold. Every answer must be a 200 identical to the test client's answer for the
same URL afterwards: under concurrency nothing is mixed up between requests, nothing fails, and
the first (cold) requests for a page, made by many clients at once, all get the one computed
answer (a page's map has random element ids, so two computations would differ).
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from geo_service.config import Settings
from geo_service.store import LayerInfo, Store
from geo_service.web import create_app
from tests.web.conftest import MemoryStore, beats, incidents

waitress = pytest.importorskip("waitress.server")
wasyncore = pytest.importorskip("waitress.wasyncore")

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 20
ROUNDS = 3
PATHS = (
    "/",
    "/category/Burglary",
    "/category/Burglary/map.js",
    "/area/beat/D1A",
    "/collisions",
    "/api/looking-back.json",
    "/api/category/Burglary/change.csv",
    "/api/summary.json",
)


def _app():  # type: ignore[no-untyped-def]
    store = MemoryStore(incidents(), {"beat": beats()})
    app = create_app(Settings(store=Path("memory"), tiles="none"), store=store)
    app.config.update(TESTING=True)
    return app


def _serve_until(server, stop: threading.Event) -> None:  # type: ignore[no-untyped-def]
    """Run waitress's loop until ``stop``; then shut it down from this same thread (closing its
    sockets from another thread while the loop polls them fails with EBADF)."""
    while not stop.is_set():
        wasyncore.loop(timeout=0.05, map=server._map, count=1)
    server.task_dispatcher.shutdown()
    wasyncore.close_all(server._map)


def test_twenty_clients_get_identical_answers_without_errors() -> None:
    app = _app()
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
    port = server.effective_port  # type: ignore[union-attr]
    stop = threading.Event()
    runner = threading.Thread(target=_serve_until, args=(server, stop), daemon=True)
    runner.start()
    failures: list[str] = []
    answered: list[tuple[str, int, bytes]] = []
    lock = threading.Lock()

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        try:
            for k in range(ROUNDS * len(PATHS)):
                path = PATHS[(offset + k) % len(PATHS)]
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                with lock:
                    answered.append((path, response.status, body))
        except (OSError, http.client.HTTPException) as exc:
            with lock:
                failures.append(repr(exc))
        finally:
            connection.close()

    try:
        clients = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join(timeout=300)
    finally:
        stop.set()
        runner.join(timeout=30)
    assert failures == []
    assert len(answered) == CLIENTS * ROUNDS * len(PATHS)
    reference = app.test_client()
    expected = {path: reference.get(path).data for path in PATHS}
    differing = [
        f"{path}: {status}, {len(body)} bytes"
        for path, status, body in answered
        if status != 200 or body != expected[path]
    ]
    assert differing == []


def test_serve_command_answers_over_http_for_allowed_hosts_only(tmp_path: Path) -> None:
    from tests.web.test_real_store import write

    store = Store(tmp_path / "store")
    store.write_layer("beat", beats(), info=LayerInfo(path="beats.geojson"))
    write(store, incidents(), "first.csv")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "geo_service", "--store", str(store.root), "serve"]
    command += ["--port", str(port), "--threads", "4", "--allow-host", "geo.example.org"]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        answers = {host: _status(port, host) for host in ("localhost", "geo.example.org")}
        answers["evil.example"] = _status(port, "evil.example")
    finally:
        server.terminate()
        _out, log = server.communicate(timeout=30)
    assert answers == {"localhost": 200, "geo.example.org": 200, "evil.example": 400}, log
    assert f"on http://127.0.0.1:{port}/ with 4 threads" in log


def _status(port: int, host: str) -> int:
    """The status of ``/`` asked with ``Host: host``, waiting up to a minute for the server."""
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            connection.request("GET", "/", headers={"Host": host})
            response = connection.getresponse()
            response.read()
            connection.close()
            return response.status
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
