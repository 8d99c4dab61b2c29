"""The embedded store: versioned Parquet partitions of incidents and area layers.

Modules: :mod:`~geo_service.store.store` (the :class:`Store` reader and its writer lock),
:mod:`~geo_service.store.manifest` (the typed :class:`Manifest` and its JSON form),
:mod:`~geo_service.store.layout` (file layout, schema, records), :mod:`~geo_service.store.merge`
(merging new rows into month partitions), :mod:`~geo_service.store.write` (staging, rejects and
the atomic publish), :mod:`~geo_service.store.lock` (the writer lock),
:mod:`~geo_service.store.status` (status, coverage, the kept summary),
:mod:`~geo_service.store.verify` (checksums sealed at publishing, the check every read makes,
``check``), :mod:`~geo_service.store.repair` (``repair``), :mod:`~geo_service.store.faults`
(named kill points of the write path, for the reliability tests).
Only this package writes a store.
"""

from typing import TYPE_CHECKING, Any

from geo_service.store.layout import FileRecord, WriteResult
from geo_service.store.manifest import (
    Denominators,
    IngestRecord,
    LayerInfo,
    Manifest,
    Partition,
    StoredFile,
)

if TYPE_CHECKING:
    from geo_service.store.store import Store

__all__ = [
    "Denominators",
    "FileRecord",
    "IngestRecord",
    "LayerInfo",
    "Manifest",
    "Partition",
    "Store",
    "StoredFile",
    "WriteResult",
]


def __getattr__(name: str) -> Any:
    # Store is imported on first use: it imports pandas, which `status` (reading only the
    # manifest and the kept tables) does without.
    if name == "Store":
        from geo_service.store.store import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
