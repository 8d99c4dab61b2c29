"""Ingest pipeline: every row accounted for, areas assigned, layers added after the incidents."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geo_service import ingest, schema
from geo_service.errors import InputError, NotFoundError
from geo_service.store import Store
from tests.store.conftest import P_W1, january_rows, police_row, write_police_csv


def _accounted(summary: ingest.IngestSummary) -> bool:
    return summary.rows_read == summary.stored + summary.duplicates + summary.rejected


def test_police_file_is_accounted_for_and_assigned(tmp_path: Path, ward_file: Path) -> None:
    store = Store(tmp_path / "store")
    ingest.add_layer(store, "ward", ward_file)
    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    summary = ingest.ingest_files(store, "police-uk", [csv])
    # Hand count (conftest.january_rows): C1 twice, C5 has month 2021-13.
    assert (summary.rows_read, summary.stored, summary.duplicates, summary.rejected) == (8, 6, 1, 1)
    assert _accounted(summary)
    assert summary.without_location == 1  # C4
    assert summary.outside_every_area == 1  # C3
    assert summary.rejects_path is not None
    rejects = pd.read_csv(summary.rejects_path)
    assert rejects[["line", "column", "value"]].values.tolist() == [[9, "Month", "2021-13"]]
    areas = store.incidents().set_index("source_line")["area_ward"]
    assert areas.fillna("-").to_dict() == {2: "W1", 3: "W2", 4: "-", 5: "W1", 6: "W1", 8: "-"}
    (record,) = summary.files
    assert (record.stored, record.duplicates, record.rejected, record.status) == (6, 1, 1, "new")


def test_second_ingest_adds_nothing(tmp_path: Path, ward_file: Path) -> None:
    store = Store(tmp_path / "store")
    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    ingest.ingest_files(store, "police-uk", [csv])
    version = store.version()
    again = ingest.ingest_files(store, "police-uk", [csv])
    assert (again.stored, again.duplicates, again.rejected, again.changed) == (0, 7, 1, False)
    assert _accounted(again) and store.version() == version
    assert "nothing new" in again.lines()[-1]


def test_newer_download_replaces_the_month(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    path = tmp_path / "in" / "2021-01-test-street.csv"
    ingest.ingest_files(store, "police-uk", [write_police_csv(path, january_rows())])
    newer = [
        police_row("C1", "2021-01", P_W1, "Robbery"),
        police_row("C9", "2021-01", P_W1, "Drugs"),
    ]
    summary = ingest.ingest_files(store, "police-uk", [write_police_csv(path, newer)])
    assert summary.files[0].status == "replaced earlier version"
    got = store.incidents().set_index("incident_id")["category"].sort_index()
    assert got.to_dict() == {"police_uk:C1": "Robbery", "police_uk:C9": "Drugs"}


def test_layers_added_later_assign_stored_incidents(
    tmp_path: Path, ward_file: Path, lsoa_file: Path
) -> None:
    store = Store(tmp_path / "store")
    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    ingest.ingest_files(store, "police-uk", [csv])
    ingest.add_layer(store, "ward", ward_file)
    ward = store.incidents().set_index("source_line")["area_ward"]
    assert ward.fillna("-").to_dict() == {2: "W1", 3: "W2", 4: "-", 5: "W1", 6: "W1", 8: "-"}
    ingest.add_layer(store, "lsoa", lsoa_file)
    both = store.incidents().set_index("source_line")
    # C4 (line 8) has no coordinates but LSOA E01000002, whose representative point is in W2.
    assert both.loc[8, "area_lsoa"] == "E01000002" and both.loc[8, "area_ward"] == "W2"
    assert both.loc[2, "area_lsoa"] == "E01000001"
    # Independent reference for the located rows: geopandas sjoin against the stored layer.
    located = schema.to_geodataframe(both.reset_index())
    joined = gpd.sjoin(located, store.layer("ward")[["code", "geometry"]], predicate="within")
    assert joined.set_index("source_line")["code"].to_dict() == {2: "W1", 3: "W2", 5: "W1", 6: "W1"}


def test_denominators_fill_the_stored_layer(tmp_path: Path, ward_file: Path) -> None:
    store = Store(tmp_path / "store")
    ingest.add_layer(store, "ward", ward_file)
    csv = tmp_path / "wards.csv"
    csv.write_text("code,population,households,parent\nW1,1200,500,D1\n", "utf-8")
    ingest.add_denominators(store, "ward", csv)
    layer = store.layer("ward").set_index("code")
    assert layer.loc["W1", "population"] == 1200.0 and pd.isna(layer.loc["W2", "population"])
    info = store.status()["layers"]["ward"]
    assert info["with_population"] == 1 and info["denominators"]["with_parent"] == 1
    assert info["report"]["code_column"] == "WD13CD"
    with pytest.raises(NotFoundError, match="available: ward"):
        ingest.add_denominators(store, "beat", csv)


def test_two_different_files_with_one_name_are_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    name = "2021-01-test-street.csv"
    first = write_police_csv(tmp_path / "a" / name, january_rows())
    second = write_police_csv(tmp_path / "b" / name, january_rows()[:2])
    with pytest.raises(InputError, match="have the same name"):
        ingest.ingest_files(store, "police-uk", [first, second])
    assert store.version() is None


def test_bad_requests_are_input_errors(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with pytest.raises(InputError, match="allowed: police-uk, stats19, mapped"):
        ingest.ingest_files(store, "fire", [tmp_path])
    with pytest.raises(InputError, match="--mapping FILE"):
        ingest.ingest_files(store, "mapped", [tmp_path / "x.csv"])
    with pytest.raises(InputError, match="only for 'mapped'"):
        ingest.ingest_files(store, "police-uk", [tmp_path / "x.csv"], mapping=tmp_path / "m.toml")


def test_bare_file_name_counts_each_reject_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "in"
    rows = [
        police_row("C1", "2013-07", P_W1, "Burglary"),
        police_row("C2", "2013-07", P_W1, "Drugs"),
        police_row("C3", "2013-13", P_W1, "Drugs"),  # rejected: no such month
    ]
    write_police_csv(folder / "2013-07-test-street.csv", rows)
    monkeypatch.chdir(folder)
    store = Store(tmp_path / "store")
    summary = ingest.ingest_files(store, "police-uk", ["2013-07-test-street.csv"])
    (record,) = summary.files
    assert (record.rows, record.stored, record.duplicates, record.rejected) == (3, 2, 0, 1)
    assert (summary.rows_read, summary.stored, summary.duplicates, summary.rejected) == (3, 2, 0, 1)
    (stored,) = store.manifest().files
    assert stored.rejects == 1 and store.status()["rejects"]["live_files"] == 1


def test_same_name_in_another_folder_replaces_the_earlier_version(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    name = "2013-07-a-street.csv"
    first = write_police_csv(tmp_path / "v1" / name, [police_row("C1", "2013-07", P_W1, "Drugs")])
    ingest.ingest_files(store, "police-uk", [first])
    second = write_police_csv(
        tmp_path / "v2" / name, [police_row("C2", "2013-07", P_W1, "Burglary")]
    )
    summary = ingest.ingest_files(store, "police-uk", [second])
    assert summary.files[0].status == "replaced earlier version"
    assert store.incidents()["incident_id"].tolist() == ["police_uk:C2"]


def test_replacing_a_file_keeps_an_incident_a_file_of_the_same_ingest_provides(
    tmp_path: Path, ward_file: Path
) -> None:
    store = Store(tmp_path / "store")
    ingest.add_layer(store, "ward", ward_file)
    a = write_police_csv(
        tmp_path / "in" / "2021-01-a-street.csv",
        [police_row("X", "2021-01", P_W1, "Drugs"), police_row("Y", "2021-01", P_W1, "Drugs")],
    )
    b = write_police_csv(
        tmp_path / "in" / "2021-01-b-street.csv",
        [police_row("X", "2021-01", P_W1, "Drugs"), police_row("Z", "2021-01", P_W1, "Drugs")],
    )
    both = ingest.ingest_files(store, "police-uk", [a, b])
    assert (both.stored, both.duplicates_in_files, both.duplicates_in_store) == (3, 1, 0)
    write_police_csv(a, [police_row("Y", "2021-01", P_W1, "Drugs")])
    replaced = ingest.ingest_files(store, "police-uk", [a])
    assert _accounted(replaced) and replaced.files[0].status == "replaced earlier version"
    got = store.incidents().set_index("incident_id")
    assert got["source_file"].sort_index().to_dict() == {
        "police_uk:X": "2021-01-b-street.csv",
        "police_uk:Y": "2021-01-a-street.csv",
        "police_uk:Z": "2021-01-b-street.csv",
    }
    assert got.loc["police_uk:X", "area_ward"] == "W1"
