"""Writing the embedded store: staging a new version, partitions, layers, manifest, publishing.

Private to :class:`geo_service.store.Store`, which holds the writer lock and calls these. Every
write builds a complete new version in a staging directory beside the published one (unchanged
files are hard links into it) and :func:`publish` makes it current with two atomic renames, so a
process killed at any point leaves the previous version published. ``current`` is always the
published version directory (None for an empty store).

An ingest may arrive in batches (:func:`write_batches`, e.g. one month of files at a time): each
batch's partitions are merged into the staging version as it comes, so memory is bounded by the
largest batch, and the whole ingest is still published once, at the end, or not at all. A
batch may also arrive already staged (:class:`StagedBatch`): a Dask worker that loaded it merged
its own (source, month) partitions into a folder of the staging version (:func:`stage_alone`),
and this process only moves those files into place and records them.

An operating-system error while writing (disk full, read-only file system, permission) removes
the staging version and the ingest's rejects file and raises one
:class:`~geo_service.errors.StoreError` (exit code 2) naming the path and the reason; the
published version is untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm import tqdm

from geo_service.errors import InputError, StoreError
from geo_service.store.faults import fault_point
from geo_service.store.layout import (
    OLD_VERSIONS,
    VERSIONS,
    VIEW,
    VIEW_LINKS,
    AssignAreas,
    FileRecord,
    WriteResult,
    carry,
    check_incidents,
    conform,
    link,
    now_iso,
    read_partition,
    to_arrow,
    version_path,
    write_table,
)
from geo_service.store.manifest import (
    FileChecksum,
    IngestRecord,
    LayerInfo,
    Manifest,
    Partition,
    StoredFile,
)
from geo_service.store.merge import Merged, link_unstaged, merge_batch
from geo_service.store.verify import file_checksum, kept_versions

if TYPE_CHECKING:
    import geopandas as gpd

logger = logging.getLogger(__name__)

_KEEP_VERSIONS = 3


# ------------------------------------------------------------------------- OS errors
def os_error(exc: OSError, path: Path | str | None = None) -> StoreError:
    """One line naming the path and the operating system's reason; the store is unchanged."""
    where = exc.filename if exc.filename is not None else path
    reason = exc.strerror or str(exc)
    return StoreError(
        f"{where}: cannot write to the store ({reason}); nothing was changed, the store is as "
        "it was"
    )


@contextlib.contextmanager
def _cleaned_up(staging: Path | Sequence[Path]) -> Iterator[None]:
    """Remove ``staging`` (a path, or those of a list filled later) when the block fails; an
    OSError becomes one :class:`StoreError`."""
    folders = [staging] if isinstance(staging, Path) else staging
    try:
        yield
    except OSError as exc:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        raise os_error(exc, folders[0] if folders else None) from exc
    except BaseException:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        raise


# --------------------------------------------------------------------- staging, publishing
def new_staging(root: Path, current_version: str | None) -> Path:
    """A fresh staging directory; leftovers of killed writers are removed first."""
    versions = root / VERSIONS
    try:
        versions.mkdir(parents=True, exist_ok=True)
        for folder in (versions, root / OLD_VERSIONS):
            for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
                if entry.name.startswith(".staging") or (
                    entry.name > (current_version or "") and entry.name.startswith("v")
                ):
                    logger.info("removing unpublished %s left by an interrupted write", entry.name)
                    shutil.rmtree(entry, ignore_errors=True)
        staging = versions / f".staging-{os.getpid()}"
        staging.mkdir()
    except OSError as exc:
        raise os_error(exc, versions) from exc
    return staging


def publish(root: Path, staging: Path, manifest: Manifest) -> None:
    """Make ``staging`` the published version after ``manifest``'s: rename, replace CURRENT,
    then point the open view at it (:func:`point_view`).

    Replacing ``CURRENT`` is the moment of publication: an OS error before it removes the new
    version (the previous one stays published) and raises :class:`StoreError`. A process killed
    between it and the view's link leaves the view on the previous version (whole, never a
    mixture) until the next write or ``repair`` points it again.
    """
    name = f"v{manifest.version + 1:06d}"
    target = root / VERSIONS / name
    pointer = root / "CURRENT.tmp"
    try:
        staging.rename(target)
        fault_point("version-renamed")
        with open(pointer, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, root / "CURRENT")
        fault_point("current-replaced")
    except OSError as exc:
        pointer.unlink(missing_ok=True)
        for unpublished in (target, staging):
            shutil.rmtree(unpublished, ignore_errors=True)
        raise os_error(exc, target) from exc
    try:
        _fsync_dir(root)
    except OSError as exc:  # published already: the next writer's fsync makes it durable
        logger.warning("%s: published, but the folder could not be synced (%s)", root, exc)
    point_view(root, name)
    _move_old_versions(root)
    older = [v for v in kept_versions(root) if v < name]
    for stale in older[: max(0, len(older) - (_KEEP_VERSIONS - 1))]:
        shutil.rmtree(version_path(root, stale), ignore_errors=True)
    logger.debug("published %s", target)


def point_view(root: Path, name: str) -> bool:
    """Point the open view at version ``name``: ``_current`` -> ``_versions/<name>`` (a relative
    link, replaced atomically), with the fixed links ``incidents`` and ``layers`` into it.

    What a GIS tool opens at ``<store>/incidents`` is then exactly the published version. Where
    the file system has no symbolic links the view is left out (a warning; returns False) and
    the store works as before; ``incidents`` or ``layers`` held by a folder is left alone
    (``check`` notes it, ``repair`` moves it aside).
    """
    try:
        temporary = root / f".{VIEW}.tmp"
        temporary.unlink(missing_ok=True)
        target = version_path(root, name).relative_to(root).as_posix()
        os.symlink(target, temporary, target_is_directory=True)
        view = root / VIEW
        if view.is_dir() and not view.is_symlink():  # a copy that followed the link
            shutil.rmtree(view)
        os.replace(temporary, view)
        for link_name in VIEW_LINKS:  # never left dangling: a copy would stop at it
            fixed, shown = root / link_name, (view / link_name).is_dir()
            if shown and not fixed.is_symlink() and not fixed.exists():
                os.symlink(f"{VIEW}/{link_name}", fixed, target_is_directory=True)
            elif not shown and fixed.is_symlink():
                fixed.unlink()
    except OSError as exc:
        logger.warning(
            "%s: the open view (%s, incidents, layers) cannot be linked (%s); tools must open "
            "%s/%s/incidents", root, VIEW, exc, VERSIONS, name,
        )  # fmt: skip
        return False
    return True


def _move_old_versions(root: Path) -> None:
    """Move the versions of a store written before the open layout into :data:`VERSIONS`.

    Only once a version in :data:`VERSIONS` is published, so the published one is never moved.
    """
    old = root / OLD_VERSIONS
    if not old.is_dir():
        return
    try:
        for entry in sorted(old.iterdir()):
            target = root / VERSIONS / entry.name
            if entry.name.startswith(".staging"):
                shutil.rmtree(entry, ignore_errors=True)
            elif not target.exists():
                os.replace(entry, target)
        old.rmdir()
        logger.info("%s: versions moved to %s/ (the open layout)", root, VERSIONS)
    except OSError as exc:  # harmless: both folders are read
        logger.warning("%s: old versions not all moved to %s/ (%s)", root, VERSIONS, exc)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _current(current: Path | None) -> Path:
    if current is None:
        raise StoreError("the store is empty")
    return current


# ------------------------------------------------------------------------ ingest writes
@dataclass(frozen=True)
class IngestBatch:
    """Part of an ingest: rows (area columns for every stored layer), their files, rejects.

    ``held`` are rows the loader counted as duplicates of ``incidents`` rows from another file
    of the batch (same columns): kept aside, not stored, promoted if that file is replaced.
    A batch may list files without rows (files already stored, checked by checksum before
    reading): they are recorded as unchanged.
    """

    incidents: pd.DataFrame
    files: tuple[FileRecord, ...]
    rejects: pd.DataFrame
    held: pd.DataFrame | None = None


#: Folder of the staging version where workers stage their batches before they are moved in.
BATCHES = ".batches"


@dataclass(frozen=True)
class StagedBatch:
    """A batch whose partitions a worker merged itself (:func:`stage_alone`): no rows, only
    what the manifest and the summary need.

    ``folder`` (relative to the staging version) holds the batch's partition and held files at
    their store paths; ``partitions`` and ``held`` give each (source, month) the batch merged
    its entry after the merge (None: left empty). ``reload`` loads the batch again in this
    process, used when an earlier batch staged here touched one of its partitions.
    ``checksums`` are the :class:`FileChecksum` of each file the worker wrote, by its path in
    the version, so the writer seals the version without reading those bytes again.
    """

    files: tuple[FileRecord, ...]
    rejects: pd.DataFrame
    plan: IngestPlan
    folder: str
    partitions: dict[tuple[str, str], Partition | None]
    held: dict[tuple[str, str], Partition | None]
    stored: dict[str, int]
    promoted: dict[tuple[str, str], int]
    duplicates: int
    reload: Callable[[], IngestBatch] | None = None
    checksums: dict[str, FileChecksum] = field(default_factory=dict)


#: What an ingest's batches are made from when workers stage them: a function of the staging
#: version's folder and the published version's folder (None: empty store).
BatchesInto = Callable[[Path, Path | None], Iterable["IngestBatch | StagedBatch"]]


@dataclass(frozen=True)
class IngestPlan:
    """Which files of an ingest (or of one batch) are new, unchanged or superseding stored ones."""

    rows: pd.DataFrame  # rows of new or changed files
    held: pd.DataFrame  # rows of new or changed files repeating an id of ``rows`` (not stored)
    new_files: tuple[FileRecord, ...]
    unchanged: tuple[FileRecord, ...]
    unchanged_rows: int
    superseded: tuple[StoredFile, ...]

    def unchanged_result(self) -> WriteResult:
        """The result of an ingest that changes nothing."""
        return WriteResult(
            ingest_id=None,
            stored=0,
            duplicates_in_store=self.unchanged_rows,
            stored_by_file={f.path: 0 for f in self.unchanged},
            unchanged_files=tuple(f.path for f in self.unchanged),
            superseded_files=(),
            rejects_path=None,
        )


def plan_ingest(
    manifest: Manifest,
    incidents: pd.DataFrame,
    files: Sequence[FileRecord],
    *,
    held: pd.DataFrame | None = None,
) -> IngestPlan:
    """Sort ``files`` into new, unchanged (same checksum stored) and superseding ones."""
    live = manifest.live_files()
    stored_sha = {r.content for r in live}
    unchanged = tuple(f for f in files if f.content in stored_sha)
    new_files = tuple(f for f in files if f.content not in stored_sha)
    replacing = {f.identity: f for f in new_files}
    superseded = tuple(r for r in live if r.identity in replacing)
    for old in superseded:
        _refuse_lost_months(old, replacing[old.identity])
    superseded += _copies_of(superseded, live, kept={f.content for f in unchanged})
    from_unchanged = incidents["source_file"].isin([f.key for f in unchanged]).to_numpy()
    held = incidents.iloc[0:0] if held is None else held
    return IngestPlan(
        rows=incidents.loc[~from_unchanged],
        held=held.loc[held["source_file"].isin([f.key for f in new_files]).to_numpy()],
        new_files=new_files,
        unchanged=unchanged,
        unchanged_rows=int(from_unchanged.sum()),
        superseded=superseded,
    )


def _copies_of(
    replaced: Sequence[StoredFile], live: Sequence[StoredFile], *, kept: set[Any]
) -> tuple[StoredFile, ...]:
    """Live files that go with ``replaced``: of a source and months among theirs, storing
    nothing of their own (every row a duplicate, held aside: a copy or a part of what the store
    holds). Kept, their held rows would be stored in place of the replaced file's and bring back
    what its newer version changed or dropped. ``kept``: contents given again in this ingest."""
    months = {(r.source, m) for r in replaced for m in r.months}
    gone = {r.identity for r in replaced}
    copies = tuple(
        r for r in live
        if r.identity not in gone and r.content not in kept and r.stored == 0 and r.months
        and all((r.source, m) in months for m in r.months)
    )  # fmt: skip
    for copy in copies:
        logger.warning(
            "%s: stored nothing of its own (a copy or a part of %s) and goes with it",
            copy.key, ", ".join(sorted(r.key for r in replaced)),
        )  # fmt: skip
    return copies


def _refuse_lost_months(old: StoredFile, new: FileRecord) -> None:
    """A file replacing a stored one of its name must hold every month that one held: else the
    name is being reused for other data (a month would silently go)."""
    lost = sorted(set(old.months) - set(new.months))
    if lost:
        raise InputError(
            f"{new.path}: has the name of the stored file {old.key}, so it would replace it, but "
            f"it holds no rows of {', '.join(lost)}, which that file holds: those months would "
            "go. Give it another name; or, if those months should go, remove the stored file "
            f"first (geo-service remove '{old.key}'), then ingest it."
        )


def ingest_id(files: Sequence[FileRecord]) -> str:
    """A new ingest's id: UTC time stamp and the first file's checksum prefix."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    digest = files[0].sha256[:8] if files else "empty"
    return f"{stamp}-{digest}"


def stage_alone(
    current: Path | None,
    staging: Path,
    manifest: Manifest,
    batch: IngestBatch,
    *,
    month: str,
    folder: str,
) -> StagedBatch | None:
    """On a worker: merge ``batch`` into its own folder of the staging version, if it is alone.

    The batch is merged against the published version into ``staging/folder``, as the writer
    would merge it there. It is alone when every (source, month) it touches (its rows', held
    rows' and superseded files' months) is ``month``, the month of its files' names, which no
    other batch of the ingest shares. Otherwise its folder is removed and None returned: the
    batch's rows must be merged in order by the writer.
    """
    check_incidents(batch.incidents, manifest.layer_names())
    plan = plan_ingest(manifest, batch.incidents, batch.files, held=batch.held)
    merged = Merged.start(manifest)
    if plan.new_files or plan.superseded:
        merge_batch(
            current, staging / folder, merged, plan.rows, plan.superseded,
            manifest.layer_names(), held=plan.held,
        )  # fmt: skip
    if any(key[1] != month for key in merged.touched):
        shutil.rmtree(staging / folder, ignore_errors=True)
        return None
    written = [e for e in (*merged.partitions.values(), *merged.held.values())
               if (e.source, e.month) in merged.touched]  # fmt: skip
    return StagedBatch(
        files=batch.files,
        rejects=batch.rejects,
        plan=replace(plan, rows=plan.rows.iloc[0:0], held=plan.held.iloc[0:0]),
        folder=folder,
        partitions={key: merged.partitions.get(key) for key in merged.touched},
        held={key: merged.held.get(key) for key in merged.touched},
        stored=dict(merged.stored),
        promoted=dict(merged.promoted),
        duplicates=merged.duplicates,
        # Hashed here, where the bytes were just written: the writer need not read them again.
        checksums={e.path: file_checksum(staging / folder / e.path) for e in written},
    )


def write_ingest(
    root: Path,
    current: Path | None,
    staging: Path,
    manifest: Manifest,
    plan: IngestPlan,
    *,
    ingest: str,
    kind: str,
    transformation: str | None,
    rejects: pd.DataFrame,
) -> WriteResult:
    """Stage the partitions, held rows, layers, rejects and manifest of one ingest (``ingest``).

    The rejects file is written before the version is published, so a published manifest never
    names a missing one; :func:`remove_orphan_rejects` removes those of ingests never published.
    On failure the staging version and the rejects file are removed (OS errors: StoreError).
    """
    writer = IngestWriter(root, current, lambda: staging, manifest, kind=kind, ingest=ingest)
    try:
        with _cleaned_up(staging):
            writer.add_plan(plan, rejects)
            return writer.finish(transformation=transformation)
    except BaseException:
        writer.discard()
        raise


def write_batches(
    root: Path,
    current: Path | None,
    manifest: Manifest,
    batches: Iterable[IngestBatch | StagedBatch] | BatchesInto,
    *,
    staging: Callable[[], Path],
    publish_staged: Callable[[Path, Mapping[str, FileChecksum]], None],
    kind: str,
    transformation: str | None,
) -> WriteResult:
    """Stage an ingest batch by batch and publish it once (nothing, if no file is new).

    ``publish_staged(folder, known)`` seals and publishes the finished staging folder (the
    store's own publishing step, which records the files' checksums first); ``known`` are the
    checksums workers computed of the files they staged.

    ``batches`` is consumed here, one at a time (a generator may load each batch only when
    asked), so at most one batch's rows are held. The staging version is made (``staging()``)
    when the first new file arrives: an ingest of files already stored writes nothing at all.
    When ``batches`` is a function (:data:`BatchesInto`) the staging version is made first and
    given to it, with the published version's folder, so workers can stage batches into it.
    A failure at any point (in a batch's loading included) removes the staging version and the
    rejects file: the store is as it was.
    """
    made: list[Path] = []

    def folder() -> Path:
        if not made:
            made.append(staging())
        return made[0]

    writer = IngestWriter(root, current, folder, manifest, kind=kind)
    try:
        with _cleaned_up(made):
            if callable(batches):
                batches = batches(folder().resolve(), current.resolve() if current else None)
            for batch in batches:
                if isinstance(batch, StagedBatch):
                    if writer.add_staged(batch):
                        continue
                    if batch.reload is None:
                        raise StoreError(f"batch {batch.folder} overlaps an earlier one")
                    batch = batch.reload()
                check_incidents(batch.incidents, manifest.layer_names())
                writer.add(batch)
            if not writer.changed:
                writer.discard()
                for unused in made:
                    shutil.rmtree(unused, ignore_errors=True)
                return writer.unchanged_result()
            result = writer.finish(transformation=transformation)
        fault_point("manifest-staged")
        publish_staged(folder(), writer.known_checksums())
    except BaseException:
        writer.discard()
        raise
    return result


@dataclass
class _Files:
    """The files an ingest has seen so far, sorted as the store treats them."""

    new: list[FileRecord] = field(default_factory=list)
    unchanged: list[FileRecord] = field(default_factory=list)
    superseded: list[StoredFile] = field(default_factory=list)
    unchanged_rows: int = 0


class IngestWriter:
    """One ingest being staged: batches merged into a staging version as they come, then finished.

    ``staging()`` gives the staging version's folder, asked for when first needed. The ingest's
    id is taken from its first batch's files unless given.
    """

    @property
    def staging(self) -> Path:
        """The staging version's folder."""
        return self._staging()

    def __init__(
        self,
        root: Path,
        current: Path | None,
        staging: Callable[[], Path],
        manifest: Manifest,
        *,
        kind: str,
        ingest: str | None = None,
    ) -> None:
        self.root, self.current, self.manifest = root, current, manifest
        self._staging = staging
        self.kind, self.ingest = kind, ingest
        self.files = _Files()
        self.merged = Merged.start(manifest)
        self._rejects: _RejectsFile | None = None
        #: Checksums workers computed of the files they staged, by (source, month).
        self._known: dict[tuple[str, str], dict[str, FileChecksum]] = {}

    @property
    def changed(self) -> bool:
        """Whether any file is new or changed (otherwise nothing is published)."""
        return bool(self.files.new)

    def add(self, batch: IngestBatch) -> None:
        """Plan one batch against the published manifest and stage its partitions."""
        plan = plan_ingest(self.manifest, batch.incidents, batch.files, held=batch.held)
        self.add_plan(plan, batch.rejects, files=batch.files)

    def add_plan(
        self, plan: IngestPlan, rejects: pd.DataFrame, *, files: Sequence[FileRecord] = ()
    ) -> None:
        """Stage one planned batch: its rows merged, its files and rejects recorded."""
        self._record(plan, files)
        if plan.new_files or plan.superseded:
            before, self.merged.touched = self.merged.touched, set()
            merge_batch(
                self.current, self.staging, self.merged, plan.rows, plan.superseded,
                self.manifest.layer_names(), held=plan.held,
            )  # fmt: skip
            for key in self.merged.touched:  # rewritten here: a worker's checksum is stale
                self._known.pop(key, None)
            self.merged.touched |= before
        self._add_rejects(rejects)

    def add_staged(self, batch: StagedBatch) -> bool:
        """Move a batch a worker staged into place and record it; False (nothing done, its
        folder removed) when an earlier batch merged here touched one of its partitions: the
        worker merged against the published files, so the batch must be merged again here.
        """
        folder = self.staging / batch.folder
        keys = set(batch.partitions) | set(batch.held)
        if keys & self.merged.touched:
            shutil.rmtree(folder, ignore_errors=True)
            return False
        self._record(batch.plan, batch.files)
        merged = self.merged
        for name, entries, into in (
            ("incidents", batch.partitions, merged.partitions),
            ("held", batch.held, merged.held),
        ):
            for key, entry in entries.items():
                if entry is None:
                    into.pop(key, None)
                    continue
                target = self.staging / entry.path
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(folder / entry.path, target)
                into[key] = entry
                merged.staged.add((name, key))
        merged.touched |= keys
        for file_key, count in batch.stored.items():
            merged.stored[file_key] = merged.stored.get(file_key, 0) + count
        for name_key, count in batch.promoted.items():
            merged.promoted[name_key] = merged.promoted.get(name_key, 0) + count
        merged.duplicates += batch.duplicates
        for key in keys:
            paths = {e.path for e in (batch.partitions.get(key), batch.held.get(key)) if e}
            self._known[key] = {p: c for p, c in batch.checksums.items() if p in paths}
        shutil.rmtree(folder, ignore_errors=True)
        self._add_rejects(batch.rejects)
        return True

    def known_checksums(self) -> dict[str, FileChecksum]:
        """Checksums of staged files computed where they were written (by their path in the
        version), for :func:`geo_service.store.verify.seal`."""
        return {path: c for by_path in self._known.values() for path, c in by_path.items()}

    def _record(self, plan: IngestPlan, files: Sequence[FileRecord]) -> None:
        if self.ingest is None:
            self.ingest = ingest_id([*plan.new_files, *plan.unchanged] or files)
        self.files.new += plan.new_files
        self.files.unchanged += plan.unchanged
        self.files.superseded += plan.superseded
        self.files.unchanged_rows += plan.unchanged_rows

    def _add_rejects(self, rejects: pd.DataFrame) -> None:
        if not rejects.empty:
            if self._rejects is None:
                self._rejects = _RejectsFile(self.root, self.ingest or ingest_id([]))
            self._rejects.append(rejects)

    def unchanged_result(self) -> WriteResult:
        """The result when no file was new: nothing written."""
        return WriteResult(
            ingest_id=None,
            stored=0,
            duplicates_in_store=self.files.unchanged_rows,
            stored_by_file={f.path: 0 for f in self.files.unchanged},
            unchanged_files=tuple(f.path for f in self.files.unchanged),
            superseded_files=(),
            rejects_path=None,
        )

    def finish(self, *, transformation: str | None) -> WriteResult:
        """Link what no batch touched, write the rejects and the manifest into the staging."""
        ingest = self.ingest or ingest_id([])
        layers = self.manifest.layer_names()
        shutil.rmtree(self.staging / BATCHES, ignore_errors=True)
        link_unstaged(self.current, self.staging, self.merged)
        _link_layers(self.current, self.staging, layers)
        fault_point("partitions-written")
        rejects_path = self._rejects.close() if self._rejects is not None else None
        fault_point("rejects-written")
        stored_by_key = self.merged.stored
        _write_ingest_manifest(
            self.staging, self.manifest, self.files, self.merged, ingest=ingest, kind=self.kind,
            transformation=transformation, rejects_path=rejects_path,
        )  # fmt: skip
        files = self.files
        return WriteResult(
            ingest_id=ingest,
            stored=sum(stored_by_key.values()),
            duplicates_in_store=files.unchanged_rows + self.merged.duplicates,
            stored_by_file={f.path: stored_by_key.get(f.key, 0) for f in files.new}
            | {f.path: 0 for f in files.unchanged},
            unchanged_files=tuple(f.path for f in files.unchanged),
            superseded_files=tuple(r.path for r in files.superseded),
            rejects_path=rejects_path,
            superseded_keys=tuple(r.identity for r in files.superseded),
        )

    def discard(self) -> None:
        """Remove this ingest's rejects file (the ingest was not published)."""
        if self.ingest is not None:
            discard_rejects(self.root, self.ingest)


def _link_layers(current: Path | None, staging: Path, layers: Sequence[str]) -> None:
    for name in layers:
        relative = Path("layers") / f"{name}.parquet"
        link(_current(current) / relative, staging / relative)


# ----------------------------------------------------------------------------- rejects
class _RejectsFile:
    """The rejects of one ingest, appended batch by batch to a temporary CSV, then renamed.

    Its recorded path is absolute (resolved), so it names the file whatever folder a later
    command runs in.
    """

    def __init__(self, root: Path, ingest: str) -> None:
        folder = root.resolve() / "rejects"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{ingest}.csv"
        self.temporary = folder / f".{ingest}.csv.tmp"
        self.temporary.unlink(missing_ok=True)
        self._header = True

    def append(self, rejects: pd.DataFrame) -> None:
        try:
            rejects.to_csv(
                self.temporary, index=False, lineterminator="\n", mode="a", header=self._header
            )
        except OSError as exc:  # pandas' errors may not name the file
            raise OSError(exc.errno, exc.strerror or str(exc), str(self.temporary)) from exc
        self._header = False

    def close(self) -> Path:
        os.replace(self.temporary, self.path)
        return self.path


def discard_rejects(root: Path, ingest: str) -> None:
    """Remove the rejects file of an ingest that failed before it was published."""
    for name in (f"{ingest}.csv", f".{ingest}.csv.tmp"):
        with contextlib.suppress(OSError):
            (root / "rejects" / name).unlink(missing_ok=True)


def remove_orphan_rejects(root: Path, manifest: Manifest) -> None:
    """Remove rejects files of ingests the published manifest does not hold (killed writers)."""
    folder = root / "rejects"
    if not folder.is_dir():
        return
    published = {f"{i.id}.csv" for i in manifest.ingests}
    for path in folder.iterdir():
        if path.is_file() and path.name not in published:
            logger.info("removing %s left by an ingest that was never published", path)
            with contextlib.suppress(OSError):  # a read-only store fails where it writes
                path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- manifest
def _file_entries(
    manifest: Manifest,
    files: _Files,
    merged: Merged,
    *,
    ingest: str,
    transformation: str | None,
    when: str,
) -> tuple[StoredFile, ...]:
    """The manifest's file records: superseded ones marked, promoted rows counted, new added."""
    gone = {(r.source, r.key, r.sha256) for r in files.superseded}
    entries = []
    for r in manifest.files:
        if (r.source, r.key, r.sha256) in gone:
            r = replace(r, superseded_by=ingest)
        elif r.live and (r.source, r.key) in merged.promoted:
            r = replace(r, stored=r.stored + merged.promoted[(r.source, r.key)])
        entries.append(r)
    for record in files.new:
        stored = merged.stored.get(record.key, 0) + merged.promoted.get(
            (record.source, record.key), 0
        )
        entries.append(
            StoredFile.from_record(
                record, stored=stored, ingest_id=ingest, ingested_at=when,
                transformation=transformation,
            )
        )  # fmt: skip
    return tuple(entries)


def _write_ingest_manifest(
    staging: Path,
    manifest: Manifest,
    files: _Files,
    merged: Merged,
    *,
    ingest: str,
    kind: str,
    transformation: str | None,
    rejects_path: Path | None,
) -> None:
    when = now_iso()
    every = (*files.new, *files.unchanged)
    entry = IngestRecord(
        id=ingest, time=when, kind=kind,
        files=tuple(f.path for f in every),
        unchanged_files=tuple(f.path for f in files.unchanged),
        stored=sum(merged.stored.values()),
        rejected=sum(f.rejects for f in every),
        rejects_file=str(rejects_path) if rejects_path else None,
    )  # fmt: skip
    entries = _file_entries(
        manifest, files, merged, ingest=ingest, transformation=transformation, when=when
    )
    updated = manifest.next_version(
        files=entries,
        ingests=(*manifest.ingests, entry),
        partitions=dict(merged.partitions),
        held=dict(merged.held),
    )
    _write_manifest(staging, updated)


def _write_manifest(staging: Path, manifest: Manifest) -> None:
    (staging / "manifest.json").write_text(manifest.to_json(), "utf-8")


# ------------------------------------------------------------------------ layer writes
def write_layer(
    current: Path | None,
    staging: Path,
    manifest: Manifest,
    name: str,
    layer: gpd.GeoDataFrame,
    *,
    info: LayerInfo,
    assign: AssignAreas | None,
    progress: bool = False,
) -> None:
    """Stage layer ``name``, the other layers, the partitions (re-assigned with ``assign``).

    On failure the staging version is removed (an OS error raises :class:`StoreError`).
    """
    with _cleaned_up(staging):
        _stage_layer_version(
            current, staging, manifest, name, layer, info=info, assign=assign, progress=progress
        )


def _stage_layer_version(
    current: Path | None,
    staging: Path,
    manifest: Manifest,
    name: str,
    layer: gpd.GeoDataFrame,
    *,
    info: LayerInfo,
    assign: AssignAreas | None,
    progress: bool,
) -> None:
    import geopandas as gpd

    names = sorted(set(manifest.layers) | {name})
    if assign is None and name not in manifest.layers and manifest.partitions:
        raise StoreError(f"new layer {name!r} needs its incidents assigned")
    _stage_layers(current, staging, names, name, layer)
    all_layers = (
        {n: layer if n == name else gpd.read_parquet(staging / "layers" / f"{n}.parquet")
         for n in names} if assign else {}
    )  # fmt: skip
    parts = [*manifest.partitions.values(), *manifest.held.values()]
    if assign is not None and parts:
        logger.debug("assigning the incidents of %d partitions to %s", len(parts), names)
    for part in tqdm(parts, desc="assigning areas", unit="month", disable=not progress):
        source = _current(current) / part.path
        if assign is None:
            carry(source, staging / part.path)
            continue
        frame = conform(read_partition(source).to_pandas(), [])
        frame = frame.assign(source=part.source, month=part.month)
        write_table(to_arrow(assign(frame, all_layers), names), staging / part.path)
    entry = replace(info, features=len(layer), updated_at=now_iso())
    _write_manifest(staging, manifest.next_version(layers=dict(manifest.layers) | {name: entry}))


def _stage_layers(
    current: Path | None, staging: Path, names: Sequence[str], name: str, layer: gpd.GeoDataFrame
) -> None:
    """Write layer ``name`` into the staging version and link the other stored layers."""
    (staging / "layers").mkdir(parents=True, exist_ok=True)
    layer.to_parquet(staging / "layers" / f"{name}.parquet")
    _link_layers(current, staging, [other for other in names if other != name])
