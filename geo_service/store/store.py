"""The embedded store: incidents and area layers in a data directory, the only writer of it.

Layout of a store directory::

    CURRENT                          name of the published version, replaced atomically
    _current -> _versions/v000007    the open view: a link to the published version
    incidents -> _current/incidents  what GIS tools open (only the published version)
    layers -> _current/layers
    .lock                            fcntl lock held by the one writer
    _versions/v000007/manifest.json  ingested files, ingests, layers, partitions
    _versions/v000007/incidents/source=police_uk/month=2021-01/part.parquet
    _versions/v000007/held/source=police_uk/month=2021-01/part.parquet   duplicates kept aside
    _versions/v000007/layers/ward.parquet      (GeoParquet, EPSG:27700)
    rejects/<ingest-id>.csv          rows each ingest could not use

Incidents are GeoParquet partitioned by source and month (Hive style, values URL-quoted), with
x/y as float columns in EPSG:27700, one ``area_<layer>`` column per stored layer, and a point
geometry with its bbox derived from x/y (:mod:`geo_service.store.layout`), which the store's own
reads never read. A write builds a complete new version beside the current one (unchanged
partition files are hard links, so a version costs only what changed), then publishes it by
renaming the version directory into place, atomically replacing ``CURRENT``, then re-pointing
the ``_current`` link. A process killed at any point leaves the previous version published and
readable (killed after ``CURRENT``, the open view still shows the previous version until the next
write or ``repair``); staging left behind is removed by the next writer. Versions kept under
``versions/`` by stores written before this layout are read there and moved by the next write.

Files are identified by source and file name (:attr:`FileRecord.identity`: a gzipped file by the
name inside): re-ingesting a file whose checksum is already stored changes nothing; a file with the
same name but new content supersedes the old one, whose rows are removed from every month it
covered. A file that is another version of a month held under another name (derived ids it
lacks, :func:`geo_service.store.merge.refuse_other_version`) is refused. Each (source, month)
partition holds the rows of the live files covering it; an incident id already stored in that
partition by another file is a duplicate, not stored but held aside, and stored in its place if
that other file is replaced without the id (see :mod:`geo_service.store.merge`).

The manifest is read into a typed :class:`~geo_service.store.manifest.Manifest`. Every read of a
version's incidents, summary or layers, every look at which version is published (so nothing kept
per version is given out once it is damaged), and every write, which builds on it, first checks its
files against the manifest (:func:`geo_service.store.verify.verify_version`): a listed file
missing, of another size, footer checksum or row count, or an unlisted file among them, raises
:class:`~geo_service.errors.StoreDamagedError` naming the file; only listed files are ever read.
Just before a version is published the checksums of its files are added to its manifest
(:func:`geo_service.store.verify.seal`).

A store given as an fsspec URL of another file system (``s3://bucket/store``) is a local working
copy of it (:mod:`geo_service.store.remote_write`): brought up to the URL's published version
before the first read and under every write, and a version written here is published to the
URL when the write's outermost :meth:`Store.locked` block ends.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from geo_service import schema
from geo_service.coverage import Coverage
from geo_service.errors import (
    InputError,
    NotFoundError,
    StoreBusyError,
    StoreDamagedError,
    StoreError,
)
from geo_service.store import cubes as _cubes
from geo_service.store import remote_write as _remote
from geo_service.store import status as _status
from geo_service.store import verify as _checks
from geo_service.store import write as _store_write
from geo_service.store.faults import fault_point
from geo_service.store.layout import (
    PARTITION_KEYS,
    AssignAreas,
    FileRecord,
    WriteResult,
    check_incidents,
    check_layer,
    conform,
    file_schema,
    partition_dir,
    version_path,
)
from geo_service.store.lock import WriterLock
from geo_service.store.manifest import FileChecksum, LayerInfo, Manifest, Partition, StoredFile
from geo_service.store.write import IngestBatch

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["AssignAreas", "FileRecord", "IngestBatch", "Store", "WriteResult", "partition_dir"]

logger = logging.getLogger(__name__)

#: A read within this many seconds of a check that found the version intact is not checked
#: again: one command's many reads cost one check, a server re-checks at most once a second.
_RECHECK_S = 1.0


class _Cached:
    """What a :class:`Store` has read of one published version (versions never change)."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.seen: _checks.Seen = {}  # stat of each file when last found intact
        self.verified_at = float("-inf")  # time.monotonic() of the last check found intact
        self.summary: pd.DataFrame | None = None
        self.coverage: Coverage | None = None


class Store:
    """A store directory; reading is always safe, writing takes an exclusive lock.

    What a version holds never changes once published, so the manifest and the per-month
    summaries are read once per version and kept; its files are checked against the manifest on
    every read (one not within a second of the last check), re-reading only the files whose
    ``stat`` changed since they were last found intact.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = _local_root(root)
        self._lock = WriterLock(self.root)
        self._cache: dict[str, _Cached] = {}  # version name -> what was read of it
        # A working copy of a store at a URL: brought up to date before the first read.
        self._origin = _remote.Origin.read(self.root)
        self._synced = self._origin is None

    # ----------------------------------------------------------------------------- reading
    def version(self) -> str | None:
        """Name of the published version, or None for an empty store.

        Raises
        ------
        StoreDamagedError
            The version's files do not match its manifest (checked as :meth:`verify` does, at
            most once a second), its manifest is unreadable, or CURRENT is lost. So whatever a
            caller computes and keeps per version (the web's cached pages) is never given out
            for a store damaged since.
        """
        name = self._current_name()
        if name is not None:
            self._verify_version(name)
        return name

    def _current_name(self) -> str | None:
        """The name CURRENT holds (None: an empty store), unchecked."""
        if not self._synced:
            self._sync_for_reading()
        try:
            name = (self.root / "CURRENT").read_text("utf-8").strip()
        except FileNotFoundError:
            # Published versions without CURRENT: damage, not an empty store (a write would
            # otherwise start afresh and remove them as unpublished).
            versions = _checks.kept_versions(self.root)
            if _checks.lost_current(versions):
                raise StoreDamagedError(_checks.missing_current_message(versions)) from None
            return None
        return name or None

    def manifest(self) -> Manifest:
        """The published manifest (an empty one when nothing is stored).

        Raises
        ------
        StoreDamagedError
            The manifest of the published version is missing or unreadable.
        """
        version = self.version()
        return Manifest() if version is None else self._cached(version).manifest

    def months(self) -> list[str]:
        """Every month with stored incidents, sorted."""
        return self.manifest().months()

    def layer_names(self) -> list[str]:
        """Names of the stored area layers, sorted."""
        return self.manifest().layer_names()

    def is_demo(self) -> bool:
        """Whether the store holds the synthetic demo (a layer written as ``synthetic``)."""
        return self.manifest().is_demo()

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """The stored area layer ``name`` (standard layer columns, EPSG:27700)."""
        path = self._layer_path(name)
        try:
            import geopandas as gpd

            return gpd.read_parquet(path)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise StoreDamagedError(f"{path}: stored layer {name!r} unreadable ({exc})") from exc

    def layer_table(self, name: str, columns: Sequence[str]) -> pd.DataFrame:
        """``columns`` of the stored area layer ``name``, without its geometry (so without
        importing geopandas): what ``status`` needs of a layer."""
        path = self._layer_path(name)
        try:
            return pq.read_table(path, columns=list(columns)).to_pandas()
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise StoreDamagedError(f"{path}: stored layer {name!r} unreadable ({exc})") from exc

    def _layer_path(self, name: str) -> Path:
        """The published file of layer ``name``, once the version is checked.

        Raises
        ------
        NotFoundError
            No layer of that name is stored (naming those that are).
        StoreDamagedError
            The version does not match its manifest.
        """
        names = self.layer_names()
        if name not in names:
            available = ", ".join(names) or "none (add one with `geo-service boundaries add`)"
            raise NotFoundError(
                f"no area layer {name!r} in store {self.root}; available: {available}"
            )
        self._verify()
        return self._version_dir() / "layers" / f"{name}.parquet"

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
        canonical frame. Only the partition files the manifest lists are read, after checking
        them against it (:class:`~geo_service.errors.StoreDamagedError` when they differ).
        """
        manifest = self.manifest()
        layers = manifest.layer_names()
        wanted = incident_columns(columns, layers)
        parts = select_partitions(manifest, sources, month_from=month_from, month_to=month_to)
        if not parts:
            return conform(schema.empty_incidents(), layers)[wanted]
        self._verify()
        dataset = partitions_dataset(str(self._version_dir()), parts, layers)
        try:
            table = dataset.to_table(columns=wanted, filter=_category_filter(categories))
        except (OSError, pa.ArrowException) as exc:
            raise StoreDamagedError(
                f"store {self.root}: a partition file of {self.version()} is unreadable "
                f"({_status.one_line(exc)}); "
                "the store is damaged: `geo-service check` names the file, `geo-service repair` "
                "fixes what can be fixed"
            ) from exc
        return conform(table.to_pandas(), layers, columns=wanted)[wanted]

    def unlocated(self) -> pd.DataFrame:
        """Rows and rows without coordinates per source, month and category.

        Returns
        -------
        pandas.DataFrame
            Columns ``source``, ``month``, ``category``, ``rows``, ``unlocated`` (rows lacking
            a finite x or y), one row per combination held, sorted.
        """
        summary = self.summary()
        return summary[["source", "month", "category", "rows", "unlocated"]].copy()

    def coverage(self) -> Coverage:
        """The months each source holds and the detail each carries per category.

        Equal to :meth:`Coverage.from_incidents` of every stored row, computed from the
        per-month summary of the partitions (read once per version, five columns) and kept
        until the store changes.
        """
        version = self.version()
        if version is None:
            return Coverage()
        summary, cached = self._summary(version), self._cached(version)
        if cached.coverage is None:
            cached.coverage = _status.coverage_from_summary(summary)
        return cached.coverage

    def summary(self) -> pd.DataFrame:
        """Counts per source, month and category, from the partition files (kept per version).

        Returns
        -------
        pandas.DataFrame
            Columns ``source``, ``month``, ``category``, ``rows``, ``unlocated`` (rows without
            a finite x or y), ``with_subcategory`` (rows carrying one) and ``with_time`` (rows
            with a known time of day); sorted by source, month, category. Treat as read-only.
        """
        return self._summary(self.version()).copy()

    def verify(self) -> None:
        """Check the published version's files against its manifest (cheap; see the module).

        Raises
        ------
        StoreDamagedError
            A listed file is missing, changed or cut short, or an unlisted one lies among them.
        """
        self._verify()

    def status(self) -> dict[str, Any]:
        """What the store holds, JSON-ready: see :func:`geo_service.store.status.store_status`."""
        return _status.store_status(self)

    def _sync_for_reading(self) -> None:
        """Bring the URL's published version into this working copy (once per ``Store``)."""
        self._synced = True
        if self._origin is None:
            return
        try:
            with self._lock.held():
                self._origin = _remote.sync_down(self.root, self._origin)
        except StoreBusyError:
            logger.warning("%s is being written here; reading the version it holds", self.root)

    # ----------------------------------------------------------------------------- writing
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's writer lock; StoreBusyError when another thread or process holds it.

        Re-entrant within one thread. Another thread of this process using the same (or another)
        ``Store`` object gets a StoreBusyError at once, as another process does; nobody waits.
        For the working copy of a store at a URL the URL's writer lock is held too, its
        published version is brought in first, and a new version written in the block is
        published to the URL when the outermost block ends without error
        (:mod:`geo_service.store.remote_write`).
        """
        with self._lock.held():
            if self._origin is None or self._lock.depth > 1:
                yield
                return
            try:
                with _remote.remote_write(self.root, self._origin) as write:
                    self._synced = True
                    self._cache.clear()
                    yield
            except BaseException:
                # A version published here but not at the URL must not be read: the next
                # read brings the URL's version back.
                self._synced, self._origin = False, _remote.Origin.read(self.root)
                self._cache.clear()
                raise
            self._origin = write.origin

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
            manifest = self._writable()
            check_incidents(incidents, manifest.layer_names())
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
                fault_point("manifest-staged")
                self._publish(staging, manifest)
            except BaseException:
                if self.version() == before:  # not published: its rejects must not remain
                    _store_write.discard_rejects(self.root, ingest)
                raise
            return result

    def remove_files(self, names: Sequence[str]) -> tuple[StoredFile, ...]:
        """Remove stored input files: their rows go from every month they covered, as when a
        file is replaced, but nothing takes their place (held rows of other files are stored
        where the removed files provided their ids). One new version, or none on failure.

        Parameters
        ----------
        names
            Stored files' names as ``status`` lists them (``2021-05-x-street.csv.gz``; a gzipped
            file may also be named without ``.gz``) or the path they were ingested from.

        Returns
        -------
        tuple of StoredFile
            The records removed (as stored before).

        Raises
        ------
        NotFoundError
            A name is no stored live file's; the message lists them.
        InputError
            A name matches files of two sources, or no name is given.
        """
        if not names:
            raise InputError("name the stored files to remove (as status lists them)")
        with self.locked():
            manifest = self._writable()
            gone = _named_files(manifest, names)
            empty = schema.empty_incidents()
            for layer in manifest.layer_names():
                empty[schema.area_column(layer)] = pd.Series(dtype="str")
            plan = _store_write.IngestPlan(
                rows=empty, held=empty, new_files=(), unchanged=(), unchanged_rows=0,
                superseded=gone,
            )  # fmt: skip
            staging = self._staging(manifest)
            _store_write.write_ingest(
                self.root, self._current_dir(), staging, manifest, plan,
                ingest=_store_write.ingest_id([]).replace("-empty", "-remove"), kind="remove",
                transformation=None, rejects=pd.DataFrame(),
            )  # fmt: skip
            self._publish(staging, manifest)
            return gone

    def write_incident_batches(
        self,
        batches: Iterable[IngestBatch | _store_write.StagedBatch] | _store_write.BatchesInto,
        *,
        kind: str,
        transformation: str | None = None,
    ) -> WriteResult:
        """Store one ingest given batch by batch (e.g. a month of files at a time) as ONE version.

        Each batch is merged into the staging version as it arrives, so only one batch's rows
        are held; the version is published after the last, or not at all when a batch fails
        (the store is then as it was). Semantics per batch as :meth:`write_incidents`.
        ``batches`` may be a function of the staging and published folders whose batches
        workers stage themselves (:func:`geo_service.store.write.write_batches`).
        """
        with self.locked():
            manifest = self._writable()
            return _store_write.write_batches(
                self.root, self._current_dir(), manifest, batches, kind=kind,
                transformation=transformation, staging=lambda: self._staging(manifest),
                publish_staged=lambda folder, known: self._publish(folder, manifest, known=known),
            )  # fmt: skip

    def write_layer(
        self,
        name: str,
        layer: gpd.GeoDataFrame,
        *,
        info: LayerInfo,
        assign: AssignAreas | None = None,
        progress: bool = False,
    ) -> None:
        """Store area layer ``name``, recorded in the manifest as ``info`` (origin, report).

        ``info`` is the layer's whole record (take the stored one with
        :func:`dataclasses.replace` to change a part); its ``features`` and ``updated_at``
        are set here.

        With ``assign``, every stored incident is re-assigned to all layers (needed when the
        layer is new or its polygons changed); without it the partitions are kept as they are.
        ``progress`` shows a progress bar over the re-assigned months (stderr).
        """
        check_layer(name, layer)
        with self.locked():
            manifest = self._writable()
            staging = self._staging(manifest)
            _store_write.write_layer(
                self._current_dir(), staging, manifest, name, layer, info=info, assign=assign,
                progress=progress,
            )  # fmt: skip
            fault_point("manifest-staged")
            self._publish(staging, manifest)

    # ----------------------------------------------------------------------------- internals
    def _version_dir(self) -> Path:
        version = self.version()
        if version is None:
            raise StoreError(f"store {self.root} is empty")
        return version_path(self.root, version)

    def _current_dir(self) -> Path | None:
        version = self.version()
        return None if version is None else version_path(self.root, version)

    def _cached(self, version: str) -> _Cached:
        """What was read of ``version``, reading its manifest the first time."""
        cached = self._cache.get(version)
        if cached is None:
            path = version_path(self.root, version) / "manifest.json"
            try:
                manifest = Manifest.from_json(path.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise StoreDamagedError(
                    f"{path}: store manifest unreadable ({exc}); the store is damaged"
                ) from exc
            cached = _Cached(manifest)
            self._cache = {version: cached}  # older versions are never read again
        return cached

    def _verify(self) -> None:
        """Check the published version's files against its manifest (StoreDamagedError)."""
        version = self._current_name()
        if version is not None:
            self._verify_version(version)

    def _verify_version(self, version: str) -> None:
        """Check ``version``'s files, unless a check within :data:`_RECHECK_S` found them intact."""
        cached = self._cached(version)
        if time.monotonic() - cached.verified_at < _RECHECK_S:
            return
        _checks.verify_version(version_path(self.root, version), cached.manifest, seen=cached.seen)
        cached.verified_at = time.monotonic()

    def _writable(self) -> Manifest:
        """The manifest a write starts from, its files checked (a write never builds on damage)."""
        self._verify()
        return self.manifest()

    def _summary(self, version: str | None) -> pd.DataFrame:
        """:meth:`summary` of ``version``, read once."""
        if version is None:
            return _status.summarise(self.root, [])
        self._verify()
        cached = self._cached(version)
        if cached.summary is None:
            parts = list(cached.manifest.partitions.values())
            cached.summary = _status.stored_summary(version_path(self.root, version), parts)
        return cached.summary

    def _staging(self, manifest: Manifest) -> Path:
        """A fresh staging directory; leftovers of killed writers are removed first."""
        _store_write.remove_orphan_rejects(self.root, manifest)
        staging = _store_write.new_staging(self.root, self.version())
        fault_point("staging-created")
        return staging

    def _publish(
        self,
        staging: Path,
        manifest: Manifest,
        *,
        known: Mapping[str, FileChecksum] | None = None,
    ) -> None:
        """Seal ``staging``'s manifest with its files' checksums, then make it the published
        version: rename into place, then replace CURRENT.

        ``manifest`` is the published one ``staging`` was built from; ``known`` are checksums
        workers computed of the files they staged (:func:`geo_service.store.verify.seal`).
        """
        try:
            _checks.seal_staged(
                staging, previous_dir=self._current_dir(), previous=manifest, known=known
            )
        except OSError as exc:  # disk full while recording checksums: nothing is published
            shutil.rmtree(staging, ignore_errors=True)
            raise _store_write.os_error(exc, staging) from exc
        fault_point("manifest-sealed")
        _store_write.publish(self.root, staging, manifest)
        fault_point("published")
        # The change tables read the version's cube: count it now, reusing unchanged partitions.
        _cubes.build_after_publish(self.root)


# --------------------------------------------------------------------------------- helpers
def _named_files(manifest: Manifest, names: Sequence[str]) -> tuple[StoredFile, ...]:
    """The live files of ``manifest`` that ``names`` name (by name, name without ``.gz`` or the
    path ingested from), in the manifest's order."""
    live = manifest.live_files()
    chosen: list[StoredFile] = []
    for name in names:
        found = [
            f for f in live
            if name in (f.key, f.path, f.identity[1]) or Path(name).name == f.key
        ]  # fmt: skip
        if not found:
            listed = ", ".join(sorted({f.key for f in live})) or "none"
            raise NotFoundError(f"no stored file is named {name!r}; stored files: {listed}")
        if len({f.source for f in found}) > 1:
            sources = ", ".join(sorted({f.source for f in found}))
            raise InputError(f"{name!r} names files of several sources ({sources})")
        chosen += [f for f in found if f not in chosen]
    return tuple(f for f in live if f in chosen)


def _local_root(root: Path | str) -> Path:
    """The folder of a store given as a path or a ``file://`` URL; for another URL, its local
    working copy (:func:`geo_service.store.remote_write.working_copy`)."""
    text = str(root)
    if isinstance(root, Path) or "://" not in text:
        return Path(root)
    scheme, _, rest = text.partition("://")
    if scheme == "file":
        return Path(rest)
    return _remote.working_copy(text)


def incident_columns(columns: Sequence[str] | None, layers: Sequence[str]) -> list[str]:
    """``columns`` checked against the incident columns of a store with ``layers`` (all when
    None); InputError naming the unknown ones."""
    allowed = [*schema.INCIDENT_COLUMNS, *(schema.area_column(n) for n in layers)]
    if columns is None:
        return list(allowed)
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise InputError(f"unknown column(s) {unknown}; allowed: {', '.join(allowed)}")
    return list(columns)


def select_partitions(
    manifest: Manifest,
    sources: Sequence[str] | None,
    *,
    month_from: str | None,
    month_to: str | None,
) -> list[Partition]:
    """The partitions of ``sources`` between the inclusive "YYYY-MM" bounds (InputError when a
    bound is not a month)."""
    for bound in (month_from, month_to):
        if bound is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", bound):
            raise InputError(f"month {bound!r} is not a month; expected YYYY-MM")
    return [
        p for p in manifest.partitions.values()
        if (sources is None or p.source in sources)
        and (month_from is None or p.month >= month_from)
        and (month_to is None or p.month <= month_to)
    ]  # fmt: skip


def partitions_dataset(
    version_dir: str,
    parts: Sequence[Partition],
    layers: Sequence[str],
    *,
    filesystem: pafs.FileSystem | None = None,
) -> ds.Dataset:
    """The listed partition files of a version only (a stray file in a month folder is never
    read), with the incident columns alone: the geometry is left unread unless asked for."""
    partitioning = ds.partitioning(
        pa.schema([(k, pa.large_string()) for k in PARTITION_KEYS]), flavor="hive"
    )
    full = file_schema(layers)
    for key in PARTITION_KEYS:
        full = full.append(pa.field(key, pa.large_string()))
    checked = ds.ParquetFragmentScanOptions(page_checksum_verification=True)
    return ds.dataset(
        [f"{version_dir}/{p.path}" for p in parts], partitioning=partitioning,
        format=ds.ParquetFileFormat(default_fragment_scan_options=checked),
        partition_base_dir=f"{version_dir}/incidents", schema=full, filesystem=filesystem,
    )  # fmt: skip


def _category_filter(categories: Sequence[str] | None) -> ds.Expression | None:
    return None if categories is None else ds.field("category").isin(list(categories))
