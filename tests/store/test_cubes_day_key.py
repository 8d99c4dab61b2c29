"""The area cube's ``day`` key (the date of incidents that have one and an area of the layer, for
the report's borough): counted by hand, read back as the incidents' day and hour, adding no row
for undated rows or rows outside the layer, and a cube kept without it (an earlier version's
file) counted again rather than trusted or reused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from geo_service.store import LayerInfo, Store, cubes
from geo_service.store.layout import version_path
from tests.store.conftest import assign_by_x, counted_months, month_rows, squares, write_rows

#: A fire-like month: dated rows (two on one day in one hour, minutes apart), one dated
#: without a time of day, one before 1970, and an undated police.uk-like row.
DATED = [
    {"x": 500000.0, "occurred_at": pd.Timestamp("2021-01-05 22:10"), "time_known": True},
    {"x": 500000.2, "occurred_at": pd.Timestamp("2021-01-05 22:50"), "time_known": True},
    {"x": 500000.4, "occurred_at": pd.Timestamp("2021-01-05 23:59:59"), "time_known": True},
    {"x": 500002.0, "occurred_at": pd.Timestamp("2021-01-06"), "time_known": False},
    {"x": 500003.0},
]


def _table(rows: list[dict[str, object]]) -> pa.Table:
    """A partition's rows in W1 (in no area where ``x`` is 500050 or more)."""
    frame = pd.DataFrame(rows).reindex(columns=["x", "occurred_at", "time_known"])
    return pa.table(
        {
            "category": ["Deliberate fire"] * len(frame),
            "subcategory": pa.array([None] * len(frame), pa.string()),
            "occurred_at": pa.array(
                frame["occurred_at"].astype("datetime64[us]"), pa.timestamp("us")
            ),
            "time_known": frame["time_known"].astype("boolean").fillna(False).astype(bool),
            "reported_by": pa.array([None] * len(frame), pa.string()),
            "x": frame["x"],
            "y": [200000.0] * len(frame),
            "severity": pa.nulls(len(frame), pa.string()),
            "area_ward": pa.array(np.where(frame["x"] < 500050, "W1", None), pa.string()),
        }
    )


def test_day_counted_by_hand() -> None:
    rows = [
        *DATED,
        {"x": 500004.0, "occurred_at": pd.Timestamp("1969-12-31 23:00"), "time_known": True},
        {"x": 500050.0, "occurred_at": pd.Timestamp("2021-01-07 10:00"), "time_known": True},
        {"x": 500060.0, "occurred_at": pd.Timestamp("2021-01-08 10:30"), "time_known": True},
    ]
    counted = cubes.count_partition(_table(rows), source="fire", month="2021-01", layers=["ward"])
    assert counted.column_names == list(cubes.CUBE_COLUMNS)
    ward = [r for r in counted.to_pylist() if r["layer"] == "ward"]
    keys = sorted((str(r["code"]), str(r["day"]), r["hour"], r["time_known"], r["n"]) for r in ward)
    assert keys == [
        ("None", "None", 10, True, 2),  # in no ward: no day (two days, one row)
        ("W1", "1969-12-31", 23, True, 1),  # floored to its own day, not 1970-01-01
        ("W1", "2021-01-05", 22, True, 2),  # 22:10 and 22:50: one row, n = 2
        ("W1", "2021-01-05", 23, True, 1),  # 23:59:59 is still the 5th
        ("W1", "2021-01-06", 0, False, 1),
        ("W1", "None", -1, False, 1),  # no date: no day, no hour
    ]
    # the whole store's block counts no day: its rows are those of the keys without it
    whole = [r for r in counted.to_pylist() if r["layer"] == cubes.WHOLE_STORE]
    assert {r["day"] for r in whole} == {None} and sum(r["n"] for r in whole) == len(rows)
    assert sorted((r["hour"], r["n"]) for r in whole) == [(-1, 1), (0, 1), (10, 2), (22, 2),
                                                           (23, 2)]  # fmt: skip


def test_undated_rows_add_no_cube_row() -> None:
    undated = [{"x": 500000.0 + k} for k in range(6)]
    counted = cubes.count_partition(_table(undated), source="p", month="2021-01", layers=["ward"])
    ward = [r for r in counted.to_pylist() if r["layer"] == "ward"]
    assert [(r["day"], r["n"]) for r in ward] == [(None, 6)]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    store.write_layer("ward", squares(), info=LayerInfo(path="squares"))
    frame = assign_by_x(month_rows("fire.csv", "2021-01", DATED), {"ward": squares()})
    write_rows(store, frame, "fire.csv", "sha-fire")
    return store


def test_counted_incidents_give_the_day_and_hour(store: Store) -> None:
    counted = cubes.counted_incidents(store, layer="ward")
    times = counted["occurred_at"].dt.strftime("%Y-%m-%d %H:%M").fillna("none")
    assert counted.groupby(times)["n"].sum().to_dict() == {
        "2021-01-05 22:00": 2, "2021-01-05 23:00": 1, "2021-01-06 00:00": 1, "none": 1,
    }  # fmt: skip
    assert str(counted["occurred_at"].dtype) == "datetime64[us]"
    # the whole store's rows carry no day: the hour alone, on 2000-01-01 (what selectors read)
    whole = cubes.counted_incidents(store, layer=None)
    times = whole["occurred_at"].dt.strftime("%Y-%m-%d %H:%M").fillna("none")
    assert whole.groupby(times)["n"].sum().to_dict() == {
        "2000-01-01 00:00": 1, "2000-01-01 22:00": 2, "2000-01-01 23:00": 1, "none": 1,
    }  # fmt: skip


def _old_format(path: Path) -> pd.DataFrame:
    """Rewrite the kept cube at ``path`` as an earlier version kept it: without ``day`` (its
    rows summed over days), otherwise agreeing with the manifest."""
    cube = cubes.typed(pq.read_table(path).to_pandas())
    keys = [c for c in cubes.CUBE_COLUMNS if c not in ("day", "n")]
    old = cube.groupby(keys, dropna=False, as_index=False, sort=False)["n"].sum()
    pq.write_table(pa.Table.from_pandas(old[[*keys[:-1], "n", "checksum"]]), path)
    return old


def test_a_cube_kept_without_the_day_is_counted_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, version, manifest = store.root, str(store.version()), store.manifest()
    path = version_path(root, version) / cubes.CUBE_FILE
    old = _old_format(path)
    assert int(old.loc[old["layer"] == "ward", "n"].sum()) == len(DATED)  # the counts agree
    counted = counted_months(monkeypatch, cubes)
    rows = cubes.layer_rows(root, version, manifest, "ward")
    assert counted == ["2021-01"]  # not trusted: counted again from the partition
    assert rows["day"].notna().sum() == 3 and int(rows["n"].sum()) == len(DATED)
    kept = pq.read_table(path).to_pandas()
    assert list(kept.columns) == list(cubes.CUBE_COLUMNS)  # and kept again, with the day
    _old_format(path)
    again = cubes.stored_cube(root, version, manifest)
    assert counted == ["2021-01", "2021-01"] and "day" in again.columns


def test_a_new_version_does_not_reuse_a_cube_kept_without_the_day(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _old_format(version_path(store.root, str(store.version())) / cubes.CUBE_FILE)
    counted = counted_months(monkeypatch, cubes)
    feb = assign_by_x(month_rows("feb.csv", "2021-02", [{"x": 500003.0}]), {"ward": squares()})
    write_rows(store, feb, "feb.csv", "sha-feb")
    assert sorted(counted) == ["2021-01", "2021-02"]  # January counted again, not reused
    cube = cubes.typed(
        pq.read_table(version_path(store.root, str(store.version())) / cubes.CUBE_FILE).to_pandas()
    )
    january = cube.loc[(cube["layer"] == "ward") & (cube["month"] == "2021-01")]
    assert sorted(january["day"].dropna().dt.strftime("%Y-%m-%d").unique()) == [
        "2021-01-05", "2021-01-06",
    ]  # fmt: skip
    assert np.isnat(january["day"].to_numpy()).sum() == 1
