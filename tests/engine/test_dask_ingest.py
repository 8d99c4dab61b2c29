"""The same ingest on a Dask LocalCluster and in the single process gives identical results.

One small cluster (2 worker processes, 1 thread each) serves the whole module; every ingest is
run twice, once in this process and once with ``scheduler=<the cluster's address>``, and the
stored rows, the manifest's file records and partition row counts, the summary, the rejects and
the ``change`` table must be equal.
"""

from __future__ import annotations

import logging
import pickle
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.engine import DaskEngine
from geo_service.errors import InputError
from geo_service.ingest import add_layer, ingest_files
from geo_service.projection import from_bng
from geo_service.store import Store
from geo_service.store import verify as _verify
from geo_service.store.manifest import FileChecksum
from geo_service.store.write import IngestBatch, IngestWriter, StagedBatch
from tests.engine._compare import (
    change_csv,
    manifest_files,
    partition_rows,
    rejects,
    stored_rows,
    summary_dict,
)
from tests.store.conftest import P_OUT, write_police_csv

distributed = pytest.importorskip(
    "distributed", reason="the optional Dask engine is not installed (pip install '.[dask]')"
)

MONTHS = ("2021-01", "2021-02", "2021-03", "2021-04")
TYPES = ("Burglary", "Vehicle crime", "Drugs", "Anti-social behaviour", "Shoplifting")


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A 2-worker LocalCluster (processes, 1 thread each); yields its scheduler address."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.ERROR,
    ) as local:  # fmt: skip
        yield str(local.scheduler_address)


def _month_rows(month: str, force: str, rng: np.random.Generator, n: int) -> list[list[str]]:
    """``n`` rows of one force's month (its own ``Reported by`` and ``Falls within``), then a
    repeat, an id shared with the other force's file and a row of a bad month; every 17th row
    has no coordinates, every 23rd lies outside."""
    xs = rng.uniform(500_050, 501_950, n + 1)
    ys = rng.uniform(200_050, 200_950, n + 1)
    xs[n], ys[n] = 500_400.0, 200_500.0  # the shared id's point, in W1
    xs[7::23], ys[7::23] = P_OUT
    lon, lat = from_bng(xs, ys)
    kinds = [TYPES[int(k)] for k in rng.integers(0, len(TYPES), n)]
    kinds[1] = "Burglary"
    rows = []
    for k, kind in enumerate(kinds):
        crime_id = "" if kind == "Anti-social behaviour" else f"{force}-{month}-{k}"
        located = k % 17 != 5
        rows.append(
            [crime_id, month, f"{force} police", f"{force} police",
             f"{lon[k]:.6f}" if located else "", f"{lat[k]:.6f}" if located else "",
             "On or near Test Street", "", "", kind, "", ""]
        )  # fmt: skip
    shared = [f"shared-{month}", month, f"{force} police", f"{force} police", f"{lon[n]:.6f}",
              f"{lat[n]:.6f}", "On or near Test Street", "", "", "Burglary", "", ""]  # fmt: skip
    bad = [*shared[:1], "2021-13", *shared[2:]]
    bad[0] = f"{force}-{month}-bad"
    return [*rows, rows[1], shared, bad]


def _write_month(folder: Path, month: str, *, seed: int, n: int = 60) -> list[Path]:
    rng = np.random.default_rng(seed)
    return [
        write_police_csv(folder / f"{month}-{force}-street.csv", _month_rows(month, force, rng, n))
        for force in ("alpha", "beta")
    ]


def _store_with_wards(root: Path | str, wards: Path) -> Store:
    store = Store(root)
    add_layer(store, "ward", wards)
    return store


def _scheduler(name: str, cluster: str) -> str | None:
    return None if name == "single" else cluster


def _assert_same_stores(single: Path, dask: Path) -> None:
    pd.testing.assert_frame_equal(stored_rows(single), stored_rows(dask))
    assert manifest_files(single) == manifest_files(dask)
    assert partition_rows(single) == partition_rows(dask)


def test_synthetic_months_and_a_re_ingest_are_identical_on_both_engines(
    cluster: str, tmp_path: Path, ward_file: Path
) -> None:
    data = tmp_path / "in"
    for k, month in enumerate(MONTHS[:3]):
        _write_month(data, month, seed=k)
    stores = {name: _store_with_wards(tmp_path / name, ward_file) for name in ("single", "dask")}
    first = {
        name: ingest_files(
            store, "police-uk", [data], scheduler=None if name == "single" else cluster
        )
        for name, store in stores.items()
    }
    # Hand-checked totals: 3 months x 2 forces x (60 rows + repeat + shared id + bad month).
    assert first["single"].rows_read == 3 * 2 * 63
    assert first["single"].rejected == 6 and first["single"].duplicates_in_files == 3 * 2 + 3
    assert summary_dict(first["single"]) == summary_dict(first["dask"])
    assert rejects(first["single"]) == rejects(first["dask"])
    _assert_same_stores(tmp_path / "single", tmp_path / "dask")
    # A corrected month, a new one and the unchanged rest: skipped, superseded and new files.
    _write_month(data, MONTHS[1], seed=99)
    _write_month(data, MONTHS[3], seed=3)
    second = {
        name: ingest_files(
            store, "police-uk", [data], scheduler=None if name == "single" else cluster
        )
        for name, store in stores.items()
    }
    assert [f.status for f in second["single"].files].count("replaced earlier version") == 2
    assert summary_dict(second["single"]) == summary_dict(second["dask"])
    _assert_same_stores(tmp_path / "single", tmp_path / "dask")
    table = change_csv(tmp_path / "single", "--layer", "ward")
    assert table == change_csv(tmp_path / "dask", "--layer", "ward") and "W1" in table


@pytest.mark.realdata
def test_hertfordshire_months_are_identical_on_both_engines(
    cluster: str, shared_data: Path, tmp_path: Path
) -> None:
    street = shared_data / "police-uk-hertfordshire-street"
    wards = shared_data / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"
    if not street.is_dir() or not wards.is_file():
        pytest.skip(f"needs {street} and {wards}")
    summaries = {}
    for name, scheduler in (("single", None), ("dask", cluster)):
        store = _store_with_wards(tmp_path / name, wards)
        summaries[name] = ingest_files(store, "police-uk", [street], scheduler=scheduler)
    # SOURCE.md: 108,465 rows in 13 files; 4 Crime IDs occur twice; 13,184 rows in a ward.
    assert summaries["dask"].rows_read == 108_465 and summaries["dask"].duplicates_in_files == 4
    assert summaries["dask"].layers["ward"]["located_inside"] == 13_184
    assert summary_dict(summaries["single"]) == summary_dict(summaries["dask"])
    _assert_same_stores(tmp_path / "single", tmp_path / "dask")
    table = change_csv(tmp_path / "single", "--layer", "ward")
    assert table == change_csv(tmp_path / "dask", "--layer", "ward") and table.count("\n") > 25


def test_a_file_refused_on_a_worker_is_raised_here_and_nothing_is_stored(
    cluster: str, tmp_path: Path, ward_file: Path
) -> None:
    data = tmp_path / "in"
    _write_month(data, "2021-01", seed=1)
    bad = data / "2021-02-alpha-street.csv"
    bad.write_text("Crime ID,Month\nX,2021-02\n", encoding="utf-8")  # not a street-level file
    store = _store_with_wards(tmp_path / "store", ward_file)
    before = store.version()
    with pytest.raises(InputError, match=r"2021-02-alpha-street\.csv"):
        ingest_files(store, "police-uk", [data], scheduler=cluster)
    assert store.version() == before
    assert not list((tmp_path / "store").glob("rejects/*"))  # the first month's rejects removed
    # The month a worker staged is gone with the staging version: only the published one left.
    assert [p.name for p in (tmp_path / "store" / "_versions").iterdir()] == [before]


def test_a_file_without_a_month_in_its_name_is_merged_here_in_order(
    cluster: str, tmp_path: Path, ward_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    moved: list[bool] = []
    add_staged = IngestWriter.add_staged

    def spy_staged(self: IngestWriter, batch: StagedBatch) -> bool:
        moved.append(add_staged(self, batch))
        return moved[-1]

    monkeypatch.setattr(IngestWriter, "add_staged", spy_staged)
    data = tmp_path / "in"
    for k, month in enumerate(MONTHS[:2]):
        _write_month(data, month, seed=k)
    # A name without a month (loaded first, in a batch of its own) and February's rows with its
    # shared id: it touches the month another batch's worker stages, so both are merged here,
    # in order. (A file named for a month has no rows of another: the loader rejects them.)
    write_police_csv(
        data / "gamma-street.csv", _month_rows(MONTHS[1], "gamma", np.random.default_rng(8), 8)
    )
    summaries = {
        name: ingest_files(
            _store_with_wards(tmp_path / name, ward_file),
            "police-uk",
            [data],
            scheduler=_scheduler(name, cluster),
        )
        for name in ("single", "dask")
    }
    assert summary_dict(summaries["single"]) == summary_dict(summaries["dask"])
    _assert_same_stores(tmp_path / "single", tmp_path / "dask")
    # February's shared id is stored from gamma's file (its batch is read first), so alpha's
    # copy is a duplicate in the store (beta's one in the files); February holds alpha's and
    # beta's 60 rows, gamma's 8 and the shared id.
    assert moved == [True, False]  # January staged by its worker; February loaded again here
    assert summaries["dask"].duplicates_in_store == 1
    assert partition_rows(tmp_path / "dask")[("police_uk", MONTHS[1])] == 60 + 60 + 8 + 1


def test_workers_stage_their_months_and_send_back_no_incident_rows(
    cluster: str, tmp_path: Path, ward_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "in"
    for k, month in enumerate(MONTHS[:3]):
        _write_month(data, month, seed=k)
    merged_here: list[int] = []
    staged: list[int] = []
    add, add_staged = IngestWriter.add, IngestWriter.add_staged

    def spy_add(self: IngestWriter, batch: IngestBatch) -> None:
        merged_here.append(len(batch.incidents) + len(batch.held or []))
        add(self, batch)

    def spy_staged(self: IngestWriter, batch: StagedBatch) -> bool:
        staged.append(len(pickle.dumps(replace(batch, reload=None))))
        return add_staged(self, batch)

    monkeypatch.setattr(IngestWriter, "add", spy_add)
    monkeypatch.setattr(IngestWriter, "add_staged", spy_staged)
    summary = ingest_files(_store_with_wards(tmp_path / "dask", ward_file), "police-uk", [data],
                           scheduler=cluster)  # fmt: skip
    assert summary.stored == 3 * 2 * 61 - 3  # 61 rows a file after its repeat and bad month
    assert merged_here == [] and len(staged) == 3  # every month staged by a worker
    # A month's result: its 2 file records, tallies and 2 rejects (6.6 kB), no rows.
    assert max(staged) < 12_000


def test_workers_hash_the_files_they_stage_and_this_process_reads_none_of_them_again(
    cluster: str, tmp_path: Path, ward_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "in"
    for k, month in enumerate(MONTHS[:3]):
        _write_month(data, month, seed=k)
    single = ingest_files(_store_with_wards(tmp_path / "single", ward_file), "police-uk", [data])
    hashed: list[str] = []
    whole = _verify.file_checksum

    def spy(path: Path) -> FileChecksum:
        hashed.append(Path(path).as_posix())
        return whole(path)

    monkeypatch.setattr(_verify, "file_checksum", spy)  # this process only, not the workers
    dask = ingest_files(_store_with_wards(tmp_path / "dask", ward_file), "police-uk", [data],
                        scheduler=cluster)  # fmt: skip
    assert single.stored == dask.stored == 3 * 2 * 61 - 3
    checksums = {name: Store(tmp_path / name).manifest().checksums for name in ("single", "dask")}
    # Each month's incident and held file, and the ward layer; the same bytes on both engines.
    assert len(checksums["dask"]) == 3 + 3 + 1
    assert checksums["dask"] == checksums["single"]
    assert [p for p in hashed if "/incidents/" in p or "/held/" in p] == []
    # The records hold: `check` reads every byte against them.
    assert _verify.check_store(tmp_path / "dask").clean


def test_workers_stage_the_months_of_a_store_at_a_url_and_this_process_publishes_them(
    cluster: str, tmp_path: Path, ward_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsspec = pytest.importorskip("fsspec", reason="fsspec is not installed")
    from geo_service.store.remote import StoreReader

    monkeypatch.setenv("GEO_SERVICE_STAGING", str(tmp_path / "copies"))
    data = tmp_path / "in"
    for k, month in enumerate(MONTHS[:3]):
        _write_month(data, month, seed=k)
    single = ingest_files(_store_with_wards(tmp_path / "single", ward_file), "police-uk", [data])
    url = f"memory://dask-{tmp_path.name}"
    try:
        remote = _store_with_wards(url, ward_file)
        dask = ingest_files(remote, "police-uk", [data], scheduler=cluster)
        assert summary_dict(dask) == summary_dict(single)
        reader = StoreReader(url)
        rows = reader.incidents().sort_values(["source_file", "source_line"], ignore_index=True)
        pd.testing.assert_frame_equal(rows, stored_rows(tmp_path / "single"))
        # The workers staged into the local working copy; the URL got the same bytes.
        assert reader.manifest().checksums == Store(tmp_path / "single").manifest().checksums
    finally:
        fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


def test_warnings_of_a_worker_reach_this_process(
    cluster: str, tmp_path: Path, ward_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (path,) = [p for p in _write_month(tmp_path / "in", "2021-01", seed=2) if "alpha" in p.name]
    path.write_bytes(path.read_bytes().replace(b"Test Street", "Tést Street".encode("cp1252")))
    store = _store_with_wards(tmp_path / "store", ward_file)
    with caplog.at_level(logging.WARNING, logger="geo_service"):
        ingest_files(store, "police-uk", [path], scheduler=cluster)
    assert any("not UTF-8 text; reading it as" in r.getMessage() for r in caplog.records)


def test_results_come_in_order_with_few_in_flight(cluster: str) -> None:
    with distributed.Client(cluster) as client:
        engine = DaskEngine(client, in_flight=2)
        seen = []
        for value in engine.map(_square_plus, range(8), offset=1):
            # Submitted and not consumed: at most in_flight tasks, plus the shared argument.
            seen.append((value, len(client.futures)))
    assert [v for v, _ in seen] == [k * k + 1 for k in range(8)]
    assert max(n for _, n in seen) <= 2 + 1


def _square_plus(value: int, *, offset: int) -> int:
    return value * value + offset


def test_cli_scheduler_option_runs_the_ingest_on_the_cluster(
    cluster: str, tmp_path: Path, ward_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "in"
    _write_month(data, "2021-01", seed=5)
    outputs = []
    for name, flags in (("single", []), ("dask", ["--scheduler", cluster])):
        store = tmp_path / name
        assert main(["--store", str(store), "boundaries", "add", "ward", str(ward_file)]) == 0
        capsys.readouterr()
        assert main(["--store", str(store), *flags, "ingest", "police-uk", str(data)]) == 0
        outputs.append(capsys.readouterr().out.replace(str(store), "STORE"))
    assert outputs[0].splitlines()[:3] == outputs[1].splitlines()[:3]
    assert "read 126: stored" in outputs[1]
    shutil.rmtree(tmp_path / "in")
