"""Backtests kept beside a store version: equal to a fresh computation, read back by a fresh
opening without re-running, computed again when stale, edited or damaged, never hiding a
damaged store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from geo_service.config import Settings
from geo_service.errors import StoreDamagedError
from geo_service.services import kept
from geo_service.services import patrol as patrol_mod
from geo_service.services.evaluation import evaluate, forecast_backtest
from geo_service.services.options import EvaluateOptions
from geo_service.services.patrol import PatrolOptions, patrol_zones
from geo_service.store import Store
from geo_service.store.layout import version_path

OPTS = EvaluateOptions(category="Burglary", coverages=(1.0, 5.0, 10.0))


@pytest.fixture
def store(demo_store: Store, tmp_path: Path) -> Store:
    """A copy of the demo store without kept backtests or accuracies (pages served from the
    shared store keep theirs there); the kept files written here never reach the shared one."""
    root = tmp_path / "store"
    shutil.copytree(demo_store.root, root, symlinks=True)
    copy = Store(root)
    folder = version_path(root, str(copy.version()))
    for pattern in (kept.BACKTEST_FILE, kept.ACCURACY_FILE, kept.PATROL_FILE):
        for path in folder.glob(pattern.format(key="*")):
            path.unlink()
    return copy


@pytest.fixture(scope="module")
def groups():
    return Settings().groups()


def _kept_files(store: Store) -> list[Path]:
    return sorted((version_path(store.root, str(store.version()))).glob("backtest-*.parquet"))


def _assert_same(found, fresh) -> None:
    assert (found.category, found.cell_m, found.first_origin, found.last_origin) == (
        fresh.category, fresh.cell_m, fresh.first_origin, fresh.last_origin,
    )  # fmt: skip
    assert found.horizon_months == fresh.horizon_months
    assert found.default == fresh.default
    pd.testing.assert_frame_equal(found.forecast_summary, fresh.forecast_summary, check_exact=True)


def _no_computing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = kept.forecast_backtest
    monkeypatch.setattr(kept, "forecast_backtest", lambda *a: calls.append(1) or real(*a))
    return calls


def test_forecast_backtest_is_the_evaluations_forecast_part(demo_store: Store, groups) -> None:
    full = evaluate(demo_store, groups, OPTS)
    part = forecast_backtest(demo_store, groups, OPTS)
    assert part.default == full.default and part.cell_m == full.cell_m
    assert (part.first_origin, part.last_origin) == (full.first_origin, full.last_origin)
    assert full.forecast_summary is not None
    pd.testing.assert_frame_equal(part.forecast_summary, full.forecast_summary, check_exact=True)


def test_kept_backtest_equals_a_fresh_one_and_is_read_back_without_computing(
    store: Store, groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = forecast_backtest(store, groups, OPTS)
    first = kept.kept_forecast_backtest(store, groups, OPTS)
    _assert_same(first, fresh)
    assert len(_kept_files(store)) == 1
    calls = _no_computing(monkeypatch)
    again = kept.kept_forecast_backtest(Store(store.root), groups, OPTS)  # a fresh process
    assert calls == []
    _assert_same(again, fresh)
    # other options are another file, not the same one read
    kept.kept_forecast_backtest(store, groups, EvaluateOptions(category="Burglary", cell_m=250.0))
    assert calls == [1] and len(_kept_files(store)) == 2


def test_patrol_zones_from_a_kept_backtest_equal_fresh_ones(store: Store, groups) -> None:
    opts = PatrolOptions(category="Burglary")
    computing = patrol_zones(store, groups, opts)  # computes and keeps the backtest
    reading = patrol_zones(Store(store.root), groups, opts)  # reads it back
    assert computing.statement() == reading.statement()
    assert (computing.hit_rate, computing.baseline, computing.origins) == (
        reading.hit_rate, reading.baseline, reading.origins,
    )  # fmt: skip
    pd.testing.assert_frame_equal(
        pd.DataFrame(computing.zones.drop(columns="geometry")),
        pd.DataFrame(reading.zones.drop(columns="geometry")),
    )
    assert computing.zones.geometry.equals(reading.zones.geometry)


def test_an_edited_kept_file_is_computed_again(
    store: Store, groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = kept.kept_forecast_backtest(store, groups, OPTS)
    (path,) = _kept_files(store)
    frame = pq.read_table(path).to_pandas()
    frame.loc[0, "hit_rate"] = 0.99  # a figure edited, the inputs untouched
    frame.to_parquet(path, index=False)
    calls = _no_computing(monkeypatch)
    _assert_same(kept.kept_forecast_backtest(Store(store.root), groups, OPTS), fresh)
    assert calls == [1]
    assert pq.read_table(path).to_pandas()["hit_rate"].iloc[0] != 0.99  # replaced


def test_a_kept_file_of_other_inputs_is_computed_again(
    store: Store, groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = kept.kept_forecast_backtest(store, groups, OPTS)
    (path,) = _kept_files(store)
    frame = pq.read_table(path).to_pandas()
    # as if computed for another manifest (another version's file put in this one's place)
    frame["meta"] = frame["meta"].str.replace('"manifest": "', '"manifest": "0', regex=False)
    frame.to_parquet(path, index=False)
    calls = _no_computing(monkeypatch)
    _assert_same(kept.kept_forecast_backtest(Store(store.root), groups, OPTS), fresh)
    assert calls == [1]


def test_a_damaged_kept_file_is_computed_again(
    store: Store, groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = kept.kept_forecast_backtest(store, groups, OPTS)
    (path,) = _kept_files(store)
    path.write_bytes(b"not parquet")
    calls = _no_computing(monkeypatch)
    _assert_same(kept.kept_forecast_backtest(Store(store.root), groups, OPTS), fresh)
    assert calls == [1] and pq.read_table(path).num_rows == len(fresh.forecast_summary)


def test_a_new_version_computes_its_own(store: Store, groups) -> None:
    kept.kept_forecast_backtest(store, groups, OPTS)
    old = _kept_files(store)
    name = store.layer_names()[0]
    layer = store.layer(name)
    # the same layer written again: a new version, whose manifest differs
    store.write_layer(name, layer, info=store.manifest().layers[name])
    kept.kept_forecast_backtest(store, groups, OPTS)
    new = _kept_files(store)
    assert len(new) == 1 and new[0].parent != old[0].parent
    assert new[0].name != old[0].name  # the manifest differs, so the key does


def test_a_damaged_store_gives_its_usual_error_despite_a_kept_file(store: Store, groups) -> None:
    patrol_zones(store, groups, PatrolOptions(category="Burglary"))
    assert _kept_files(store)
    manifest = store.manifest()
    part = next(iter(manifest.partitions.values()))
    path = version_path(store.root, str(store.version())) / part.path
    path.write_bytes(path.read_bytes()[:-100])  # cut short
    with pytest.raises(StoreDamagedError):
        patrol_zones(Store(store.root), groups, PatrolOptions(category="Burglary"))


def test_a_store_that_cannot_be_written_is_only_read(
    store: Store, groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = forecast_backtest(store, groups, OPTS)

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError("read-only store")

    monkeypatch.setattr(pq, "write_table", refuse)
    _assert_same(kept.kept_forecast_backtest(store, groups, OPTS), fresh)
    assert _kept_files(store) == []


def _accuracy_files(store: Store) -> list[Path]:
    return sorted((version_path(store.root, str(store.version()))).glob("accuracy-*.parquet"))


def test_kept_hotspot_accuracy_equals_a_fresh_one_and_is_read_back_without_computing(
    store: Store, groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo_service.services import hotspots
    from geo_service.services.options import HotspotOptions

    opts = HotspotOptions(category="Burglary", method="kde", accuracy=True)
    fresh = hotspots.hotspot_map(store, groups, opts)  # computes and keeps it
    # the same map on a store that keeps nothing: the backtest itself
    monkeypatch.setattr(kept, "_version_dir", lambda _store: None)
    reference = hotspots.hotspot_map(store, groups, opts)
    monkeypatch.undo()
    assert fresh.meta["accuracy"] is not None
    assert fresh.meta["accuracy"] == reference.meta["accuracy"]
    (path,) = _accuracy_files(store)
    calls: list[int] = []
    real = hotspots._accuracy
    monkeypatch.setattr(hotspots, "_accuracy", lambda *a: calls.append(1) or real(*a))
    again = hotspots.hotspot_map(Store(store.root), groups, opts)  # a fresh process
    assert calls == [] and again.meta["accuracy"] == reference.meta["accuracy"]
    # an edited figure is not believed: computed again and replaced
    frame = pq.read_table(path).to_pandas()
    frame["accuracy"] = frame["accuracy"].str.replace(
        '"hit_rate": 0.', '"hit_rate": 0.9', regex=False
    )
    assert "0.9" in frame["accuracy"].iloc[0]
    frame.to_parquet(path, index=False)
    edited = hotspots.hotspot_map(Store(store.root), groups, opts)
    assert calls == [1] and edited.meta["accuracy"] == reference.meta["accuracy"]
    # another period is another file
    hotspots.hotspot_map(Store(store.root), groups, HotspotOptions(
        category="Burglary", method="kde", accuracy=True, months=6,
    ))  # fmt: skip
    assert calls == [1, 1] and len(_accuracy_files(store)) == 2


def _patrol_files(store: Store) -> list[Path]:
    folder = version_path(store.root, str(store.version()))
    return sorted(folder.glob(kept.PATROL_FILE.format(key="*")))


def _assert_same_zones(found, fresh) -> None:
    for name in fresh.__dataclass_fields__:
        if name not in ("zones", "levels"):
            assert getattr(found, name) == getattr(fresh, name), name
    for got, want in ((found.zones, fresh.zones), (found.levels, fresh.levels)):
        pd.testing.assert_frame_equal(
            pd.DataFrame(got.drop(columns="geometry")),
            pd.DataFrame(want.drop(columns="geometry")),
            check_exact=True,
        )
        assert got.crs == want.crs
        assert got.geometry.geom_equals_exact(want.geometry, tolerance=0).all()


def test_kept_patrol_zones_equal_fresh_ones_and_are_read_without_computing(
    store: Store, groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    opts = PatrolOptions(category="Burglary", coverage=10.0)
    fresh = patrol_mod._computed_zones(store, groups, opts)
    assert len(fresh.zones) > 1  # the demo's burglary has several zones to keep
    assert _patrol_files(store) == []
    first = patrol_zones(store, groups, opts)
    _assert_same_zones(first, fresh)
    assert len(_patrol_files(store)) == 1
    calls: list[int] = []
    monkeypatch.setattr(patrol_mod, "_computed_zones", lambda *a: calls.append(1))
    again = patrol_zones(Store(store.root), groups, opts)  # a fresh process
    assert calls == []
    _assert_same_zones(again, fresh)
    # narrowed to one beat, as the area page does, the kept zones give the same answer
    beat = store.layer("beat").iloc[[0]]
    _assert_same_zones(again.within(beat), fresh.within(beat))


def test_kept_patrol_zones_are_computed_again_when_a_reference_layer_is_added(
    store: Store, groups, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import geopandas as gpd
    from shapely.geometry import LineString

    from geo_service.reference import add_reference

    opts = PatrolOptions(category="Burglary")
    before = patrol_zones(store, groups, opts)
    zone = before.zones.geometry.iloc[0]
    # a road through the first zone's middle: its name must appear once the layer is added
    x, y = zone.representative_point().coords[0]
    roads = gpd.GeoDataFrame(
        {"name": ["Kept Test Road"], "ref": [""]},
        geometry=[LineString([(x - 30, y), (x + 30, y)])],
        crs="EPSG:27700",
    )
    roads.to_file(tmp_path / "roads.gpkg")
    add_reference(store.root, "roads", tmp_path / "roads.gpkg")
    after = patrol_zones(Store(store.root), groups, opts)
    assert "Kept Test Road" not in before.zones["names"].iloc[0]
    assert "Kept Test Road" in after.zones["names"].iloc[0]
    assert len(_patrol_files(store)) == 2  # one per set of reference layers


def test_an_edited_kept_patrol_file_is_computed_again(store: Store, groups) -> None:
    opts = PatrolOptions(category="Burglary")
    fresh = patrol_zones(store, groups, opts)
    (path,) = _patrol_files(store)
    frame = pq.read_table(path).to_pandas()
    original = frame["patrol"].iloc[0]
    frame["patrol"] = frame["patrol"].str.replace('"hit_rate": 0.', '"hit_rate": 0.9', regex=False)
    assert frame["patrol"].iloc[0] != original  # a figure edited, the inputs untouched
    frame.to_parquet(path, index=False)
    _assert_same_zones(patrol_zones(Store(store.root), groups, opts), fresh)
    assert pq.read_table(path).to_pandas()["patrol"].iloc[0] != frame["patrol"].iloc[0]


def test_a_read_only_store_computes_and_answers_without_keeping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import os

    from geo_service.store import status

    def read_only(*_args, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    # on a read-only mount both the staged write and the clean-up after it fail
    monkeypatch.setattr(status.pq, "write_table", read_only)
    monkeypatch.setattr(Path, "unlink", read_only)
    frame = pd.DataFrame({"n": [1, 2]})
    target = tmp_path / "kept.parquet"
    got = status.kept_table(target, lambda kept: True, lambda: frame)
    assert got is frame and not target.exists() and os.listdir(tmp_path) == []
