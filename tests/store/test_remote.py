"""Reading a published store through fsspec: a file:// URL and the in-memory file system."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from geo_service.errors import InputError, NotFoundError, StoreDamagedError
from geo_service.store import LayerInfo, Store
from geo_service.store.remote import StoreReader
from tests.store.test_open_store import _write

fsspec = pytest.importorskip("fsspec", reason="fsspec is not installed")


@pytest.fixture
def local(tmp_path: Path) -> Store:
    """Two months and a ward layer; January replaced once, so two versions are kept."""
    gpd = pytest.importorskip("geopandas")
    from shapely.geometry import box

    store = Store(tmp_path / "store")
    wards = gpd.GeoDataFrame(
        {"code": ["W1"], "name": ["West"], "parent": [None], "population": [100.0],
         "households": [40.0]},
        geometry=[box(500000, 200000, 501000, 201000)], crs="EPSG:27700",
    )  # fmt: skip
    store.write_layer("ward", wards, info=LayerInfo(), assign=lambda f, _: f.assign(area_ward="W1"))
    _write(store, "a.csv", "2021-01", [(500100.0, 200100.0), None], area_ward="W1")
    _write(store, "b.csv", "2021-02", [(500200.0, 200200.0)], area_ward="W1")
    _write(store, "a.csv", "2021-01", [(500300.0, 200300.0)], area_ward="W1")
    return store


@pytest.fixture
def memory(local: Store) -> Iterator[str]:
    """The local store uploaded to the in-memory file system as an object store holds it:
    CURRENT and the versions (object stores have no symbolic links, so no open view)."""
    fs = fsspec.filesystem("memory")
    root = f"/store-{uuid.uuid4().hex}"
    for path in sorted((local.root / "_versions").rglob("*")):
        if path.is_file():
            fs.pipe(f"{root}/{path.relative_to(local.root).as_posix()}", path.read_bytes())
    fs.pipe(f"{root}/CURRENT", (local.root / "CURRENT").read_bytes())
    yield f"memory://{root}"
    fs.rm(root, recursive=True)


def test_file_url_reads_what_the_store_reads(local: Store) -> None:
    reader = StoreReader(f"file://{local.root}")
    assert reader.version() == local.version() == "v000004"
    assert reader.manifest() == local.manifest()
    pd.testing.assert_frame_equal(reader.incidents(), local.incidents())
    assert sorted(reader.incidents()["incident_id"]) == ["a.csv:0", "b.csv:0"]
    pd.testing.assert_frame_equal(reader.layer("ward"), local.layer("ward"))


def test_memory_store_reads_filtered_incidents_and_layers(local: Store, memory: str) -> None:
    reader = StoreReader(memory)
    assert reader.version() == "v000004"
    february = reader.incidents(month_from="2021-02", columns=["incident_id", "x", "area_ward"])
    pd.testing.assert_frame_equal(
        february, local.incidents(month_from="2021-02", columns=["incident_id", "x", "area_ward"])
    )
    assert february.to_dict("records") == [
        {"incident_id": "b.csv:0", "x": 500200.0, "area_ward": "W1"}
    ]
    assert len(reader.incidents(categories=["Drugs"])) == 0
    assert list(reader.layer("ward")["code"]) == ["W1"] and reader.layer("ward").crs == 27700
    with pytest.raises(NotFoundError, match=r"no area layer 'beat'.*available: ward"):
        reader.layer("beat")
    with pytest.raises(InputError, match="unknown column"):
        reader.incidents(columns=["geometry"])


def test_memory_store_damage_is_refused_naming_the_file(memory: str) -> None:
    fs = fsspec.filesystem("memory")
    root = memory.removeprefix("memory://")
    part = f"{root}/_versions/v000004/incidents/source=police_uk/month=2021-02/part.parquet"
    data = fs.cat_file(part)
    fs.pipe(part, data[:-28] + bytes(20) + data[-8:])  # same size, footer bytes changed
    with pytest.raises(StoreDamagedError, match=r"month=2021-02/part\.parquet has changed"):
        StoreReader(memory).incidents()
    fs.pipe(part, data)
    fs.pipe(f"{root}/_versions/v000004/incidents/source=police_uk/month=2021-02/x.parquet", data)
    with pytest.raises(StoreDamagedError, match=r"x.parquet is not in the manifest"):
        StoreReader(memory).version()


def test_an_empty_location_reads_as_an_empty_store() -> None:
    reader = StoreReader(f"memory:///empty-{uuid.uuid4().hex}")
    assert reader.version() is None and len(reader.incidents()) == 0


def test_store_takes_a_file_url_and_works_on_another_file_system_in_a_working_copy(
    local: Store, memory: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Store(f"file://{local.root}").version() == "v000004"
    monkeypatch.setenv("GEO_SERVICE_STAGING", str(tmp_path / "copies"))
    remote = Store(memory)  # the published version brought into a local working copy
    assert remote.root.parent == tmp_path / "copies" and remote.version() == "v000004"
    pd.testing.assert_frame_equal(remote.incidents(), local.incidents())
    with pytest.raises(InputError, match=r"no fsspec file system for nosuchfs://"):
        Store("nosuchfs://x")
