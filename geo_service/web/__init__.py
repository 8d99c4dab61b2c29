"""The Flask web service: :func:`create_app` builds an app for one store (no app at import time).

Views (:mod:`.pages`, :mod:`.api`) parse the request (:mod:`.params`), call the framework-free
service functions (:mod:`geo_service.services`), and render templates from the top-level
``templates/`` folder with assets from ``static/``. Results are cached per store version and request
options in a bounded LRU held by the app object, so a repeated page costs a dictionary lookup.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

from flask import Flask

from geo_service._paths import project_folder
from geo_service.config import Settings
from geo_service.errors import GeoServiceError
from geo_service.web.errors import register_error_handler
from geo_service.web.security import add_security_headers
from geo_service.web.state import STATE_KEY, WebState

log = logging.getLogger(__name__)
TEMPLATES = project_folder("templates")
STATIC = project_folder("static")


def create_app(settings: Settings, *, store: object | None = None) -> Flask:
    """A Flask app serving ``settings.store`` (or ``store``, any object with the Store reads).

    Parameters
    ----------
    settings
        The installation's settings (store path, tiles).
    store
        An already opened store; by default ``geo_service.store.Store(settings.store)``.
    """
    from geo_service.web import api, pages

    app = Flask(
        "geo_service.web",
        template_folder=str(TEMPLATES),
        static_folder=str(STATIC),
        static_url_path="/static",
    )
    app.config.update(DEBUG=False, JSON_SORT_KEYS=False, MAX_CONTENT_LENGTH=1024)
    app.extensions[STATE_KEY] = WebState.open(settings, store=store)
    app.register_blueprint(pages.blueprint)
    app.register_blueprint(api.blueprint, url_prefix="/api")
    register_error_handler(app)
    app.after_request(add_security_headers)
    return app


def warm_cache(app: Flask) -> None:
    """Compute the overview, collisions and every category page once, so people find them fast.

    With a million incidents a page's first computation takes tens of seconds; ``serve`` runs
    this in a background thread at start-up, and from then on the app runs it again (in one
    background thread at a time) when it first sees a new store version. Failures are logged,
    never raised.
    """
    state: WebState = app.extensions[STATE_KEY]
    state.warmer = lambda: warm_cache(app)
    if not state.warming.acquire(blocking=False):
        log.info("cache warming already running")
        return
    try:
        _warm(app)
    finally:
        state.warming.release()


def _warm(app: Flask) -> None:
    client = app.test_client()
    paths = ["/", "/collisions"]
    with app.test_request_context():
        try:
            from geo_service.web import pages

            state, summary, _opts = pages.request_context()
            groups = pages.groups_for(state, summary)
            paths += [f"/category/{quote(g.name)}" for g in groups]
        except GeoServiceError as exc:
            log.info("cache warming skipped: %s", exc.message)
            return
    for path in paths:
        response = client.get(path)
        response.close()
        log.debug("warmed %s (%d)", path, response.status_code)
