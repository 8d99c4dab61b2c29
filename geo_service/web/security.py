"""Safe by default: allowed Host names, download file names, security headers on every response.

:class:`AllowedHosts` wraps the WSGI app and answers **400** to a request whose ``Host`` is not
an allowed name before any other work is done: a page on another site that rebinds its own DNS
name to 127.0.0.1 (DNS rebinding) cannot read the store through the analyst's browser, and no
Host is ever used to build a URL (redirects are relative).

The Content-Security-Policy allows scripts, styles, images and fetches only from this server
(plus the configured tile host for images). No inline script is needed: a page's map bootstrap,
which Folium writes as an inline ``<script>``, is served from its own URL (see
:mod:`geo_service.maps.assets`), so ``'unsafe-inline'`` is not granted for scripts. Leaflet
positions tiles and markers through the CSSOM, which style-src does not restrict.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Response

from geo_service.maps.builders import tile_origin
from geo_service.web.state import web_state


def content_security_policy(tiles: str) -> str:
    """The CSP header value for a tile setting."""
    origin = tile_origin(tiles)
    images = "'self' data:" + (f" {origin}" if origin else "")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def add_security_headers(response: Response) -> Response:
    """Add CSP, nosniff, framing and referrer headers to ``response``."""
    headers = response.headers
    # A view may set a stricter policy of its own (the report: no script at all).
    headers.setdefault("Content-Security-Policy", content_security_policy(web_state().tiles()))
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "no-referrer"
    return response


#: One DNS label (RFC 1123): letters, digits and inner hyphens, at most 63 characters.
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r"^\d{1,5}$")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def host_name(header: str) -> str | None:
    """The name in a ``Host`` header value, lower case without the port; None when malformed.

    ``[::1]:5000`` gives ``[::1]``; ``LocalHost:80`` gives ``localhost``. A name longer than 253
    characters or with a label longer than 63 is malformed.
    """
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        name, rest = value[: end + 1], value[end + 1 :]
        if end < 0 or not re.fullmatch(r"\[[0-9a-f:.]+\]", name):
            return None
    else:
        name, _colon, port = value.partition(":")
        rest = f":{port}" if _colon else ""
        if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
            return None
    if rest and not (rest.startswith(":") and _PORT.match(rest[1:])):
        return None
    return name


def host_allowed(name: str, allowed: Iterable[str]) -> bool:
    """Whether ``name`` is allowed: listed exactly, or under a listed ``.domain`` (a leading dot
    allows the domain and every name below it)."""
    for entry in allowed:
        wanted = entry.strip().lower()
        if name == wanted or (
            wanted.startswith(".") and (name == wanted[1:] or name.endswith(wanted))
        ):
            return True
    return False


class AllowedHosts:
    """WSGI middleware: answer 400 to a request whose Host is not allowed, before any work.

    Parameters
    ----------
    app
        The WSGI app to protect.
    allowed
        Allowed names: exact (``localhost``, ``127.0.0.1``, ``[::1]``) or ``.domain``.
    trusted_key
        An environ key marking the app's own in-process requests (warm-up), which no client can
        set; such requests are not checked.
    """

    def __init__(
        self, app: Callable[..., Any], allowed: Sequence[str], *, trusted_key: str
    ) -> None:
        self.app = app
        self.allowed = tuple(allowed)
        self.trusted_key = trusted_key

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get(self.trusted_key):
            return self.app(environ, start_response)
        header = environ.get("HTTP_HOST")
        name = host_name(header) if header is not None else None
        if name is not None and host_allowed(name, self.allowed):
            return self.app(environ, start_response)
        message = (
            b"Bad Request: this server answers only requests addressed to "
            + ", ".join(self.allowed).encode("ascii", "replace")
            + b" (allowed_hosts setting, serve --allow-host).\n"
        )
        start_response(
            "400 Bad Request",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(message))),
                ("X-Content-Type-Options", "nosniff"),
            ],
        )
        return [message]


def content_disposition(filename: str) -> str:
    """An RFC 6266 ``attachment`` header value for ``filename``.

    ``filename*`` carries the name in UTF-8, percent-encoded (RFC 8187); ``filename`` an ASCII
    fallback for old clients in which anything but letters, digits, ``.``, ``_`` and ``-`` becomes
    ``_`` (so a quote, backslash, semicolon or line break from a stored code cannot break the
    header).
    """
    decomposed = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    fallback = _FILENAME_UNSAFE.sub("_", decomposed).strip("._") or "download"
    encoded = quote(filename, safe="!#$&+-.^_`|~")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def tile_host(tiles: str) -> str | None:
    """The host map tiles are fetched from under the tile setting ``tiles``, or None (no tiles).

    Pages name it, so a user knows which third party sees the places they look at.
    """
    origin = tile_origin(tiles)
    return urlsplit(origin).netloc or None if origin else None
