"""Store status, coverage and unlocated counts; the files checked against the manifest; exit codes.

The fixture store, counted by hand:

=================== ======= ============= ==== ========= ================ =========
source              month   category      rows unlocated with subcategory with time
=================== ======= ============= ==== ========= ================ =========
mapped:force_crime  2021-02 Burglary      2    0         1                1
mapped:force_crime  2021-02 Robbery       1    0         0                0
police_uk           2021-01 Burglary      3    1         0                0
police_uk           2021-01 Drugs         1    0         0                0
police_uk           2021-03 Burglary      2    0         0                0
police_uk           2021-03 Drugs         1    1 (no y)  0                0
=================== ======= ============= ==== ========= ================ =========
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from geo_service import errors
from geo_service.cli import main
from geo_service.coverage import COVERAGE_COLUMNS, Coverage
from geo_service.errors import StoreDamagedError
from geo_service.store import FileRecord, Store
from geo_service.store import status as store_status
from tests.store.conftest import canonical

NO_REJECTS = pd.DataFrame({"file": [], "line": []})
NAN = float("nan")
JAN = "incidents/source=police_uk/month=2021-01"
MAR = "incidents/source=police_uk/month=2021-03"


def _police() -> pd.DataFrame:
    rows = [
        ("C1", "2021-01", "Burglary", 500100.0, 200100.0),
        ("C2", "2021-01", "Burglary", 500200.0, 200100.0),
        ("C3", "2021-01", "Burglary", NAN, NAN),
        ("C4", "2021-01", "Drugs", 500300.0, 200100.0),
        ("C5", "2021-03", "Burglary", 500100.0, 200200.0),
        ("C6", "2021-03", "Burglary", 500200.0, 200200.0),
        ("C7", "2021-03", "Drugs", 500300.0, NAN),
    ]
    return canonical(
        [
            {"incident_id": i, "month": m, "category": c, "x": x, "y": y,
             "source_file": "police.csv", "source_line": n + 2}
            for n, (i, m, c, x, y) in enumerate(rows)
        ]
    )  # fmt: skip


def _force() -> pd.DataFrame:
    base = {"source": "mapped:force_crime", "month": "2021-02", "source_file": "force.csv",
            "x": 500400.0, "y": 200300.0, "time_known": False}  # fmt: skip
    return canonical(
        [
            base | {"incident_id": "F1", "subcategory": "Burglary - Residential",
                    "time_known": True, "occurred_at": pd.Timestamp("2021-02-03 21:15")},
            base | {"incident_id": "F2", "source_line": 3},
            base | {"incident_id": "F3", "category": "Robbery", "source_line": 4},
        ]
    )  # fmt: skip


def _write(store: Store, frame: pd.DataFrame, name: str, kind: str) -> None:
    source = str(frame["source"].iloc[0])
    months = tuple(sorted(frame["month"].unique()))
    record = FileRecord(f"/in/{name}", name, source, f"sha-{name}", len(frame), 0, 0, months)
    store.write_incidents(frame, [record], rejects=NO_REJECTS, kind=kind)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    _write(store, _police(), "police.csv", "police-uk")
    _write(store, _force(), "force.csv", "mapped")
    return store


def _version_dir(store: Store) -> Path:
    return store.root / "_versions" / str(store.version())


# ---------------------------------------------------------------------- coverage, counts
def test_unlocated_counts_rows_without_x_or_y(store: Store) -> None:
    expected = pd.DataFrame(
        {
            "source": ["mapped:force_crime"] * 2 + ["police_uk"] * 4,
            "month": ["2021-02", "2021-02", "2021-01", "2021-01", "2021-03", "2021-03"],
            "category": ["Burglary", "Robbery", "Burglary", "Drugs", "Burglary", "Drugs"],
            "rows": [2, 1, 3, 1, 2, 1],
            "unlocated": [0, 0, 1, 0, 0, 1],
        }
    )
    got = store.unlocated()
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert got["rows"].dtype == "int64" and got["unlocated"].dtype == "int64"


def test_coverage_is_what_every_stored_row_says(store: Store) -> None:
    coverage = store.coverage()
    assert coverage == Coverage(
        months={"mapped:force_crime": ("2021-02",), "police_uk": ("2021-01", "2021-03")},
        sources={
            "Burglary": ("mapped:force_crime", "police_uk"),
            "Drugs": ("police_uk",),
            "Robbery": ("mapped:force_crime",),
        },
        subcategories=frozenset({("mapped:force_crime", "Burglary")}),
        times=frozenset({("mapped:force_crime", "Burglary")}),
    )
    # The same as Coverage built from every row, as the services would otherwise do.
    assert coverage == Coverage.from_incidents(store.incidents(columns=list(COVERAGE_COLUMNS)))
    assert coverage.missing_months("police_uk", ["2021-01", "2021-02", "2021-03"]) == ("2021-02",)


def test_empty_store_has_empty_coverage_and_counts(tmp_path: Path) -> None:
    empty = Store(tmp_path / "none")
    assert empty.coverage() == Coverage()
    assert empty.unlocated().empty and list(empty.unlocated().columns) == [
        "source", "month", "category", "rows", "unlocated",
    ]  # fmt: skip
    status = empty.status()
    assert (status["incidents"], status["sources"], status["demo"]) == (0, {}, False)


def test_summary_is_read_once_per_version_and_only_five_columns(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    columns: list[Any] = []
    summarise, read_table = store_status.summarise, pq.read_table

    def counting(*args: Any) -> pd.DataFrame:
        calls.append(1)
        return summarise(*args)

    def recording(path: Any, *args: Any, **kwargs: Any) -> Any:
        columns.append(kwargs.get("columns"))
        return read_table(path, *args, **kwargs)

    monkeypatch.setattr(store_status, "summarise", counting)
    monkeypatch.setattr(pq, "read_table", recording)
    first = store.coverage()
    store.unlocated()
    store.status()
    assert store.coverage() is first and len(calls) == 1
    assert columns == [["category", "subcategory", "time_known", "x", "y"]] * 3  # 3 partitions
    more = _police().iloc[:1].assign(incident_id="C9", month="2021-04", source_file="april.csv")
    _write(store, more, "april.csv", "police-uk")
    assert store.coverage().months["police_uk"] == ("2021-01", "2021-03", "2021-04")
    assert len(calls) == 2


def test_summary_is_kept_beside_the_version_and_read_back_by_the_next_opening(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.summary()
    kept = _version_dir(store) / store_status.SUMMARY_FILE
    assert kept.is_file()
    calls: list[int] = []
    summarise = store_status.summarise
    monkeypatch.setattr(store_status, "summarise", lambda *a: calls.append(1) or summarise(*a))
    again = Store(store.root)  # a new command opening the same store
    pd.testing.assert_frame_equal(again.summary(), first)
    assert calls == []  # read from the kept file, no partition read
    kept.write_bytes(b"not parquet")  # a damaged cache is computed again, not trusted
    pd.testing.assert_frame_equal(Store(store.root).summary(), first)
    assert calls == [1]


def test_status_reports_months_missing_unlocated_share_and_detail(store: Store) -> None:
    status = json.loads(json.dumps(store.status()))  # JSON-ready
    assert (status["incidents"], status["without_location"]) == (10, 2)
    police = status["sources"]["police_uk"]
    assert (police["first_month"], police["last_month"]) == ("2021-01", "2021-03")
    assert police["missing_months"] == ["2021-02"]
    assert (police["incidents"], police["without_location"]) == (7, 2)
    assert police["unlocated_share"] == pytest.approx(2 / 7)
    assert police["months"] == {"2021-01": 4, "2021-03": 3}
    assert police["by_month_category"][0] == {
        "month": "2021-01", "category": "Burglary", "rows": 3, "unlocated": 1,
        "unlocated_share": pytest.approx(1 / 3),
    }  # fmt: skip
    assert [(r["month"], r["category"], r["unlocated"]) for r in police["by_month_category"]] == [
        ("2021-01", "Burglary", 1), ("2021-01", "Drugs", 0),
        ("2021-03", "Burglary", 0), ("2021-03", "Drugs", 1),
    ]  # fmt: skip
    assert police["detail"] == {
        "Burglary": {"subcategories": False, "times": False},
        "Drugs": {"subcategories": False, "times": False},
    }
    force = status["sources"]["mapped:force_crime"]
    assert force["missing_months"] == [] and force["categories"] == {"Burglary": 2, "Robbery": 1}
    assert force["detail"] == {
        "Burglary": {"subcategories": True, "times": True},
        "Robbery": {"subcategories": False, "times": False},
    }


def test_status_command_prints_missing_months_and_unlocated_share(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--store", str(store.root), "status"]) == 0
    out = capsys.readouterr().out
    assert "police_uk: 7 incidents, 2021-01..2021-03; months missing: 2021-02" in out
    assert "mapped:force_crime: 3 incidents, 2021-02..2021-02; months missing: none" in out
    lines = [line.split() for line in out.splitlines()]
    assert ["2021-01", "Burglary", "3", "1", "33.3"] in lines
    assert ["2021-03", "Drugs", "1", "1", "100.0"] in lines
    assert ["Burglary", "2", "yes", "yes"] in lines  # mapped: subcategories and times
    assert main(["--store", str(store.root), "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["sources"]["police_uk"]["missing_months"] == ["2021-02"]


# ------------------------------------------------------------------- files vs manifest
def test_missing_partition_is_damage_not_fewer_rows(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    (_version_dir(store) / MAR / "part.parquet").unlink()
    fresh = Store(store.root)
    with pytest.raises(
        StoreDamagedError, match=rf"{MAR}/part.parquet \(3 rows listed\) is missing"
    ):
        fresh.incidents()
    with pytest.raises(StoreDamagedError):
        fresh.coverage()
    assert main(["--store", str(store.root), "status"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not match its manifest" in err[0]


def test_unlisted_copy_in_a_month_folder_is_damage_not_double_counts(store: Store) -> None:
    folder = _version_dir(store) / JAN
    shutil.copy(folder / "part.parquet", folder / "part (1).parquet")
    # Reading the folder as a plain dataset would count January twice: 7 + 4 police rows.
    plain = ds.dataset(_version_dir(store) / "incidents/source=police_uk", format="parquet")
    assert plain.count_rows() == 11
    with pytest.raises(StoreDamagedError, match=r"month=2021-01/part \(1\)\.parquet is not in"):
        Store(store.root).incidents()
    with pytest.raises(StoreDamagedError):  # nor is a write built on it
        _write(Store(store.root), _police().iloc[:1], "other.csv", "police-uk")


def test_partition_with_other_row_count_is_damage(store: Store) -> None:
    path = _version_dir(store) / MAR / "part.parquet"
    table = pq.read_table(path)
    listed = path.stat().st_size
    pq.write_table(table.slice(0, 1), path)
    with pytest.raises(
        StoreDamagedError,
        match=rf"{MAR}/part.parquet is {path.stat().st_size} bytes; the manifest lists {listed} ",
    ):
        Store(store.root).unlocated()


def test_unreadable_manifest_is_damage_with_exit_2(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    (_version_dir(store) / "manifest.json").write_text('{"version": 2, "files": [', "utf-8")
    with pytest.raises(StoreDamagedError, match="manifest unreadable"):
        Store(store.root).manifest()
    assert main(["--store", str(store.root), "status"]) == 2
    assert "manifest unreadable" in capsys.readouterr().err


# ---------------------------------------------------------------------------- exit codes
@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.InputError, 2),
        (errors.NotFoundError, 2),
        (errors.StoreError, 2),
        (errors.DataError, 3),
        (errors.StoreBusyError, 4),
        (errors.StoreDamagedError, 2),
    ],
)
def test_each_error_class_has_its_exit_code(
    error: type[errors.GeoServiceError],
    code: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failing(*args: object) -> int:
        raise error("what went wrong")

    monkeypatch.setattr("geo_service.cli.ingest._status", failing)
    assert main(["--store", str(tmp_path / "s"), "status"]) == code
    assert capsys.readouterr().err == "geo-service: error: what went wrong\n"


def test_exit_codes_are_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for line in ("2    usage", "or the store is damaged", "3    bad data", "4    store busy"):
        assert line in out
    assert "\n  5 " not in out  # store damage is exit code 2, as usage errors
