"""The typed manifest: JSON round trip, stores written before it, and the demo flag as data."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import box

from geo_service import ingest
from geo_service.store import (
    Denominators,
    IngestRecord,
    LayerInfo,
    Manifest,
    Partition,
    Store,
    StoredFile,
)
from tests.store.conftest import P_W1, _layer_file, police_row, write_police_csv

#: A store written by the code before the typed manifest (see tests/store/data/README.md).
OLD_STORE = Path(__file__).parent / "data" / "store_v1"
OLD_MANIFEST = OLD_STORE / "versions" / "v000007" / "manifest.json"


@pytest.fixture
def old_store(tmp_path: Path) -> Store:
    """A copy of the old store (tests never write into the repository)."""
    return Store(shutil.copytree(OLD_STORE, tmp_path / "store_v1"))


def _contains(new: Any, old: Any, where: str = "manifest") -> None:
    """Every key and value of ``old`` is in ``new`` (which may hold more keys)."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for key, value in old.items():
            assert key in new, f"{where}.{key} lost"
            _contains(new[key], value, f"{where}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for n, (a, b) in enumerate(zip(new, old, strict=True)):
            _contains(a, b, f"{where}[{n}]")
    else:
        assert new == old, f"{where}: {new!r} != {old!r}"


def test_old_manifest_reads_into_typed_parts() -> None:
    manifest = Manifest.from_json(OLD_MANIFEST.read_text("utf-8"))
    assert manifest.version == 7
    assert [(f.key, f.stored, f.live) for f in manifest.files] == [
        ("2021-01-test-street.csv", 6, True),
        ("2021-03-test-street.csv", 2, False),  # superseded by the v2 file of step 5
        ("2021-01-other.csv", 1, True),  # C2 held, E1 stored
        ("2021-03-test-street.csv", 2, True),
    ]
    first = manifest.files[0]
    assert isinstance(first, StoredFile)
    assert (first.rows, first.rejects, first.duplicates, first.months) == (8, 1, 1, ("2021-01",))
    assert manifest.files[1].superseded_by == manifest.files[3].ingest_id
    assert [i.stored for i in manifest.ingests] == [6, 2, 1, 2]
    assert isinstance(manifest.ingests[0], IngestRecord) and manifest.ingests[0].rejected == 1
    assert manifest.partitions == {
        ("police_uk", "2021-01"): Partition(
            "police_uk", "2021-01", 7, "incidents/source=police_uk/month=2021-01/part.parquet"
        ),
        ("police_uk", "2021-03"): Partition(
            "police_uk", "2021-03", 2, "incidents/source=police_uk/month=2021-03/part.parquet"
        ),
    }
    assert {k: p.rows for k, p in manifest.held.items()} == {("police_uk", "2021-01"): 1}
    ward, district = manifest.layers["ward"], manifest.layers["district"]
    assert ward.denominators == Denominators("/tmp/oldstore-build/in/den.csv", 2, 2, 2)
    assert ward.report is not None and ward.report["code_column"] == "WD13CD"
    assert (ward.features, ward.synthetic, ward.parent_from_filename) == (2, False, False)
    assert (district.dissolved_from, district.area_m2, district.features) == ("ward", 2e6, 1)
    assert district.path is None and district.report is None
    # Not recorded then: the earliest time the manifest holds (its first ingest).
    assert manifest.created_at == manifest.ingests[0].time
    assert not manifest.is_demo()
    assert manifest.months() == ["2021-01", "2021-03"] and manifest.sources() == ["police_uk"]
    assert [f.key for f in manifest.files_by_source()["police_uk"]] == [
        "2021-01-test-street.csv",
        "2021-01-other.csv",
        "2021-03-test-street.csv",
    ]


def test_json_round_trip_keeps_every_old_key_and_value() -> None:
    old = json.loads(OLD_MANIFEST.read_text("utf-8"))
    manifest = Manifest.from_json(OLD_MANIFEST.read_text("utf-8"))
    written = json.loads(manifest.to_json())
    _contains(written, old)
    assert written["layers"]["ward"]["synthetic"] is False  # the one new key of a layer
    assert Manifest.from_json(manifest.to_json()) == manifest


def test_unknown_layer_keys_survive_a_rewrite() -> None:
    data = json.loads(OLD_MANIFEST.read_text("utf-8"))
    data["layers"]["ward"]["source_layer"] = "district_borough_unitary_ward"
    manifest = Manifest.from_json(json.dumps(data))
    assert manifest.layers["ward"].extra == {"source_layer": "district_borough_unitary_ward"}
    again = json.loads(manifest.to_json())
    assert again["layers"]["ward"]["source_layer"] == "district_borough_unitary_ward"


def test_manifest_lacking_a_part_is_refused_with_its_name() -> None:
    data = json.loads(OLD_MANIFEST.read_text("utf-8"))
    del data["partitions"]
    with pytest.raises(ValueError, match="partitions"):
        Manifest.from_json(json.dumps(data))
    with pytest.raises(ValueError):
        Manifest.from_json("[1, 2]")


def test_old_store_opens_reads_and_takes_a_new_ingest(old_store: Store, tmp_path: Path) -> None:
    assert old_store.version() == "v000007"
    frame = old_store.incidents()
    assert len(frame) == 9  # 7 in 2021-01, 2 in 2021-03 (README)
    crimes = sorted(i.removeprefix("police_uk:") for i in frame["incident_id"] if "asb" not in i)
    assert crimes == ["C1", "C2", "C3", "C4", "D1", "D3", "E1"]
    status = old_store.status()
    assert status["layers"]["ward"]["incidents_by_area"] == {"W1": 5, "W2": 2}
    created = old_store.manifest().created_at
    csv = write_police_csv(
        tmp_path / "in" / "2021-04-test-street.csv", [police_row("F1", "2021-04", P_W1, "Arson")]
    )
    summary = ingest.ingest_files(old_store, "police-uk", [csv])
    assert summary.stored == 1
    after = old_store.manifest()
    assert after.version == 8 and after.created_at == created
    assert after.published_at is not None and after.published_at >= str(created)
    old_keys = [f.key for f in Manifest.from_json(OLD_MANIFEST.read_text("utf-8")).files]
    assert [f.key for f in after.files[:4]] == old_keys
    denominators = Denominators("/tmp/oldstore-build/in/den.csv", 2, 2, 2)
    assert after.layers["ward"].denominators == denominators
    assert len(old_store.incidents()) == 10


def test_a_new_store_records_when_it_was_created(tmp_path: Path, ward_file: Path) -> None:
    store = Store(tmp_path / "store")
    assert store.manifest() == Manifest()
    ingest.add_layer(store, "ward", ward_file)
    first = store.manifest()
    assert first.version == 1 and first.created_at == first.published_at is not None
    ingest.add_denominators(store, "ward", _denominators(tmp_path))
    second = store.manifest()
    assert second.version == 2 and second.created_at == first.created_at
    # The layer's record is carried over, with its denominators added.
    assert second.layers["ward"].path == first.layers["ward"].path == str(ward_file)
    assert second.layers["ward"].denominators == Denominators(
        str(tmp_path / "den.csv"), with_population=2, with_households=1, with_parent=0
    )


def _denominators(folder: Path) -> Path:
    path = folder / "den.csv"
    path.write_text("code,population,households\nW1,1000,400\nW2,2000,\n", "utf-8")
    return path


# ------------------------------------------------------------------------------ demo flag
def test_real_wards_in_a_folder_named_synthetic_are_not_the_demo(
    tmp_path: Path, ward_file: Path
) -> None:
    folder = tmp_path / "not-synthetic-data"
    folder.mkdir()
    wards = Path(shutil.copy(ward_file, folder / "synthetic_wards.geojson"))
    store = Store(tmp_path / "store")
    ingest.add_layer(store, "ward", wards)
    assert "synthetic" in str(store.manifest().layers["ward"]).casefold()  # the old text search
    assert not store.is_demo()
    assert store.status()["demo"] is False


def test_layers_written_as_synthetic_make_the_demo(tmp_path: Path, ward_file: Path) -> None:
    store = Store(tmp_path / "store")
    ingest.add_layer(store, "ward", ward_file, synthetic=True)
    assert store.is_demo() and store.status()["demo"] is True
    # Denominators keep the flag (the record is carried over).
    ingest.add_denominators(store, "ward", _denominators(tmp_path))
    assert store.manifest().layers["ward"].synthetic
    # A real layer added beside it is recorded as real; the store still holds the demo.
    real = tmp_path / "real"
    real.mkdir()
    ingest.add_layer(store, "lsoa", shutil.copy(ward_file, real / "lsoa.geojson"))
    layers = store.manifest().layers
    assert (layers["ward"].synthetic, layers["lsoa"].synthetic) == (True, False)
    assert store.is_demo()


def test_layer_dissolved_from_a_synthetic_one_is_synthetic(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    parents = tmp_path / "E07000096_wards.geojson"
    _layer_file(
        parents,
        {"WD13CD": ["W1", "W2"], "WD13NM": ["West", "East"]},
        [box(500000, 200000, 501000, 201000), box(501000, 200000, 502000, 201000)],
    )
    ingest.add_layer(store, "ward", parents, parent_from_filename=True, synthetic=True)
    ingest.dissolve_layer(store, "district", from_layer="ward")
    district = store.manifest().layers["district"]
    assert (district.synthetic, district.dissolved_from, district.features) == (True, "ward", 1)


@pytest.mark.realdata
def test_real_dacorum_wards_under_not_synthetic_data_are_not_the_demo(
    shared_data: Path, tmp_path: Path
) -> None:
    source = shared_data / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    folder = tmp_path / "not-synthetic-data"
    folder.mkdir()
    store = Store(tmp_path / "store")
    ingest.add_layer(store, "ward", shutil.copy(source, folder / source.name))
    assert store.manifest().layers["ward"].features == 25  # Dacorum's 25 wards (SOURCE.md)
    assert not store.is_demo()


def test_layer_info_replace_keeps_the_rest() -> None:
    info = LayerInfo(path="a.geojson", synthetic=True, features=3)
    changed = replace(info, denominators=Denominators("d.csv", 3, 3, 0))
    assert (changed.path, changed.synthetic, changed.features) == ("a.geojson", True, 3)
