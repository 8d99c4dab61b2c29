"""The change tables read from the store's cube give exactly the figures read from its rows.

A :class:`~geo_service.store.Store` hands the services its cube; the same store seen through
:class:`RowsOnly` (not a Store) hands them its rows. Every table, monthly series and sentence must
be equal: on hand-made stores whose answers are worked out below, on the demo store, and on the
real Hertfordshire police.uk months (skipped when the shared data is not there).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geo_service.categories import CategoryGroup, Selector
from geo_service.cli import main
from geo_service.config import Settings
from geo_service.services import tables
from geo_service.services.context import StoreLike, store_groups
from geo_service.services.options import ViewOptions
from geo_service.store import FileRecord, LayerInfo, Store, cubes
from tests.store.conftest import assign_by_x, canonical, squares
from tests.stores import RowsOnly, herts_copy

NO_REJECTS = pd.DataFrame({"file": [], "line": []})


class NoRows(Store):
    """A store whose partitions must not be read."""

    def incidents(self, **_: Any) -> pd.DataFrame:
        raise AssertionError("the partitions were read")


def _same(
    store: Store,
    groups: Sequence[CategoryGroup],
    opts: ViewOptions,
    *,
    per_area: Sequence[CategoryGroup] | None = None,
) -> None:
    """Every table of ``groups`` (change by area: of ``per_area``, default all) is the same
    from the cube and from the rows."""
    raw = RowsOnly(store)
    cubed, rows = tables.looking_back(store, groups, opts), tables.looking_back(raw, groups, opts)
    pd.testing.assert_frame_equal(cubed.table, rows.table)
    assert cubed.monthly == rows.monthly and cubed.quality == rows.quality
    if not tables.view_layer(store, opts):
        return
    for group in groups if per_area is None else per_area:
        a, b = tables.change_by_area(store, group, opts), tables.change_by_area(raw, group, opts)
        pd.testing.assert_frame_equal(a.table, b.table)
        pd.testing.assert_frame_equal(a.monthly, b.monthly)
        assert a.quality == b.quality
    code = str(store.layer(tables.required_layer(store, opts))["code"].iloc[0])
    a_view, b_view = (tables.area_view(s, groups, code, opts) for s in (store, raw))
    pd.testing.assert_frame_equal(a_view.changes, b_view.changes)
    assert a_view.monthly == b_view.monthly and a_view.quality == b_view.quality
    a_forces, b_forces = (tables.reporting_forces(s, opts) for s in (store, raw))
    pd.testing.assert_frame_equal(a_forces.table, b_forces.table)
    assert tables.exclusion_notes(store, opts) == tables.exclusion_notes(raw, opts)


# ----------------------------------------------------------------------------- by hand
def _rows(name: str, month: str, rows: list[dict[str, object]]) -> pd.DataFrame:
    return canonical(
        [
            {"incident_id": f"{name}:{n}", "month": month, "y": 200000.0, "source_file": name,
             "source_line": n + 2, "reported_by": "Test Police"} | r
            for n, r in enumerate(rows)
        ]
    )  # fmt: skip


def _write(store: Store, frame: pd.DataFrame, name: str) -> None:
    months = tuple(sorted(frame["month"].unique().tolist()))
    record = FileRecord(f"/in/{name}", name, "police_uk", f"sha-{name}", len(frame), 0, 0, months)
    store.write_incidents(frame, [record], rejects=NO_REJECTS, kind="police-uk")


RESIDENTIAL = "Burglary - Residential"
NIGHT = pd.Timestamp("2021-02-03 22:15")
BURGLARY = CategoryGroup("Burglary", (Selector("Burglary"),))
RESIDENTIAL_BURGLARY = CategoryGroup("Residential", (Selector("Burglary", (RESIDENTIAL,)),))
NIGHT_BURGLARY = CategoryGroup("Night burglary", (Selector("Burglary", hours=(22,)),))
ASB = CategoryGroup("ASB", (Selector("Anti-social behaviour"),))


def _hand_store(root: Path, *, borough_only: bool) -> Store:
    """January: 3 burglaries in W1 (2 residential), 1 ASB in W2, 1 burglary with no location
    and (unless ``borough_only``) 1 located outside both wards; February: 1 residential
    burglary at 22:15 in W1, 1 burglary in W2; March: nothing held."""
    store = Store(root)
    january = [
        {"x": 500000.0, "subcategory": RESIDENTIAL},
        {"x": 500001.0},
        {"x": 500000.5, "subcategory": RESIDENTIAL},
        {"x": 500002.0, "category": "Anti-social behaviour"},
        {"x": np.nan},
        *([] if borough_only else [{"x": 500050.0}]),
    ]
    _write(store, _rows("jan.csv", "2021-01", january), "jan.csv")
    store.write_layer("ward", squares(), info=LayerInfo(path="squares"), assign=assign_by_x)
    february = [
        {"x": 500000.0, "subcategory": RESIDENTIAL, "occurred_at": NIGHT, "time_known": True},
        {"x": 500003.0},
    ]
    feb = assign_by_x(_rows("feb.csv", "2021-02", february), {"ward": squares()})
    _write(store, feb, "feb.csv")
    return store


def _counts(table: pd.DataFrame) -> dict[str, tuple[object, object]]:
    return {str(r.code): (r.previous, r.current) for r in table.itertuples()}


@pytest.mark.parametrize("borough_only", [False, True])
def test_hand_made_store_tables_by_hand(tmp_path: Path, borough_only: bool) -> None:
    store = _hand_store(tmp_path / "store", borough_only=borough_only)
    opts = ViewOptions(period_end="2021-02", months=1, layer="ward")
    burglary = tables.change_by_area(store, BURGLARY, opts).table
    # A source with a row located outside the wards reaches beyond them: its unlocated row is
    # counted nowhere. A borough-only source's unlocated row is the table's Unallocated row.
    expected = {"W1": (3, 1), "W2": (0, 1)} | ({"Unallocated": (1, 0)} if borough_only else {})
    assert _counts(burglary) == expected
    residential = tables.change_by_area(store, RESIDENTIAL_BURGLARY, opts).table
    assert _counts(residential) == {"W1": (2, 1), "W2": (0, 0)}
    night = tables.change_by_area(store, NIGHT_BURGLARY, opts).table
    assert _counts(night) == {"W1": (0, 1), "W2": (0, 0)}
    back = tables.looking_back(store, [BURGLARY, ASB], opts).table
    # Inside the wards (located or placed): the unlocated row of either source is not.
    assert back[["previous", "current"]].astype(int).values.tolist() == [[3, 2], [1, 0]]
    _same(store, [BURGLARY, RESIDENTIAL_BURGLARY, NIGHT_BURGLARY, ASB], opts)


def test_months_not_held_are_no_data_from_the_cube(tmp_path: Path) -> None:
    store = _hand_store(tmp_path / "store", borough_only=False)
    opts = ViewOptions(period_end="2021-01", months=1, layer="ward")  # December is not held
    table = tables.change_by_area(store, BURGLARY, opts).table
    assert table["previous"].isna().all() and table["current"].astype(int).tolist() == [3, 0]
    _same(store, [BURGLARY, RESIDENTIAL_BURGLARY, ASB], opts)
    # March is not held: the source is compared over its own latest months (its window).
    later = ViewOptions(period_end="2021-03", months=1, layer="ward")
    assert _counts(tables.change_by_area(store, BURGLARY, later).table) == {
        "W1": (3, 1), "W2": (0, 1),
    }  # fmt: skip
    _same(store, [BURGLARY, RESIDENTIAL_BURGLARY, ASB], later)
    _same(store, [BURGLARY, ASB], ViewOptions(period_end="2021-02", months=1, layer=""))


def test_forces_left_out_from_the_cube(tmp_path: Path) -> None:
    store = _hand_store(tmp_path / "store", borough_only=True)
    opts = ViewOptions(
        period_end="2021-02", months=1, layer="ward", exclude_forces=("test police", "BTP")
    )
    assert _counts(tables.change_by_area(store, BURGLARY, opts).table) == {
        "W1": (0, 0), "W2": (0, 0),
    }  # fmt: skip
    left_out, unknown = tables.exclusion_notes(store, opts)
    assert left_out == "Rows reported by Test Police are left out (7 in the months compared)."
    assert unknown.endswith("reporting forces held: Test Police.")
    _same(store, [BURGLARY, ASB], opts)


def test_change_and_summary_read_no_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = _hand_store(tmp_path / "store", borough_only=False)
    store = NoRows(built.root)

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a partition was counted")

    monkeypatch.setattr(cubes, "_count_file", refuse)
    opts = ViewOptions(period_end="2021-02", months=1, layer="ward")
    assert _counts(tables.change_by_area(store, BURGLARY, opts).table)["W1"] == (3, 1)
    assert len(tables.looking_back(store, [BURGLARY, ASB], opts).table) == 2
    assert main(["--store", str(built.root), "-q", "change", "--category", "Burglary"]) == 0
    with pytest.raises(AssertionError, match="the partitions were read"):
        store.incidents()


# ----------------------------------------------------------------------------- real stores
def _all_views(store: StoreLike, groups: Sequence[CategoryGroup]) -> list[ViewOptions]:
    last = store.coverage().all_months()[-1]
    return [
        ViewOptions(period_end=last, months=6),
        ViewOptions(period_end=last, months=1, against="year-earlier"),
        ViewOptions(period_end=last, months=12),  # the earlier period is not held
    ]


def test_demo_store_tables_from_the_cube(demo_store: Store) -> None:
    groups = store_groups(demo_store, Settings().groups())
    first, *others = _all_views(demo_store, groups)
    _same(demo_store, groups, first)  # every group's change table once
    for opts in others:
        _same(demo_store, groups, opts, per_area=groups[::4])


@pytest.fixture(scope="module")
def herts_months(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The 13 Hertfordshire police.uk months over the Dacorum 2013 wards (a force-wide source
    over one borough: rows outside the layer and unlocated rows nothing places)."""
    root = tmp_path_factory.mktemp("herts-cube") / "store"
    wards = shared_data / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"
    months = shared_data / "police-uk-hertfordshire-street"
    assert main(["--store", str(root), "-q", "boundaries", "add", "ward", str(wards)]) == 0
    assert main(["--store", str(root), "-q", "ingest", "police-uk", str(months)]) == 0
    yield Store(root)
    shutil.rmtree(root, ignore_errors=True)


def test_hertfordshire_months_tables_from_the_cube(herts_months: Store) -> None:
    groups = store_groups(herts_months, Settings().groups())
    first, *others = _all_views(herts_months, groups)
    _same(herts_months, groups, first)
    for opts in others:
        _same(herts_months, groups, opts, per_area=groups[::4])


def test_kept_hertfordshire_store_tables_from_the_cube(tmp_path: Path) -> None:
    store = herts_copy(tmp_path)
    groups = store_groups(store, Settings().groups())
    for layer in store.layer_names():
        last = store.coverage().all_months()[-1]
        opts = ViewOptions(period_end=last, months=6, layer=layer)
        _same(store, groups, opts, per_area=groups[::3])


def test_store_without_a_layer_counts_every_incident_from_the_cube(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    january = [{"x": 500000.0}, {"x": np.nan}, {"x": 500050.0, "category": "Robbery"}]
    _write(store, _rows("jan.csv", "2021-01", january), "jan.csv")
    _write(store, _rows("feb.csv", "2021-02", [{"x": 500001.0}]), "feb.csv")
    robbery = CategoryGroup("Robbery", (Selector("Robbery"),))
    opts = ViewOptions(period_end="2021-02", months=1)
    back = tables.looking_back(store, [BURGLARY, robbery], opts)
    assert back.layer is None
    assert back.table[["previous", "current"]].astype(int).values.tolist() == [[2, 1], [1, 0]]
    _same(store, [BURGLARY, robbery], opts)
