"""The area cube: counted per partition by hand-checked keys, kept beside the manifest, rebuilt
when stale or missing, and counted again only for the partitions that changed."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from geo_service.store import LayerInfo, Store, cubes
from geo_service.store.layout import version_path
from tests.store.conftest import assign_by_x, counted_months, month_rows, squares, write_rows

JANUARY = [
    {"x": 500000.0, "subcategory": "Burglary - Residential"},  # W1
    {"x": 500001.0},  # W1, no sub-type
    {"x": 500002.0, "category": "Anti-social behaviour"},  # W2
    {"x": np.nan},  # no location, no area
    {"x": 500050.0},  # located outside both areas
    {"x": 500000.5, "subcategory": "Burglary - Residential"},  # W1, same keys as the first
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    write_rows(store, month_rows("jan.csv", "2021-01", JANUARY), "jan.csv", "sha-jan")
    store.write_layer("ward", squares(), info=LayerInfo(path="squares"), assign=assign_by_x)
    return store


def _cube(store: Store) -> pd.DataFrame:
    return pq.read_table(
        version_path(store.root, str(store.version())) / cubes.CUBE_FILE
    ).to_pandas()


def test_partition_counts_by_hand() -> None:
    rtc = "Road traffic collision"
    table = pa.table(
        {
            "category": ["Burglary", "Burglary", "Burglary", "Robbery", rtc, rtc, rtc],
            "subcategory": pa.array([None, None, "Dwelling", None, None, None, None], pa.string()),
            "occurred_at": pa.array(
                [
                    None,
                    None,
                    pd.Timestamp("2021-01-05 22:10"),
                    pd.Timestamp("2021-01-06 03:00"),
                    None,
                    None,
                    None,
                ],
                pa.timestamp("us"),
            ),
            "time_known": [False, False, True, True, False, False, False],
            "reported_by": ["A", "A", "A", "B", "A", "A", "A"],
            "x": [1.0, 1.0, np.nan, 2.0, 1.0, 1.0, 1.0],
            "y": [1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0],
            "severity": pa.array([None, None, None, None, "Serious", "Slight", "Slight"]),
            "area_ward": pa.array(["W1", "W1", "W1", None, "W1", "W1", "W1"], pa.string()),
        }
    )
    table = cubes.count_partition(
        table, source="s", month="2021-01", layers=["ward"], checksum="abc"
    )
    assert table.column_names == list(cubes.CUBE_COLUMNS)
    rows = table.to_pylist()
    keys = ("code", "category", "subcategory", "time_known", "hour", "reported_by", "located",
            "severity", "n")  # fmt: skip
    ward = sorted(
        (tuple(r[k] for k in keys) for r in rows if r["layer"] == "ward"),
        key=lambda r: (-r[-1], r[1], str(r[2]), str(r[-2])),
    )
    assert ward == [
        ("W1", "Burglary", None, False, -1, "A", True, None, 2),  # two equal rows: one, n = 2
        ("W1", rtc, None, False, -1, "A", True, "Slight", 2),  # split by severity
        ("W1", "Burglary", "Dwelling", True, 22, "A", False, None, 1),  # x missing: not located
        ("W1", rtc, None, False, -1, "A", True, "Serious", 1),
        (None, "Robbery", None, True, 3, "B", True, None, 1),
    ]
    whole = [r for r in rows if r["layer"] == cubes.WHOLE_STORE]
    assert len(whole) == 5 and all(r["code"] is None for r in whole)
    assert sum(r["n"] for r in whole) == 7
    assert {r["source"] for r in rows} == {"s"} and {r["checksum"] for r in rows} == {"abc"}


def test_the_whole_store_block_counts_the_rows_whatever_their_areas() -> None:
    # Two rows with the same keys in different wards are one row of the whole store (n = 2);
    # the block summed from the first layer's counts equals the rows counted directly.
    table = pa.table(
        {
            "category": ["Burglary", "Burglary", "Robbery", "Burglary"],
            "subcategory": pa.array([None, None, None, "Dwelling"], pa.string()),
            "occurred_at": pa.array([None] * 4, pa.timestamp("us")),
            "time_known": [False] * 4,
            "reported_by": ["A"] * 4,
            "x": [1.0, 2.0, 3.0, np.nan],
            "y": [1.0] * 4,
            "severity": pa.nulls(4, pa.string()),
            "area_ward": pa.array(["W1", "W2", None, "W1"], pa.string()),
            "area_beat": pa.array(["B1", "B1", "B1", None], pa.string()),
        }
    )

    def whole(layers: list[str]) -> list[tuple[object, ...]]:
        counted = cubes.count_partition(table, source="s", month="2021-01", layers=layers)
        rows = [r for r in counted.to_pylist() if r["layer"] == cubes.WHOLE_STORE]
        keys = ("category", "subcategory", "located", "n")
        return sorted((tuple(r[k] for k in keys) for r in rows), key=str)

    expected = sorted(
        [
            ("Burglary", None, True, 2),
            ("Robbery", None, True, 1),
            ("Burglary", "Dwelling", False, 1),
        ],
        key=str,
    )
    assert whole([]) == expected
    assert whole(["ward", "beat"]) == expected
    assert whole(["beat", "ward"]) == expected


def test_publish_keeps_a_cube_that_counts_every_row(store: Store) -> None:
    cube = _cube(store)
    assert set(cube["layer"]) == {"", "ward"}
    per_layer = cube.groupby("layer")["n"].sum().to_dict()
    assert per_layer == {"": 6, "ward": 6}
    ward = cube[cube["layer"] == "ward"]
    by_area = ward.groupby(ward["code"].fillna("-"))["n"].sum().to_dict()
    assert by_area == {"W1": 3, "W2": 1, "-": 2}  # one unlocated, one outside
    located = ward.groupby("located")["n"].sum().to_dict()
    assert located == {False: 1, True: 5}
    # The two residential burglaries in W1 are one row standing for two.
    residential = ward[ward["subcategory"] == "Burglary - Residential"]
    assert residential["n"].tolist() == [2]


def test_a_new_month_counts_one_partition_and_a_repeat_counts_none(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = counted_months(monkeypatch, cubes)
    feb = assign_by_x(month_rows("feb.csv", "2021-02", [{"x": 500003.0}]), {"ward": squares()})
    write_rows(store, feb, "feb.csv", "sha-feb")
    assert counted == ["2021-02"]  # January's rows came from the previous version's cube
    write_rows(store, feb, "feb.csv", "sha-feb")  # the same file again: no new version
    assert counted == ["2021-02"]
    cube = _cube(store)
    assert cube.groupby(["layer", "month"])["n"].sum().to_dict() == {
        ("", "2021-01"): 6, ("", "2021-02"): 1, ("ward", "2021-01"): 6, ("ward", "2021-02"): 1,
    }  # fmt: skip
    # Equal to counting every partition afresh.
    fresh = cubes.combine(
        [
            cubes._count_file(version_path(store.root, str(store.version())), p, ["ward"], "")
            for p in store.manifest().partitions.values()
        ]
    )
    keys = list(cubes.KEY_COLUMNS)
    assert_same_counts(cubes.typed(cube), fresh, keys)


def test_publishing_reads_each_new_partition_once_for_both_cubes(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo_service.store import grid_cube

    reads: list[str] = []
    real = grid_cube.read_checked

    def spy(path: Path, columns: list[str], **kw: list[str]) -> pa.Table:
        reads.append(path.parent.name)
        return real(path, columns, **kw)

    monkeypatch.setattr(grid_cube, "read_checked", spy)
    monkeypatch.setattr(cubes, "read_checked", spy)
    feb = assign_by_x(month_rows("feb.csv", "2021-02", [{"x": 500003.0}]), {"ward": squares()})
    write_rows(store, feb, "feb.csv", "sha-feb")
    assert reads == ["month=2021-02"]
    version_dir = version_path(store.root, str(store.version()))
    fresh = cubes.combine(
        [
            cubes._count_file(version_dir, p, ["ward"], "")
            for p in store.manifest().partitions.values()
        ]
    )
    assert_same_counts(cubes.typed(_cube(store)), fresh, list(cubes.KEY_COLUMNS))


def assert_same_counts(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    def norm(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[[*keys, "n"]].astype({k: "object" for k in keys})
        return out.fillna("<null>").sort_values(keys, ignore_index=True)

    pd.testing.assert_frame_equal(norm(a), norm(b))


def test_missing_or_stale_cube_is_counted_again(store: Store) -> None:
    path = version_path(store.root, str(store.version())) / cubes.CUBE_FILE
    good = _cube(store)
    path.unlink()
    rebuilt = cubes.stored_cube(store.root, str(store.version()), store.manifest())
    assert_same_counts(rebuilt, cubes.typed(good), list(cubes.KEY_COLUMNS))
    assert path.is_file()
    # A cube whose counts were edited no longer agrees with the manifest: never trusted.
    edited = good.copy()
    edited.loc[edited.index[0], "n"] += 5
    pq.write_table(pa.Table.from_pandas(edited, preserve_index=False), path)
    again = cubes.stored_cube(store.root, str(store.version()), store.manifest())
    assert int(again["n"].sum()) == 12
    # A cube of another store (other checksums) is not this version's either.
    edited = good.assign(checksum="0" * 64)
    pq.write_table(pa.Table.from_pandas(edited, preserve_index=False), path)
    assert not cubes._agrees(cubes.typed(edited), store.manifest())
    again = cubes.stored_cube(store.root, str(store.version()), store.manifest())
    assert set(again["checksum"]) == {c.sha256 for c in store.manifest().checksums.values()} - {
        store.manifest().checksums["layers/ward.parquet"].sha256
    }


def test_counted_incidents_take_the_layer_and_filters(store: Store) -> None:
    ward = cubes.counted_incidents(store, layer="ward", categories=["Burglary"])
    assert int(ward["n"].sum()) == 5
    assert ward["area_ward"].fillna("-").tolist().count("W1") == 2  # keyed rows, not incidents
    whole = cubes.counted_incidents(store, layer=None, month_from="2021-02")
    assert len(whole) == 0 and "area_ward" not in whole.columns


def test_layer_rows_read_once_are_held_until_the_file_or_manifest_changes(store: Store) -> None:
    root, version, manifest = store.root, str(store.version()), store.manifest()
    first = cubes.layer_rows(root, version, manifest, "ward")
    assert cubes.layer_rows(root, version, manifest, "ward") is first
    assert int(first["n"].sum()) == 6
    # A replaced file (a new stat) is read and checked again: an edited count is not trusted.
    path = version_path(root, version) / cubes.CUBE_FILE
    edited = _cube(store)
    edited.loc[(edited["layer"] == "ward").idxmax(), "n"] += 5
    pq.write_table(pa.Table.from_pandas(edited, preserve_index=False), path)
    again = cubes.layer_rows(root, version, manifest, "ward")
    assert again is not first and int(again["n"].sum()) == 6
    # Another manifest (here: other rows for the month) is never answered from held rows.
    key, part = next(iter(manifest.partitions.items()))
    other = dataclasses.replace(
        manifest, partitions={**manifest.partitions, key: dataclasses.replace(part, rows=7)}
    )
    assert cubes.layer_rows(root, version, other, "ward") is not again


def test_a_cube_is_not_reused_from_a_damaged_previous(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    write_rows(store, month_rows("jan.csv", "2021-01", JANUARY), "jan.csv", "sha-jan")
    first = version_path(store.root, str(store.version())) / cubes.CUBE_FILE
    first.write_bytes(b"not parquet")
    write_rows(store, month_rows("feb.csv", "2021-02", [{"x": 500003.0}]), "feb.csv", "sha-feb")
    assert _cube(store).groupby("month")["n"].sum().to_dict() == {"2021-01": 6, "2021-02": 1}
    shutil.rmtree(store.root)


def test_counted_dictionary_keys_hold_index_0_under_their_nulls() -> None:
    # Arrow's group-by leaves memory garbage under null dictionary indices; unifying such
    # dictionaries across pieces crashed the process (pyarrow 26). Null slots must read 0.
    rng = np.random.default_rng(4)
    codes = [
        None if rng.random() < 0.2 else f"A{int(rng.integers(0, 300)):03d}" for _ in range(5000)
    ]
    area = pc.dictionary_encode(pa.array(codes, pa.string()))
    pieces = []
    for text in (None, pa.dictionary(pa.int32(), pa.large_string())):
        grouped = cubes.counted_keys(
            {"code": area, "hour": pa.array(rng.integers(0, 3, 5000))}, text=text
        )
        assert grouped["n"].to_numpy().sum() == 5000
        if text is not None:
            for chunk in grouped["code"].chunks:
                raw = np.frombuffer(chunk.indices.buffers()[1], dtype=np.int32)
                raw = raw[chunk.indices.offset : chunk.indices.offset + len(chunk)]
                nulls = np.asarray(chunk.indices.is_null())
                assert nulls.any() and (raw[nulls] == 0).all()
            pieces.append(grouped)
    many = pa.concat_tables(pieces * 50).unify_dictionaries()
    assert many["code"].null_count == 50 * pieces[0]["code"].null_count
