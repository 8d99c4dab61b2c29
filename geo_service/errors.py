"""Errors raised to users of geo_service.

Every error carries a message written for the person who supplied the input (naming the file, row,
column, value and what was expected), the HTTP status the web layer answers with and the exit code
the command line ends with:

====================  ====  ====  ==========================================================
class                 exit  HTTP  meaning
====================  ====  ====  ==========================================================
InputError            2     400   an argument, request parameter or input file is not usable
                                  as given (a whole file refused included); nothing changed
NotFoundError         2     404   a named layer, area, category or file does not exist
StoreError            2     503   the store cannot do what was asked (e.g. it is empty)
StoreDamagedError     2     503   the store's manifest is unreadable or its files do not
                                  match it (a partition missing, an unlisted file, a changed
                                  or cut-short file, wrong row counts): nothing is computed;
                                  ``geo-service check`` lists, ``geo-service repair`` fixes
DataError             3     422   the command is well formed, but the data it needs cannot
                                  answer it (stored data lacking what the question needs)
StoreBusyError        4     503   another process or thread is writing the store; try again
====================  ====  ====  ==========================================================

argparse's own usage errors also end with exit code 2.
"""

from __future__ import annotations


class GeoServiceError(Exception):
    """Base class: a problem the user can act on."""

    http_status: int = 500
    exit_code: int = 2

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


class DataError(GeoServiceError):
    """The request is well formed but the data it needs cannot answer it (exit code 3)."""

    http_status = 422
    exit_code = 3


class StoreError(GeoServiceError):
    """The embedded store cannot do what was asked (missing, empty, or see the subclasses)."""

    http_status = 503


class StoreBusyError(StoreError):
    """Another process or thread holds the store's writer lock (exit code 4)."""

    exit_code = 4


class StoreDamagedError(StoreError):
    """The store's manifest is unreadable or its files do not match it (exit code 2, HTTP 503).

    Raised by the verification every read makes (:mod:`geo_service.store.verify`), so a damaged
    store gives this error and never a figure.
    """
