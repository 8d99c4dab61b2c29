"""Store: layout, reading with filters, idempotence, month replacement, atomicity, locking."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.errors import InputError, NotFoundError, StoreBusyError, StoreError
from geo_service.store import FileRecord, LayerInfo, Store
from tests.store.conftest import assign_by_x, canonical, squares

NO_REJECTS = pd.DataFrame({"file": [], "line": []})


def _record(name: str, sha: str, frame: pd.DataFrame, source: str = "police_uk") -> FileRecord:
    months = tuple(sorted(frame["month"].unique().tolist()))
    return FileRecord(f"/in/{name}", name, source, sha, len(frame), 0, 0, months)


def _rows(name: str, month: str, ids: list[str], **extra: object) -> pd.DataFrame:
    return canonical(
        [
            {"incident_id": i, "month": month, "x": 500000.0 + n, "y": 200000.0,
             "source_file": name, "source_line": n + 2} | extra
            for n, i in enumerate(ids)
        ]
    )  # fmt: skip


def _write(store: Store, frame: pd.DataFrame, name: str, sha: str):  # type: ignore[no-untyped-def]
    return store.write_incidents(
        frame, [_record(name, sha, frame)], rejects=NO_REJECTS, kind="police-uk"
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def test_empty_store_reads_as_empty(store: Store) -> None:
    frame = store.incidents()
    assert list(frame.columns) == list(schema.INCIDENT_COLUMNS)
    assert len(frame) == 0
    assert store.months() == [] and store.layer_names() == []
    assert store.status()["incidents"] == 0
    with pytest.raises(NotFoundError, match=r"no area layer 'ward'.*available: none"):
        store.layer("ward")
    assert not store.root.exists()  # reading never creates the store


def test_write_then_read_round_trips_values_and_layout(store: Store) -> None:
    frame = pd.concat(
        [_rows("a.csv", "2021-01", ["p:1", "p:2"]), _rows("a.csv", "2021-02", ["p:3"])],
        ignore_index=True,
    )
    result = _write(store, frame, "a.csv", "sha-a")
    assert (result.stored, result.duplicates_in_store) == (3, 0)
    part = store.root / "_versions" / "v000001" / "incidents" / "source=police_uk" / "month=2021-01"
    assert (part / "part.parquet").is_file()
    back = store.incidents()
    pd.testing.assert_frame_equal(
        back.sort_values("incident_id", ignore_index=True), frame.reset_index(drop=True)
    )
    assert store.months() == ["2021-01", "2021-02"]


def test_filters_match_plain_pandas(store: Store) -> None:
    rng = np.random.default_rng(7)
    months = [f"2021-{m:02d}" for m in range(1, 7)]
    rows = [
        {"incident_id": f"s:{n}", "source": source, "month": str(rng.choice(months)),
         "category": str(rng.choice(["Burglary", "Drugs", "Robbery"])), "source_file": source}
        for n, source in enumerate(rng.choice(["police_uk", "mapped:fire"], size=300))
    ]  # fmt: skip
    frame = canonical(rows)
    for source in ("police_uk", "mapped:fire"):
        part = frame.loc[frame["source"] == source]
        store.write_incidents(
            part, [_record(source, source, part, source)], rejects=NO_REJECTS, kind="x"
        )
    got = store.incidents(
        sources=["mapped:fire"], categories=["Drugs", "Robbery"], month_from="2021-02",
        month_to="2021-04", columns=["incident_id", "month"],
    )  # fmt: skip
    expected = frame.loc[
        (frame["source"] == "mapped:fire")
        & frame["category"].isin(["Drugs", "Robbery"])
        & (frame["month"] >= "2021-02")
        & (frame["month"] <= "2021-04"),
        ["incident_id", "month"],
    ]
    assert len(expected) > 10
    assert sorted(got["incident_id"]) == sorted(expected["incident_id"])
    assert list(got.columns) == ["incident_id", "month"]
    with pytest.raises(InputError, match="unknown column"):
        store.incidents(columns=["nope"])
    with pytest.raises(InputError, match="expected YYYY-MM"):
        store.incidents(month_from="2021-13")


def test_same_file_again_changes_nothing(store: Store) -> None:
    frame = _rows("a.csv", "2021-01", ["p:1", "p:2"])
    _write(store, frame, "a.csv", "sha-a")
    manifest = (store.root / "_versions" / "v000001" / "manifest.json").read_text()
    again = _write(store, frame, "a.csv", "sha-a")
    assert again.ingest_id is None and again.stored == 0
    assert again.duplicates_in_store == 2 and again.unchanged_files == ("/in/a.csv",)
    assert store.version() == "v000001"
    assert (store.root / "_versions" / "v000001" / "manifest.json").read_text() == manifest


def test_newer_file_replaces_its_months_and_keeps_other_files(store: Store) -> None:
    old = pd.concat(
        [_rows("a.csv", "2021-01", ["p:1", "p:2"]), _rows("a.csv", "2021-02", ["p:3"])],
        ignore_index=True,
    )
    _write(store, old, "a.csv", "sha-a1")
    _write(store, _rows("b.csv", "2021-01", ["p:9"]), "b.csv", "sha-b")  # another force, same month
    newer = pd.concat(
        [_rows("a.csv", "2021-01", ["p:1", "p:5"], category="Drugs"),
         _rows("a.csv", "2021-02", ["p:6"])],
        ignore_index=True,
    )  # fmt: skip
    result = _write(store, newer, "a.csv", "sha-a2")
    assert result.superseded_files == ("/in/a.csv",) and result.stored == 3
    got = store.incidents().set_index("incident_id")
    assert sorted(got.index) == ["p:1", "p:5", "p:6", "p:9"]  # p:2 and p:3 gone with old a.csv
    assert got.loc["p:1", "category"] == "Drugs"
    assert store.months() == ["2021-01", "2021-02"]
    files = store.manifest().files
    assert [f.superseded_by is not None for f in files] == [True, False, False]


def test_a_newer_file_lacking_a_month_of_the_stored_one_is_refused(store: Store) -> None:
    """The name reused for other months (or a cut-down export) would silently drop a month."""
    old = pd.concat(
        [_rows("a.csv", "2021-01", ["p:1"]), _rows("a.csv", "2021-02", ["p:3"])],
        ignore_index=True,
    )
    _write(store, old, "a.csv", "sha-a1")
    before = store.version()
    with pytest.raises(InputError, match=r"holds no rows of 2021-02, which that file holds"):
        _write(store, _rows("a.csv", "2021-01", ["p:1", "p:5"]), "a.csv", "sha-a2")
    assert store.version() == before and store.months() == ["2021-01", "2021-02"]


def test_id_already_in_partition_is_a_duplicate(store: Store) -> None:
    _write(store, _rows("a.csv", "2021-01", ["p:1", "p:2"]), "a.csv", "sha-a")
    result = _write(store, _rows("c.csv", "2021-01", ["p:2", "p:3"]), "c.csv", "sha-c")
    assert (result.stored, result.duplicates_in_store) == (1, 1)
    assert sorted(store.incidents()["incident_id"]) == ["p:1", "p:2", "p:3"]
    assert store.incidents().set_index("incident_id").loc["p:2", "source_file"] == "a.csv"


def test_failed_publish_leaves_previous_state(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(store, _rows("a.csv", "2021-01", ["p:1"]), "a.csv", "sha-a")
    before, manifest = store.incidents(), store.manifest()

    def crash(*args: object) -> None:
        raise OSError("simulated crash before publishing")

    monkeypatch.setattr(Store, "_publish", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _write(store, _rows("b.csv", "2021-02", ["p:2"]), "b.csv", "sha-b")
    pd.testing.assert_frame_equal(store.incidents(), before)
    assert store.manifest() == manifest and store.version() == "v000001"
    monkeypatch.undo()
    _write(store, _rows("b.csv", "2021-02", ["p:2"]), "b.csv", "sha-b")
    assert sorted(store.incidents()["incident_id"]) == ["p:1", "p:2"]
    assert not [p for p in (store.root / "_versions").iterdir() if p.name.startswith(".staging")]


@pytest.mark.parametrize("when", ["before_rename", "after_rename"])
def test_killed_writer_leaves_previous_state(store: Store, when: str) -> None:
    _write(store, _rows("a.csv", "2021-01", ["p:1"]), "a.csv", "sha-a")
    before = store.incidents()
    script = textwrap.dedent(
        f"""
        import os, signal
        import pandas as pd
        from geo_service.store import Store, FileRecord
        from tests.store.conftest import assign_by_x, canonical, squares
        original = Store._publish
        def killed(self, staging, manifest):
            if {when!r} == "after_rename":
                staging.rename(staging.parent / "v000002")
            os.kill(os.getpid(), signal.SIGKILL)
        Store._publish = killed
        frame = canonical([{{"incident_id": "p:2", "month": "2021-02", "source_file": "b.csv"}}])
        record = FileRecord("/in/b.csv", "b.csv", "police_uk", "sha-b", 1, 0, 0, ("2021-02",))
        Store({str(store.root)!r}).write_incidents(
            frame, [record], rejects=pd.DataFrame(), kind="police-uk")
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], cwd=root, check=False, timeout=120)
    assert done.returncode == -signal.SIGKILL
    pd.testing.assert_frame_equal(store.incidents(), before)
    assert store.version() == "v000001"
    result = _write(store, _rows("b.csv", "2021-02", ["p:2"]), "b.csv", "sha-b")
    assert result.stored == 1 and store.version() == "v000002"
    assert sorted(store.incidents()["incident_id"]) == ["p:1", "p:2"]


def test_second_writer_gets_store_busy_error(store: Store) -> None:
    other = Store(store.root)
    with store.locked():
        locked = rf"being written by another process \(pid {os.getpid()}\)"
        with pytest.raises(StoreBusyError, match=locked):
            _write(other, _rows("a.csv", "2021-01", ["p:1"]), "a.csv", "sha-a")
        _write(store, _rows("a.csv", "2021-01", ["p:1"]), "a.csv", "sha-a")  # re-entrant
    _write(other, _rows("b.csv", "2021-01", ["p:2"]), "b.csv", "sha-b")  # released
    assert len(store.incidents()) == 2


def test_layer_write_assigns_stored_incidents(store: Store) -> None:
    _write(store, _rows("a.csv", "2021-01", ["p:1", "p:2", "p:3"]), "a.csv", "sha-a")
    store.write_layer("ward", squares(np.nan), info=LayerInfo(path="squares"), assign=assign_by_x)
    got = store.incidents().set_index("incident_id")["area_ward"]
    assert got.to_dict() == {"p:1": "W1", "p:2": "W1", "p:3": "W2"}  # x = 500000, 500001, 500002
    assert store.layer_names() == ["ward"]
    assert store.layer("ward")["code"].tolist() == ["W1", "W2"]
    status = store.status()["layers"]["ward"]
    assert (status["areas"], status["with_population"], status["incidents_in_an_area"]) == (2, 1, 3)
    with pytest.raises(StoreError, match="lack area column"):
        _write(store, _rows("b.csv", "2021-01", ["p:4"]), "b.csv", "sha-b")
    with pytest.raises(InputError, match="layer name 'Ward!'"):
        store.write_layer("Ward!", squares(np.nan), info=LayerInfo(), assign=assign_by_x)


def test_status_counts_match_groupby(store: Store) -> None:
    frame = pd.concat(
        [_rows("a.csv", "2021-01", ["p:1", "p:2"]),
         _rows("a.csv", "2021-02", ["p:3"], category="Drugs", x=np.nan)],
        ignore_index=True,
    )  # fmt: skip
    _write(store, frame, "a.csv", "sha-a")
    status = json.loads(json.dumps(store.status()))
    assert status["incidents"] == 3 and status["without_location"] == 1
    assert status["sources"]["police_uk"]["months"] == {"2021-01": 2, "2021-02": 1}
    expected = frame.groupby(["source", "category", "month"]).size()
    assert {(c["source"], c["category"], c["month"]): c["incidents"] for c in status["counts"]} == (
        expected.to_dict()
    )


def test_incidents_without_month_are_refused(store: Store) -> None:
    frame = _rows("a.csv", "2021-01", ["p:1"]).assign(month=pd.array([None], dtype="str"))
    with pytest.raises(StoreError, match="without a month"):
        _write(store, frame, "a.csv", "sha-a")
    assert store.version() is None


def test_unwritable_or_damaged_store_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot write store"):
        _write(Store(blocker / "store"), _rows("a.csv", "2021-01", ["p:1"]), "a.csv", "sha-a")
    store = Store(tmp_path / "store")
    _write(store, _rows("a.csv", "2021-01", ["p:1"]), "a.csv", "sha-a")
    part = next((store.root / "_versions").glob("v*/incidents/*/*/part.parquet"))
    part.write_bytes(b"damaged")
    with pytest.raises(StoreError, match=r"part.parquet is 7 bytes; the manifest lists \d+ "):
        store.incidents()


def test_replacing_a_file_keeps_an_incident_another_file_provides(store: Store) -> None:
    _write(store, _rows("a.csv", "2021-01", ["X", "Y"]), "a.csv", "sha-a1")
    held = _write(store, _rows("b.csv", "2021-01", ["X", "Z"]), "b.csv", "sha-b")
    assert (held.stored, held.duplicates_in_store) == (1, 1)  # X is a's
    _write(store, _rows("a.csv", "2021-01", ["Y"]), "a.csv", "sha-a2")
    got = store.incidents().set_index("incident_id")["source_file"].sort_index()
    assert got.to_dict() == {"X": "b.csv", "Y": "a.csv", "Z": "b.csv"}
    live = {f.key: f.stored for f in store.manifest().live_files()}
    assert live == {"a.csv": 1, "b.csv": 2}
    # Replacing b.csv now removes its X and Z, and nothing is held back any more.
    _write(store, _rows("b.csv", "2021-01", ["W"]), "b.csv", "sha-b2")
    assert sorted(store.incidents()["incident_id"]) == ["W", "Y"]


def test_a_copy_storing_nothing_of_its_own_goes_with_the_file_replaced(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """Kept, the copy's held rows would bring back what the newer version dropped."""
    _write(store, _rows("a.csv", "2021-01", ["X", "Y"]), "a.csv", "sha-a1")
    copy = _write(store, _rows("copy.csv", "2021-01", ["X"]), "copy.csv", "sha-c")
    assert copy.stored == 0  # a part of a.csv: every row held
    other = _write(store, _rows("b.csv", "2021-02", ["Q"]), "b.csv", "sha-b")  # another month
    assert other.stored == 1
    with caplog.at_level(logging.WARNING):
        result = _write(store, _rows("a.csv", "2021-01", ["Y", "V"]), "a.csv", "sha-a2")
    assert result.superseded_files == ("/in/a.csv", "/in/copy.csv")
    assert "copy.csv: stored nothing of its own (a copy or a part of a.csv)" in caplog.text
    assert sorted(store.incidents()["incident_id"]) == ["Q", "V", "Y"]  # X dropped, not back
    assert sorted(f.key for f in store.manifest().live_files()) == ["a.csv", "b.csv"]


def test_held_duplicates_follow_layer_changes(store: Store) -> None:
    _write(store, _rows("a.csv", "2021-01", ["X"]), "a.csv", "sha-a1")
    _write(store, _rows("b.csv", "2021-01", ["X", "Z"]), "b.csv", "sha-b")  # X held
    store.write_layer("ward", squares(np.nan), info=LayerInfo(), assign=assign_by_x)
    empty = _rows("a.csv", "2021-01", []).assign(area_ward=pd.array([], dtype="str"))
    record = FileRecord("/in/a.csv", "a.csv", "police_uk", "sha-a2", 0, 0, 0, ("2021-01",))
    store.write_incidents(empty, [record], rejects=NO_REJECTS, kind="police-uk")
    got = store.incidents().set_index("incident_id")
    assert got.loc["X", "source_file"] == "b.csv" and got.loc["X", "area_ward"] == "W1"


def test_threads_sharing_a_store_do_not_share_the_lock(store: Store) -> None:
    inside, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        with store.locked():
            inside.set()
            release.wait(30)

    def enter() -> None:
        try:
            with store.locked():
                pass
        except StoreBusyError as exc:
            errors.append(exc)

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(30)
    second = threading.Thread(target=enter)
    second.start()
    second.join(30)
    release.set()
    holder.join(30)
    assert len(errors) == 1 and "being written" in str(errors[0])
    with store.locked(), store.locked():  # re-entrant within one thread, and released after
        pass


def test_failed_ingest_leaves_no_rejects_file(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    rejects = pd.DataFrame({"file": ["b.csv"], "line": [3], "column": ["Month"],
                            "value": ["2021-13"], "reason": ["not a month"]})  # fmt: skip

    def write_b() -> object:
        frame = _rows("b.csv", "2021-02", ["p:2"])
        return store.write_incidents(
            frame, [_record("b.csv", "sha-b", frame)], rejects=rejects, kind="police-uk"
        )

    _write(store, _rows("a.csv", "2021-01", ["p:1"]), "a.csv", "sha-a")

    def crash(*args: object) -> None:
        raise OSError("simulated crash before publishing")

    monkeypatch.setattr(Store, "_publish", crash)
    with pytest.raises(OSError, match="simulated crash"):
        write_b()
    assert not (store.root / "rejects").exists() or not list((store.root / "rejects").iterdir())
    assert store.status()["rejects"]["files"] == []
    monkeypatch.undo()
    result = write_b()
    assert store.status()["rejects"]["files"] == [str(result.rejects_path)]  # type: ignore[attr-defined]
    assert [p.name for p in (store.root / "rejects").iterdir()] == [
        f"{result.ingest_id}.csv"  # type: ignore[attr-defined]
    ]


def test_orphan_rejects_of_a_killed_ingest_are_removed_by_the_next_writer(store: Store) -> None:
    _write(store, _rows("a.csv", "2021-01", ["p:1"]), "a.csv", "sha-a")
    orphan = store.root / "rejects" / "20990101T000000000000Z-deadbeef.csv"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_text("file,line\nb.csv,3\n", "utf-8")
    _write(store, _rows("b.csv", "2021-02", ["p:2"]), "b.csv", "sha-b")
    assert not orphan.exists()
