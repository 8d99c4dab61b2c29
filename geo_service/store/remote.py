"""Reading a published store through fsspec: local folders, memory, object stores.

:class:`StoreReader` opens a store by URL (``file:///data/store``, ``memory://store``, or
``s3://bucket/store`` and the like once that file system's fsspec package is installed) and
reads what :class:`~geo_service.store.Store` reads for a question: the published version's
manifest, its incidents (filtered by source, month and category, only the columns asked for)
and its area layers. Before reading it makes the check every read of :class:`Store` makes
(:func:`verify_remote`): each file the manifest lists has its recorded size and Parquet footer
checksum, and no unlisted file lies among them; otherwise
:class:`~geo_service.errors.StoreDamagedError` names the file. It never writes.

A store at a URL is written by :class:`Store` in a local working copy and
published to the URL by :mod:`geo_service.store.remote_write` (a lock object created only if
absent, the version under its own prefix with its manifest last, then ``CURRENT``), so what
this reads is always one whole published version.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs

from geo_service import schema
from geo_service.errors import NotFoundError, StoreDamagedError
from geo_service.store.layout import OLD_VERSIONS, VERSIONS, conform
from geo_service.store.manifest import Manifest
from geo_service.store.store import (
    _category_filter,
    incident_columns,
    partitions_dataset,
    select_partitions,
)
from geo_service.store.verify import LISTED_FOLDERS, footer_digest

if TYPE_CHECKING:
    import geopandas as gpd
    from fsspec import AbstractFileSystem

__all__ = ["StoreReader", "verify_remote"]

#: As :class:`Store`: a read within this many seconds of a check that passed is not re-checked.
_RECHECK_S = 1.0


class StoreReader:
    """The published version of the store at ``url``, read through fsspec (read-only).

    ``storage_options`` go to the file system (credentials, endpoints), as fsspec takes them.
    """

    def __init__(self, url: str, **storage_options: Any) -> None:
        import fsspec

        self.url = url
        self.fs: AbstractFileSystem
        self.fs, self.root = fsspec.core.url_to_fs(url, **storage_options)
        self.root = self.root.rstrip("/")
        self._manifests: dict[str, Manifest] = {}
        self._checked_at: dict[str, float] = {}

    def version(self) -> str | None:
        """Name of the published version (None: an empty store), its files checked.

        Raises
        ------
        StoreDamagedError
            A listed file is missing or differs from the manifest, or an unlisted file lies
            among them, or the manifest is unreadable.
        """
        try:
            name = self.fs.cat_file(f"{self.root}/CURRENT").decode("utf-8").strip()
        except FileNotFoundError:
            return None
        if name and time.monotonic() - self._checked_at.get(name, float("-inf")) >= _RECHECK_S:
            verify_remote(self.fs, self.version_dir(name), self._manifest(name))
            self._checked_at = {name: time.monotonic()}
        return name or None

    def version_dir(self, name: str) -> str:
        """Where version ``name`` lies (``_versions/``, or ``versions/`` in the older layout)."""
        new = f"{self.root}/{VERSIONS}/{name}"
        old = f"{self.root}/{OLD_VERSIONS}/{name}"
        return old if not self.fs.exists(new) and self.fs.exists(old) else new

    def manifest(self) -> Manifest:
        """The published manifest (an empty one when nothing is stored)."""
        name = self.version()
        return Manifest() if name is None else self._manifest(name)

    def incidents(
        self,
        *,
        sources: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        month_from: str | None = None,
        month_to: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Stored incidents, filtered, as :meth:`geo_service.store.Store.incidents` gives them."""
        name = self.version()
        manifest = Manifest() if name is None else self._manifest(name)
        layers = manifest.layer_names()
        wanted = incident_columns(columns, layers)
        parts = select_partitions(manifest, sources, month_from=month_from, month_to=month_to)
        if name is None or not parts:
            return conform(schema.empty_incidents(), layers)[wanted]
        filesystem = pafs.PyFileSystem(pafs.FSSpecHandler(self.fs))
        dataset = partitions_dataset(self.version_dir(name), parts, layers, filesystem=filesystem)
        try:
            table = dataset.to_table(columns=wanted, filter=_category_filter(categories))
        except (OSError, pa.ArrowException) as exc:
            raise StoreDamagedError(
                f"store {self.url}: a partition file of {name} is unreadable ({exc})"
            ) from exc
        return conform(table.to_pandas(), layers, columns=wanted)[wanted]

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """The stored area layer ``name`` (standard layer columns, EPSG:27700)."""
        import geopandas as gpd

        version = self.version()
        names = [] if version is None else self._manifest(version).layer_names()
        if version is None or name not in names:
            raise NotFoundError(
                f"no area layer {name!r} in store {self.url}; available: "
                f"{', '.join(names) or 'none'}"
            )
        return gpd.read_parquet(
            f"{self.version_dir(version)}/layers/{name}.parquet", filesystem=self.fs
        )

    def _manifest(self, name: str) -> Manifest:
        if name not in self._manifests:
            path = f"{self.version_dir(name)}/manifest.json"
            try:
                manifest = Manifest.from_json(self.fs.cat_file(path).decode("utf-8"))
            except (OSError, ValueError) as exc:
                raise StoreDamagedError(
                    f"{path}: store manifest unreadable ({exc}); the store is damaged"
                ) from exc
            self._manifests = {name: manifest}  # older versions are never read again
        return self._manifests[name]


def verify_remote(fs: AbstractFileSystem, version_dir: str, manifest: Manifest) -> None:
    """Check a version's files through ``fs`` as :func:`geo_service.store.verify.verify_version`
    checks a local one: size and footer checksum of every listed file (its row count when the
    version predates checksums is not read here), no unlisted file beside them.

    Raises
    ------
    StoreDamagedError
        Naming the first problems found.
    """
    listed = manifest.stored_paths()
    found = {
        path.removeprefix(f"{version_dir}/"): info
        for folder in LISTED_FOLDERS
        for path, info in fs.find(f"{version_dir}/{folder}", detail=True).items()
        if not path.rsplit("/", 1)[-1].startswith(".")
    }
    problems = [f"{p} is not in the manifest" for p in sorted(set(found) - set(listed))]
    for path in listed:
        checksum, info = manifest.checksums.get(path), found.get(path)
        if info is None:
            problems.append(f"{path} is missing")
        elif checksum is not None and int(info["size"]) != checksum.bytes:
            problems.append(f"{path} is {info['size']} bytes; the manifest lists {checksum.bytes}")
        elif checksum is not None:
            try:
                with fs.open(f"{version_dir}/{path}", "rb") as handle:
                    same = footer_digest(handle, checksum.bytes) == checksum.footer_sha256
            except (OSError, ValueError) as exc:
                problems.append(f"{path} is not a whole Parquet file ({exc})")
                continue
            if not same:
                problems.append(f"{path} has changed: its Parquet footer differs from the manifest")
    if problems:
        raise StoreDamagedError(
            f"store version {version_dir} does not match its manifest: "
            f"{'; '.join(problems[:5])}. The store is damaged; nothing is computed from it"
        )
