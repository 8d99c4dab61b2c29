"""Repairing a store from its manifests, never inventing a row (``geo-service repair``).

What :func:`repair_store` does, under the writer lock, in this order:

1. A listed file that is missing or changed is restored from an identical copy (same recorded
   SHA-256) lying elsewhere: an unlisted file in the same folder (``part (1).parquet`` when a
   sync tool renamed the original) or the same path in a kept earlier version.
2. Unlisted files among the partitions and layers (and dot-files) are moved aside to
   ``<store>/removed/<time>/``, never deleted, so nothing the user put there is lost.
3. The kept summary (a derived file) is rebuilt when it disagrees with the partitions.
4. If the published version is still damaged (or CURRENT or its manifest is), a version that
   loses no row it keeps is published instead, whichever leaves fewer input files out: the
   damaged version without its damaged partitions and the files behind them (when those files
   have no rows elsewhere, as a police.uk month file), or the newest kept version that checks
   clean. The damaged version is moved aside, and the input files left out are named with their
   recorded checksums, to be ingested again (the store then takes them: their checksums are no
   longer stored). With neither possible the input files behind the damaged files are named.
5. A clean version written before checksums were recorded has them added to its manifest.
6. Leftovers of interrupted writes are removed (staging, orphan rejects) or, for versions
   never published, moved aside; the open view (``_current``) is pointed at the published
   version if a killed writer left it on the one before.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from geo_service.store import status as _status
from geo_service.store import verify as _checks
from geo_service.store.layout import (
    OLD_VERSIONS,
    VERSIONS,
    VIEW,
    VIEW_LINKS,
    link,
    version_path,
    view_target,
)
from geo_service.store.lock import WriterLock
from geo_service.store.manifest import Manifest, StoredFile
from geo_service.store.write import (
    new_staging,
    point_view,
    publish,
    remove_orphan_rejects,
)


@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair_store` did (``actions``), what it could not fix (``unrepaired``),
    the input files to ingest again (``reingest``) and the version published after it."""

    store: Path
    version: str | None
    actions: tuple[str, ...]
    unrepaired: tuple[str, ...]
    reingest: tuple[str, ...]

    @property
    def clean(self) -> bool:
        """Whether the store checks clean after the repair."""
        return not self.unrepaired


def repair_store(root: Path) -> RepairReport:
    """Repair the store at ``root`` as far as its manifests allow (see the module).

    Raises
    ------
    StoreBusyError
        Another process is writing the store.
    StoreError
        ``root`` is the working copy of a store at a URL (repaired where it lies, not here).
    """
    from geo_service.store.remote_write import refuse_repair

    refuse_repair(root)
    with WriterLock(root).held():
        aside = root / "removed" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        actions: list[str] = []
        reingest: list[str] = []
        version, _ = _checks.read_current(root)
        manifest = _mend_version(root, version, aside, actions)
        if _damaged(root, version, manifest):
            version, reingest = _recover(root, version, manifest, aside, actions)
        elif version is not None and manifest is not None:
            _seal_if_unsealed(version_path(root, version), manifest, actions)
        _remove_leftovers(root, version, aside, actions)
        final = _checks.check_store(root)
        return RepairReport(
            store=root,
            version=final.version,
            actions=tuple(actions),
            unrepaired=tuple(p.message for p in final.problems),
            reingest=tuple(reingest),
        )


def _mend_version(
    root: Path, version: str | None, aside: Path, actions: list[str]
) -> Manifest | None:
    """Steps 1-3 on the published version; its manifest (None when it has none readable)."""
    if version is None:
        return None
    version_dir = version_path(root, version)
    manifest, _ = _checks.read_manifest(version_dir)
    if manifest is None:
        return None
    for problem in _checks.version_problems(version_dir, manifest):
        _restore(root, version_dir, manifest, problem.path, actions)
    unlisted, hidden = _checks.unlisted_files(version_dir, manifest)
    for path in [*unlisted, *hidden]:
        _move_aside(version_dir / path, aside / "versions" / version / path)
        actions.append(f"moved {path} (not in the manifest) to {aside / 'versions' / version}")
    if not _checks.version_problems(version_dir, manifest):
        summary = _checks.summary_problem(version_dir, manifest)
        if summary is not None:
            (version_dir / _status.SUMMARY_FILE).unlink()
            _status.stored_summary(version_dir, list(manifest.partitions.values()))
            actions.append(f"rebuilt {_status.SUMMARY_FILE} ({summary.message})")
    return manifest


def _restore(
    root: Path, version_dir: Path, manifest: Manifest, path: str, actions: list[str]
) -> None:
    """Put an identical copy of listed file ``path`` in place, if one is found."""
    checksum = manifest.checksums.get(path)
    if checksum is None or path not in manifest.stored_paths():
        return
    target = version_dir / path
    folder = target.parent
    candidates = [p for p in sorted(folder.glob("*")) if p != target] if folder.is_dir() else []
    candidates += [version_path(root, v) / path for v in _checks.kept_versions(root)]
    for candidate in candidates:
        if not candidate.is_file() or candidate.stat().st_size != checksum.bytes:
            continue
        if _checks.file_checksum(candidate).sha256 != checksum.sha256 or candidate == target:
            continue
        temporary = target.with_name(f".{target.name}.restore")
        shutil.copy2(candidate, temporary)
        os.replace(temporary, target)
        actions.append(f"restored {path} from an identical copy, {candidate.relative_to(root)}")
        return


def _damaged(root: Path, version: str | None, manifest: Manifest | None) -> bool:
    current, problems = _checks.read_current(root)
    if problems or (version is not None and manifest is None):
        return True
    if current is None or manifest is None:
        return False
    return bool(_checks.check_version(version_path(root, current), manifest)[0])


def _recover(
    root: Path, version: str | None, manifest: Manifest | None, aside: Path, actions: list[str]
) -> tuple[str | None, list[str]]:
    """Step 4: the version to publish instead of a damaged one; the input files it leaves out.

    Of the two ways that lose no row they keep (dropping the damaged partitions with the files
    behind them, or publishing the newest intact kept version) the one leaving fewer files out.
    """
    dropped = _droppable(root, version, manifest)
    older = _newest_intact(root, version)
    lost = None
    if older is not None:
        lost = [] if manifest is None else _lost_files(manifest, older[1])
    fewer = dropped is not None and (lost is None or len(dropped) <= len(lost))
    if fewer and dropped is not None and version is not None and manifest is not None:
        name = _drop(root, version, manifest, dropped, aside, actions)
        return name, [_describe(f) for f in dropped]
    if older is not None and lost is not None:
        name = older[0]
        _point_current(root, name)
        actions.append(f"published {name}, the newest intact version, in place of "
                       f"{version or 'the missing CURRENT'}")  # fmt: skip
        if version is not None:
            _move_aside(version_path(root, version), aside / "versions" / version)
            actions.append(f"moved the damaged {version} to {aside / 'versions'}")
        if manifest is None and version is not None:
            return name, [f"the files ingested after {name} (the manifest of {version} is "
                          "unreadable, so they cannot be named)"]  # fmt: skip
        return name, [_describe(f) for f in lost]
    if manifest is None or version is None:
        return version, []
    return version, [_describe(f) for f in _files_behind_damage(version_path(root, version),
                                                               manifest)]  # fmt: skip


def _newest_intact(root: Path, version: str | None) -> tuple[str, Manifest] | None:
    """The newest kept version before ``version`` (any, if None) that checks clean."""
    for name in reversed(_checks.kept_versions(root)):
        if version is not None and name >= version:
            continue
        candidate, _ = _checks.read_manifest(version_path(root, name))
        if candidate is not None and not _checks.check_version(version_path(root, name),
                                                               candidate)[0]:  # fmt: skip
            return name, candidate
    return None


def _droppable(
    root: Path, version: str | None, manifest: Manifest | None
) -> list[StoredFile] | None:
    """The files to leave out to drop ``version``'s damaged partitions (None: not possible).

    Possible when only partition or held files are damaged and every live file with rows in
    them has no rows in any other partition (a police.uk file: one month).
    """
    if version is None or manifest is None:
        return None
    problems = _checks.check_version(version_path(root, version), manifest)[0]
    parts = [*manifest.partitions.values(), *manifest.held.values()]
    keys = {p.key for p in parts if p.path in {q.path for q in problems}}
    if not problems or {q.path for q in problems} - {p.path for p in parts}:
        return None
    behind = [f for f in manifest.live_files() if any((f.source, m) in keys for m in f.months)]
    if any((f.source, m) not in keys for f in behind for m in f.months):
        return None
    return behind


def _drop(
    root: Path,
    version: str,
    manifest: Manifest,
    dropped: list[StoredFile],
    aside: Path,
    actions: list[str],
) -> str:
    """Publish ``version`` without the partitions of the ``dropped`` files; the new version."""
    keys = {(f.source, m) for f in dropped for m in f.months}
    gone = {(f.source, f.key, f.sha256) for f in dropped}
    kept = replace(
        manifest,
        partitions={k: p for k, p in manifest.partitions.items() if k not in keys},
        held={k: p for k, p in manifest.held.items() if k not in keys},
        files=tuple(f for f in manifest.files if (f.source, f.key, f.sha256) not in gone),
    ).next_version()
    current = version_path(root, version)
    staging = new_staging(root, version)
    for path in kept.stored_paths():
        link(current / path, staging / path)
    _checks.write_manifest(
        staging, _checks.seal(staging, kept, previous_dir=current, previous=manifest)
    )
    publish(root, staging, manifest)  # moves a version of the older layout to _versions/
    name = f"v{kept.version:06d}"
    _move_aside(version_path(root, version), aside / "versions" / version)
    actions.append(f"published {name}: {version} without its damaged month(s) "
                   f"{', '.join(f'{s} {m}' for s, m in sorted(keys))}, whose rows are left out "
                   f"(the damaged {version} moved to {aside / 'versions'})")  # fmt: skip
    return name


def _lost_files(damaged: Manifest, kept: Manifest) -> list[StoredFile]:
    """Live files of ``damaged`` whose content ``kept`` does not hold."""
    held = {(f.source, f.sha256) for f in kept.live_files()}
    return [f for f in damaged.live_files() if (f.source, f.sha256) not in held]


def _files_behind_damage(version_dir: Path, manifest: Manifest) -> list[StoredFile]:
    """Live input files with rows in a damaged partition (every live file if a layer is)."""
    bad = {p.path for p in _checks.check_version(version_dir, manifest)[0]}
    keys = {p.key for p in manifest.partitions.values() if p.path in bad}
    keys |= {p.key for p in manifest.held.values() if p.path in bad}
    return [f for f in manifest.live_files()
            if any((f.source, m) in keys for m in f.months)]  # fmt: skip


def _describe(record: StoredFile) -> str:
    return (
        f"{record.path} ({record.source}, {record.rows} rows of {', '.join(record.months)}; "
        f"sha256 {record.sha256})"
    )


def _seal_if_unsealed(version_dir: Path, manifest: Manifest, actions: list[str]) -> None:
    """Step 5: record the checksums of a clean version written before they were."""
    if manifest.checksums or not manifest.stored_paths():
        return
    sealed = _checks.seal(version_dir, manifest, previous_dir=None, previous=Manifest())
    _checks.write_manifest(version_dir, sealed)
    actions.append(f"recorded the checksums of {len(sealed.checksums)} files in "
                   f"{version_dir.name}'s manifest")  # fmt: skip


def _remove_leftovers(root: Path, version: str | None, aside: Path, actions: list[str]) -> None:
    """Step 6: staging removed, later (unpublished) versions moved aside, orphan rejects
    removed, the open view pointed at the published version.

    A later version is kept aside, not deleted: after a lost CURRENT it may be a damaged
    published version whose intact files someone wants back.
    """
    for folder in (root / VERSIONS, root / OLD_VERSIONS):
        for path in sorted(folder.glob(".staging*")):
            shutil.rmtree(path, ignore_errors=True)
            actions.append(f"removed {folder.name}/{path.name}, left by an interrupted write")
    for name in [v for v in _checks.kept_versions(root) if v > (version or "")]:
        where = version_path(root, name)
        _move_aside(where, aside / "versions" / name)
        actions.append(f"moved {where.parent.name}/{name} (not published) to "
                       f"{aside / 'versions'}")  # fmt: skip
    manifest = Manifest()
    if version is not None:
        manifest = _checks.read_manifest(version_path(root, version))[0] or Manifest()
        for name in _checks.stale_view_folders(root):
            _move_aside(root / name, aside / name)
            actions.append(f"moved {name}/ (a copy, not the link to the published version) to "
                           f"{aside}")  # fmt: skip
        stale = view_target(root) != version or any(
            (root / VIEW / n).is_dir() != (root / n).is_symlink() for n in VIEW_LINKS
        )
        if stale and _in_open_layout(root, version) and point_view(root, version):
            actions.append(f"pointed the open view ({VIEW}, incidents, layers) at {version}")
    orphans = _orphan_rejects(root, manifest)
    remove_orphan_rejects(root, manifest)
    actions += [f"removed rejects/{name}, of an ingest never published" for name in orphans]


def _orphan_rejects(root: Path, manifest: Manifest) -> list[str]:
    folder = root / "rejects"
    published = {f"{i.id}.csv" for i in manifest.ingests}
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in published)


def _point_current(root: Path, name: str) -> None:
    """Replace CURRENT atomically with ``name``."""
    pointer = root / "CURRENT.tmp"
    with open(pointer, "w", encoding="utf-8") as handle:
        handle.write(name + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(pointer, root / "CURRENT")
    if _in_open_layout(root, name):
        point_view(root, name)


def _in_open_layout(root: Path, name: str) -> bool:
    """Whether version ``name`` is kept in :data:`VERSIONS`, where the open view may show it.

    A version of the older layout has plain Parquet partitions (no point geometry), so a view
    of it would give GIS tools files they cannot read as points; the next write moves it and
    rewrites its months as GeoParquet, and makes the view then.
    """
    return version_path(root, name).parent.name == VERSIONS


def _move_aside(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(source, target)
