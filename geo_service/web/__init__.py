"""The Flask web service: :func:`create_app` builds an app for one store (no app at import time).

Views (:mod:`.pages`, :mod:`.patrol_pages`, :mod:`.collision_pages`, :mod:`.api`) parse the
request (:mod:`.params`), call the framework-free service functions (:mod:`geo_service.services`)
through the request's cached results (:mod:`.results`), and render templates from the top-level
``templates/`` folder with assets from ``static/``.

Around the views, in order: the Host header is checked against the allowed hosts before any other
work (:class:`~geo_service.web.security.AllowedHosts`); the request is pinned to the store version
shown (:meth:`~geo_service.web.state.WebState.begin_request`); a page or API answer already made
for that version, path and query is served from the byte-bounded cache, and one not yet made is
made once however many requests ask for it at the same time. :func:`warm_cache` computes the
pages people open first, at start and for each newly published version before it is shown.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from flask import Flask, Response, current_app, request
from werkzeug.datastructures import Headers

from geo_service._paths import project_folder
from geo_service.config import Settings
from geo_service.errors import GeoServiceError
from geo_service.web.errors import register_error_handler
from geo_service.web.params import OPTION_KEYS
from geo_service.web.security import AllowedHosts, add_security_headers, tile_host
from geo_service.web.state import STATE_KEY, VERSION_KEY, WebState, web_state

log = logging.getLogger(__name__)
TEMPLATES = project_folder("templates")
STATIC = project_folder("static")
#: Longest query string whose answer is cached whole (longer ones are still answered).
MAX_CACHED_QUERY = 2048
#: WSGI environ key marking the app's own warm-up requests (no client can set it).
WARM_KEY = "geo_service.warm"
#: Pages between two progress lines of a warm-up in the log.
WARM_LOG_EVERY = 50


@dataclass(frozen=True)
class CachedResponse:
    """A 200 answer as the view made it (before per-request headers are added)."""

    body: bytes
    status: int
    headers: tuple[tuple[str, str], ...]

    def response(self) -> Response:
        """A fresh response object (each request gets its own, to add headers to)."""
        return Response(self.body, status=self.status, headers=Headers(list(self.headers)))


def create_app(settings: Settings, *, store: object | None = None) -> Flask:
    """A Flask app serving ``settings.store`` (or ``store``, any object with the Store reads).

    Parameters
    ----------
    settings
        The installation's settings (store path, tiles, allowed hosts, cache size).
    store
        An already opened store; by default ``geo_service.store.Store(settings.store)``.
    """
    # collision_pages and patrol_pages add their routes to the pages blueprint when imported
    from geo_service.web import api, collision_pages, pages, patrol_pages, results  # noqa: F401

    app = Flask(
        "geo_service.web",
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC),
        static_url_path="/static",
    )
    app.config.update(DEBUG=False, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=1024)
    # compiled templates are kept across processes (a fresh process's first page otherwise
    # compiles them, ~0.15 s): Jinja keys each by the template's name and uses it only while
    # the source's checksum and Jinja's and Python's versions agree; the folder is the user's
    # own (created 0700 and checked to be owned by the user, else it is not used)
    app.jinja_options = {**app.jinja_options, "bytecode_cache": _bytecode_cache()}
    app.extensions[STATE_KEY] = WebState.open(settings, store=store)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint, url_prefix="/api")
    register_error_handler(app)
    app.before_request(_answer_from_cache)
    app.after_request(_finish)
    app.context_processor(
        lambda: {
            "tile_host": tile_host(web_state().tiles()),
            # called by the map pages only: an error page never reads the store for it
            "streets_loaded": lambda: results.streets_loaded(web_state()),
        }
    )
    app.wsgi_app = AllowedHosts(app.wsgi_app, settings.allowed_hosts, trusted_key=WARM_KEY)  # type: ignore[method-assign]
    return app


def _bytecode_cache() -> object | None:
    """Jinja's per-user file cache of compiled templates, or None where it cannot be made."""
    from jinja2 import FileSystemBytecodeCache

    try:
        return FileSystemBytecodeCache()
    except (RuntimeError, OSError):  # the temporary folder is unsafe (not the user's) or unwritable
        return None


def _answer_from_cache() -> Response | None:
    """Pin the request's store version; answer a GET from the cache, making it once if new."""
    if request.endpoint in ("static", "pages.favicon"):
        return None  # assets never read the store: a damaged store's 503 page keeps its styles
    state = web_state()
    state.begin_request(request.environ)
    if not _cacheable():
        return None
    app = current_app

    def make() -> CachedResponse | Response:
        response = app.make_response(app.dispatch_request())
        if response.status_code != 200 or response.is_streamed:
            return response
        headers = tuple((k, v) for k, v in response.headers.items() if k != "Content-Length")
        return CachedResponse(response.get_data(), response.status_code, headers)

    made = state.cached(
        ("response", request.path, request.query_string),
        make,
        keep=lambda value: isinstance(value, CachedResponse),
    )
    return made.response() if isinstance(made, CachedResponse) else made


def _cacheable() -> bool:
    """Whether the request's whole answer may be cached: a GET of a view with known options."""
    if request.method not in ("GET", "HEAD") or request.endpoint in (None, "static"):
        return False
    if request.routing_exception is not None or len(request.query_string) > MAX_CACHED_QUERY:
        return False
    return all(key in OPTION_KEYS for key in request.args)


def _finish(response: Response) -> Response:
    """Per-request headers: relative redirects, conditional answers, security headers."""
    location = response.headers.get("Location")
    if location is not None:
        response.headers["Location"] = _relative(location)
    if response.status_code == 200 and "ETag" in response.headers:
        response.make_conditional(request)
    return add_security_headers(response)


def _relative(location: str) -> str:
    """``location`` without scheme and host, so the request's Host is never reflected."""
    parts = urlsplit(location)
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    return urlunsplit(("", "", path.replace("//", "/"), parts.query, parts.fragment))


def warm_cache(app: Flask, version: str | None = None) -> None:
    """Compute the pages people open first, so nobody meets a cold one.

    In order: the overview, every category page of the page groups, the collisions page, then
    the area page of each area of the default layer (at most ``Settings.warm_areas``). ``serve``
    runs this in a background thread at start-up for the version shown; the app runs it again
    for each newly published version, before showing that version (see
    :class:`~geo_service.web.state.WebState`). A warm-up of a version that is no longer wanted
    (a newer one was published meanwhile) stops early. Failures are logged, never raised.
    """
    state: WebState = app.extensions[STATE_KEY]
    state.warmer = lambda wanted: warm_cache(app, wanted)
    with state.warming:  # one warm-up at a time; a re-warm waits for the one running
        chosen = version if version is not None else state.version_shown()
        client = app.test_client()
        environ = {VERSION_KEY: chosen, WARM_KEY: True}
        done = 0
        for path in _warm_paths(app, state, chosen):
            if not state.wanted(chosen):
                log.info("warming %s stopped: a newer version was published", chosen)
                return
            response = client.get(path, environ_overrides=environ)
            response.close()
            done += 1
            log.debug("warmed %s (%d)", path, response.status_code)
            if done % WARM_LOG_EVERY == 0:
                log.info("warming store version %s: %d pages so far", chosen, done)
        log.info(
            "store version %s warm: %d pages; cache holds %d results, %.0f MB",
            chosen, done, len(state.cache), state.cache.bytes / 1e6,
        )  # fmt: skip


def _warm_paths(app: Flask, state: WebState, version: str | None) -> Iterator[str]:
    from geo_service.web import results
    from geo_service.web.params import default_layer

    yield "/"
    with app.test_request_context(environ_overrides={VERSION_KEY: version}):
        try:
            state.begin_request(request.environ)
            summary = state.summary()
            groups = results.groups_for(state, summary)
            layer = default_layer(summary.layers)
            codes = (
                state.cached(("layer", layer), lambda: state.store.layer(layer))["code"]
                if layer
                else []
            )
        except GeoServiceError as exc:
            log.info("cache warming skipped: %s", exc.message)
            return
    for group in groups:
        yield f"/category/{quote(group.name)}"
        yield f"/category/{quote(group.name)}/map.js"
    yield "/collisions"
    for code in list(codes)[: state.settings.warm_areas]:
        yield f"/area/{quote(layer)}/{quote(str(code))}"
