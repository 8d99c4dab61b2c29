"""The grid cube: counted per partition and national cell by hand-checked keys, binned by the very
formula the study grid uses (also on cell edges), kept beside the manifest, counted again when
stale and only for the partitions that changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from shapely.geometry import box

from geo_service.analysis.grid import Grid, cell_numbers, grid_for
from geo_service.store import LayerInfo, Store, grid_cube
from geo_service.store.layout import version_path
from tests.store.conftest import assign_by_x, counted_months, month_rows, squares, write_rows

#: The float just below 500000 m and 200000 m: on the other side of a cell edge.
BELOW_X = float(np.nextafter(500000.0, 0.0))
BELOW_Y = float(np.nextafter(200000.0, 0.0))


JANUARY = [
    {"x": 500000.0},  # on the edge: cell 20000 of 25 m (W1)
    {"x": BELOW_X},  # a hair west of it: cell 19999 (W1)
    {"x": 500024.0, "category": "Robbery"},  # cell 20000, outside both squares
    {"x": 500001.0, "y": BELOW_Y},  # row 7999 (W1)
    {"x": np.nan},  # no location
    {"x": 500002.0, "location_precision": "approximate"},  # W2, an approximate point
]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "store")
    write_rows(store, month_rows("jan.csv", "2021-01", JANUARY), "jan.csv", "sha-jan")
    store.write_layer("ward", squares(), info=LayerInfo(path="squares"), assign=assign_by_x)
    return store


def _cube(store: Store) -> pd.DataFrame:
    path = version_path(store.root, str(store.version())) / grid_cube.GRID_CUBE_FILE
    return grid_cube.typed(pq.read_table(path).to_pandas())  # text kept dictionary-encoded


def test_partition_counts_by_hand() -> None:
    table = pa.table(
        {
            "category": ["Burglary", "Burglary", "Burglary", "Robbery", "Robbery"],
            "subcategory": pa.array([None, None, None, "Street", None], pa.string()),
            "occurred_at": pa.array(
                [None, None, None, pd.Timestamp("2021-01-06 03:00"), None], pa.timestamp("us")
            ),
            "time_known": [False, False, False, True, False],
            "reported_by": ["A", "A", "A", "A", "A"],
            "x": [100.0, 199.999, 200.0, -0.5, np.nan],
            "y": [0.0, 99.0, 0.0, 5.0, 5.0],
            "location_precision": pa.array([None, None, "exact", "approximate", None]),
            "area_ward": pa.array(["W1", "W1", "W1", None, "W1"], pa.string()),
        }
    )
    out = grid_cube.count_partition(
        table, source="s", month="2021-01", lattices=[("ward", 100.0)], checksum="abc"
    )
    assert out.column_names == list(grid_cube.CUBE_COLUMNS)
    keys = ("code", "col", "row", "category", "subcategory", "hour", "approximate", "n")
    rows = sorted((tuple(r[k] for k in keys) for r in out.to_pylist()), key=str)
    assert rows == sorted(
        [
            ("W1", 1.0, 0.0, "Burglary", None, -1, False, 2),  # 100 and 199.999: one cell, n = 2
            ("W1", 2.0, 0.0, "Burglary", None, -1, False, 1),  # 200.0 starts the next cell
            (None, None, None, "Robbery", "Street", 3, True, 1),  # in no area: no cell
            ("W1", None, None, "Robbery", None, -1, False, 1),  # no location: no cell
        ],
        key=str,
    )
    assert {r["cell_m"] for r in out.to_pylist()} == {100.0}
    # floor, not truncation, west of the origin
    placed = grid_cube.count_partition(
        table.set_column(8, "area_ward", pa.array(["W1"] * 5)), source="s", month="2021-01",
        lattices=[("ward", 100.0)],
    )  # fmt: skip
    assert sorted(r["col"] for r in placed.to_pylist() if r["col"] is not None) == [-1.0, 1.0, 2.0]
    # the density cube keeps each location itself: no two of these share one
    exact = grid_cube.count_partition(
        table, source="s", month="2021-01", lattices=[("ward", grid_cube.DENSITY_CELL_M)]
    )
    located = sorted(
        (r["col"], r["row"], r["n"]) for r in exact.to_pylist() if r["col"] is not None
    )
    assert located == [(100.0, 0.0, 1), (199.999, 99.0, 1), (200.0, 0.0, 1)]


def test_the_grid_bins_points_on_cell_edges_in_the_cube_s_cells() -> None:
    grid = grid_for(box(499_990, 199_990, 500_110, 200_110), cell_m=25)
    assert (grid.x0, grid.y0) == (499_975.0, 199_975.0)
    edges = np.array([500_000.0, 500_025.0, 500_100.0])
    x = np.concatenate([edges, np.nextafter(edges, 0), np.nextafter(edges, np.inf), [500_012.5]])
    y = np.full(x.shape, 200_050.0)
    col = cell_numbers(x, 25.0)
    assert col.tolist() == [20000, 20001, 20004, 19999, 20000, 20003, 20000, 20001, 20004, 20000]
    index = grid.cell_index(x, y)
    np.testing.assert_array_equal(index % grid.nx, col - 499_975.0 / 25)
    np.testing.assert_array_equal(index // grid.nx, cell_numbers(y, 25.0) - 199_975.0 / 25)
    # A grid not on the national lattice keeps the offset formula.
    shifted = Grid(x0=0.5, y0=0.0, cell_m=1.0, nx=3, ny=1, inside=np.ones((1, 3), dtype=bool))
    assert shifted.cell_index(np.array([0.5, 1.49, 2.5, 3.5]), np.zeros(4)).tolist() == [
        0, 0, 2, -1,
    ]  # fmt: skip


def test_publish_keeps_a_grid_cube_of_each_layer_at_its_cell_size(store: Store) -> None:
    cube = _cube(store)
    # The squares are 10 m across: the automatic cell size is the smallest, 25 m.
    assert set(zip(cube["layer"], cube["cell_m"], strict=True)) == {("ward", 25.0)}
    assert int(cube["n"].sum()) == 6
    located = cube.dropna(subset=["col"])
    cells = located.groupby(["col", "row"])["n"].sum().to_dict()
    # the Robbery at 500024 m is in no square: counted, but in no cell
    assert cells == {(20000.0, 8000.0): 2, (19999.0, 8000.0): 1, (20000.0, 7999.0): 1}
    codes = cube.groupby(cube["code"].fillna("-"))["n"].sum().to_dict()
    assert codes == {"W1": 3, "W2": 1, "-": 2}
    assert cube.loc[cube["approximate"], "n"].tolist() == [1]
    meta = pq.read_schema(
        version_path(store.root, str(store.version())) / grid_cube.GRID_CUBE_FILE
    ).metadata
    assert b"geo_service.lattices" in meta


def test_counted_cells_are_cell_centres_with_their_counts(store: Store) -> None:
    found = grid_cube.counted_cells(store, layer="ward", cell_m=25, categories=["Burglary"])
    assert found is not None
    located = found.dropna(subset=["x"])
    by_centre = located.groupby(["x", "y"])["n"].sum().to_dict()
    assert by_centre == {(500012.5, 200012.5): 2, (499987.5, 200012.5): 1,
                         (500012.5, 199987.5): 1}  # fmt: skip
    assert int(found["n"].sum()) == 5
    assert found.loc[found["location_precision"] == "approximate", "n"].sum() == 1
    assert grid_cube.counted_cells(store, layer="ward", cell_m=50) is None  # not kept: rows
    assert grid_cube.counted_cells(store, layer="ward", cell_m=25, month_from="2021-02") is not None


@pytest.mark.parametrize("previous_text", ["dictionary", "large_string"])
def test_a_new_month_counts_one_partition(
    store: Store, monkeypatch: pytest.MonkeyPatch, previous_text: str
) -> None:
    if previous_text == "large_string":  # a cube kept before text was kept dictionary-encoded
        path = version_path(store.root, str(store.version())) / grid_cube.GRID_CUBE_FILE
        kept = pq.read_table(path)
        plain = pa.schema(
            [
                f.with_type(pa.large_string()) if pa.types.is_dictionary(f.type) else f
                for f in kept.schema
            ],
            metadata=kept.schema.metadata,
        )
        pq.write_table(kept.cast(plain), path)
    counted = counted_months(monkeypatch, grid_cube)
    feb = assign_by_x(month_rows("feb.csv", "2021-02", [{"x": 500003.0}]), {"ward": squares()})
    write_rows(store, feb, "feb.csv", "sha-feb")
    assert counted == ["2021-02"]  # January's rows came from the previous version's cube
    cube = grid_cube.typed(_cube(store))
    assert cube.groupby("month")["n"].sum().to_dict() == {"2021-01": 6, "2021-02": 1}
    version_dir = version_path(store.root, str(store.version()))
    fresh = grid_cube.typed(
        grid_cube.combine(
            [
                grid_cube._count_file(version_dir, p, [("ward", 25.0)], "")
                for p in store.manifest().partitions.values()
            ]
        ).to_pandas()
    )
    keys = list(grid_cube.KEY_COLUMNS)

    def norm(frame: pd.DataFrame) -> pd.DataFrame:
        out = frame[[*keys, "n"]].astype({k: "object" for k in keys})
        return out.fillna("<null>").sort_values(keys, ignore_index=True)

    pd.testing.assert_frame_equal(norm(cube), norm(fresh))


def test_a_kept_cube_of_several_row_groups_is_read_not_counted_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each row group of the kept file has dictionaries of its own: the check must read them all.
    feb = assign_by_x(month_rows("feb.csv", "2021-02", [{"x": 500003.0}]), {"ward": squares()})
    write_rows(store, feb, "feb.csv", "sha-feb")
    version = str(store.version())
    path = version_path(store.root, version) / grid_cube.GRID_CUBE_FILE
    assert pq.ParquetFile(path).num_row_groups == 2
    counted = counted_months(monkeypatch, grid_cube)
    cube = grid_cube.stored_grid_cube(store.root, version, store.manifest())
    assert counted == []
    assert cube.groupby("month")["n"].sum().to_dict() == {"2021-01": 6, "2021-02": 1}


def test_a_missing_or_edited_grid_cube_is_counted_again(store: Store) -> None:
    version = str(store.version())
    path = version_path(store.root, version) / grid_cube.GRID_CUBE_FILE
    good = _cube(store)
    path.unlink()
    assert grid_cube.counted_cells(store, layer="ward", cell_m=25) is not None
    assert path.is_file()
    edited = good.copy()
    edited.loc[edited.index[0], "n"] += 5
    pq.write_table(pa.Table.from_pandas(edited, preserve_index=False), path)  # no lattices named
    found = grid_cube.counted_cells(store, layer="ward", cell_m=25)
    assert found is not None and int(found["n"].sum()) == 6
    assert int(_cube(store)["n"].sum()) == 6  # and kept again


def test_combine_groups_each_lattice_and_keeps_empty_pieces_out() -> None:
    def piece(rows: list[tuple[str, float, str]]) -> pa.Table:
        frame = pd.DataFrame(rows, columns=["layer", "cell_m", "month"])
        out = frame.assign(
            code=None, col=1.0, row=2.0, source="s", category="Burglary", subcategory=None,
            time_known=False, hour=-1, reported_by="A", approximate=False, location_text=None, n=1,
            checksum="c",
        )  # fmt: skip
        return pa.Table.from_pandas(grid_cube.typed(out), preserve_index=False)

    first = piece([("ward", 100.0, "2021-01"), ("lsoa", 25.0, "2021-01")])
    second = piece([("ward", 100.0, "2021-02"), ("lsoa", 25.0, "2021-02")])
    joined = grid_cube.combine([first, first.slice(0, 0), second])
    assert list(zip(joined["layer"].to_pylist(), joined["month"].to_pylist(), strict=True)) == [
        ("lsoa", "2021-01"), ("lsoa", "2021-02"), ("ward", "2021-01"), ("ward", "2021-02"),
    ]  # fmt: skip
    assert grid_cube.combine([first.slice(0, 0)]).num_rows == 0


def _two_lattices(tmp_path: Path) -> Store:
    """Two months over two layers (``ward`` and a wider ``area``): two lattices."""
    store = Store(tmp_path / "two")
    wide = squares().assign(geometry=[box(499000, 199000, 500001.5, 201000),
                                      box(500001.5, 199000, 503000, 201000)])  # fmt: skip
    store.write_layer("ward", squares(), info=LayerInfo(path="squares"), assign=assign_by_x)
    store.write_layer("area", wide, info=LayerInfo(path="wide"), assign=assign_by_x)
    layers = {"ward": squares(), "area": wide}
    for name, month in (("jan.csv", "2021-01"), ("feb.csv", "2021-02")):
        rows = assign_by_x(month_rows(name, month, JANUARY), layers)
        write_rows(store, rows, name, f"sha-{name}")
    return store


def test_the_cube_is_written_a_partition_at_a_time_one_lattice_per_row_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _two_lattices(tmp_path)
    version = str(store.version())
    path = version_path(store.root, version) / grid_cube.GRID_CUBE_FILE
    path.unlink()
    # counted and kept without the whole cube in memory (the in-memory build is never used)
    monkeypatch.setattr(grid_cube, "combine", lambda *a, **k: pytest.fail("built in memory"))
    grid_cube.build_after_publish(store.root)
    monkeypatch.undo()
    source = pq.ParquetFile(path)
    lattices = set()
    for group in range(source.num_row_groups):
        rows = source.read_row_group(group, columns=["layer", "cell_m"]).to_pandas()
        assert rows.drop_duplicates().shape[0] == 1  # one lattice per row group
        lattices.add((rows["layer"].iloc[0], float(rows["cell_m"].iloc[0])))
    assert lattices == {("ward", 25.0), ("area", 25.0)}
    cube = _cube(store)
    assert cube.groupby(["layer", "month"])["n"].sum().to_dict() == {
        ("area", "2021-01"): 6, ("area", "2021-02"): 6,
        ("ward", "2021-01"): 6, ("ward", "2021-02"): 6,
    }  # fmt: skip
    ward = grid_cube.lattice_rows(store.root, version, store.manifest(), ("ward", 25.0))
    assert ward is not None and set(ward["layer"].to_pylist()) == {"ward"}
    assert sum(ward["n"].to_pylist()) == 12


def test_an_unreadable_previous_cube_is_left_out_and_every_partition_counted(
    tmp_path: Path,
) -> None:
    store = _two_lattices(tmp_path)
    first = version_path(store.root, str(store.version())) / grid_cube.GRID_CUBE_FILE
    first.write_bytes(first.read_bytes()[:-200])  # footer gone
    march = assign_by_x(month_rows("mar.csv", "2021-03", [{"x": 500003.0}]), {"ward": squares()})
    march = march.assign(area_area=march["area_ward"])
    write_rows(store, march, "mar.csv", "sha-mar")
    cube = _cube(store)
    assert cube.groupby(["layer", "month"])["n"].sum().to_dict() == {
        ("area", "2021-01"): 6, ("area", "2021-02"): 6, ("area", "2021-03"): 1,
        ("ward", "2021-01"): 6, ("ward", "2021-02"): 6, ("ward", "2021-03"): 1,
    }  # fmt: skip


def test_a_store_that_cannot_be_written_counts_the_cube_in_memory(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = str(store.version())
    path = version_path(store.root, version) / grid_cube.GRID_CUBE_FILE
    path.unlink()

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError("read-only file system")

    monkeypatch.setattr(grid_cube.pq, "ParquetWriter", refuse)
    cube = grid_cube.stored_grid_cube(store.root, version, store.manifest())
    assert int(cube["n"].sum()) == 6 and not path.exists()
    assert not list(path.parent.glob(".*.tmp"))


def test_reused_rows_are_those_of_listed_partitions_whole_groups_or_row_by_row() -> None:
    text = pa.dictionary(pa.int32(), pa.large_string())

    def rows(triples: list[tuple[str, str, str]]) -> pa.Table:
        return pa.table(
            {c: pa.array([t[i] for t in triples], pa.large_string()).cast(text)
             for i, c in enumerate(("source", "month", "checksum"))}
            | {"n": pa.array(range(len(triples)), pa.int64())}
        )  # fmt: skip

    wanted = pa.array(["s\x1f2021-01\x1fa", "s\x1f2021-02\x1fb"], pa.large_string())
    one = rows([("s", "2021-01", "a")] * 3)
    assert grid_cube._listed_rows(one, wanted) is one  # kept whole, not filtered
    stale = rows([("s", "2021-01", "old")] * 2)
    assert grid_cube._listed_rows(stale, wanted).num_rows == 0
    mixed = rows(
        [("s", "2021-01", "a"), ("s", "2021-03", "c"), ("s", "2021-02", "b"), ("s", "2021-02", "")]
    )
    assert grid_cube._listed_rows(mixed, wanted)["n"].to_pylist() == [0, 2]
