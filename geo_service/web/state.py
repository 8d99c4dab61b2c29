"""Per-app state: settings, the store, category groups and a byte-bounded LRU cache of results.

Held in ``app.extensions`` so each app (and each test) has its own; nothing module-level.

Three promises hold under many threads:

- **One computation per result.** Identical concurrent requests for a result not yet cached
  compute it once: the first makes it, the others wait for it (:meth:`LruCache.get_or_make`).
- **Bounded memory.** The cache keeps results up to ``Settings.cache_mb`` megabytes, measured
  approximately per entry (:func:`approximate_size`), dropping the least recently used first.
- **No cold page after an ingest.** Each request is answered from one store version, the *shown*
  one, read through a reader pinned to it. When a new version is published and the app has a
  warmer (``serve`` sets one), the pages are computed for the new version in the background while
  the old version's answers go on being served; the new version is shown once it is warm.
  Without a warmer (tests, scripts) a new version is shown at once.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import shapely
from flask import current_app, g, has_app_context

from geo_service.categories import CategoryGroup
from geo_service.config import Settings
from geo_service.services.context import StoreSummary, store_summary
from geo_service.store import Store

log = logging.getLogger(__name__)
STATE_KEY = "geo_service"
#: WSGI environ key naming the store version a (warm-up) request is answered from.
VERSION_KEY = "geo_service.version"
T = TypeVar("T")
#: How deep :func:`approximate_size` follows containers (results are shallow; this is a guard).
_SIZE_DEPTH = 6


@dataclass
class _Flight:
    """One computation in progress; waiters block on ``done``."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    kept: bool = False
    error: BaseException | None = None


@dataclass
class LruCache:
    """A thread-safe least-recently-used cache bounded in (approximate) bytes.

    Parameters
    ----------
    max_bytes
        The most the entries may weigh together, bytes (:func:`approximate_size` of each).
    """

    max_bytes: int
    _items: OrderedDict[Hashable, tuple[Any, int]] = field(default_factory=OrderedDict)
    _flights: dict[Hashable, _Flight] = field(default_factory=dict)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get_or_make(
        self, key: Hashable, make: Callable[[], T], *, keep: Callable[[T], bool] | None = None
    ) -> T:
        """The value cached under ``key``; made once when missing, however many threads ask.

        The first thread to miss runs ``make()`` (outside the lock); threads asking for the same
        key meanwhile wait and get its value, or its exception. A value ``keep`` refuses is not
        cached: the first thread gets it and each waiter makes its own.
        """
        while True:
            with self._lock:
                held = self._items.get(key)
                if held is not None:
                    self._items.move_to_end(key)
                    return held[0]
                flight = self._flights.get(key)
                leader = flight is None
                if flight is None:
                    flight = self._flights[key] = _Flight()
            if leader:
                return self._make(key, make, flight, keep)
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if flight.kept:
                return flight.value

    def _make(
        self,
        key: Hashable,
        make: Callable[[], T],
        flight: _Flight,
        keep: Callable[[T], bool] | None,
    ) -> T:
        try:
            value = make()
        except BaseException as exc:
            flight.error = exc
            with self._lock:
                del self._flights[key]
            flight.done.set()
            raise
        kept = keep is None or keep(value)
        size = approximate_size(value) if kept else 0
        with self._lock:
            del self._flights[key]
            if kept and size <= self.max_bytes:
                self._put(key, value, size)
        flight.value, flight.kept = value, kept
        flight.done.set()
        return value

    def _put(self, key: Hashable, value: Any, size: int) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._items[key] = (value, size)
        self._bytes += size
        while self._bytes > self.max_bytes and self._items:
            _gone, (_value, weight) = self._items.popitem(last=False)
            self._bytes -= weight

    def keep_only(self, wanted: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key is not ``wanted``; the number dropped."""
        with self._lock:
            gone = [key for key in self._items if not wanted(key)]
            for key in gone:
                self._bytes -= self._items.pop(key)[1]
        return len(gone)

    def held(self) -> list[Hashable]:
        """The keys held, oldest first."""
        with self._lock:
            return list(self._items)

    @property
    def bytes(self) -> int:
        """What the entries weigh together (approximate bytes)."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)


def approximate_size(value: object, _depth: int = 0) -> int:
    """Approximate bytes held by ``value``: buffers exactly, containers and dataclasses summed.

    Frames count their columns' memory (object columns deeply, which strings dominate;
    geometries by their coordinates, 16 bytes each, plus a fixed 100 bytes apiece); numpy
    arrays their buffer; bytes and text their length; dataclasses, tuples, lists and dicts
    the sum of their members. Anything else counts :func:`sys.getsizeof`.
    """
    if _depth > _SIZE_DEPTH:
        return sys.getsizeof(value)
    if isinstance(value, bytes | bytearray | str):
        return sys.getsizeof(value)
    if isinstance(value, pd.DataFrame | pd.Series | pd.Index):
        return _frame_bytes(value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    nested = _depth + 1
    if is_dataclass(value) and not isinstance(value, type):
        return 64 + sum(approximate_size(getattr(value, f.name), nested) for f in fields(value))
    if isinstance(value, tuple | list | set | frozenset):
        return sys.getsizeof(value) + sum(approximate_size(item, nested) for item in value)
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(
            approximate_size(k, nested) + approximate_size(v, nested) for k, v in value.items()
        )
    return sys.getsizeof(value)


def _frame_bytes(value: pd.DataFrame | pd.Series | pd.Index) -> int:
    """Memory of a frame's columns; geometries by their coordinates (pandas counts a pointer)."""
    usage = value.memory_usage(deep=True, index=True)
    size = int(usage.sum() if isinstance(usage, pd.Series) else usage)
    columns = [value[c] for c in value.columns] if isinstance(value, pd.DataFrame) else [value]
    for column in columns:
        if isinstance(column, pd.Series) and str(column.dtype) == "geometry":
            coordinates = shapely.get_num_coordinates(np.asarray(column.array, dtype=object))
            size += int(coordinates.sum()) * 16 + 100 * len(column)
    return size


def pinned_reader(store: Any, version: str | None) -> Any:
    """``store`` read at ``version`` only, whatever is published later.

    A :class:`geo_service.store.Store` is re-opened with its version fixed (a published version
    never changes, and the store keeps the previous ones for a while); any other object (a test
    store held in memory) is returned as it is.
    """
    if version is None or not isinstance(store, Store) or isinstance(store, PinnedStore):
        return store
    return PinnedStore(store.root, version)


class PinnedStore(Store):
    """A :class:`~geo_service.store.Store` that reads one published version, never a newer one."""

    def __init__(self, root: Path, version: str) -> None:
        super().__init__(root)
        self._pinned = version

    def version(self) -> str | None:
        """The pinned version's name."""
        return self._pinned


@dataclass
class _Shown:
    """The version requests are answered from, and its pinned reader."""

    version: str | None
    reader: Any


@dataclass
class WebState:
    """What the views of one app share."""

    settings: Settings
    #: The store as opened (reads the newest published version).
    live: Any
    groups: tuple[CategoryGroup, ...]
    cache: LruCache
    #: Computes the common pages of a version (set by :func:`geo_service.web.warm_cache`); run
    #: in the background when a new store version is published, before it is shown.
    warmer: Callable[[str | None], None] | None = None
    #: Held while a warm-up runs, so at most one runs at a time.
    warming: threading.Lock = field(default_factory=threading.Lock)
    _shown: _Shown | None = None
    _pending: str | None = None  # the version being warmed before it is shown
    _readers: dict[str | None, Any] = field(default_factory=dict)
    _seen_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: Settings, *, store: object | None = None) -> WebState:
        """State for ``settings``, opening the store unless one is given."""
        if store is None:
            store = Store(settings.store)
        return cls(
            settings=settings,
            live=store,
            groups=settings.groups(),
            cache=LruCache(max_bytes=settings.cache_mb * 1024 * 1024),
        )

    @property
    def store(self) -> Any:
        """The store as the current request reads it: pinned to the request's version."""
        if has_app_context() and "geo_store" in g:
            return g.geo_store
        return self.reader(self.version_shown())

    def tiles(self) -> str:
        """The tile setting in force: "none" unless tiles were explicitly switched on.

        "auto" (the former default) counts as "none": no street a user looks at is told to a
        third-party tile server unless the installation chose one.
        """
        return "none" if self.settings.tiles in ("auto", "none") else self.settings.tiles

    def summary(self) -> StoreSummary:
        """What the store holds (cached per store version)."""
        return self.cached(("summary",), lambda: store_summary(self.store))

    def cached(
        self,
        key: tuple[Hashable, ...],
        make: Callable[[], T],
        *,
        keep: Callable[[T], bool] | None = None,
    ) -> T:
        """``make()`` cached under the request's store version and ``key``, made once."""
        return self.cache.get_or_make((self.request_version(), *key), make, keep=keep)

    def request_version(self) -> str | None:
        """The version the current request is answered from (the shown one outside requests)."""
        if has_app_context() and "geo_version" in g:
            version: str | None = g.geo_version
            return version
        return self.version_shown()

    def begin_request(self, environ: dict[str, Any]) -> None:
        """Fix the version (and reader) the current request is answered from."""
        asked = environ.get(VERSION_KEY)
        version = asked if isinstance(asked, str) else self.version_shown()
        g.geo_version = version
        g.geo_store = self.reader(version)

    def reader(self, version: str | None) -> Any:
        """The store pinned to ``version`` (one reader per version, kept while it is in use)."""
        with self._seen_lock:
            found = self._readers.get(version)
            if found is None:
                found = self._readers[version] = pinned_reader(self.live, version)
            return found

    def version_shown(self) -> str | None:
        """The version answered from now; notices a newly published one and warms or shows it."""
        latest = self.live.version()
        with self._seen_lock:
            shown = self._shown
            if shown is not None and shown.version == latest:
                return latest
            if shown is None or self.warmer is None:
                self._show(latest)
                return latest
            if self._pending != latest:
                self._pending = latest
                threading.Thread(
                    target=self._warm_then_show, args=(latest,), name="rewarm-cache", daemon=True
                ).start()
            return shown.version

    def wanted(self, version: str | None) -> bool:
        """Whether warming ``version`` is still useful: it is about to be shown, or it is shown
        and no newer version waits."""
        with self._seen_lock:
            if self._pending is not None:
                return version == self._pending
            return self._shown is None or self._shown.version == version

    def show(self, version: str | None) -> None:
        """Answer from ``version`` from now on; drop the results of every other version."""
        with self._seen_lock:
            self._show(version)

    def _show(self, version: str | None) -> None:
        previous = self._shown.version if self._shown is not None else None
        self._shown = _Shown(
            version, self._readers.get(version) or pinned_reader(self.live, version)
        )
        self._readers = {version: self._shown.reader}
        if self._pending == version:
            self._pending = None
        dropped = self.cache.keep_only(lambda key: isinstance(key, tuple) and key[0] == version)
        if previous != version:
            log.info("showing store version %s (%d cached results dropped)", version, dropped)

    def _warm_then_show(self, version: str | None) -> None:
        try:
            if self.warmer is not None:
                self.warmer(version)
        except Exception:
            log.exception("warming store version %s failed; showing it anyway", version)
        finally:
            with self._seen_lock:
                # A newer version published meanwhile is warmed next and shown in its turn;
                # this one, overtaken, is never shown half-warm.
                if self._pending == version:
                    self._show(version)


def web_state() -> WebState:
    """The state of the app handling the current request."""
    state: WebState = current_app.extensions[STATE_KEY]
    return state
