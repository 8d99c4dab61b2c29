"""The same police.uk month under another name (a copy, a browser's ``(1).csv``, standard input)
stores nothing twice; a revised copy of a held month is refused, not stored beside it."""

from __future__ import annotations

import gzip
import io
import shutil
import sys
from pathlib import Path

import pytest

from geo_service import ingest
from geo_service.errors import InputError
from geo_service.store import Store
from tests.store.conftest import P_W1, P_W2, january_rows, police_row, write_police_csv

STORE_V1 = Path(__file__).parent / "data" / "store_v1"


def _pipe(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))


def _asb(store: Store) -> int:
    """Anti-social behaviour rows stored."""
    return int((store.incidents()["category"] == "Anti-social behaviour").sum())


def _revised() -> list[list[str]]:
    """january_rows() as police.uk might re-publish them: one ASB row moved to another point."""
    rows = january_rows()
    rows[4] = police_row("", "2021-01", P_W2, "Anti-social behaviour")
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """January (6 stored rows, 2 of them ASB) from ``2021-01-test-street.csv``."""
    store = Store(tmp_path / "store")
    ingest.ingest_files(
        store, "police-uk", [write_police_csv(tmp_path / "2021-01-test-street.csv", january_rows())]
    )
    assert len(store.incidents()) == 6 and _asb(store) == 2
    return store


@pytest.mark.parametrize("name", ["2021-01-test-street (1).csv", "copy.csv", "-"])
def test_a_copy_under_another_name_stores_nothing_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store, name: str
) -> None:
    copy = write_police_csv(
        tmp_path / "in" / ("piped.csv" if name == "-" else name), january_rows()
    )
    if name == "-":
        _pipe(monkeypatch, copy)
    summary = ingest.ingest_files(store, "police-uk", ["-" if name == "-" else copy])
    # 8 rows: 1 rejected (2021-13), 1 repeat of C1 in the file, 6 already stored (2 ASB).
    assert (summary.stored, summary.duplicates, summary.rejected) == (0, 7, 1)
    assert len(store.incidents()) == 6 and _asb(store) == 2


def test_a_revised_copy_under_another_name_is_refused(tmp_path: Path, store: Store) -> None:
    before = store.version()
    copy = write_police_csv(tmp_path / "in" / "2021-01-test-street (1).csv", _revised())
    with pytest.raises(InputError) as caught:
        ingest.ingest_files(store, "police-uk", [copy])
    assert str(caught.value) == (
        "2021-01-test-street (1).csv: month 2021-01 repeats 4 incident ids of "
        "2021-01-test-street.csv, but it has 1 row(s) without an id of their own (anti-social "
        "behaviour) that 2021-01-test-street.csv does not: it is another version of the same "
        "month. Those rows would count twice beside 2021-01-test-street.csv, so the file is "
        "refused and nothing is stored. To replace 2021-01-test-street.csv with it, save it as "
        "2021-01-test-street.csv and ingest that file."
    )
    assert store.version() == before and len(store.incidents()) == 6 and _asb(store) == 2


def test_a_revised_copy_and_its_original_in_one_ingest_are_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    first = write_police_csv(tmp_path / "a" / "2021-01-test-street.csv", january_rows())
    second = write_police_csv(tmp_path / "b" / "2021-01-test-street (1).csv", _revised())
    with pytest.raises(InputError, match=r"^2021-01-test-street \(1\)\.csv: month 2021-01 "):
        ingest.ingest_files(store, "police-uk", [first, second])
    assert store.version() is None


def test_the_revised_copy_under_the_stored_name_replaces_it(tmp_path: Path, store: Store) -> None:
    # Gzipped, the name inside counts: 2021-01-test-street.csv.gz is 2021-01-test-street.csv.
    packed = tmp_path / "in" / "2021-01-test-street.csv.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress(write_police_csv(tmp_path / "r.csv", _revised()).read_bytes()))
    summary = ingest.ingest_files(store, "police-uk", [packed])
    assert [f.status for f in summary.files] == ["replaced earlier version"]
    stored = store.incidents()
    assert len(stored) == 6 and _asb(store) == 2
    assert set(stored["source_file"]) == {"2021-01-test-street.csv.gz"}
    moved = stored.loc[stored["category"] == "Anti-social behaviour", "x"].round().tolist()
    assert sorted(moved) == [P_W1[0], P_W2[0]]


def test_other_forces_of_the_same_month_are_both_stored(tmp_path: Path) -> None:
    """Even sharing a crime (one near the border, in both forces' files): few ids in common."""
    store = Store(tmp_path / "store")
    rows = january_rows()
    beds = [[f"B{r[0]}" if r[0] else "", r[1], "Beds Police", "Beds Police", *r[4:]] for r in rows]
    beds[0][0] = "C1"
    ingest.ingest_files(store, "police-uk", [write_police_csv(tmp_path / "h.csv", rows)])
    summary = ingest.ingest_files(store, "police-uk", [write_police_csv(tmp_path / "b.csv", beds)])
    assert (summary.stored, summary.duplicates) == (6, 1)  # only C1 is a duplicate
    assert len(store.incidents()) == 12 and _asb(store) == 4


def test_a_copy_of_a_month_stored_before_content_ids_is_refused(tmp_path: Path) -> None:
    """A store written before ASB ids came from the rows holds them as <file>:<line>: a copy
    cannot be matched to them, so it is refused rather than counted twice."""
    store = Store(shutil.copytree(STORE_V1, tmp_path / "store_v1"))
    before = (store.version(), _asb(store))
    # Other bytes than the stored file's (gzipped), so not known by its checksum.
    copy = tmp_path / "2021-01-copy-street.csv.gz"
    copy.write_bytes(
        gzip.compress(write_police_csv(tmp_path / "c.csv", january_rows()).read_bytes())
    )
    with pytest.raises(InputError, match="stored before such rows had ids from their content"):
        ingest.ingest_files(store, "police-uk", [copy])
    assert (store.version(), _asb(store)) == before == ("v000007", 2)


def test_a_store_written_before_newer_columns_takes_another_file_of_a_held_month(
    tmp_path: Path,
) -> None:
    """Its partitions lack columns added since (reported_by, ...): read as nulls, not a crash."""
    store = Store(shutil.copytree(STORE_V1, tmp_path / "store_v1"))
    beds = [[f"B{r[0]}" if r[0] else "", r[1], "Beds Police", "Beds Police", *r[4:]]
            for r in january_rows()]  # fmt: skip
    summary = ingest.ingest_files(
        store, "police-uk", [write_police_csv(tmp_path / "2021-01-beds-street.csv", beds)]
    )
    assert (summary.stored, summary.duplicates, summary.rejected) == (6, 1, 1)
    january = store.incidents(month_from="2021-01", month_to="2021-01")
    assert len(january) == 7 + 6 and january["reported_by"].isna().sum() == 7
