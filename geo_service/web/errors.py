"""The one error handler: a :class:`GeoServiceError` answers with its HTTP status.

API requests (``/api/...``) get JSON ``{"error": message, "status": code}``; pages get the
``error.html`` page with the message (escaped by the template). A damaged store (its files do
not match its manifest) answers **503** naming the problem: the service cannot answer until the
store is repaired, and no figure is shown. Anything else is logged and answered with a plain 500
page that leaks no detail.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from geo_service import errors
from geo_service.errors import GeoServiceError

log = logging.getLogger(__name__)


#: The store-damage errors (whatever the errors module names them): a 503 page, never a figure.
_DAMAGED: tuple[type[GeoServiceError], ...] = tuple(
    found
    for name in ("StoreDamagedError", "StoreDamaged")
    if isinstance(found := getattr(errors, name, None), type) and issubclass(found, GeoServiceError)
)


def register_error_handler(app: Flask) -> None:
    """Install the handler for every exception on ``app``."""
    app.register_error_handler(Exception, _handle)


def _handle(exc: Exception) -> tuple[Response | str, int]:
    if isinstance(exc, _DAMAGED):
        status, message = 503, exc.message
    elif isinstance(exc, GeoServiceError):
        status, message = exc.http_status, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.code or 500, exc.description or exc.name
    else:
        log.exception("unexpected error serving %s", request.path)
        status, message = 500, "Internal error; the server log has the details."
    if request.path.startswith("/api/"):
        return jsonify(error=message, status=status), status
    return render_template("error.html", status=status, message=message), status
