"""Errors raised to users of geo_service.

Every error carries a message written for the person who supplied the input (naming the file, row,
column, value and what was expected) and the HTTP status the web layer answers with.
"""

from __future__ import annotations


class GeoServiceError(Exception):
    """Base class: a problem the user can act on."""

    http_status: int = 500

    def __init__(self, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if http_status is not None:
            self.http_status = http_status

    def __str__(self) -> str:
        return self.message


class InputError(GeoServiceError):
    """An input file, argument or request parameter is not usable as given."""

    http_status = 400


class NotFoundError(GeoServiceError):
    """A requested layer, area, category or file does not exist."""

    http_status = 404


class StoreError(GeoServiceError):
    """The embedded store is missing, locked or inconsistent."""

    http_status = 503
