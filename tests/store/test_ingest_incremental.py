"""Incremental, bounded ingest: stored files are recognised by checksum before any parse, police.uk
files are loaded a month at a time, and the store still publishes one version or none."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest

from geo_service import ingest, join
from geo_service.errors import InputError
from geo_service.ingest import files as ingest_steps
from geo_service.sources import police_uk
from geo_service.store import Store
from tests.store.conftest import P_W1, P_W2, january_rows, police_row, write_police_csv


def _month_rows(month: str, ids: list[str]) -> list[list[str]]:
    return [police_row(i, month, P_W1 if k % 2 else P_W2, "Burglary") for k, i in enumerate(ids)]


def _opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Names of the files the police.uk loader parses from now on."""
    names: list[str] = []
    real = police_uk.open_file

    def spy(path: Path) -> Any:
        names.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(police_uk, "open_file", spy)
    return names


def _versions(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "_versions").iterdir())


def test_re_ingest_parses_nothing_and_counts_as_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "store")
    folder = tmp_path / "in"
    write_police_csv(folder / "2021-01-test-street.csv", january_rows())
    write_police_csv(folder / "2021-02-test-street.csv", _month_rows("2021-02", ["F1", "F2"]))
    first = ingest.ingest_files(store, "police-uk", [folder])
    version, opened = store.version(), _opened(monkeypatch)
    again = ingest.ingest_files(store, "police-uk", [folder])
    assert opened == [] and store.version() == version and not again.changed
    # Hand count: January 8 rows (6 stored, 1 repeat within the file, 1 rejected), February 2.
    assert (first.rows_read, first.stored, first.duplicates, first.rejected) == (10, 8, 1, 1)
    assert (again.rows_read, again.stored, again.rejected) == (10, 0, 1)
    assert (again.duplicates_in_files, again.duplicates_in_store) == (1, 8)
    assert [f.status for f in again.files] == ["unchanged", "unchanged"]
    assert [(f.rows, f.stored, f.duplicates, f.rejected) for f in again.files] == [
        (8, 0, 7, 1), (2, 0, 2, 0),
    ]  # fmt: skip


def test_a_new_month_reads_only_its_file_and_publishes_one_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "store")
    folder = tmp_path / "in"
    write_police_csv(folder / "2021-01-test-street.csv", _month_rows("2021-01", ["A", "B", "C"]))
    ingest.ingest_files(store, "police-uk", [folder])
    write_police_csv(folder / "2021-02-test-street.csv", _month_rows("2021-02", ["D", "E"]))
    write_police_csv(folder / "2021-03-test-street.csv", _month_rows("2021-03", ["F"]))
    opened = _opened(monkeypatch)
    summary = ingest.ingest_files(store, "police-uk", [folder])
    assert opened == ["2021-02-test-street.csv", "2021-03-test-street.csv"]
    assert _versions(store.root) == ["v000001", "v000002"]  # one version for both months
    assert [f.status for f in summary.files] == ["unchanged", "new", "new"]
    assert (summary.rows_read, summary.stored, summary.duplicates) == (6, 3, 3)
    months = store.incidents().groupby("month").size().to_dict()
    assert months == {"2021-01": 3, "2021-02": 2, "2021-03": 1}


def test_checksum_is_sha256_of_the_bytes_as_stored(tmp_path: Path) -> None:
    path = write_police_csv(tmp_path / "2021-01-x-street.csv", january_rows())
    assert ingest_steps.sha256_of(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    store = Store(tmp_path / "store")
    ingest.ingest_files(store, "police-uk", [path])
    (record,) = store.manifest().files
    assert record.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_an_ingest_hashes_each_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from geo_service.sources import _files

    path = write_police_csv(tmp_path / "2021-01-x-street.csv", january_rows())
    hashed: list[int] = []
    real = hashlib.sha256

    def counting(*args: bytes) -> object:
        hashed.append(len(args[0]) if args else -1)
        return real(*args)

    # the loader's own hashing (the store's checksums of what it writes are not counted)
    stub = SimpleNamespace(sha256=counting, file_digest=hashlib.file_digest)
    monkeypatch.setattr(_files, "hashlib", stub)
    store = Store(tmp_path / "store")
    ingest.ingest_files(store, "police-uk", [path])
    assert hashed == []  # the checksum taken before the parse was reused
    (record,) = store.manifest().files
    assert record.sha256 == real(path.read_bytes()).hexdigest()
    # An edited file (new size and modification time) is hashed again when parsed.
    assert ingest_steps.sha256_of(path) == record.sha256
    path.write_text(path.read_text() + path.read_text().splitlines()[-1] + "\n")
    raw = _files.open_file(path)
    assert raw.sha256 == real(path.read_bytes()).hexdigest() != record.sha256
    assert hashed == [path.stat().st_size]


def test_files_are_batched_by_the_month_of_their_name() -> None:
    paths = [
        Path("b/2021-02-b-street.csv"), Path("a/2021-01-a-street.csv"),
        Path("a/2021-02-a-street.csv"), Path("extract.csv"), Path("b/2021-01-b-street.csv"),
    ]  # fmt: skip
    assert [[p.name for p in group] for group in ingest_steps.batches("police-uk", paths)] == [
        ["extract.csv"],
        ["2021-01-a-street.csv", "2021-01-b-street.csv"],
        ["2021-02-a-street.csv", "2021-02-b-street.csv"],
    ]
    assert ingest_steps.batches("mapped", paths) == (tuple(paths),)


def test_memory_is_bounded_by_the_largest_month(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each join (and store merge) sees one month's rows, never the history."""
    sizes = {"2021-01": 5, "2021-02": 9, "2021-03": 4}
    folder = tmp_path / "in"
    for month, n in sizes.items():
        ids = [f"{month}-{k}" for k in range(n)]
        write_police_csv(folder / f"{month}-test-street.csv", _month_rows(month, ids))
    joined: list[int] = []
    real: Callable[..., Any] = join.assign_areas

    def spy(incidents: pd.DataFrame, layers: Any) -> Any:
        joined.append(len(incidents))
        return real(incidents, layers)

    monkeypatch.setattr(join, "assign_areas", spy)
    summary = ingest.ingest_files(Store(tmp_path / "store"), "police-uk", [folder])
    assert joined == [5, 9, 4] and summary.stored == 18


def test_a_repeat_between_two_forces_files_of_one_month_is_found(tmp_path: Path) -> None:
    """Forces' files of one month are one batch: a British Transport Police row in both is
    stored once, as when every file was loaded at once."""
    a = write_police_csv(tmp_path / "2021-01-a-street.csv", _month_rows("2021-01", ["X", "Y"]))
    b = write_police_csv(tmp_path / "2021-01-b-street.csv", _month_rows("2021-01", ["X", "Z"]))
    summary = ingest.ingest_files(Store(tmp_path / "store"), "police-uk", [a, b])
    assert (summary.stored, summary.duplicates_in_files, summary.duplicates_in_store) == (3, 1, 0)


def test_a_failing_month_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "store")
    folder = tmp_path / "in"
    write_police_csv(folder / "2021-01-test-street.csv", january_rows())
    ingest.ingest_files(store, "police-uk", [folder])
    before = (store.version(), store.manifest(), sorted((store.root / "rejects").iterdir()))
    write_police_csv(folder / "2021-02-test-street.csv", _month_rows("2021-02", ["F1"]))
    write_police_csv(folder / "2021-03-test-street.csv", _month_rows("2021-03", ["G1"]))
    real = police_uk.open_file

    def fail_in_march(path: Path) -> Any:
        if Path(path).name.startswith("2021-03"):
            raise InputError(f"{path}: refused for the test")
        return real(path)

    monkeypatch.setattr(police_uk, "open_file", fail_in_march)
    with pytest.raises(InputError, match="refused for the test"):
        ingest.ingest_files(store, "police-uk", [folder])
    after = (store.version(), store.manifest(), sorted((store.root / "rejects").iterdir()))
    assert after == before and _versions(store.root) == ["v000001"]  # February staged, then gone


def test_two_files_with_one_name_are_refused_before_any_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_police_csv(tmp_path / "a" / "2021-01-t-street.csv", january_rows())
    second = write_police_csv(tmp_path / "b" / "2021-01-t-street.csv", january_rows()[:2])
    opened = _opened(monkeypatch)
    with pytest.raises(InputError, match="have the same name"):
        ingest.ingest_files(Store(tmp_path / "store"), "police-uk", [first, second])
    assert opened == []


def test_rejects_path_is_recorded_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    monkeypatch.chdir(tmp_path)
    store = Store(Path("store"))  # a relative store path, as `--store store` gives
    summary = ingest.ingest_files(store, "police-uk", [Path("in")])
    expected = (tmp_path / "store" / "rejects").resolve() / f"{summary.ingest_id}.csv"
    assert summary.rejects_path == expected and expected.is_file()
    (record,) = store.manifest().ingests
    assert record.rejects_file == str(expected)
    assert store.status()["rejects"]["files"] == [str(expected)]
