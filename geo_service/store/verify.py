"""A store checked against its manifests: sealed on publishing, verified on every read, in depth.

* :func:`seal` records, just before a version is published, each stored file's size and the
  SHA-256 of its Parquet footer and of the whole file (:class:`FileChecksum`) in its manifest.
* :func:`verify_version` runs on every read of the published version (through
  :class:`~geo_service.store.Store`): each listed partition, held and layer file must exist with
  its recorded size and footer (a version written before checksums were recorded: its listed
  rows, from the footer), and no unlisted file may lie among them (``part (1).parquet`` left by a
  sync tool). A file whose ``stat`` is unchanged since it was last verified is not read again,
  so a read costs a ``stat`` per file and a listing per folder. Any difference raises
  :class:`~geo_service.errors.StoreDamagedError` naming the file and what was expected: nothing
  is computed from a damaged version.
* :func:`check_store` (``geo-service check``) reads every byte: whole-file checksums, the rows of
  each input file against the manifest, the summary file, rejects files and the kept versions.
  :func:`repair_store` (``geo-service repair``, in :mod:`geo_service.store.repair`) fixes what
  can be fixed without inventing a row.

Files whose names start with a dot (``.DS_Store``) are never read by the store and are only noted.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from geo_service.errors import StoreDamagedError, StoreError
from geo_service.store import status as _status
from geo_service.store.layout import (
    OLD_VERSIONS,
    VERSIONS,
    VIEW,
    VIEW_LINKS,
    version_path,
    view_target,
)
from geo_service.store.manifest import FileChecksum, Manifest

#: Folders of a version holding the files its manifest lists.
LISTED_FOLDERS = ("incidents", "held", "layers")
_MAGIC = b"PAR1"

#: ``stat`` of each file when it was last verified: path -> (size, mtime, ctime, inode).
Seen = dict[str, tuple[int, int, int, int]]


@dataclass(frozen=True)
class Problem:
    """One way a version differs from its manifest: ``path`` (relative to the version), text."""

    path: str
    message: str


# ----------------------------------------------------------------------------- checksums
def footer_checksum(path: Path, size: int) -> str:
    """SHA-256 of the Parquet footer of ``path`` (``size`` bytes long).

    Raises
    ------
    ValueError
        The file does not end with a Parquet footer (cut short, or not Parquet).
    """
    with open(path, "rb") as handle:
        return footer_digest(handle, size)


def footer_digest(handle: BinaryIO, size: int) -> str:
    """SHA-256 of the Parquet footer of the open file ``handle`` (``size`` bytes long): two
    small reads at its end, so also cheap through a remote file system.

    Raises
    ------
    ValueError
        The file does not end with a Parquet footer (cut short, or not Parquet).
    """
    if size < 12:
        raise ValueError(f"{size} bytes, too short for Parquet")
    handle.seek(size - 8)
    tail = handle.read(8)
    length = int.from_bytes(tail[:4], "little")
    if tail[4:] != _MAGIC or length + 12 > size:
        raise ValueError("it does not end with a Parquet footer; cut short?")
    handle.seek(size - 8 - length)
    footer = handle.read(length)
    return hashlib.sha256(footer + tail).hexdigest()


def file_checksum(path: Path) -> FileChecksum:
    """Size, rows, footer SHA-256 and whole-file SHA-256 of the Parquet file ``path``."""
    with open(path, "rb") as handle:
        whole = hashlib.file_digest(handle, "sha256").hexdigest()
        size = os.fstat(handle.fileno()).st_size
    footer = footer_checksum(path, size)
    rows = pq.read_metadata(path).num_rows
    return FileChecksum(bytes=size, rows=rows, footer_sha256=footer, sha256=whole)


def seal(
    version_dir: Path,
    manifest: Manifest,
    *,
    previous_dir: Path | None,
    previous: Manifest,
    known: Mapping[str, FileChecksum] | None = None,
) -> Manifest:
    """``manifest`` with the checksum of every file it lists, as found in ``version_dir``.

    A file hard-linked from ``previous_dir`` (same inode) keeps the previous manifest's checksum,
    so a write hashes only the files it wrote; those are also checked to hold the listed rows.
    ``known`` are checksums computed where a file was written (a Dask worker that staged it),
    by path: such a file is not read whole again, only its size, footer and rows (from the
    footer) are checked against the record; one that differs is hashed whole.

    Raises
    ------
    StoreError
        A written file does not hold the rows the manifest lists (a fault of the writer).
    """
    checksums: dict[str, FileChecksum] = {}
    for path, rows in manifest.stored_paths().items():
        target, old = version_dir / path, previous.checksums.get(path)
        if old is not None and previous_dir is not None and _same_file(previous_dir / path, target):
            checksums[path] = old
            continue
        given = (known or {}).get(path)
        checksum = given if given and _matches(target, given) else file_checksum(target)
        if rows and checksum.rows != rows:
            raise StoreError(f"{target}: written with {checksum.rows} rows, but {rows} are listed")
        checksums[path] = checksum
    return replace(manifest, checksums=checksums)


def _matches(path: Path, checksum: FileChecksum) -> bool:
    """Whether ``path`` has the size, footer and rows of ``checksum`` (two small reads)."""
    try:
        size = path.stat().st_size
        return (
            size == checksum.bytes
            and footer_checksum(path, size) == checksum.footer_sha256
            and pq.read_metadata(path).num_rows == checksum.rows
        )
    except (OSError, ValueError, pa.ArrowException):
        return False


def seal_staged(
    staging: Path,
    *,
    previous_dir: Path | None,
    previous: Manifest,
    known: Mapping[str, FileChecksum] | None = None,
) -> None:
    """Add the checksums to the manifest staged in ``staging`` (rewritten atomically)."""
    path = staging / "manifest.json"
    staged = seal(
        staging, Manifest.from_json(path.read_text("utf-8")),
        previous_dir=previous_dir, previous=previous, known=known,
    )  # fmt: skip
    write_manifest(staging, staged)


def write_manifest(version_dir: Path, manifest: Manifest) -> None:
    """Replace ``version_dir``'s manifest.json atomically (flushed to disk first)."""
    temporary = version_dir / ".manifest.json.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(manifest.to_json())
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, version_dir / "manifest.json")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


# ------------------------------------------------------------------- verified on every read
def verify_version(version_dir: Path, manifest: Manifest, *, seen: Seen | None = None) -> None:
    """Raise StoreDamagedError when ``version_dir``'s files differ from ``manifest``.

    ``seen`` (kept by the caller between reads) spares re-reading files found intact before
    whose ``stat`` has not changed since.
    """
    problems = version_problems(version_dir, manifest, seen=seen)
    if problems:
        raise StoreDamagedError(damaged_message(version_dir, problems))


def damaged_message(version_dir: Path, problems: list[Problem]) -> str:
    """The one-line error for a version with ``problems`` (the first five named)."""
    shown = "; ".join(p.message for p in problems[:5])
    more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
    return (
        f"store version {version_dir} does not match its manifest: {shown}{more}. The store is "
        "damaged (files were moved, copied, changed or deleted outside geo-service) and nothing "
        "is computed from it: `geo-service check` lists every problem, `geo-service repair` "
        "fixes what can be fixed (or restore the store from a backup)"
    )


def version_problems(
    version_dir: Path, manifest: Manifest, *, seen: Seen | None = None
) -> list[Problem]:
    """Listed files missing, of another size, footer or row count; unlisted files beside them."""
    seen = {} if seen is None else seen
    problems = []
    for path, rows in manifest.stored_paths().items():
        message = _file_problem(version_dir, path, rows, manifest.checksums.get(path), seen)
        if message is not None:
            problems.append(Problem(path, message))
    unlisted, _ = unlisted_files(version_dir, manifest)
    problems += [Problem(path, f"{path} is not in the manifest") for path in unlisted]
    return problems


def _file_problem(
    version_dir: Path, path: str, rows: int, checksum: FileChecksum | None, seen: Seen
) -> str | None:
    what = "areas" if path.startswith("layers/") else "rows"
    try:
        stat = os.stat(version_dir / path)
    except FileNotFoundError:
        return f"{path} ({rows} {what} listed) is missing"
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror})"
    if checksum is not None and rows and checksum.rows != rows:
        return (
            f"{path}: the manifest lists {rows} {what}, its checksum record {checksum.rows} "
            "(the manifest was edited)"
        )
    key = (stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino)
    if seen.get(path) == key:
        return None
    if checksum is not None and stat.st_size != checksum.bytes:
        return (
            f"{path} is {stat.st_size} bytes; the manifest lists {checksum.bytes} "
            "(changed or cut short)"
        )
    try:
        if checksum is not None:
            if footer_checksum(version_dir / path, stat.st_size) != checksum.footer_sha256:
                return (
                    f"{path} has changed: its Parquet footer differs from the manifest's checksum"
                )
        else:
            held = pq.read_metadata(version_dir / path).num_rows
            if rows and held != rows:
                return f"{path} holds {held} {what}; the manifest lists {rows}"
    except (OSError, ValueError, pa.ArrowException) as exc:
        return f"{path} is not a whole Parquet file ({_status.one_line(exc)})"
    seen[path] = key
    return None


def unlisted_files(version_dir: Path, manifest: Manifest) -> tuple[list[str], list[str]]:
    """Files under the listed folders the manifest does not list: (unlisted, hidden dot-files)."""
    listed = manifest.stored_paths()
    unlisted: list[str] = []
    hidden: list[str] = []
    for path in _files_under(version_dir):
        if path not in listed:
            (hidden if path.rsplit("/", 1)[-1].startswith(".") else unlisted).append(path)
    return unlisted, hidden


def _files_under(version_dir: Path) -> Iterator[str]:
    for folder in LISTED_FOLDERS:
        for top, _, names in os.walk(version_dir / folder):
            relative = Path(top).relative_to(version_dir).as_posix()
            for name in sorted(names):
                yield f"{relative}/{name}"


# -------------------------------------------------------------------------------- in depth
def deep_problems(
    version_dir: Path, manifest: Manifest, known: Mapping[str, Problem]
) -> tuple[list[Problem], int, int]:
    """Every listed file read in full: (problems, files read, bytes read).

    A file with a recorded checksum is hashed whole; one without (an older version) is decoded
    whole. Files in ``known`` (already found damaged) are skipped.
    """
    problems, files, total = [], 0, 0
    for path in manifest.stored_paths():
        if path in known:
            continue
        checksum, target = manifest.checksums.get(path), version_dir / path
        try:
            if checksum is not None:
                found = file_checksum(target)
                if found.sha256 != checksum.sha256:
                    problems.append(Problem(path, f"{path} has changed: its SHA-256 is "
                                    f"{found.sha256[:16]}..., the manifest records "
                                    f"{checksum.sha256[:16]}..."))  # fmt: skip
            else:
                pq.read_table(target, page_checksum_verification=True)
            files, total = files + 1, total + target.stat().st_size
        except (OSError, ValueError, pa.ArrowException) as exc:
            problems.append(Problem(path, f"{path} is unreadable ({_status.one_line(exc)})"))
    return problems, files, total


def accounting_problems(version_dir: Path, manifest: Manifest) -> list[Problem]:
    """Rows per input file in the partitions against the ``stored`` the manifest records."""
    import pyarrow.compute as pc  # here: 0.1 s to import, and ``status`` never needs it

    held: dict[tuple[str, str], int] = {}
    for part in manifest.partitions.values():
        column = pq.read_table(version_dir / part.path, columns=["source_file"])["source_file"]
        for item in pc.value_counts(column).to_pylist():
            key = (part.source, str(item["values"]))
            held[key] = held.get(key, 0) + int(item["counts"])
    problems = []
    for record in manifest.live_files():
        found = held.pop((record.source, record.key), 0)
        if found != record.stored:
            problems.append(Problem("manifest.json", (
                f"{record.source} file {record.key}: the manifest records {record.stored} rows "
                f"stored, the partitions hold {found}")))  # fmt: skip
    for (source, name), count in sorted(held.items()):
        problems.append(Problem("manifest.json", (
            f"{source}: the partitions hold {count} rows of {name}, a file the manifest does not "
            "list as stored")))  # fmt: skip
    return problems


def summary_problem(version_dir: Path, manifest: Manifest) -> Problem | None:
    """The kept summary file, if any, against a fresh count of the partitions."""
    path = version_dir / _status.SUMMARY_FILE
    if not path.is_file():
        return None
    fresh = _status.summarise(version_dir, list(manifest.partitions.values()))
    try:
        kept = _status.typed_summary(pq.read_table(path).to_pandas())
    except (OSError, ValueError, KeyError, pa.ArrowException) as exc:
        return Problem(_status.SUMMARY_FILE, f"{_status.SUMMARY_FILE} is unreadable ({exc})")
    if list(kept.columns) != list(fresh.columns) or not kept.equals(fresh):
        return Problem(
            _status.SUMMARY_FILE,
            f"{_status.SUMMARY_FILE} (kept counts per month and category) disagrees with the "
            "partitions",
        )
    return None


# ------------------------------------------------------------------------- the whole store
@dataclass(frozen=True)
class CheckReport:
    """What :func:`check_store` found.

    ``problems`` are damage (reads of the store fail, or would give wrong figures); ``notes``
    are harmless findings (leftovers of interrupted writes, kept versions, dot-files).
    """

    store: Path
    version: str | None
    problems: tuple[Problem, ...]
    notes: tuple[str, ...]
    files_read: int = 0
    bytes_read: int = 0

    @property
    def clean(self) -> bool:
        """Whether the published version is intact."""
        return not self.problems


def read_current(root: Path) -> tuple[str | None, list[Problem]]:
    """The published version's name (None: empty or unreadable) and what is wrong with CURRENT."""
    versions = kept_versions(root)
    try:
        name = (root / "CURRENT").read_text("utf-8").strip() or None
    except FileNotFoundError:
        name = None
    except OSError as exc:
        return None, [Problem("CURRENT", f"CURRENT cannot be read ({exc.strerror})")]
    if name is None and lost_current(versions):
        return None, [Problem("CURRENT", missing_current_message(versions))]
    if name is not None and name not in versions:
        return None, [Problem("CURRENT", f"CURRENT names {name}, which is not in {VERSIONS}/")]
    return name, []


def lost_current(versions: list[str]) -> bool:
    """Whether versions without a CURRENT show one was published (not only a killed first write).

    The first write renames its staging to ``v000001`` before CURRENT exists; a later version
    exists only once one was published.
    """
    return any(name != "v000001" for name in versions)


def missing_current_message(versions: list[str]) -> str:
    """The problem of a store whose CURRENT is gone while published versions remain."""
    return (
        f"CURRENT (the name of the published version) is missing, but the store holds "
        f"version(s) {', '.join(versions)}; `geo-service repair` publishes the newest intact one"
    )


def kept_versions(root: Path) -> list[str]:
    """Names of the version directories (``vNNNNNN``), oldest first (both layouts' folders)."""
    return sorted({
        p.name
        for folder in (root / VERSIONS, root / OLD_VERSIONS) if folder.is_dir()
        for p in folder.iterdir() if p.is_dir() and p.name.startswith("v")
    })  # fmt: skip


def read_manifest(version_dir: Path) -> tuple[Manifest | None, Problem | None]:
    """The manifest of ``version_dir``, or the problem that stops it being read."""
    path = version_dir / "manifest.json"
    try:
        return Manifest.from_json(path.read_text("utf-8")), None
    except (OSError, ValueError) as exc:
        return None, Problem("manifest.json", f"{path} is unreadable ({exc})")


def check_version(version_dir: Path, manifest: Manifest) -> tuple[list[Problem], int, int]:
    """Every check of one version, reading every byte: (problems, files read, bytes read)."""
    problems = version_problems(version_dir, manifest)
    deep, files, total = deep_problems(version_dir, manifest, {p.path: p for p in problems})
    problems += deep
    if not problems:  # counting rows needs every partition readable
        problems += accounting_problems(version_dir, manifest)
        summary = summary_problem(version_dir, manifest)
        problems += [summary] if summary else []
    return problems, files, total


def check_store(root: Path) -> CheckReport:
    """Check the whole store at ``root`` in depth (what ``geo-service check`` prints).

    The published version: CURRENT, its manifest, every listed file read whole against its
    checksum (decoded whole when none is recorded), no unlisted files, the rows of each input
    file in the partitions against the manifest, the kept summary against a fresh count. Noted:
    versions kept before it (intact or not, by size and footer), leftovers of interrupted
    writes, rejects files, dot-files and a manifest without checksums. The reference layers
    (roads, places, addresses) beside the versions are read whole too. The working copy of a
    store at a URL is brought up to its URL's published version first, then checked.
    """
    from geo_service.store.remote_write import brought_up_to_date

    brought_up_to_date(root)
    version, problems = read_current(root)
    if version is None:
        notes = [] if problems else ["the store is empty", *_leftovers(root, None, Manifest())]
        return CheckReport(root, None, tuple(problems), tuple(notes))
    version_dir = version_path(root, version)
    manifest, unreadable = read_manifest(version_dir)
    if manifest is None:
        return CheckReport(root, version, (unreadable,) if unreadable else (), ())
    found, files, total = check_version(version_dir, manifest)
    from geo_service.reference import check_references  # geopandas: only `check` needs it

    found += [Problem(os.path.relpath(path, version_dir), line)
              for path, line in check_references(root)]  # fmt: skip
    notes = _notes(root, version, manifest)
    return CheckReport(root, version, tuple(found), tuple(notes), files, total)


def _notes(root: Path, version: str, manifest: Manifest) -> list[str]:
    version_dir = version_path(root, version)
    notes = [f"{path} is not in the manifest (a dot-file; never read)"
             for path in unlisted_files(version_dir, manifest)[1]]  # fmt: skip
    if manifest.stored_paths() and not manifest.checksums:
        notes.append(f"{version} was written before file checksums were recorded: checked by "
                     "row counts and a full read; `geo-service repair` records them")  # fmt: skip
    for name in kept_versions(root):
        if name < version:
            older, _ = read_manifest(version_path(root, name))
            state = (
                "unreadable manifest"
                if older is None
                else (
                    "intact" if not version_problems(version_path(root, name), older) else "damaged"
                )
            )
            notes.append(f"{_shown(root, name)} (kept earlier version): {state}")
    shown = view_target(root)
    if shown is not None and shown != version:
        notes.append(f"the open view ({VIEW}, incidents, layers) shows {shown}, not the published "
                     f"{version} (a write was interrupted); the next write or `geo-service "
                     "repair` points it again")  # fmt: skip
    unlinked = [n for n in (VIEW, *VIEW_LINKS) if not (root / n).exists()
                and (version_dir / ("" if n == VIEW else n)).is_dir()]  # fmt: skip
    if unlinked and version_dir.parent.name == VERSIONS:
        notes.append(f"the open view is missing ({', '.join(unlinked)}: a copy that left out "
                     "links, or a file system without them): tools opening "
                     f"{root / 'incidents'} find nothing; `geo-service repair` links it (or "
                     f"open {VERSIONS}/{version}/incidents)")  # fmt: skip
    notes += [f"{name}/ is a folder, not the link to the published version (the store was "
              "copied following links; `cp -a` and `rsync -a` keep them): tools opening it see "
              "a copy the store does not update; `geo-service repair` moves it aside and links it"
              for name in stale_view_folders(root)]  # fmt: skip
    if (root / OLD_VERSIONS).is_dir():
        notes.append(f"the store is in the layout before {VERSIONS}/ and the open view; the "
                     "next write moves it")  # fmt: skip
    return notes + _leftovers(root, version, manifest)


def stale_view_folders(root: Path) -> list[str]:
    """Names of the open view (``incidents``, ``layers``) held by a folder instead of a link."""
    return [n for n in VIEW_LINKS if (root / n).is_dir() and not (root / n).is_symlink()]


def _leftovers(root: Path, version: str | None, manifest: Manifest) -> list[str]:
    """Notes on what interrupted writes left: unpublished versions, staging, rejects files."""
    notes = [f"{_shown(root, name)} was never published (an interrupted write); the next "
             "write or `geo-service repair` removes it"
             for name in kept_versions(root) if name > (version or "")]  # fmt: skip
    staging = sorted(f"{p.parent.name}/{p.name}" for folder in (VERSIONS, OLD_VERSIONS)
                     for p in (root / folder).glob(".staging*"))  # fmt: skip
    notes += [f"{name} is left by an interrupted write; the next write or "
              "`geo-service repair` removes it" for name in staging]  # fmt: skip
    return notes + _rejects_notes(root, manifest)


def _shown(root: Path, name: str) -> str:
    """``_versions/<name>`` (or ``versions/<name>`` in a store of the older layout)."""
    return version_path(root, name).relative_to(root).as_posix()


def _rejects_notes(root: Path, manifest: Manifest) -> list[str]:
    folder = root / "rejects"
    published = {f"{i.id}.csv" for i in manifest.ingests}
    notes = [f"rejects/{i.id}.csv (rows ingest {i.id} rejected) is missing"
             for i in manifest.ingests
             if i.rejects_file and not (folder / f"{i.id}.csv").is_file()]  # fmt: skip
    if folder.is_dir():
        orphans = [p.name for p in sorted(folder.iterdir())
                   if p.is_file() and p.name not in published]  # fmt: skip
        notes += [f"rejects/{name} belongs to no published ingest (an interrupted write); the "
                  "next write or `geo-service repair` removes it" for name in orphans]  # fmt: skip
    return notes
