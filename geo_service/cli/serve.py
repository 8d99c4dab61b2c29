"""``geo-service serve``: the web service for one store, on 127.0.0.1 by default.

It runs on waitress, a production WSGI server in pure Python (Linux, macOS and Windows alike),
with ``--threads`` worker threads (default 8, or the ``threads`` setting). Binding to another
address is an explicit choice (``--host 0.0.0.0``) and is logged as such; requests are answered
only when their Host names an allowed host (``allowed_hosts`` setting, ``--allow-host``). A
specific address given with ``--host`` is allowed too, so ``--host 192.0.2.7`` works from other
machines typing that address.

The pages people open first are computed in a background thread from the start (the overview
first), and again for each version an ingest publishes, before that version is shown.
"""

from __future__ import annotations

import argparse
import logging
import threading
from dataclasses import replace

from geo_service.config import Settings
from geo_service.errors import InputError

log = logging.getLogger(__name__)
#: Addresses that mean "every interface": no single name to allow for them.
_ANY_ADDRESS = ("0.0.0.0", "::", "")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` command."""
    parser = subparsers.add_parser(
        "serve",
        help="serve the web pages for the store",
        description="Serve the overview, category, area and collision pages and the API.",
    )
    parser.add_argument("--host", help="address to bind (default 127.0.0.1, or settings host)")
    parser.add_argument("--port", type=int, help="port (default 5000, or settings port)")
    parser.add_argument(
        "--threads", type=int, help="worker threads (default 8, or settings threads)"
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests addressed to NAME (repeatable; .example.org allows a domain); "
        "default 127.0.0.1, localhost, [::1] (settings allowed_hosts)",
    )
    parser.add_argument(
        "--no-warm", action="store_true", help="do not compute the common pages ahead"
    )
    parser.set_defaults(handler=serve)


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the web service until interrupted."""
    chosen = _settings(args, settings)
    import waitress

    from geo_service.web import create_app, warm_cache

    app = create_app(chosen)
    if not args.no_warm:
        threading.Thread(target=warm_cache, args=(app,), name="warm-cache", daemon=True).start()
    log.info(
        "serving store %s on http://%s:%d/ with %d threads; answering hosts %s",
        chosen.store, _url_host(chosen.host), chosen.port, chosen.threads,
        ", ".join(chosen.allowed_hosts),
    )  # fmt: skip
    waitress.serve(
        app,
        host=chosen.host,
        port=chosen.port,
        threads=chosen.threads,
        ident="geo_service",
        _quiet=True,
    )
    return 0


def _settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with the command line's choices applied and checked."""
    chosen = replace(
        settings,
        host=args.host or settings.host,
        port=args.port if args.port is not None else settings.port,
        threads=args.threads if args.threads is not None else settings.threads,
    )
    if not 0 < chosen.port < 65536:
        raise InputError(f"--port {chosen.port}: expected a port number from 1 to 65535")
    if not 0 < chosen.threads <= 256:
        raise InputError(f"--threads {chosen.threads}: expected a whole number from 1 to 256")
    hosts = [*chosen.allowed_hosts, *(h.strip().lower() for h in args.allow_host if h.strip())]
    if chosen.host not in _ANY_ADDRESS:
        hosts.append(_url_host(chosen.host).lower())
    if chosen.host not in _LOOPBACK:
        log.warning("serving on %s: reachable from other machines on the network", chosen.host)
    return replace(chosen, allowed_hosts=tuple(dict.fromkeys(hosts)))


def _url_host(host: str) -> str:
    """``host`` as written in a URL or Host header (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
