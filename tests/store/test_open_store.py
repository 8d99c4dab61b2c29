"""The open store: GeoParquet partitions that GIS tools read, one published version in view,
stores of the older layout opened and moved on the next write."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import shapely
from pyproj import CRS

from geo_service.store import FileRecord, Store
from geo_service.store.layout import read_partition, version_path, view_target
from geo_service.store.repair import repair_store
from geo_service.store.verify import check_store, kept_versions
from tests.store.conftest import canonical

NO_REJECTS = pd.DataFrame({"file": [], "line": []})
#: A store of the layout before ``_versions`` (see tests/store/data/README.md): 9 incidents.
STORE_V1 = Path(__file__).parent / "data" / "store_v1"
REPO = Path(__file__).resolve().parents[2]


def _write(
    store: Store, name: str, month: str, points: list[tuple[float, float] | None], **areas: str
) -> None:
    frame = canonical(
        [
            {"incident_id": f"{name}:{n}", "month": month, "source_file": name,
             "x": p[0] if p else np.nan, "y": p[1] if p else np.nan}
            for n, p in enumerate(points)
        ]
    ).assign(**areas)  # fmt: skip
    sha = f"sha-{name}-{len(points)}"
    record = FileRecord(f"/in/{name}", name, "police_uk", sha, len(frame), 0, 0, (month,))
    store.write_incidents(frame, [record], rejects=NO_REJECTS, kind="police-uk")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Three versions: January (a point without location), February, then January replaced."""
    store = Store(tmp_path / "store")
    _write(store, "a.csv", "2021-01", [(500000.0, 200000.0), (500001.5, 200002.5), None])
    _write(store, "b.csv", "2021-02", [(501000.0, 200500.0)])
    _write(store, "a.csv", "2021-01", [(500100.0, 200100.0), (500200.0, 200300.0), None, None])
    return store


def _january(store: Store) -> Path:
    return store.root / "incidents" / "source=police_uk" / "month=2021-01" / "part.parquet"


# ------------------------------------------------------------------------------ GeoParquet
def test_partition_is_geoparquet_1_1_with_points_from_x_y(store: Store) -> None:
    geo = json.loads(pq.read_schema(_january(store)).metadata[b"geo"])
    assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
    column = geo["columns"]["geometry"]
    assert column["encoding"] == "WKB" and column["geometry_types"] == ["Point"]
    assert CRS.from_json_dict(column["crs"]).to_epsg() == 27700
    assert column["bbox"] == [500100.0, 200100.0, 500200.0, 200300.0]  # the two located rows
    assert column["covering"]["bbox"] == {
        "xmin": ["bbox", "xmin"], "ymin": ["bbox", "ymin"],
        "xmax": ["bbox", "xmax"], "ymax": ["bbox", "ymax"],
    }  # fmt: skip
    table = pq.read_table(_january(store))
    assert table["geometry"].to_pylist()[:2] == [
        shapely.to_wkb(shapely.Point(500100.0, 200100.0)),
        shapely.to_wkb(shapely.Point(500200.0, 200300.0)),
    ]
    assert table["geometry"].to_pylist()[2:] == [None, None]  # rows without a location
    assert table["bbox"].to_pylist() == [
        {"xmin": 500100.0, "ymin": 200100.0, "xmax": 500100.0, "ymax": 200100.0},
        {"xmin": 500200.0, "ymin": 200300.0, "xmax": 500200.0, "ymax": 200300.0},
        None,
        None,
    ]


def test_a_month_without_any_location_has_no_types_and_no_bbox(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    _write(store, "c.csv", "2021-03", [None, None])
    path = store.root / "incidents" / "source=police_uk" / "month=2021-03" / "part.parquet"
    column = json.loads(pq.read_schema(path).metadata[b"geo"])["columns"]["geometry"]
    assert column["geometry_types"] == [] and "bbox" not in column
    assert pq.read_table(path)["geometry"].null_count == 2


def test_the_store_never_reads_the_geometry_back(store: Store) -> None:
    assert "geometry" not in store.incidents().columns
    assert "geometry" not in read_partition(_january(store)).column_names
    assert "bbox" not in read_partition(_january(store)).column_names


def test_geopandas_reads_the_store_folder_as_points_in_27700(store: Store) -> None:
    gpd = pytest.importorskip("geopandas")
    frame = gpd.read_parquet(store.root / "incidents").sort_values("incident_id")
    assert frame.crs.to_epsg() == 27700
    assert len(frame) == len(store.incidents()) == 5  # the published version only
    located = frame[frame.geometry.notna()]
    assert list(located["incident_id"]) == ["a.csv:0", "a.csv:1", "b.csv:0"]
    np.testing.assert_array_equal(located.geometry.x, located["x"])
    np.testing.assert_array_equal(located.geometry.y, located["y"])
    assert frame.geometry.isna().sum() == 2


# dask-geopandas 0.5 calls reset_index(inplace=True), which pandas 3.1 deprecates.
@pytest.mark.filterwarnings("ignore:The inplace keyword in GeoDataFrame.reset_index")
def test_dask_geopandas_reads_the_store_folder(store: Store) -> None:
    dask_geopandas = pytest.importorskip(
        "dask_geopandas", reason="dask-geopandas is not installed (geo_service[dask])"
    )
    frame = dask_geopandas.read_parquet(store.root / "incidents").compute()
    assert frame.crs.to_epsg() == 27700 and len(frame) == 5
    assert sorted(frame.geometry.dropna().x) == [500100.0, 500200.0, 501000.0]


def test_duckdb_reads_the_geometry_natively_and_counts_one_version(store: Store) -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    glob = f"{store.root}/incidents/**/*.parquet"
    rows = duckdb.sql(
        f"SELECT incident_id, month, ST_AsWKB(geometry), bbox.xmin, typeof(geometry) "
        f"FROM read_parquet('{glob}', hive_partitioning = true) ORDER BY incident_id"
    ).fetchall()
    assert len(rows) == 5  # three versions are kept; only the published one is in view
    assert rows[0][:4] == (
        "a.csv:0", "2021-01", shapely.to_wkb(shapely.Point(500100.0, 200100.0)), 500100.0,
    )  # fmt: skip
    assert rows[0][4].startswith("GEOMETRY") and "27700" in rows[0][4]  # core type, with CRS
    assert [r[2] is None for r in rows] == [False, False, True, True, False]


def test_arrow_dataset_over_the_store_counts_the_published_rows(store: Store) -> None:
    assert len(kept_versions(store.root)) == 3
    dataset = ds.dataset(store.root / "incidents", partitioning="hive")
    assert dataset.count_rows() == len(store.incidents()) == 5
    # Everything under _versions is skipped by Arrow even when pointed at the store itself.
    assert not [f for f in ds.dataset(store.root, format="parquet", exclude_invalid_files=True)
                .files if "_versions" in f]  # fmt: skip


# ------------------------------------------------------------------------ the open view
def test_view_points_at_the_published_version(store: Store) -> None:
    assert view_target(store.root) == store.version() == "v000003"
    assert os.readlink(store.root / "_current") == "_versions/v000003"  # relative: movable
    assert (store.root / "incidents").resolve() == (
        store.root / "_versions" / "v000003" / "incidents"
    )
    moved = Path(shutil.move(store.root, store.root.with_name("moved")))
    assert ds.dataset(moved / "incidents", partitioning="hive").count_rows() == 5


def test_writer_killed_before_the_view_leaves_it_whole_then_repair_points_it(
    store: Store,
) -> None:
    script = (
        "import sys; from tests.store.test_open_store import _write; "
        "from geo_service.store import Store; "
        "_write(Store(sys.argv[1]), 'd.csv', '2021-04', [(502000.0, 201000.0)])"
    )
    env = os.environ | {"GEO_SERVICE_FAULT_AT": "current-replaced", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(store.root)], cwd=REPO, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == -9
    assert Store(store.root).version() == "v000004" and view_target(store.root) == "v000003"
    assert ds.dataset(store.root / "incidents", partitioning="hive").count_rows() == 5
    assert any("open view" in n and "shows v000003" in n for n in check_store(store.root).notes)
    report = repair_store(store.root)
    assert report.clean and any("pointed the open view" in a for a in report.actions)
    assert view_target(store.root) == "v000004"
    assert ds.dataset(store.root / "incidents", partitioning="hive").count_rows() == 6


# --------------------------------------------------------------------------- older layout
def test_a_store_of_the_older_layout_is_read_then_moved_by_the_next_write(
    tmp_path: Path,
) -> None:
    root = shutil.copytree(STORE_V1, tmp_path / "store_v1")
    store = Store(root)
    assert len(store.incidents()) == 9 and version_path(root, "v000007").parent.name == "versions"
    report = check_store(root)
    assert report.clean and any("layout before _versions" in n for n in report.notes)
    assert (
        "geometry"
        not in pq.read_schema(
            root / "versions/v000007/incidents/source=police_uk/month=2021-01/part.parquet"
        ).names
    )  # written before partitions were GeoParquet
    _write(store, "e.csv", "2021-05", [(500250.0, 200500.0)], area_ward="W1", area_district="D1")
    assert not (root / "versions").exists()
    assert sorted(p.name for p in (root / "_versions").iterdir()) == ["v000007", "v000008"]
    assert view_target(root) == "v000008" and len(store.incidents()) == 10
    assert check_store(root).clean and repair_store(root).clean
    gpd = pytest.importorskip("geopandas")
    frame = gpd.read_parquet(root / "incidents")  # the old months were rewritten with points
    assert len(frame) == 10 and frame.crs.to_epsg() == 27700
    assert frame.geometry.isna().sum() == 1  # C4, stored without a location
    assert (gpd.read_parquet(root / "layers" / "ward.parquet")["code"].tolist()) == ["W1", "W2"]


def test_a_copy_that_followed_the_links_is_noted_then_relinked_by_repair(
    store: Store, tmp_path: Path
) -> None:
    root = Path(shutil.copytree(store.root, tmp_path / "copied"))  # links copied as folders
    assert not (root / "incidents").is_symlink() and Store(root).verify() is None
    _write(Store(root), "d.csv", "2021-04", [(502000.0, 201000.0)])
    assert view_target(root) == "v000004"  # the copied _current folder was replaced by a link
    assert ds.dataset(root / "incidents", partitioning="hive").count_rows() == 5  # stale copy
    assert any("incidents/ is a folder" in n for n in check_store(root).notes)
    report = repair_store(root)
    assert report.clean and any("moved incidents/" in a for a in report.actions)
    assert (root / "incidents").is_symlink() and not (root / "layers").exists()  # no layer yet
    assert ds.dataset(root / "incidents", partitioning="hive").count_rows() == 6
    assert not [n for n in check_store(root).notes if "is a folder" in n]


def test_repair_of_an_older_layout_store_publishes_in_the_open_layout(tmp_path: Path) -> None:
    root = Path(shutil.copytree(STORE_V1, tmp_path / "store_v1"))
    (root / "versions/v000007/incidents/source=police_uk/month=2021-03/part.parquet").unlink()
    report = repair_store(root)
    assert report.clean and report.version == "v000008"
    assert [r.split(" ")[0] for r in report.reingest] == [
        "/tmp/oldstore-build/in/v2/2021-03-test-street.csv"
    ]
    assert not (root / "versions").exists() and view_target(root) == "v000008"
    assert len(list((root / "removed").glob("*/versions/v000007/manifest.json"))) == 1
    assert ds.dataset(root / "incidents", partitioning="hive").count_rows() == 7  # 2021-01


def test_repair_of_a_clean_older_layout_store_makes_no_view_of_plain_parquet(
    tmp_path: Path,
) -> None:
    """Its partitions have no point geometry until the next write rewrites them: a view of
    them would hand GIS tools files that geopandas refuses ("Missing geo metadata")."""
    root = Path(shutil.copytree(STORE_V1, tmp_path / "store_v1"))
    report = repair_store(root)
    assert report.clean and report.version == "v000007"
    assert view_target(root) is None
    assert not [p for p in ("_current", "incidents", "layers") if (root / p).is_symlink()]
    assert any("layout before _versions" in n for n in check_store(root).notes)
    _write(
        Store(root), "e.csv", "2021-05", [(500250.0, 200500.0)], area_ward="W1", area_district="D1"
    )
    assert view_target(root) == "v000008" and check_store(root).clean
    gpd = pytest.importorskip("geopandas")
    assert len(gpd.read_parquet(root / "incidents")) == 10


def test_check_notes_a_missing_view_and_repair_links_it(store: Store, tmp_path: Path) -> None:
    """A copy that left the links out (``rsync -r``, an archive without them) is intact, but a
    tool opening <store>/incidents finds nothing: check says so, repair links the view."""
    root = Path(shutil.copytree(store.root, tmp_path / "copied", symlinks=True))
    for name in ("_current", "incidents"):
        (root / name).unlink()
    report = check_store(root)
    missing = [n for n in report.notes if "open view is missing" in n]
    assert report.clean and len(missing) == 1
    assert "(_current, incidents: " in missing[0] and "_versions/v000003/incidents" in missing[0]
    assert repair_store(root).clean and view_target(root) == "v000003"
    assert ds.dataset(root / "incidents", partitioning="hive").count_rows() == 5
    assert not [n for n in check_store(root).notes if "open view is missing" in n]
    assert not [n for n in check_store(store.root).notes if "open view" in n]
