"""Writing a store at an fsspec URL: the in-memory file system, and a local disk through fsspec.

The store's own write runs in a local working copy; the version is published to the URL by the
commit protocol of :mod:`geo_service.store.remote_write` (lock object created only if absent,
version uploaded under its own prefix, manifest last, then CURRENT). Every count here is checked
against the rows written by hand, and against the same files ingested into a local store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.errors import StoreBusyError, StoreError
from geo_service.ingest import add_layer, ingest_files
from geo_service.store import Store
from geo_service.store import remote_write as _remote
from geo_service.store.faults import FAULT_ENV, REMOTE_PHASES, fault_point
from geo_service.store.lock_remote import LOCK, RemoteLock, break_lock, read_lock
from geo_service.store.remote import StoreReader
from tests.store.conftest import P_OUT, P_W1, P_W2, police_row, write_police_csv

fsspec = pytest.importorskip("fsspec", reason="fsspec is not installed")
gpd = pytest.importorskip("geopandas")

REPO = Path(__file__).resolve().parents[2]


def _month(folder: Path, month: str, n: int) -> Path:
    """A police.uk file of ``n`` stored rows (W1, W2, outside in turn), a repeat of the first
    id (a duplicate) and a row of month 2021-13 (rejected): n + 2 rows read."""
    points = [P_W1, P_W2, P_OUT]
    rows = [police_row(f"{month}-{k}", month, points[k % 3], "Burglary") for k in range(n)]
    rows += [rows[0], police_row(f"{month}-bad", "2021-13", P_W1, "Drugs")]
    return write_police_csv(folder / f"{month}-test-street.csv", rows)


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "staging"
    monkeypatch.setenv(_remote.STAGING_ENV, str(folder))
    return folder


@pytest.fixture
def url(staging: Path) -> Iterator[str]:
    """A fresh store location on the in-memory file system."""
    root = f"/store-{uuid.uuid4().hex[:8]}"
    yield f"memory://{root}"
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _cli(*args: str) -> int:
    return main(["-q", *args])


def _published_dir(url: str) -> str:
    fs, root = fsspec.core.url_to_fs(url)
    return f"{root}/_versions/{fs.cat_file(f'{root}/CURRENT').decode().strip()}"


def _versions(url: str) -> list[str]:
    fs, root = fsspec.core.url_to_fs(url)
    return sorted(p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/_versions", detail=False))


def test_ingest_to_a_memory_url_publishes_what_a_local_store_holds(
    url: str, tmp_path: Path, ward_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in"
    _month(data, "2021-01", 30)
    _month(data, "2021-02", 12)
    assert _cli("--store", url, "boundaries", "add", "ward", str(ward_file)) == 0
    assert _cli("--store", url, "ingest", "police-uk", str(data)) == 0
    assert "stored 42, duplicates 2 " in capsys.readouterr().out
    local = Store(tmp_path / "local")
    add_layer(local, "ward", ward_file)
    assert ingest_files(local, "police-uk", [data]).stored == 42
    reader = StoreReader(url)
    rows = reader.incidents().sort_values("incident_id", ignore_index=True)
    expected = local.incidents().sort_values("incident_id", ignore_index=True)
    pd.testing.assert_frame_equal(rows, expected)
    assert (rows["area_ward"] == "W1").sum() == 10 + 4  # k % 3 == 0 of 30 and of 12
    # A plain reader of the published version counts exactly the store's rows.
    plain = gpd.read_parquet(f"memory://{_published_dir(url)}/incidents")
    assert len(plain) == 42 and plain.crs.to_epsg() == 27700
    assert reader.manifest().partitions.keys() == local.manifest().partitions.keys()
    assert len(_versions(url)) == 2  # the published version and the one before it


def test_re_ingest_is_a_no_op_and_a_new_month_adds_one_version(
    url: str, tmp_path: Path, ward_file: Path
) -> None:
    data = tmp_path / "in"
    _month(data, "2021-01", 9)
    store = Store(url)
    add_layer(store, "ward", ward_file)
    ingest_files(store, "police-uk", [data])
    before, fs = _versions(url), fsspec.filesystem("memory")
    current = fs.cat_file(f"{url.removeprefix('memory://')}/CURRENT")
    again = ingest_files(Store(url), "police-uk", [data])
    assert not again.changed and _versions(url) == before
    assert fs.cat_file(f"{url.removeprefix('memory://')}/CURRENT") == current
    _month(data, "2021-02", 6)
    added = ingest_files(Store(url), "police-uk", [data])
    assert added.stored == 6 and added.duplicates_in_store == 9
    after = _versions(url)
    assert len(after) == 2 and after[0] == before[-1]  # the one built on is kept, older gone
    assert after[1].startswith("v000003-")
    reader = StoreReader(url)
    assert reader.version() == after[1] and len(reader.incidents()) == 15
    # The unchanged January file is the same object content, copied on the "server".
    january = "incidents/source=police_uk/month=2021-01/part.parquet"
    root = url.removeprefix("memory://")
    old, new = (fs.cat_file(f"{root}/_versions/{name}/{january}") for name in after)
    assert old == new and reader.manifest().checksums[january].bytes == len(new)
    assert not fs.exists(f"{root}/{LOCK}")


def test_a_second_writer_is_refused_naming_the_holder_and_its_lock_can_be_broken(
    url: str, tmp_path: Path, ward_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in"
    _month(data, "2021-01", 6)
    fs, root = fsspec.core.url_to_fs(url)
    other = RemoteLock(fs, root, url=url)
    other.acquire()
    assert _cli("--store", url, "ingest", "police-uk", str(data)) == 4
    err = capsys.readouterr().err
    assert f"store {url} is being written by {other.info.holder} since" in err
    assert f"unlock {other.info.token}" in err and err.count("\n") == 1
    assert not fs.exists(f"{root}/CURRENT")
    # Only the token shown breaks it: a lock taken since by another writer is never removed.
    assert _cli("--store", url, "unlock", "0123456789ab") == 2
    assert "nothing was removed" in capsys.readouterr().err
    assert _cli("--store", url, "unlock", other.info.token) == 0
    assert _cli("--store", url, "ingest", "police-uk", str(data)) == 0
    assert len(StoreReader(url).incidents()) == 6
    # The broken writer finds its lock gone and publishes nothing.
    with pytest.raises(StoreBusyError, match="lock of this write was removed"):
        other.confirm()


def test_a_writer_failing_before_current_leaves_readers_on_the_previous_version(
    url: str, tmp_path: Path, ward_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "in"
    _month(data, "2021-01", 6)
    store = Store(url)
    add_layer(store, "ward", ward_file)
    ingest_files(store, "police-uk", [data])
    before, published = _versions(url), StoreReader(url).version()
    _month(data, "2021-02", 3)

    def fail(phase: str) -> None:
        if phase == "remote-files-written":
            raise KeyboardInterrupt

    monkeypatch.setattr(_remote, "fault_point", fail)
    failed = Store(url)
    with pytest.raises(KeyboardInterrupt):
        ingest_files(failed, "police-uk", [data])
    assert failed.months() == ["2021-01"]  # its own unpublished version is not read either
    reader = StoreReader(url)
    assert reader.version() == published and len(reader.incidents()) == 6
    assert _versions(url) == before  # its objects removed, its lock too
    monkeypatch.setattr(_remote, "fault_point", fault_point)
    assert ingest_files(Store(url), "police-uk", [data]).stored == 3
    assert len(StoreReader(url).incidents()) == 9


_KILLED_WRITER = """
import sys
from geo_service.ingest import ingest_files
from geo_service.store import Store
ingest_files(Store(sys.argv[1]), "police-uk", [sys.argv[2]])
"""


@pytest.mark.parametrize("phase", REMOTE_PHASES)
def test_a_killed_writer_on_a_file_url_leaves_one_whole_version_and_its_lock(
    phase: str, tmp_path: Path, staging: Path, ward_file: Path
) -> None:
    remote = tmp_path / "shared"
    url = f"file://{remote}"
    copy = _remote.working_copy(url)  # the object-store protocol, on a local disk
    data = tmp_path / "in"
    _month(data, "2021-01", 6)
    store = Store(copy)
    add_layer(store, "ward", ward_file)
    ingest_files(store, "police-uk", [data])
    published = StoreReader(url).version()
    _month(data, "2021-02", 3)
    env = os.environ | {FAULT_ENV: phase, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(copy), str(data)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == -9, done.stderr
    reader = StoreReader(url)
    names = sorted(p.name for p in (remote / "_versions").iterdir())
    assert len(names) == 3 and names[1] == published and names[2].startswith("v000003-")
    if phase == "remote-files-written":  # before CURRENT: the previous version, whole
        assert reader.version() == published and len(reader.incidents()) == 6
    else:  # after CURRENT: the new version, whole; the oldest not yet removed
        assert reader.version() == names[2] and len(reader.incidents()) == 9
    lock = read_lock(fsspec.filesystem("file"), f"{remote}/{LOCK}")
    assert lock is not None and f"pid {os.getpid()}" not in lock.holder  # the killed one's
    with pytest.raises(StoreBusyError, match=f"unlock {lock.token}"):
        ingest_files(Store(copy), "police-uk", [data])
    break_lock(fsspec.filesystem("file"), str(remote), lock.token, url=url)
    again = ingest_files(Store(copy), "police-uk", [data])
    assert again.stored == (3 if phase == "remote-files-written" else 0)
    final = StoreReader(url).version()
    assert sorted(p.name for p in (remote / "_versions").iterdir()) == (
        [published, final] if phase == "remote-files-written" else names
    )  # what a killed writer left is removed by the next write that publishes (not a no-op)
    assert len(StoreReader(url).incidents()) == 9
    duckdb = pytest.importorskip("duckdb")
    glob = f"{remote}/_versions/{final}/incidents/**/*.parquet"
    assert duckdb.sql(f"SELECT count(*) FROM read_parquet('{glob}')").fetchall() == [(9,)]


def test_a_file_system_without_an_exclusive_write_is_refused_naming_it(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from fsspec.implementations.memory import MemoryFileSystem
    from fsspec.spec import AbstractFileSystem

    class CheckThenWrite(MemoryFileSystem):  # fsspec's racy default for mode="create"
        protocol = ("checkthenwrite",)
        pipe_file = AbstractFileSystem.pipe_file

    class IgnoresMode(MemoryFileSystem):  # a service that overwrites whatever the mode
        protocol = ("ignoresmode",)

        def pipe_file(self, path: str, value: bytes, mode: str = "", **kwargs: object) -> None:
            MemoryFileSystem.pipe_file(self, path, value)

    data = tmp_path / "in"
    _month(data, "2021-01", 3)
    cases = (
        (CheckThenWrite, "cannot create an object only if it is absent"),
        (IgnoresMode, "let a second exclusive write of the lock object"),
    )
    for cls, expected in cases:
        fsspec.register_implementation(cls.protocol[0], cls, clobber=True)
        store_url = f"{cls.protocol[0]}://{url.removeprefix('memory://')}-{cls.protocol[0]}"
        assert _cli("--store", store_url, "ingest", "police-uk", str(data)) == 2
        err = capsys.readouterr().err
        assert expected in err and cls.__name__ in err and err.count("\n") == 1
        fs, root = fsspec.core.url_to_fs(store_url)
        assert not fs.exists(f"{root}/CURRENT") and not fs.exists(f"{root}/{LOCK}")


def test_a_lost_current_is_damage_not_an_empty_store(url: str, ward_file: Path) -> None:
    store = Store(url)
    add_layer(store, "ward", ward_file)
    add_layer(store, "ward", ward_file)
    fs, root = fsspec.core.url_to_fs(url)
    fs.rm_file(f"{root}/CURRENT")
    with pytest.raises(StoreError, match=r"CURRENT .* is missing"):
        add_layer(Store(url), "ward", ward_file)
    assert len(_versions(url)) == 2


def test_an_unknown_scheme_is_one_input_error(
    staging: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _cli("--store", "nosuchfs://bucket/store", "status") == 2
    assert "no fsspec file system for nosuchfs://" in capsys.readouterr().err


def test_the_working_copy_records_its_url(url: str, staging: Path) -> None:
    copy = Store(url).root
    assert copy.parent == staging
    assert json.loads((copy / ".origin").read_text("utf-8"))["url"] == url


def test_check_reads_the_published_version_and_repair_is_left_to_a_local_store(
    url: str, tmp_path: Path, ward_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in"
    _month(data, "2021-01", 6)
    assert _cli("--store", url, "boundaries", "add", "ward", str(ward_file)) == 0
    assert _cli("--store", url, "ingest", "police-uk", str(data)) == 0
    # Another machine publishes a month: `check` brings it in before reading every byte.
    other = tmp_path / "other"
    other.mkdir()
    _month(data, "2021-02", 3)
    ingest_files(Store(_remote.working_copy(url, staging=str(other))), "police-uk", [data])
    capsys.readouterr()
    assert _cli("--store", url, "check") == 0
    assert "version v000003" in capsys.readouterr().out
    assert _cli("--store", url, "repair") == 2
    assert "`geo-service repair` mends a store in a local folder" in capsys.readouterr().err


def test_an_upload_refused_by_the_file_system_is_one_line_and_publishes_nothing(
    url: str, tmp_path: Path, ward_file: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from fsspec.implementations.memory import MemoryFileSystem

    data = tmp_path / "in"
    _month(data, "2021-01", 6)
    assert _cli("--store", url, "boundaries", "add", "ward", str(ward_file)) == 0
    published = StoreReader(url).version()

    def refused(self: MemoryFileSystem, lpath: str, rpath: str, **kwargs: object) -> None:
        raise OSError(28, "No space left on device", rpath)

    monkeypatch.setattr(MemoryFileSystem, "put_file", refused)
    assert _cli("--store", url, "ingest", "police-uk", str(data)) == 2
    err = capsys.readouterr().err
    assert "(No space left on device); nothing was published, the store is as it was" in err
    assert err.count("\n") == 1 and "/_versions/v000002-" in err
    assert StoreReader(url).version() == published and _versions(url) == [published]
    fs, root = fsspec.core.url_to_fs(url)
    assert not fs.exists(f"{root}/{LOCK}")
