"""``geo-service serve``: the web service for one store, on 127.0.0.1 by default.

Flask's own server (``app.run``) with debug off and threads on: this is a local single-user or
small-team service, not an internet-facing one. Binding to another address is an explicit choice
(``--host 0.0.0.0``), and is logged as such.
"""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import replace

from geo_service.config import Settings
from geo_service.errors import InputError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the web pages for the store",
        description="Serve the overview, category, area and collision pages and the API.",
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, or settings host)")
    parser.add_argument("--port", type=int, help="port (default 5000, or settings port)")
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the web service until interrupted."""
    from geo_service.web import create_app, warm_cache

    chosen = replace(
        settings,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
    )
    if not 0 < chosen.port < 65536:
        raise InputError(f"--port {chosen.port}: expected a port number from 1 to 65535")
    if chosen.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: reachable from other machines on the network", chosen.host)
    app = create_app(chosen)
    log.info("serving store %s on http://%s:%d/", chosen.store, chosen.host, chosen.port)
    threading.Thread(target=warm_cache, args=(app,), name="warm-cache", daemon=True).start()
    app.run(host=chosen.host, port=chosen.port, debug=False, use_reloader=False, threaded=True)
    return 0
