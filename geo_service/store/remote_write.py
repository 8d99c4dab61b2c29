"""Writing a store at an fsspec URL (``memory://``, ``s3://``, ``gs://``...): a local working copy
of its published version, written by the local store's own code, then published to the URL.

A store given as a URL of another file system than the local disk is worked on in a **working
copy**: a local store folder (:func:`working_copy`, under ``GEO_SERVICE_STAGING`` or the user's
cache folder) whose ``.origin`` names the URL. :class:`~geo_service.store.Store` opened on it
brings the URL's published version into it first (:func:`sync_down`: only files it lacks are
downloaded; those it holds, by recorded SHA-256, are hard-linked), and every write (ingest,
layers, repair) runs there with all its checks, rejects and cubes, exactly as on a local store,
then :class:`RemoteWrite` publishes the new version to the URL. One code path decides what a
version contains; this module only moves finished versions.

The commit protocol, built from what object stores and fsspec offer (no links, no directory
rename, no ``fsync``, no ``flock``):

1. The writer lock ``<url>/.lock`` is created with fsspec's exclusive write
   (:mod:`geo_service.store.lock_remote`); a second writer is refused at once.
2. The new version is uploaded under its own prefix ``_versions/<vNNNNNN>-<token>/``, never
   used before (the token is the lock's): files unchanged since the published version are
   copied server-side (``fs.copy``: S3 CopyObject, GCS rewrite), the others uploaded, and its
   ``manifest.json`` (with every file's checksums) last.
3. The writer checks it still holds its lock and that ``CURRENT`` still names the version it
   built on, then replaces ``CURRENT`` (one ``PUT``, atomic on object stores; a write and a
   rename on a local disk). That is the moment of publication: readers
   (:class:`~geo_service.store.remote.StoreReader`) read whichever version ``CURRENT`` names.
4. Version prefixes other than the published one and the one before it are removed (older
   versions, and what killed writers left), then the lock.

A writer killed before step 3 leaves the previous version published and readable, the lock
(removed with ``geo-service unlock TOKEN``) and an unpublished prefix (removed by the next
write). Versions are never changed once written, so a reader never sees a mixture.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo_service.errors import InputError, StoreBusyError, StoreDamagedError, StoreError
from geo_service.store.faults import fault_point
from geo_service.store.layout import VERSIONS, VIEW, VIEW_LINKS
from geo_service.store.lock_remote import RemoteLock
from geo_service.store.manifest import Manifest

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

logger = logging.getLogger(__name__)

#: The working copy's record of its URL and of the URL's version it holds.
ORIGIN = ".origin"
#: Where working copies are made when ``GEO_SERVICE_STAGING`` is not set.
STAGING_ENV = "GEO_SERVICE_STAGING"
_VERSION_NAME = re.compile(r"v(\d{6})(?:-[0-9a-f]+)?")


@dataclass(frozen=True)
class Origin:
    """The URL a working copy belongs to, and the URL's version it last brought in."""

    url: str
    version: str | None = None

    @classmethod
    def read(cls, root: Path) -> Origin | None:
        """The origin of the working copy ``root`` (None: a plain local store)."""
        try:
            data: Any = json.loads((root / ORIGIN).read_text("utf-8"))
        except (FileNotFoundError, NotADirectoryError):  # a store folder, or not a folder
            return None
        except (OSError, ValueError) as exc:
            raise StoreError(f"{root / ORIGIN}: unreadable ({exc})") from exc
        return cls(str(data["url"]), data.get("version"))

    def write(self, root: Path) -> None:
        """Record this origin in ``root`` (replaced atomically)."""
        temporary = root / f"{ORIGIN}.tmp"
        temporary.write_text(json.dumps({"url": self.url, "version": self.version}), "utf-8")
        os.replace(temporary, root / ORIGIN)

    def filesystem(self) -> tuple[AbstractFileSystem, str]:
        """The fsspec file system of the URL and the store's root path on it."""
        import fsspec

        # A local disk makes the folders an object store does not need.
        local = self.url.partition("://")[0] in ("file", "local")
        fs, path = fsspec.core.url_to_fs(self.url, **({"auto_mkdir": True} if local else {}))
        return fs, str(path).rstrip("/")


def working_copy(url: str, *, staging: str | None = None) -> Path:
    """The local working copy of the store at ``url``, made (empty) if needed.

    Under ``staging`` (default: ``GEO_SERVICE_STAGING``, else ``~/.cache/geo-service/stores``),
    one folder per URL. With a Dask scheduler on other machines it must be a folder every
    worker reaches at the same path (the workers stage their months there).

    Raises
    ------
    InputError
        No fsspec file system is known for the URL's scheme (its package is not installed).
    """
    import fsspec

    scheme = url.partition("://")[0]
    try:
        fsspec.get_filesystem_class(scheme)
    except (ValueError, ImportError) as exc:
        raise InputError(f"store {url}: no fsspec file system for {scheme}:// ({exc})") from exc
    base = staging or os.environ.get(STAGING_ENV)
    folder = Path(base) if base else Path.home() / ".cache" / "geo-service" / "stores"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", url.partition("://")[2]).strip("-")[-40:]
    root = folder / f"{scheme}-{slug}-{hashlib.sha256(url.encode()).hexdigest()[:10]}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if Origin.read(root) is None:
            Origin(url).write(root)
    except OSError as exc:
        raise StoreError(f"{root}: cannot make the working copy of {url} ({exc.strerror})") from exc
    return root


def refuse_repair(root: Path) -> None:
    """Raise StoreError when ``root`` is a working copy: ``repair`` mends a local store only."""
    origin = Origin.read(root)
    if origin is not None:
        raise StoreError(
            f"store {origin.url}: `geo-service repair` mends a store in a local folder; a store "
            "at a URL is checked on every read, and a damaged version there is mended by "
            "publishing a new one (ingest or add a layer again) or from a backup"
        )


def brought_up_to_date(root: Path) -> None:
    """Bring the working copy ``root`` (if it is one) up to its URL's published version."""
    from geo_service.store.lock import WriterLock

    origin = Origin.read(root)
    if origin is not None:
        with WriterLock(root).held():
            sync_down(root, origin)


# ------------------------------------------------------------------------- bringing it in
def remote_current(fs: AbstractFileSystem, root: str) -> str | None:
    """The name ``CURRENT`` holds at ``root`` (None: nothing published yet).

    Raises
    ------
    StoreDamagedError
        ``CURRENT`` is missing but versions numbered after the first exist (it was lost).
    """
    try:
        return fs.cat_file(f"{root}/CURRENT").decode("utf-8").strip() or None
    except FileNotFoundError:
        pass
    numbers = [_number(name) for name in _remote_versions(fs, root)]
    if any(n > 1 for n in numbers):
        raise StoreDamagedError(
            f"store {root}: CURRENT (the name of the published version) is missing, but "
            f"{VERSIONS}/ holds versions up to v{max(numbers):06d}; restore CURRENT (the newest "
            "version whose manifest.json is whole) or restore the store from a backup"
        )
    return None


def sync_down(root: Path, origin: Origin) -> Origin:
    """Make the working copy ``root`` hold the URL's published version; its new origin record.

    Files the working copy holds already (same recorded SHA-256, in any of its versions) are
    hard-linked, the others downloaded; the manifest is written last, then ``CURRENT``. A
    working copy of an empty store is emptied. Called under the working copy's writer lock.
    """
    fs, base = origin.filesystem()
    try:
        return _synced(root, origin, fs, base)
    except OSError as exc:
        raise StoreError(
            f"store {origin.url}: cannot bring its published version into {root} "
            f"({exc.strerror or exc})"
        ) from exc


def _synced(root: Path, origin: Origin, fs: AbstractFileSystem, base: str) -> Origin:
    name = remote_current(fs, base)
    # A write published here but not at the URL (it failed, or was killed, uploading) leaves
    # the working copy ahead: it is brought back to the URL's version.
    if name == origin.version and _local_current(root) == local_name(name):
        return origin
    if name is None:
        _empty(root)
    else:
        _bring_version(fs, f"{base}/{VERSIONS}/{name}", root)
    synced = Origin(origin.url, name)
    synced.write(root)
    return synced


def _bring_version(fs: AbstractFileSystem, remote_dir: str, root: Path) -> None:
    from geo_service.store.write import point_view

    text = fs.cat_file(f"{remote_dir}/manifest.json").decode("utf-8")
    manifest = Manifest.from_json(text)
    name = f"v{manifest.version:06d}"
    target = root / VERSIONS / name
    if not _holds(target, manifest):
        _download(fs, remote_dir, target, manifest, _local_files_by_sha(root))
    temporary = root / "CURRENT.tmp"
    temporary.write_text(name + "\n", "utf-8")
    os.replace(temporary, root / "CURRENT")
    point_view(root, name)
    logger.info("%s: holds the published version %s", root, remote_dir)


def _holds(target: Path, manifest: Manifest) -> bool:
    """Whether the working copy's ``target`` is that version already (same manifest)."""
    try:
        return Manifest.from_json((target / "manifest.json").read_text("utf-8")) == manifest
    except (OSError, ValueError):
        return False


def _download(
    fs: AbstractFileSystem,
    remote_dir: str,
    target: Path,
    manifest: Manifest,
    held: dict[str, Path],
) -> None:
    """The files of ``remote_dir`` into ``target``: linked when held (by SHA-256), else
    downloaded; the manifest last."""
    shutil.rmtree(target, ignore_errors=True)
    for path in sorted(fs.find(remote_dir)):
        relative = path.removeprefix(f"{remote_dir}/")
        if relative == "manifest.json":
            continue
        checksum = manifest.checksums.get(relative)
        into = target / relative
        into.parent.mkdir(parents=True, exist_ok=True)
        have = held.get(checksum.sha256) if checksum else None
        if have is not None and _linked(have, into):
            continue
        fs.get_file(path, str(into))
    (target / "manifest.json").write_text(manifest.to_json(), "utf-8")


def _local_files_by_sha(root: Path) -> dict[str, Path]:
    """Files of the working copy's versions by their recorded SHA-256."""
    found: dict[str, Path] = {}
    for manifest_path in sorted((root / VERSIONS).glob("v*/manifest.json")):
        try:
            manifest = Manifest.from_json(manifest_path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        for relative, checksum in manifest.checksums.items():
            path = manifest_path.parent / relative
            if path.is_file() and path.stat().st_size == checksum.bytes:
                found[checksum.sha256] = path
    return found


def _linked(source: Path, target: Path) -> bool:
    try:
        os.link(source, target)
    except OSError:
        return False
    return True


def _empty(root: Path) -> None:
    """Remove every version and the view of a working copy whose URL holds no store."""
    for name in ("CURRENT", VIEW, *VIEW_LINKS):
        with contextlib.suppress(FileNotFoundError):
            (root / name).unlink()
    shutil.rmtree(root / VERSIONS, ignore_errors=True)


def local_name(remote: str | None) -> str | None:
    """The working copy's name of the URL's version ``remote`` (``v000007-<token>``: v000007)."""
    return None if remote is None else remote.split("-", 1)[0]


def _local_current(root: Path) -> str | None:
    try:
        return (root / "CURRENT").read_text("utf-8").strip() or None
    except FileNotFoundError:
        return None


# ----------------------------------------------------------------------------- publishing
class RemoteWrite:
    """One write of the store at the working copy's URL: lock, bring in, then publish.

    Use as a context manager around the local write (:meth:`geo_service.store.Store.locked`
    does): entering takes the URL's writer lock and brings its published version in;
    :meth:`publish` uploads the working copy's new version, if any, and replaces ``CURRENT``;
    leaving removes the lock.
    """

    def __init__(self, root: Path, origin: Origin) -> None:
        self.root, self.origin = root, origin
        self.fs, self.base = origin.filesystem()
        self.lock = RemoteLock(self.fs, self.base, url=origin.url)
        #: The URL's version this write builds on (None: an empty store); kept with the new.
        self.built_on: str | None = None

    def __enter__(self) -> RemoteWrite:
        self.lock.acquire()
        try:
            self.origin = sync_down(self.root, self.origin)
        except BaseException:
            self.lock.release()
            raise
        self.built_on = self.origin.version
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def publish(self) -> str | None:
        """Upload the working copy's published version if it is new; returns its URL name."""
        local = _local_current(self.root)
        before = local_name(self.built_on)
        if local is None or local == before:
            return None  # nothing was written (an ingest of files already stored)
        name = f"{local}-{self.lock.info.token}"
        target = f"{self.base}/{VERSIONS}/{name}"
        try:
            self._upload(self.root / VERSIONS / local, target, before)
            fault_point("remote-files-written")
            self._upload_rejects(self.root / VERSIONS / local)
            self.lock.confirm()
            if remote_current(self.fs, self.base) != self.built_on:
                raise StoreBusyError(
                    f"store {self.origin.url}: another writer published while this one ran "
                    "(its lock was broken?); nothing was published, the store is as it was"
                )
            _replace_current(self.fs, self.base, name, token=self.lock.info.token)
        except BaseException as exc:
            self._discard(target, name)
            if isinstance(exc, OSError):
                raise StoreError(
                    f"store {self.origin.url}: cannot write {exc.filename or target} "
                    f"({exc.strerror or exc}); nothing was published, the store is as it was"
                ) from exc
            raise
        fault_point("remote-current-replaced")
        self.origin = Origin(self.origin.url, name)
        self.origin.write(self.root)
        self._prune({name, *([self.built_on] if self.built_on else [])})
        logger.info("published %s/%s/%s", self.origin.url, VERSIONS, name)
        return name

    def _discard(self, target: str, name: str) -> None:
        """Remove the unpublished ``target`` (unless CURRENT names it: a PUT that succeeded
        but whose answer was lost)."""
        with contextlib.suppress(OSError, ValueError, StoreError):
            if remote_current(self.fs, self.base) != name:
                self.fs.rm(target, recursive=True)

    def _upload(self, local_dir: Path, target: str, before: str | None) -> None:
        """Every file of ``local_dir`` to ``target``, the manifest last; unchanged files (hard
        links to the version built on) copied on the server from the published version."""
        previous = None if before is None else self.root / VERSIONS / before
        remote_previous = f"{self.base}/{VERSIONS}/{self.built_on}"
        files = sorted(
            p.relative_to(local_dir).as_posix() for p in local_dir.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )  # fmt: skip
        for relative in [f for f in files if f != "manifest.json"]:
            source = local_dir / relative
            if previous is not None and _same_file(previous / relative, source):
                try:
                    self.fs.copy(f"{remote_previous}/{relative}", f"{target}/{relative}")
                    continue
                except (NotImplementedError, FileNotFoundError):
                    pass  # no server-side copy (or a file the URL lacks): upload it
            self.fs.put_file(str(source), f"{target}/{relative}")
        self.fs.put_file(str(local_dir / "manifest.json"), f"{target}/manifest.json")

    def _upload_rejects(self, local_dir: Path) -> None:
        """The rejects files of the version's ingests the URL lacks, beside the versions."""
        manifest = Manifest.from_json((local_dir / "manifest.json").read_text("utf-8"))
        for ingest in manifest.ingests:
            path = Path(ingest.rejects_file) if ingest.rejects_file else None
            target = f"{self.base}/rejects/{path.name}" if path else ""
            if path is not None and path.is_file() and not self.fs.exists(target):
                self.fs.put_file(str(path), target)

    def _prune(self, keep: set[str]) -> None:
        """Remove version prefixes other than ``keep`` (older ones, killed writers' leftovers)."""
        for name in _remote_versions(self.fs, self.base):
            if name not in keep:
                with contextlib.suppress(OSError):
                    self.fs.rm(f"{self.base}/{VERSIONS}/{name}", recursive=True)


def _replace_current(fs: AbstractFileSystem, base: str, name: str, *, token: str) -> None:
    """Replace ``CURRENT`` in one step: one PUT on an object store; on a local disk a write
    and a rename (a plain write there would show readers an empty file for a moment)."""
    from fsspec.implementations.local import LocalFileSystem

    data = f"{name}\n".encode()
    if isinstance(fs, LocalFileSystem):
        temporary = f"{base}/.CURRENT.{token}"
        fs.pipe_file(temporary, data)
        os.replace(temporary, f"{base}/CURRENT")
    else:
        fs.pipe_file(f"{base}/CURRENT", data)


def _remote_versions(fs: AbstractFileSystem, base: str) -> list[str]:
    try:
        entries = fs.ls(f"{base}/{VERSIONS}", detail=False)
    except FileNotFoundError:
        return []
    names = [str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries]
    return sorted(n for n in names if _VERSION_NAME.fullmatch(n))


def _number(name: str) -> int:
    found = _VERSION_NAME.fullmatch(name)
    return int(found.group(1)) if found else 0


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def remote_write(root: Path, origin: Origin) -> Iterator[RemoteWrite]:
    """:class:`RemoteWrite` as a context manager that publishes when the block succeeds."""
    with RemoteWrite(root, origin) as write:
        yield write
        write.publish()
