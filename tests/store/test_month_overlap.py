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
from geo_service.errors import InputError, NotFoundError
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
        "2021-01-test-street (1).csv: month 2021-01: it has 1 row(s) without an id of their own "
        "(anti-social behaviour) that no other file holds, and lacks such rows of "
        "2021-01-test-street.csv (1) in the places it covers: it is another version of the "
        "month. Beside them the changed rows would count twice, so the file is refused and "
        "nothing is stored. If it is the newer version, leave the older out of this ingest, or "
        "remove it from the store first (geo-service remove '2021-01-test-street.csv'; it "
        "removes every month the named file holds, and lists them), then ingest it."
    )
    assert store.version() == before and len(store.incidents()) == 6 and _asb(store) == 2


def test_a_revised_copy_and_its_original_in_one_ingest_are_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    first = write_police_csv(tmp_path / "a" / "2021-01-test-street.csv", january_rows())
    second = write_police_csv(tmp_path / "b" / "2021-01-test-street (1).csv", _revised())
    # whichever is read first, the other is refused, and nothing is stored
    for order in ([first, second], [second, first]):
        with pytest.raises(InputError, match=r"month 2021-01: .* leave the older out of this"):
            ingest.ingest_files(store, "police-uk", order)
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
    """Its partitions lack columns added since (reported_by, ...): read as nulls, not a crash.
    (Crimes only: its ASB rows, of ids from before, say nowhere where they lie, so new ASB rows
    of that month cannot be told from theirs and are refused, as tested above.)"""
    store = Store(shutil.copytree(STORE_V1, tmp_path / "store_v1"))
    beds = [[f"B{r[0]}", r[1], "Beds Police", "Beds Police", *r[4:]]
            for r in january_rows() if r[0]]  # fmt: skip
    summary = ingest.ingest_files(
        store, "police-uk", [write_police_csv(tmp_path / "2021-01-beds-street.csv", beds)]
    )
    assert (summary.stored, summary.duplicates, summary.rejected) == (4, 1, 1)
    january = store.incidents(month_from="2021-01", month_to="2021-01")
    assert len(january) == 7 + 4 and january["reported_by"].isna().sum() == 7


def _dacorum(rows: list[list[str]]) -> list[list[str]]:
    """A part of the month: the rows in ward W1 (crime C1 twice, C4, and both ASB rows)."""
    return [r for r in rows if r[0] in ("C1", "C4", "")]


def test_a_part_of_a_month_then_the_whole_then_its_revision(tmp_path: Path) -> None:
    """A part and the whole of one month are one publication: both kept, nothing twice. A
    revision of the whole beside the stored part would count its changed row twice: refused,
    and taken once the part is removed."""
    store = Store(tmp_path / "store")
    part = write_police_csv(tmp_path / "2021-01-part-street.csv", _dacorum(january_rows()))
    whole = write_police_csv(tmp_path / "a" / "2021-01-test-street.csv", january_rows())
    assert ingest.ingest_files(store, "police-uk", [part]).stored == 4
    assert ingest.ingest_files(store, "police-uk", [whole]).stored == 2  # C2, C3
    assert len(store.incidents()) == 6 and _asb(store) == 2
    revised = write_police_csv(tmp_path / "b" / "2021-01-test-street.csv", _revised())
    before = store.version()
    with pytest.raises(InputError, match=r"geo-service remove '2021-01-part-street\.csv'"):
        ingest.ingest_files(store, "police-uk", [revised])  # replaces the whole, not the part
    assert store.version() == before and _asb(store) == 2
    removed = ingest.remove_files(store, ["2021-01-part-street.csv"])
    assert [(r.name, r.stored) for r in removed] == [("2021-01-part-street.csv", 4)]
    assert len(store.incidents()) == 6  # the whole's held copies of C1, C4 and ASB stored
    summary = ingest.ingest_files(store, "police-uk", [revised])
    assert [f.status for f in summary.files] == ["replaced earlier version"]
    stored = store.incidents()
    assert len(stored) == 6 and _asb(store) == 2
    assert set(stored["source_file"]) == {"2021-01-test-street.csv"}


def test_removing_a_file_stores_the_copies_others_held(tmp_path: Path, store: Store) -> None:
    copy = write_police_csv(tmp_path / "in" / "copy.csv", january_rows()[:5])  # C1-C3, 2 ASB
    assert ingest.ingest_files(store, "police-uk", [copy]).stored == 0
    gone = ingest.remove_files(store, ["2021-01-test-street.csv"])
    assert [(r.name, r.months, r.stored) for r in gone] == [
        ("2021-01-test-street.csv", ("2021-01",), 6)
    ]
    stored = store.incidents()
    # C4 was the removed file's alone; the copy's five rows are stored in their place
    assert len(stored) == 5 and set(stored["source_file"]) == {"copy.csv"} and _asb(store) == 2
    with pytest.raises(NotFoundError, match=r"no stored file is named 'nope\.csv'; stored "
                       r"files: copy\.csv"):  # fmt: skip
        ingest.remove_files(store, ["nope.csv"])


def test_a_name_reused_for_another_month_is_refused(tmp_path: Path) -> None:
    """A name without a month, used for January then for February: replacing would drop
    January, so the second is refused."""
    store = Store(tmp_path / "store")
    name = tmp_path / "in" / "test-street.csv"
    ingest.ingest_files(store, "police-uk", [write_police_csv(name, january_rows())])
    february = [[*r[:1], "2021-02", *r[2:]] for r in january_rows()[:4]]
    before = store.version()
    with pytest.raises(InputError, match=r"it holds no rows of 2021-01, which that file holds"):
        ingest.ingest_files(store, "police-uk", [write_police_csv(name, february)])
    assert store.version() == before and len(store.incidents()) == 6


def test_a_file_and_its_gzip_in_one_ingest_are_refused(tmp_path: Path) -> None:
    plain = write_police_csv(tmp_path / "2021-01-test-street.csv", january_rows())
    packed = tmp_path / "2021-01-test-street.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(InputError, match="are one file name, one of them gzipped"):
        ingest.ingest_files(Store(tmp_path / "store"), "police-uk", [plain, packed])


def test_the_same_file_with_other_forces_left_out_replaces_the_stored_one(
    tmp_path: Path,
) -> None:
    """--exclude-force is part of what a stored file is: the same bytes ingested with other
    forces left out are read again (not "unchanged") and replace the stored rows."""
    store = Store(tmp_path / "store")
    rows = january_rows()
    rows[1][2] = rows[3][2] = "British Transport Police"  # C2 and an ASB row
    path = write_police_csv(tmp_path / "2021-01-test-street.csv", rows)
    btp = ["British Transport Police"]
    first = ingest.ingest_files(store, "police-uk", [path], exclude_forces=btp)
    assert (first.stored, first.rejected) == (4, 3)  # 2 excluded on request, 1 bad month
    again = ingest.ingest_files(store, "police-uk", [path], exclude_forces=btp)
    assert [f.status for f in again.files] == ["unchanged"] and len(store.incidents()) == 4
    every = ingest.ingest_files(store, "police-uk", [path])
    assert [f.status for f in every.files] == ["replaced earlier version"]
    assert len(store.incidents()) == 6 and _asb(store) == 2
    left_out = ingest.ingest_files(store, "police-uk", [path], exclude_forces=btp)
    assert [f.status for f in left_out.files] == ["replaced earlier version"]
    assert len(store.incidents()) == 4 and _asb(store) == 1
    assert [f.excluded_forces for f in store.manifest().live_files()] == [tuple(btp)]


def _two_districts(moved: str | None = None) -> list[list[str]]:
    """A month of two LSOAs: crimes and ASB rows in each (``moved``: the LSOA whose first ASB
    row a revision moved to another point)."""
    rows = []
    for lsoa, point, tag in (("E01000001", P_W1, "N"), ("E01000002", P_W2, "S")):
        rows += [police_row(f"{tag}{k}", "2021-01", point, "Burglary", lsoa=lsoa) for k in range(3)]
        rows += [police_row("", "2021-01", point, "Anti-social behaviour", lsoa=lsoa)] * 2
        rows += [police_row("", "2021-01", (point[0] + 100, point[1]), "Anti-social behaviour",
                            lsoa=lsoa)]  # fmt: skip
        if lsoa == moved:
            rows[-3] = police_row("", "2021-01", (point[0] + 200, point[1]),
                                  "Anti-social behaviour", lsoa=lsoa)  # fmt: skip
    return rows


def _part(rows: list[list[str]], lsoa: str) -> list[list[str]]:
    return [r for r in rows if r[7] == lsoa]


def test_a_few_rows_of_a_month_then_its_revision_are_not_counted_twice(tmp_path: Path) -> None:
    """An extract of two ASB rows shares too few ids with the month to look like it, but the
    revision lacks one of them where it covers the same LSOA: refused, not stored beside it."""
    store = Store(tmp_path / "store")
    few = [r for r in _two_districts() if r[0] == ""][:2]
    ingest.ingest_files(store, "police-uk", [write_police_csv(tmp_path / "few.csv", few)])
    revised = write_police_csv(tmp_path / "2021-01-x-street.csv", _two_districts("E01000001"))
    with pytest.raises(InputError, match=r"lacks such rows of few\.csv \(1\)"):
        ingest.ingest_files(store, "police-uk", [revised])
    assert len(store.incidents()) == 2


def test_parts_of_two_districts_are_kept_whatever_changed_in_either(tmp_path: Path) -> None:
    """The north part of the old month and the south part of its revision overlap nowhere:
    both stored, nothing twice; the whole revised month then adds what they lack."""
    store = Store(tmp_path / "store")
    north = write_police_csv(tmp_path / "north.csv", _part(_two_districts(), "E01000001"))
    revised = _two_districts("E01000002")
    south = write_police_csv(tmp_path / "south.csv", _part(revised, "E01000002"))
    assert ingest.ingest_files(store, "police-uk", [north, south]).stored == 12
    assert len(store.incidents()) == 12 and _asb(store) == 6


def test_a_copy_of_the_replaced_month_does_not_bring_back_what_the_revision_dropped(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "store")
    rows = _two_districts()
    first = write_police_csv(tmp_path / "a" / "2021-01-x-street.csv", rows)
    copy = write_police_csv(tmp_path / "2021-01-x-street (1).csv", rows)
    ingest.ingest_files(store, "police-uk", [first])
    assert ingest.ingest_files(store, "police-uk", [copy]).stored == 0
    dropped = [r for r in rows if r[0] not in ("N0", "S0")]  # two crimes no-crimed
    newer = write_police_csv(tmp_path / "b" / "2021-01-x-street.csv", dropped)
    summary = ingest.ingest_files(store, "police-uk", [newer])
    assert [f.status for f in summary.files] == ["replaced earlier version"]
    ids = set(store.incidents()["incident_id"])
    assert len(ids) == 10 and "police_uk:N0" not in ids and "police_uk:S0" not in ids
    assert [f.key for f in store.manifest().live_files()] == ["2021-01-x-street.csv"]
