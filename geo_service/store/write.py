"""Writing the embedded store: staging a new version, partitions, layers, manifest, publishing.

Private to :class:`geo_service.store.Store`, which holds the writer lock and calls these. Every
write builds a complete new version in a staging directory beside the published one (unchanged
files are hard links into it) and :func:`publish` makes it current with two atomic renames, so a
process killed at any point leaves the previous version published. ``current`` is always the
published version directory (None for an empty store).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
from tqdm import tqdm

from geo_service.errors import StoreError
from geo_service.store.faults import fault_point
from geo_service.store.layout import (
    AssignAreas,
    FileRecord,
    WriteResult,
    conform,
    link,
    now_iso,
    read_partition,
    to_arrow,
    write_table,
)
from geo_service.store.manifest import IngestRecord, LayerInfo, Manifest, StoredFile
from geo_service.store.merge import Merged, count_keys, merge_partitions

logger = logging.getLogger(__name__)

_KEEP_VERSIONS = 3


# --------------------------------------------------------------------- staging, publishing
def new_staging(root: Path, current_version: str | None) -> Path:
    """A fresh staging directory; leftovers of killed writers are removed first."""
    versions = root / "versions"
    versions.mkdir(parents=True, exist_ok=True)
    for entry in versions.iterdir():
        if entry.name.startswith(".staging") or (
            entry.name > (current_version or "") and entry.name.startswith("v")
        ):
            logger.info("removing unpublished %s left by an interrupted write", entry.name)
            shutil.rmtree(entry, ignore_errors=True)
    staging = versions / f".staging-{os.getpid()}"
    staging.mkdir()
    return staging


def publish(root: Path, staging: Path, manifest: Manifest) -> None:
    """Make ``staging`` the published version after ``manifest``'s: rename, replace CURRENT."""
    versions = root / "versions"
    name = f"v{manifest.version + 1:06d}"
    target = versions / name
    staging.rename(target)
    fault_point("version-renamed")
    pointer = root / "CURRENT.tmp"
    with open(pointer, "w", encoding="utf-8") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(pointer, root / "CURRENT")
    _fsync_dir(root)
    fault_point("current-replaced")
    old = sorted(p for p in versions.iterdir() if p.name.startswith("v") and p.name < name)
    for stale in old[: max(0, len(old) - (_KEEP_VERSIONS - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    logger.debug("published %s", target)


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
class IngestPlan:
    """Which files of an ingest are new, unchanged or superseding stored ones."""

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
    stored_sha = {(r.source, r.sha256) for r in live}
    unchanged = tuple(f for f in files if (f.source, f.sha256) in stored_sha)
    new_files = tuple(f for f in files if (f.source, f.sha256) not in stored_sha)
    superseded = tuple(
        r for r in live if any(r.source == f.source and r.key == f.key for f in new_files)
    )
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


def ingest_id(files: Sequence[FileRecord]) -> str:
    """A new ingest's id: UTC time stamp and the first file's checksum prefix."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    digest = files[0].sha256[:8] if files else "empty"
    return f"{stamp}-{digest}"


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
    """
    layers = manifest.layer_names()
    merged = merge_partitions(
        current, staging, manifest, plan.rows, plan.superseded, layers, held=plan.held
    )
    _link_layers(current, staging, layers)
    fault_point("partitions-written")
    stored_by_key = count_keys(merged.stored)
    rejects_path = _write_rejects(root, ingest, rejects)
    fault_point("rejects-written")
    _write_ingest_manifest(
        staging, manifest, plan, merged, stored_by_key, ingest=ingest, kind=kind,
        transformation=transformation, rejects_path=rejects_path,
    )  # fmt: skip
    return WriteResult(
        ingest_id=ingest,
        stored=sum(stored_by_key.values()),
        duplicates_in_store=plan.unchanged_rows + merged.duplicates,
        stored_by_file={f.path: stored_by_key.get(f.key, 0) for f in plan.new_files}
        | {f.path: 0 for f in plan.unchanged},
        unchanged_files=tuple(f.path for f in plan.unchanged),
        superseded_files=tuple(r.path for r in plan.superseded),
        rejects_path=rejects_path,
        superseded_keys=tuple((r.source, r.key) for r in plan.superseded),
    )


def _link_layers(current: Path | None, staging: Path, layers: Sequence[str]) -> None:
    for name in layers:
        relative = Path("layers") / f"{name}.parquet"
        link(_current(current) / relative, staging / relative)


# ----------------------------------------------------------------------------- rejects
def _write_rejects(root: Path, ingest: str, rejects: pd.DataFrame) -> Path | None:
    if rejects.empty:
        return None
    folder = root / "rejects"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ingest}.csv"
    temporary = folder / f".{ingest}.csv.tmp"
    rejects.to_csv(temporary, index=False, lineterminator="\n")
    os.replace(temporary, path)
    return path


def discard_rejects(root: Path, ingest: str) -> None:
    """Remove the rejects file of an ingest that failed before it was published."""
    for name in (f"{ingest}.csv", f".{ingest}.csv.tmp"):
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
            path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- manifest
def _file_entries(
    manifest: Manifest,
    plan: IngestPlan,
    merged: Merged,
    stored_by_key: Mapping[str, int],
    *,
    ingest: str,
    transformation: str | None,
    when: str,
) -> tuple[StoredFile, ...]:
    """The manifest's file records: superseded ones marked, promoted rows counted, new added."""
    gone = {(r.source, r.key, r.sha256) for r in plan.superseded}
    files = []
    for r in manifest.files:
        if (r.source, r.key, r.sha256) in gone:
            r = replace(r, superseded_by=ingest)
        elif r.live and (r.source, r.key) in merged.promoted:
            r = replace(r, stored=r.stored + merged.promoted[(r.source, r.key)])
        files.append(r)
    for record in plan.new_files:
        files.append(
            StoredFile.from_record(
                record, stored=stored_by_key.get(record.key, 0), ingest_id=ingest,
                ingested_at=when, transformation=transformation,
            )
        )  # fmt: skip
    return tuple(files)


def _write_ingest_manifest(
    staging: Path,
    manifest: Manifest,
    plan: IngestPlan,
    merged: Merged,
    stored_by_key: Mapping[str, int],
    *,
    ingest: str,
    kind: str,
    transformation: str | None,
    rejects_path: Path | None,
) -> None:
    when = now_iso()
    entry = IngestRecord(
        id=ingest, time=when, kind=kind,
        files=tuple(f.path for f in (*plan.new_files, *plan.unchanged)),
        unchanged_files=tuple(f.path for f in plan.unchanged),
        stored=sum(stored_by_key.values()),
        rejected=sum(f.rejects for f in (*plan.new_files, *plan.unchanged)),
        rejects_file=str(rejects_path) if rejects_path else None,
    )  # fmt: skip
    files = _file_entries(
        manifest, plan, merged, stored_by_key, ingest=ingest, transformation=transformation,
        when=when,
    )  # fmt: skip
    updated = manifest.next_version(
        files=files,
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
    """Stage layer ``name``, the other layers, the partitions (re-assigned with ``assign``)."""
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
            link(source, staging / part.path)
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
