"""Security headers on every response.

The Content-Security-Policy allows scripts, styles, images and fetches only from this server
(plus the configured tile host for images). No inline script is needed: a page's map bootstrap,
which Folium writes as an inline ``<script>``, is served from its own URL (see
:mod:`geo_service.maps.assets`), so ``'unsafe-inline'`` is not granted for scripts. Leaflet
positions tiles and markers through the CSSOM, which style-src does not restrict.
"""

from __future__ import annotations

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
