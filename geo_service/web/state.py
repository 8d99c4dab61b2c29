"""Per-app state: settings, the store, category groups and a bounded LRU cache of results.

Held in ``app.extensions`` so each app (and each test) has its own; nothing module-level.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import current_app

from geo_service.categories import CategoryGroup
from geo_service.config import Settings
from geo_service.services.context import StoreSummary, store_summary

log = logging.getLogger(__name__)
STATE_KEY = "geo_service"
#: Results kept per app (pages, map scripts, images); the oldest are dropped first.
CACHE_ENTRIES = 128
T = TypeVar("T")


@dataclass
class LruCache:
    """A thread-safe least-recently-used cache of at most ``size`` entries."""

    size: int = CACHE_ENTRIES
    _items: OrderedDict[Hashable, Any] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get_or_make(self, key: Hashable, make: Callable[[], T]) -> T:
        """The value cached under ``key``, made (outside the lock) and kept when missing."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def keep_only(self, wanted: Callable[[Hashable], bool]) -> int:
        """Drop every entry whose key is not ``wanted``; the number dropped."""
        with self._lock:
            gone = [key for key in self._items if not wanted(key)]
            for key in gone:
                del self._items[key]
        return len(gone)

    def held(self) -> list[Hashable]:
        """The keys held, oldest first."""
        with self._lock:
            return list(self._items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass
class WebState:
    """What the views of one app share."""

    settings: Settings
    store: Any
    groups: tuple[CategoryGroup, ...]
    cache: LruCache
    #: Recomputes the common pages (set by :func:`geo_service.web.warm_cache`); run in the
    #: background when a new store version is first seen.
    warmer: Callable[[], None] | None = None
    #: Held while a warm-up runs, so at most one runs at a time.
    warming: threading.Lock = field(default_factory=threading.Lock)
    _seen: list[str | None] = field(default_factory=list)  # the last store version seen, if any
    _seen_lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def open(cls, settings: Settings, *, store: object | None = None) -> WebState:
        """State for ``settings``, opening the store unless one is given."""
        if store is None:
            from geo_service.store import Store

            store = Store(settings.store)
        return cls(
            settings=settings,
            store=store,
            groups=settings.groups(),
            cache=LruCache(),
        )

    def tiles(self) -> str:
        """The tile setting in force: "auto" becomes "none" for a demo store, else OpenStreetMap.

        The demo's geography is synthetic, so real streets under it would mislead.
        """
        if self.settings.tiles != "auto":
            return self.settings.tiles
        return "none" if self.summary().demo else "openstreetmap"

    def summary(self) -> StoreSummary:
        """What the store holds (cached per store version)."""
        return self.cached(("summary",), lambda: store_summary(self.store))

    def cached(self, key: tuple[Hashable, ...], make: Callable[[], T]) -> T:
        """``make()`` cached under the store's current version and ``key``."""
        version = self.store.version()
        self._note_version(version)
        value = self.cache.get_or_make((version, *key), make)
        if self._seen != [version]:  # a newer version arrived while this one was computed
            self.cache.keep_only(lambda held: isinstance(held, tuple) and [held[0]] == self._seen)
        return value

    def _note_version(self, version: str | None) -> None:
        """On a new store version: drop older versions' results, re-warm in the background."""
        with self._seen_lock:
            if self._seen == [version]:
                return
            changed = bool(self._seen)
            self._seen[:] = [version]
        dropped = self.cache.keep_only(lambda key: isinstance(key, tuple) and key[0] == version)
        log.info("store version %s: %d cached results of older versions dropped", version, dropped)
        if changed and self.warmer is not None and not self.warming.locked():
            threading.Thread(target=self.warmer, name="rewarm-cache", daemon=True).start()


def web_state() -> WebState:
    """The state of the app handling the current request."""
    state: WebState = current_app.extensions[STATE_KEY]
    return state
