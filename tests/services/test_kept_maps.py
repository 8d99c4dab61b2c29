"""A category's hotspot maps kept beside a store version: equal to freshly drawn ones in every
feature, column type, note, surface and grid; read back by a fresh opening without drawing;
drawn again when edited or of other inputs."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from geo_service.config import Settings
from geo_service.services import context, kept_maps
from geo_service.services.hotspots import category_hotspots
from geo_service.services.options import ViewOptions
from geo_service.store import Store
from geo_service.store.layout import version_path


@pytest.fixture
def store(demo_store: Store, tmp_path: Path) -> Store:
    """A copy of the demo store without kept maps (the shared one's pages keep theirs)."""
    root = tmp_path / "store"
    shutil.copytree(demo_store.root, root, symlinks=True)
    copy = Store(root)
    for path in _files(copy):
        path.unlink()
    return copy


def _files(store: Store) -> list[Path]:
    folder = version_path(store.root, str(store.version()))
    return sorted(folder.glob(kept_maps.HOTSPOTS_FILE.format(key="*")))


def _inputs(store: Store):
    groups = context.page_groups(Settings().groups(), context.store_summary(store).categories)
    group = context.resolve_group(groups, "Burglary")
    return groups, group, ViewOptions(period_end=store.months()[-1], layer="beat")


def _assert_same_grid(got, want) -> None:
    assert (got.x0, got.y0, got.cell_m, got.nx, got.ny) == (
        want.x0, want.y0, want.cell_m, want.nx, want.ny,
    )  # fmt: skip
    assert np.array_equal(got.inside, want.inside)


def _assert_same(found, fresh) -> None:
    _assert_same_grid(found.grid, fresh.grid)
    for name in kept_maps.MAPS:
        got, want = getattr(found, name), getattr(fresh, name)
        assert (got is None) == (want is None), name
        if want is None:
            continue
        assert got.method == want.method and got.accuracy == want.accuracy
        assert got.meta == want.meta
        # in the same order too: the map's GeoJSON prints its notes in this order
        assert list(got.meta) == list(want.meta), name
        pd.testing.assert_frame_equal(
            pd.DataFrame(got.frame.drop(columns="geometry")),
            pd.DataFrame(want.frame.drop(columns="geometry")),
            check_exact=True,
        )
        assert got.frame.crs == want.frame.crs
        assert got.frame.geometry.geom_equals_exact(want.frame.geometry, tolerance=0).all()
        _assert_same_grid(got.grid, want.grid)
        for array in ("surface", "previous_surface", "breaks"):
            a, b = getattr(got, array), getattr(want, array)
            assert (a is None and b is None) or np.array_equal(a, b), (name, array)


def test_kept_maps_equal_fresh_ones_and_are_read_back_without_drawing(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    groups, group, opts = _inputs(store)
    fresh = category_hotspots(store, groups, group, opts)
    assert all(getattr(fresh, m) is not None for m in kept_maps.MAPS)  # all four kept here
    assert fresh.kde is not None and fresh.kde.surface is not None and len(fresh.dbscan.frame)
    first = kept_maps.kept_category_hotspots(store, groups, group, opts)
    _assert_same(first, fresh)
    assert len(_files(store)) == 1
    calls: list[int] = []
    monkeypatch.setattr(kept_maps, "category_hotspots", lambda *a: calls.append(1))
    again = kept_maps.kept_category_hotspots(Store(store.root), groups, group, opts)
    assert calls == []
    _assert_same(again, fresh)
    # the print layout draws the same maps: the same file
    kept_maps.kept_category_hotspots(store, groups, group, replace(opts, print_view=True))
    assert calls == [] and len(_files(store)) == 1
    # clipped to one beat, as the area page does, the kept maps give the same features
    beat = store.layer("beat").iloc[[0]]
    _assert_same(again.clipped(beat), fresh.clipped(beat))


def test_other_options_are_another_file(store: Store) -> None:
    groups, group, opts = _inputs(store)
    kept_maps.kept_category_hotspots(store, groups, group, opts)
    shorter = replace(opts, months=6)
    found = kept_maps.kept_category_hotspots(store, groups, group, shorter)
    _assert_same(found, category_hotspots(store, groups, group, shorter))
    assert len(_files(store)) == 2


def test_an_edited_kept_map_is_drawn_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    groups, group, opts = _inputs(store)
    fresh = kept_maps.kept_category_hotspots(store, groups, group, opts)
    (path,) = _files(store)
    frame = pq.read_table(path).to_pandas()
    original = frame["hotspots"].iloc[0]
    # the notes are kept as JSON text inside the kept JSON: their quotes are escaped
    edited = frame["hotspots"].str.replace(
        r"\"incidents\": ", r"\"incidents\": 1", n=1, regex=False
    )
    frame["hotspots"] = edited
    assert frame["hotspots"].iloc[0] != original  # a figure edited, the inputs untouched
    frame.to_parquet(path, index=False)
    calls: list[int] = []
    real = kept_maps.category_hotspots
    monkeypatch.setattr(kept_maps, "category_hotspots", lambda *a: calls.append(1) or real(*a))
    _assert_same(kept_maps.kept_category_hotspots(Store(store.root), groups, group, opts), fresh)
    assert calls == [1]
    assert pq.read_table(path).to_pandas()["hotspots"].iloc[0] == original
