"""The embedded store: incidents and area layers in a data directory, the only writer of it.

Layout of a store directory::

    CURRENT                          name of the published version, replaced atomically
    .lock                            fcntl lock held by the one writer
    versions/v000007/manifest.json   ingested files, ingests, layers, partitions
    versions/v000007/incidents/source=police_uk/month=2021-01/part.parquet
    versions/v000007/held/source=police_uk/month=2021-01/part.parquet   duplicate rows kept aside
    versions/v000007/layers/ward.parquet       (GeoParquet, EPSG:27700)
    rejects/<ingest-id>.csv          rows each ingest could not use

Incidents are plain Parquet partitioned by source and month (Hive style, values URL-quoted), with
x/y as float columns in EPSG:27700 and one ``area_<layer>`` column per stored layer. A write builds
a complete new version beside the current one (unchanged partition files are hard links, so a
version costs only what changed), then publishes it by renaming the version directory into place
and atomically replacing ``CURRENT``. A process killed at any point leaves the previous version
published and readable; staging left behind is removed by the next writer.

Files are identified by source and file name: re-ingesting a file whose checksum is already stored
changes nothing; a file with the same name but new content supersedes the old one, whose rows are
removed from every month it covered. Each (source, month) partition holds the rows of the live files
covering it; an incident id already stored in that partition by another file is a duplicate, not
stored but held aside, and stored in its place if that other file is replaced without the id (see
:mod:`geo_service.store.merge`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from geo_service import schema
from geo_service.errors import InputError, NotFoundError, StoreError
from geo_service.store import write as _store_write
from geo_service.store.layout import (
    PARTITION_KEYS,
    AssignAreas,
    FileRecord,
    WriteResult,
    check_incidents,
    check_layer,
    conform,
    empty_manifest,
    file_schema,
    partition_dir,
)

__all__ = ["AssignAreas", "FileRecord", "Store", "WriteResult", "partition_dir"]

logger = logging.getLogger(__name__)


class Store:
    """A store directory; reading is always safe, writing takes an exclusive lock."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._held = threading.local()  # per thread: depth of locked() re-entry
        self._writer = threading.Lock()  # one writing thread per Store object
        self._lock_fd: int | None = None

    # ----------------------------------------------------------------------------- reading
    def version(self) -> str | None:
        """Name of the published version, or None for an empty store."""
        try:
            name = (self.root / "CURRENT").read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def manifest(self) -> dict[str, Any]:
        """The published manifest (an empty one when nothing is stored)."""
        version = self.version()
        if version is None:
            return empty_manifest()
        path = self.root / "versions" / version / "manifest.json"
        try:
            return dict(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: store manifest unreadable ({exc})") from exc

    def months(self) -> list[str]:
        """Every month with stored incidents, sorted."""
        return sorted({p["month"] for p in self.manifest()["partitions"].values()})

    def layer_names(self) -> list[str]:
        """Names of the stored area layers, sorted."""
        return sorted(self.manifest()["layers"])

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """The stored area layer ``name`` (standard layer columns, EPSG:27700)."""
        names = self.layer_names()
        if name not in names:
            available = ", ".join(names) or "none (add one with `geo-service boundaries add`)"
            raise NotFoundError(
                f"no area layer {name!r} in store {self.root}; available: {available}"
            )
        return gpd.read_parquet(self._version_dir() / "layers" / f"{name}.parquet")

    def incidents(
        self,
        *,
        sources: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        month_from: str | None = None,
        month_to: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Stored incidents (canonical columns then area columns), filtered.

        Source and month filters prune whole partitions; ``month_from``/``month_to`` are
        inclusive "YYYY-MM" bounds. ``columns`` selects a subset. An empty store gives an empty
        canonical frame.
        """
        manifest = self.manifest()
        layers = sorted(manifest["layers"])
        allowed = [*schema.INCIDENT_COLUMNS, *(schema.area_column(n) for n in layers)]
        wanted = _check_columns(columns, allowed)
        for bound in (month_from, month_to):
            if bound is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", bound):
                raise InputError(f"month {bound!r} is not a month; expected YYYY-MM")
        if not manifest["partitions"]:
            return conform(schema.empty_incidents(), layers)[wanted]
        expression = _filter(sources, categories, month_from, month_to)
        try:
            table = self._dataset(layers).to_table(columns=wanted, filter=expression)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"store {self.root} unreadable ({exc})") from exc
        return conform(table.to_pandas(), layers)[wanted]

    def status(self) -> dict[str, Any]:
        """What the store holds: counts per source/category/month, layers, files, rejects."""
        return _status(self)

    # ----------------------------------------------------------------------------- writing
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's writer lock; StoreError when another thread or process holds it.

        Re-entrant within one thread. Another thread of this process using the same (or another)
        ``Store`` object gets a StoreError at once, as another process does; nobody waits.
        """
        depth = int(getattr(self._held, "depth", 0))
        if depth == 0:
            if not self._writer.acquire(blocking=False):
                raise StoreError(
                    f"store {self.root} is being written by another thread of this process; "
                    "try again when it has finished"
                )
            try:
                self._lock_fd = self._take_file_lock()
            except BaseException:
                self._writer.release()
                raise
        self._held.depth = depth + 1
        try:
            yield
        finally:
            self._held.depth = depth
            if depth == 0:
                self._release_file_lock()

    def _take_file_lock(self) -> int:
        """Open ``<store>/.lock`` and take the exclusive ``flock`` on it; returns the fd."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write store {self.root} ({exc.strerror})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"store {self.root} is being written by another process ({holder}); "
                "try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        return fd

    def _release_file_lock(self) -> None:
        try:
            if self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None
        finally:
            self._writer.release()

    def write_incidents(
        self,
        incidents: pd.DataFrame,
        files: Sequence[FileRecord],
        *,
        rejects: pd.DataFrame,
        kind: str,
        transformation: str | None = None,
        held: pd.DataFrame | None = None,
    ) -> WriteResult:
        """Store the incidents of one ingest (with an area column per stored layer).

        Rows of files already stored (same checksum) are counted as duplicates and not written;
        a file with a known name but new content supersedes the stored one. ``held`` are rows
        the caller already counted as duplicates of ``incidents`` rows from another file (same
        columns): they are kept aside, not stored, and promoted if that other file is replaced.
        """
        with self.locked():
            manifest = self.manifest()
            check_incidents(incidents, sorted(manifest["layers"]))
            plan = _store_write.plan_ingest(manifest, incidents, files, held=held)
            if not plan.new_files:
                return plan.unchanged_result()
            staging, before = self._staging(manifest), self.version()
            ingest = _store_write.ingest_id(files)
            try:
                result = _store_write.write_ingest(
                    self.root, self._current_dir(), staging, manifest, plan, ingest=ingest,
                    kind=kind, transformation=transformation, rejects=rejects,
                )  # fmt: skip
                self._publish(staging, manifest)
            except BaseException:
                if self.version() == before:  # not published: its rejects must not remain
                    _store_write.discard_rejects(self.root, ingest)
                raise
            return result

    def write_layer(
        self,
        name: str,
        layer: gpd.GeoDataFrame,
        *,
        info: Mapping[str, Any],
        assign: AssignAreas | None = None,
        progress: bool = False,
    ) -> None:
        """Store area layer ``name`` with ``info`` (its report, origin) merged into the manifest.

        With ``assign``, every stored incident is re-assigned to all layers (needed when the
        layer is new or its polygons changed); without it the partitions are kept as they are.
        ``progress`` shows a progress bar over the re-assigned months (stderr).
        """
        check_layer(name, layer)
        with self.locked():
            manifest = self.manifest()
            staging = self._staging(manifest)
            _store_write.write_layer(
                self._current_dir(), staging, manifest, name, layer, info=info, assign=assign,
                progress=progress,
            )  # fmt: skip
            self._publish(staging, manifest)

    # ----------------------------------------------------------------------------- internals
    def _version_dir(self) -> Path:
        version = self.version()
        if version is None:
            raise StoreError(f"store {self.root} is empty")
        return self.root / "versions" / version

    def _current_dir(self) -> Path | None:
        version = self.version()
        return None if version is None else self.root / "versions" / version

    def _dataset(self, layers: Sequence[str]) -> ds.Dataset:
        partitioning = ds.partitioning(
            pa.schema([(k, pa.large_string()) for k in PARTITION_KEYS]), flavor="hive"
        )
        full = file_schema(layers)
        for key in PARTITION_KEYS:
            full = full.append(pa.field(key, pa.large_string()))
        return ds.dataset(
            self._version_dir() / "incidents", format="parquet", partitioning=partitioning,
            schema=full,
        )  # fmt: skip

    def _staging(self, manifest: Mapping[str, Any]) -> Path:
        """A fresh staging directory; leftovers of killed writers are removed first."""
        _store_write.remove_orphan_rejects(self.root, manifest)
        return _store_write.new_staging(self.root, self.version())

    def _publish(self, staging: Path, manifest: Mapping[str, Any]) -> None:
        """Make ``staging`` the published version: rename into place, then replace CURRENT."""
        _store_write.publish(self.root, staging, manifest)


# --------------------------------------------------------------------------------- helpers
def _check_columns(columns: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    if columns is None:
        return list(allowed)
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise InputError(f"unknown column(s) {unknown}; allowed: {', '.join(allowed)}")
    return list(columns)


def _filter(
    sources: Sequence[str] | None,
    categories: Sequence[str] | None,
    month_from: str | None,
    month_to: str | None,
) -> ds.Expression | None:
    parts: list[ds.Expression] = []
    if sources is not None:
        parts.append(ds.field("source").isin(list(sources)))
    if month_from is not None:
        parts.append(ds.field("month") >= month_from)
    if month_to is not None:
        parts.append(ds.field("month") <= month_to)
    if categories is not None:
        parts.append(ds.field("category").isin(list(categories)))
    if not parts:
        return None
    expression = parts[0]
    for part in parts[1:]:
        expression = expression & part
    return expression


# ------------------------------------------------------------------------------ status
def _status(store: Store) -> dict[str, Any]:
    manifest = store.manifest()
    layers = sorted(manifest["layers"])
    columns = ["source", "category", "month", "x", *(schema.area_column(n) for n in layers)]
    frame = store.incidents(columns=columns)
    live = [r for r in manifest["files"] if not r.get("superseded_by")]
    return {
        "store": str(store.root),
        "version": store.version(),
        "incidents": len(frame),
        "without_location": int(frame["x"].isna().sum()),
        "sources": {str(s): _source_status(rows) for s, rows in frame.groupby("source", sort=True)},
        "counts": _counts(frame),
        "layers": {n: _layer_status(store, n, manifest["layers"][n], frame) for n in layers},
        "files": manifest["files"],
        "ingests": manifest["ingests"],
        "rejects": {
            "live_files": sum(int(r["rejects"]) for r in live),
            "files": [i["rejects_file"] for i in manifest["ingests"] if i.get("rejects_file")],
        },
    }


def _source_status(rows: pd.DataFrame) -> dict[str, Any]:
    """Incidents, those without location, and counts by month and category of one source."""
    return {
        "incidents": len(rows),
        "without_location": int(rows["x"].isna().sum()),
        "months": {str(k): int(v) for k, v in rows["month"].value_counts().sort_index().items()},
        "categories": {
            str(k): int(v) for k, v in rows["category"].value_counts().sort_index().items()
        },
    }


def _counts(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Incidents per (source, category, month), sorted."""
    counts = frame.groupby(["source", "category", "month"], sort=True).size()
    return [
        {"source": str(s), "category": str(c), "month": str(m), "incidents": int(n)}
        for (s, c, m), n in counts.items()
    ]


def _layer_status(
    store: Store, name: str, entry: Mapping[str, Any], frame: pd.DataFrame
) -> dict[str, Any]:
    layer = store.layer(name)
    area = frame[schema.area_column(name)]
    located = frame["x"].notna()
    return dict(entry) | {
        "areas": len(layer),
        "with_population": int(layer["population"].notna().sum()),
        "with_households": int(layer["households"].notna().sum()),
        "incidents_in_an_area": int(area.notna().sum()),
        "located_outside_every_area": int((located & area.isna()).sum()),
        "incidents_by_area": {
            str(code): int(n)
            for code, n in area.value_counts().reindex(sorted(layer["code"]), fill_value=0).items()
        },
    }
