"""Sealing a version with its files' checksums, and the cheap check every read makes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geo_service.errors import StoreDamagedError
from geo_service.store import FileRecord, Manifest, Store
from geo_service.store.manifest import FileChecksum
from geo_service.store.verify import file_checksum, footer_checksum, version_problems
from tests.store.conftest import canonical

NO_REJECTS = pd.DataFrame({"file": [], "line": []})


def _write(store: Store, name: str, month: str, ids: list[str]) -> None:
    frame = canonical(
        [{"incident_id": i, "month": month, "x": 500100.0, "y": 200100.0, "source_file": name}
         for i in ids]
    )  # fmt: skip
    record = FileRecord(f"/in/{name}", name, "police_uk", f"sha-{name}", len(ids), 0, 0, (month,))
    store.write_incidents(frame, [record], rejects=NO_REJECTS, kind="police-uk")


def test_checksums_are_those_of_the_files_by_an_independent_reading(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": list(range(100))}), path)
    data = path.read_bytes()
    length = int.from_bytes(data[-8:-4], "little")
    expected_footer = hashlib.sha256(data[-8 - length :]).hexdigest()
    assert file_checksum(path) == FileChecksum(
        bytes=len(data), rows=100, footer_sha256=expected_footer,
        sha256=hashlib.sha256(data).hexdigest(),
    )  # fmt: skip
    path.write_bytes(data[:-3])
    with pytest.raises(ValueError, match="does not end with a Parquet footer"):
        footer_checksum(path, len(data) - 3)


def test_a_write_records_checksums_and_keeps_those_of_linked_files(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    _write(store, "a.csv", "2021-01", ["A1", "A2"])
    first = store.manifest()
    jan = "incidents/source=police_uk/month=2021-01/part.parquet"
    assert set(first.checksums) == {jan}
    assert first.checksums[jan] == file_checksum(tmp_path / "store/_versions/v000001" / jan)
    _write(store, "b.csv", "2021-02", ["B1"])
    second = store.manifest()
    assert second.checksums[jan] == first.checksums[jan]  # linked, not hashed again
    assert os.path.samefile(
        tmp_path / "store/_versions/v000001" / jan, tmp_path / "store/_versions/v000002" / jan
    )
    feb = jan.replace("2021-01", "2021-02")
    assert second.checksums[feb].rows == 1
    assert Manifest.from_json(second.to_json()).checksums == second.checksums


def test_files_found_intact_are_not_read_again_until_their_stat_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "store")
    _write(store, "a.csv", "2021-01", ["A1", "A2"])
    version_dir, manifest = tmp_path / "store/_versions/v000001", store.manifest()
    reads: list[Path] = []
    original = footer_checksum

    def counting(path: Path, size: int) -> str:
        reads.append(path)
        return original(path, size)

    monkeypatch.setattr("geo_service.store.verify.footer_checksum", counting)
    seen: dict[str, tuple[int, int, int, int]] = {}
    assert version_problems(version_dir, manifest, seen=seen) == []
    assert version_problems(version_dir, manifest, seen=seen) == []
    assert len(reads) == 1
    part = next(version_dir.glob("incidents/*/*/part.parquet"))
    os.utime(part, ns=(0, 0))  # same bytes, new stat: read again, still intact
    assert version_problems(version_dir, manifest, seen=seen) == []
    assert len(reads) == 2


def test_reads_check_again_once_the_grace_time_is_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("geo_service.store.store._RECHECK_S", 3600.0)
    store = Store(tmp_path / "store")
    _write(store, "a.csv", "2021-01", ["A1", "A2"])
    assert len(store.incidents()) == 2
    part = next((tmp_path / "store/_versions/v000001").glob("incidents/*/*/part.parquet"))
    part.unlink()
    assert len(store.manifest().partitions) == 1  # within the grace time of the last check
    monkeypatch.setattr("geo_service.store.store._RECHECK_S", 0.0)
    with pytest.raises(StoreDamagedError, match=r"month=2021-01/part.parquet \(2 rows listed\)"):
        store.incidents()
