"""Disk full and other operating-system errors while an ingest writes the store.

Promise: one line naming the path and the reason, exit code 2, the staging version and the
ingest's rejects file removed, the published store exactly as it was. Each write phase is
faulted by a patched call raising the OSError the system would raise; where the platform allows
(root, Linux) a real 2 MiB tmpfs is filled and then remounted read-only.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from geo_service.cli import main
from geo_service.projection import from_bng
from geo_service.store import Store, merge, write
from tests.store.conftest import P_W1, P_W2, january_rows, police_row, write_police_csv

_FULL = "No space left on device"


def _snapshot(root: Path) -> tuple[Any, ...]:
    """Everything a failed write must leave as it was (staging folders included)."""
    store = Store(root)
    listing = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.name != ".lock")
    return store.version(), store.manifest(), listing


def _new_month(folder: Path, month: str = "2021-02", rows: int = 3) -> Path:
    data = [
        police_row(f"{month}-{k}", month, P_W1 if k % 2 else P_W2, "Drugs") for k in range(rows)
    ]
    data.append(police_row("bad", "2021-13", P_W1, "Drugs"))  # one reject: a rejects file too
    return write_police_csv(folder / f"{month}-test-street.csv", data)


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    """A store holding January (one month partition, one rejects file)."""
    root = tmp_path / "store"
    january = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    assert main(["--store", str(root), "ingest", "police-uk", str(january)]) == 0
    return root


def _ingest_fails(root: Path, path: Path, capsys: pytest.CaptureFixture[str], reason: str) -> str:
    before = _snapshot(root)
    capsys.readouterr()
    assert main(["--store", str(root), "ingest", "police-uk", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and reason in err, err
    assert _snapshot(root) == before
    return err


def _no_space(*args: Any, **kwargs: Any) -> None:
    raise OSError(errno.ENOSPC, _FULL)


@pytest.mark.parametrize(
    ("target", "name", "path_in_message"),
    [
        (merge, "write_table", "part.parquet"),  # a month partition
        (merge, "link", ".staging-"),  # linking an unchanged month into the new version
        (write.pd.DataFrame, "to_csv", "rejects"),  # the rejects file
        (write, "_write_manifest", ".staging-"),  # the new manifest
        (write.os, "fsync", "store/_versions/"),  # sealing the checksums or writing CURRENT
    ],
)
def test_disk_full_in_each_write_phase(
    store_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    target: Any,
    name: str,
    path_in_message: str,
) -> None:
    february = _new_month(tmp_path / "in")
    monkeypatch.setattr(target, name, _no_space)
    err = _ingest_fails(store_root, february, capsys, _FULL)
    assert path_in_message in err and "the store is as it was" in err
    monkeypatch.undo()  # space again: the same ingest now succeeds
    assert main(["--store", str(store_root), "ingest", "police-uk", str(february)]) == 0
    assert Store(store_root).months() == ["2021-01", "2021-02"]


@pytest.mark.parametrize(
    ("code", "reason"),
    [(errno.EROFS, "Read-only file system"), (errno.EACCES, "Permission denied")],
)
def test_read_only_and_permission_errors(
    store_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    reason: str,
) -> None:
    def refuse(table: Any, path: Path) -> None:
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(merge, "write_table", refuse)
    err = _ingest_fails(store_root, _new_month(tmp_path / "in"), capsys, reason)
    assert "part.parquet" in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permission bits")
def test_read_only_versions_folder(
    store_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    versions = store_root / "_versions"
    versions.chmod(0o555)
    try:
        err = _ingest_fails(store_root, _new_month(tmp_path / "in"), capsys, "Permission denied")
    finally:
        versions.chmod(0o755)
    assert str(versions) in err


# ------------------------------------------------------------------ a real small file system
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (root on Linux only)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path, *, leave_bytes: int) -> None:
    """Fill ``disk`` until about ``leave_bytes`` are free."""
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(b"\0" * max(0, free - leave_bytes))


def test_real_disk_full_on_a_small_tmpfs(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_disk / "store"
    january = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    assert main(["--store", str(root), "ingest", "police-uk", str(january)]) == 0
    _fill(small_disk, leave_bytes=48 * 1024)
    # 20,000 rows with random points: a partition far larger than the 48 KiB left.
    rng = np.random.default_rng(7)
    lon, lat = from_bng(rng.uniform(500_000, 502_000, 20_000), np.full(20_000, 200_400.0))
    template = police_row("", "2021-02", None, "Drugs")
    rows = [
        [f"M{k:06d}", *template[1:4], f"{x:.6f}", f"{y:.6f}", *template[6:]]
        for k, (x, y) in enumerate(zip(lon, lat, strict=True))
    ]
    february = write_police_csv(tmp_path / "in" / "2021-02-test-street.csv", rows)
    err = _ingest_fails(root, february, capsys, _FULL)
    assert str(root) in err
    assert not [p for p in (root / "_versions").iterdir() if p.name.startswith(".staging")]
    (small_disk / "filler").unlink()  # space again: the same ingest succeeds
    assert main(["--store", str(root), "ingest", "police-uk", str(february)]) == 0
    assert Store(root).months() == ["2021-01", "2021-02"]


def test_real_read_only_file_system(
    small_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = small_disk / "store"
    january = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    assert main(["--store", str(root), "ingest", "police-uk", str(january)]) == 0
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    _ingest_fails(root, _new_month(tmp_path / "in"), capsys, "Read-only file system")
