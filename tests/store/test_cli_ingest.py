"""The ingest, boundaries and status commands, run through ``geo_service.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.store import Store
from tests.store.conftest import january_rows, write_police_csv


def _status(store: Path, capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    capsys.readouterr()
    assert main(["--store", str(store), "status", "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_ingest_and_status_json(
    tmp_path: Path, ward_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main(["--store", str(store), "boundaries", "add", "ward", str(ward_file)]) == 0
    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    assert main(["--store", str(store), "ingest", "police-uk", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "read 8: stored 6, duplicates 1" in out and "rejected 1" in out
    assert "rejected rows (file, line, column, value, reason): " in out
    status = _status(store, capsys)
    assert status["incidents"] == 6 and status["without_location"] == 1
    assert status["sources"]["police_uk"]["categories"] == {
        "Anti-social behaviour": 2, "Burglary": 2, "Drugs": 1, "Vehicle crime": 1,
    }  # fmt: skip
    ward = status["layers"]["ward"]
    assert (ward["areas"], ward["incidents_in_an_area"], ward["located_outside_every_area"]) == (
        2, 4, 1,
    )  # fmt: skip
    assert ward["incidents_by_area"] == {"W1": 3, "W2": 1}  # C1, 2 x ASB; C2
    assert status["rejects"]["live_files"] == 1
    (record,) = status["files"]
    counts = [record[k] for k in ("rows", "stored", "rejects", "duplicates")]
    assert counts == [8, 6, 1, 1]
    assert main(["--store", str(store), "status"]) == 0
    assert "police_uk: 6 incidents, 2021-01..2021-01" in capsys.readouterr().out


def test_ingest_line_without_layers_says_outside_is_not_known(
    tmp_path: Path, ward_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    assert main(["--store", str(tmp_path / "bare"), "ingest", "police-uk", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "without location 1, outside every area: not known (no area layers stored)" in out
    store = tmp_path / "with-ward"
    assert main(["--store", str(store), "boundaries", "add", "ward", str(ward_file)]) == 0
    assert main(["--store", str(store), "ingest", "police-uk", str(csv)]) == 0
    assert "without location 1, outside every area 1" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main(["--store", str(store), "ingest", "police-uk", str(tmp_path / "none.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("geo-service: error: ")
    assert main(["--store", str(store), "boundaries", "add", "Bad Name", str(tmp_path)]) == 2


def test_locked_store_is_reported_with_exit_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    with Store(store).locked():
        assert main(["--store", str(store), "ingest", "police-uk", str(csv)]) == 4
    assert "being written by another process" in capsys.readouterr().err


@pytest.mark.realdata
def test_real_hertfordshire_year_via_cli(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    street = shared_data / "police-uk-hertfordshire-street"
    wards = shared_data / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"
    store = tmp_path / "store"
    assert main(["--store", str(store), "boundaries", "add", "ward", str(wards)]) == 0
    capsys.readouterr()
    assert main(["--store", str(store), "ingest", "police-uk", "--json", str(street)]) == 0
    first = json.loads(capsys.readouterr().out)
    # SOURCE.md: 108,465 rows in 13 files; 4 Crime IDs occur twice (3 in 2021-12, 1 in 2022-01).
    assert first["rows_read"] == 108_465 and len(first["files"]) == 13
    assert first["rows_read"] == first["stored"] + first["duplicates"] + first["rejected"]
    assert first["duplicates_in_files"] == 4
    status = _status(store, capsys)
    assert status["incidents"] == first["stored"]
    months = status["sources"]["police_uk"]["months"]
    assert list(months) == [f"2021-{m:02d}" for m in range(1, 13)] + ["2022-01"]
    # SOURCE.md: 13,184 rows fall in a Dacorum WD13 ward by point-in-polygon.
    assert status["layers"]["ward"]["incidents_in_an_area"] == 13_184
    # Independent count: plain pandas over the raw files, rows per month.
    raw = pd.concat(pd.read_csv(p, usecols=["Month"]) for p in sorted(street.glob("*.csv.gz")))
    per_month = raw["Month"].value_counts().to_dict()
    assert months["2021-12"] == per_month["2021-12"] - 3  # the 3 repeats in 2021-12
    assert months["2021-01"] == per_month["2021-01"]
    _check_unlocated_against_raw_files(Store(store), status, raw_files=sorted(street.glob("*.gz")))
    assert main(["--store", str(store), "ingest", "police-uk", "--json", str(street)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (second["stored"], second["ingest_id"]) == (0, None)
    assert second["duplicates"] + second["rejected"] == 108_465
    assert _status(store, capsys)["version"] == status["version"]


def _check_unlocated_against_raw_files(
    store: Store,
    status: dict,
    raw_files: list[Path],  # type: ignore[type-arg]
) -> None:
    """Rows and unlocated rows per month and crime type, counted with plain pandas."""
    columns = ["Crime ID", "Month", "Crime type", "Longitude", "Latitude"]
    raw = pd.concat((pd.read_csv(p, usecols=columns) for p in raw_files), ignore_index=True)
    repeated = raw["Crime ID"].notna() & raw["Crime ID"].duplicated()
    raw = raw.loc[~repeated]  # the loader keeps the first row of a repeated id (4 here)
    raw["unlocated"] = raw["Longitude"].isna() | raw["Latitude"].isna()
    expected = raw.groupby(["Month", "Crime type"])["unlocated"].agg(["size", "sum"]).reset_index()
    expected.columns = ["month", "category", "rows", "unlocated"]
    got = store.unlocated().drop(columns="source")
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert int(expected["unlocated"].sum()) == status["without_location"] == 1786
    police = status["sources"]["police_uk"]
    assert (police["first_month"], police["last_month"], police["missing_months"]) == (
        "2021-01", "2022-01", [],
    )  # fmt: skip
    # police.uk files carry neither offence sub-types nor times of day, for any category.
    assert len(police["detail"]) == 14
    assert not any(d["subcategories"] or d["times"] for d in police["detail"].values())
    coverage = store.coverage()
    assert coverage.months["police_uk"] == tuple(police["months"])
    assert not coverage.subcategories and not coverage.times


def test_status_keeps_area_counts_and_reads_them_back_without_partitions(
    tmp_path: Path, ward_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    assert main(["--store", str(store), "boundaries", "add", "ward", str(ward_file)]) == 0
    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    assert main(["--store", str(store), "ingest", "police-uk", str(csv)]) == 0
    first = _status(store, capsys)
    version_dir = store / "_versions" / str(Store(store).version())
    kept = pd.read_parquet(version_dir / "area_counts.parquet")
    # 6 stored rows: W1 3 and W2 1 located in an area, 1 located outside, 1 without a location
    assert sorted(kept["rows"].tolist()) == [1, 1, 1, 3] and kept["rows"].sum() == 6
    # read back, not recounted: a kept file that names other counts of the same total is believed
    kept.loc[kept["code"] == "W1", "rows"] = 2
    kept.loc[kept["code"] == "W2", "rows"] = 2
    kept.to_parquet(version_dir / "area_counts.parquet", index=False)
    assert _status(store, capsys)["layers"]["ward"]["incidents_by_area"] == {"W1": 2, "W2": 2}
    # one whose total is not the manifest's is counted again from the partitions
    kept.loc[kept["code"] == "W2", "rows"] = 9
    kept.to_parquet(version_dir / "area_counts.parquet", index=False)
    assert _status(store, capsys)["layers"] == first["layers"]


def test_ingest_kinds_are_the_loaders() -> None:
    from geo_service.cli.ingest import KINDS
    from geo_service.sources import LOADERS

    assert tuple(LOADERS) == KINDS
