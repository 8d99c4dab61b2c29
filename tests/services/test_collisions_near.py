"""Repeat-collision sites over a study layer read the collisions near it, not the store's.

Sites are found among the collisions within ``SITE_REACH_M`` (2 km) of the layer's areas. The
references here are independent of the product's reach test: geopandas' exact distance to the
union of the areas, and ``repeat_locations`` (itself checked against a brute-force greedy in
``tests/analysis/test_repeat_locations.py``) run on the rows so chosen.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from geo_service import schema
from geo_service.analysis.repeat_locations import SITE_REACH_M, repeat_locations
from geo_service.cluster_rules import cluster_rule
from geo_service.services.collisions import collision_sites
from geo_service.services.options import RuleOptions
from geo_service.store import LayerInfo, Store
from geo_service.store.near import NEAR_FILE
from tests.cli.conftest import write_rows
from tests.web.conftest import MemoryStore

X0, Y0 = 500000.0, 200000.0
RTC = schema.ROAD_TRAFFIC_COLLISION
EDINBURGH = "edinburgh-council-collisions-stats19/edinburgh_accidents_2010_2013H1_geocoded.csv"
EDINBURGH_WARDS = "ons-boundaries-uk-geojson/edinburgh/edinburgh_wards.geojson"


def _wards() -> gpd.GeoDataFrame:
    """W1 and W2: 1 km squares side by side from (X0, Y0)."""
    return gpd.GeoDataFrame(
        {"code": ["W1", "W2"], "name": ["West", "East"], "parent": [None, None],
         "population": [np.nan] * 2, "households": [np.nan] * 2},
        geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000)],
        crs=schema.CRS,
    )  # fmt: skip


def _in_areas(frame: pd.DataFrame, areas: gpd.GeoDataFrame, layer: str) -> pd.DataFrame:
    """``area_<layer>``: the code of the area holding each point (geopandas' own join)."""
    points = gpd.GeoDataFrame(
        frame, geometry=gpd.points_from_xy(frame["x"], frame["y"]), crs=areas.crs
    )
    joined = gpd.sjoin(points, areas[["code", "geometry"]], how="left", predicate="within")
    joined = joined[~joined.index.duplicated()]
    return frame.assign(**{schema.area_column(layer): joined["code"].to_numpy()})


def _spot(n: int, x: float, y: float, first: int, severity: str = "Slight") -> list[dict]:
    """``n`` collisions within a few metres of (x, y), one per month from 2012-``first``."""
    return [
        {"x": x + k, "y": y, "month": f"2012-{first + k:02d}", "severity": severity}
        for k in range(n)
    ]


def _collisions() -> pd.DataFrame:
    """Five spots: two in the wards, one 300 m east of W2 (outside, within reach), one 1.5 km
    south (within reach) and one 50 km away; plus 4 unlocated collisions."""
    rows = [
        *_spot(5, X0 + 200, Y0 + 200, 1, "Serious"),
        *_spot(4, X0 + 1500, Y0 + 500, 2),
        *_spot(6, X0 + 2300, Y0 + 500, 1),
        *_spot(4, X0 + 500, Y0 - 1500, 3),
        *_spot(7, X0 + 50000, Y0, 1, "Serious"),
        *({"x": np.nan, "y": np.nan, "month": "2012-05", "severity": "Slight"} for _ in range(4)),
    ]
    frame = pd.DataFrame(rows)
    frame["incident_id"] = [f"rtc:{i:03d}" for i in range(len(frame))]
    frame["occurred_at"] = pd.to_datetime(frame["month"] + "-10")
    return frame.assign(source="rtc", category=RTC)


@pytest.fixture(scope="module")
def near_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("near") / "store")
    store.write_layer("ward", _wards(), info=LayerInfo(path="squares"))
    write_rows(store, _in_areas(_collisions(), _wards(), "ward"), "rtc.csv")
    return store


def _ids(sites: pd.DataFrame) -> list[tuple[str, ...]]:
    """Each site's seed and its other collisions (in any order: the rows may be read in
    another order), sorted."""
    split = (str(ids).split(";") for ids in sites["collision_ids"])
    return sorted((first, *sorted(rest)) for first, *rest in split)


def test_sites_inside_outside_and_far(near_store: Store) -> None:
    """Two sites in the wards, one just across the boundary reported apart, the 50 km spot
    neither read nor reported; counts by hand."""
    result = collision_sites(near_store, RuleOptions("default"), period_end="2012-12",
                             layer="ward")  # fmt: skip
    assert sorted(result.sites["count"]) == [4, 5]
    assert sorted(result.sites["area_code"]) == ["W1", "W2"]
    assert sorted(result.outside["count"]) == [4, 6]  # 300 m east; 1.5 km south
    assert result.outside["area_code"].isna().all()
    # the map draws the collisions read: all located but the 50 km spot
    assert len(result.collisions) == 5 + 4 + 6 + 4
    # severity counts the wards' collisions only: 5 serious (W1) and 4 slight (W2)
    year = result.severity.set_index("severity").iloc[:, -1]
    assert (int(year["Serious"]), int(year["Slight"])) == (5, 4)


def test_kept_file_holds_the_rows_within_reach(near_store: Store) -> None:
    """The kept file: every located collision within 2 km of a ward, by geopandas' distance."""
    collision_sites(near_store, RuleOptions("default"), period_end="2012-12", layer="ward")
    version = near_store.version()
    kept = pd.read_parquet(
        next(near_store.root.glob(f"*/{version}/{NEAR_FILE.format(layer='ward')}"))
    )
    frame = _collisions().dropna(subset=["x"])
    union = _wards().union_all()
    points = zip(frame["x"], frame["y"], strict=True)
    distance = np.array([union.distance(Point(x, y)) for x, y in points])
    assert sorted(kept["incident_id"]) == sorted(frame.loc[distance <= SITE_REACH_M, "incident_id"])


def test_a_far_region_changes_nothing(near_store: Store, tmp_path: Path) -> None:
    """A national store: 2,000 more collisions 100 km away leave every figure unchanged and are
    never kept beside the layer."""
    store = Store(shutil.copytree(near_store.root, tmp_path / "store"))
    opts = RuleOptions("default")
    before = collision_sites(store, opts, period_end="2012-12", layer="ward")
    rng = np.random.default_rng(7)
    far = pd.DataFrame({
        "x": X0 + 100000 + rng.uniform(0, 500, 2000), "y": Y0 + rng.uniform(0, 500, 2000),
        "month": rng.choice([f"2012-{m:02d}" for m in range(1, 8)], 2000), "severity": "Slight",
    })  # fmt: skip
    far["incident_id"] = [f"far:{i}" for i in range(len(far))]
    far["occurred_at"] = pd.to_datetime(far["month"] + "-10")
    write_rows(store, far.assign(source="far", category=RTC, area_ward=None), "far.csv")
    after = collision_sites(store, opts, period_end="2012-12", layer="ward")
    assert _ids(after.sites) == _ids(before.sites) and _ids(after.outside) == _ids(before.outside)
    assert after.severity.equals(before.severity) and after.ksi_trend.equals(before.ksi_trend)
    assert len(after.collisions) == len(before.collisions)
    # without a layer, the whole store is read: the far sites are found
    unbounded = repeat_locations(
        pd.concat([_collisions(), far.assign(source="far", category=RTC)], ignore_index=True),
        rule=cluster_rule("default"), period_end="2012-12",
    )  # fmt: skip
    assert len(unbounded) > len(after.sites) + len(after.outside)


def test_rows_and_kept_file_agree(near_store: Store) -> None:
    """A store that is not kept (read through its rows) gives the kept store's answer."""
    frame = _in_areas(_collisions(), _wards(), "ward")
    memory = MemoryStore(schema.conform(frame).assign(area_ward=frame["area_ward"]),
                         {"ward": _wards()})  # fmt: skip
    opts = RuleOptions("default", radius_m=60.0)
    kept = collision_sites(near_store, opts, period_end="2012-12", layer="ward")
    rows = collision_sites(memory, opts, period_end="2012-12", layer="ward")
    assert _ids(kept.sites) == _ids(rows.sites) and _ids(kept.outside) == _ids(rows.outside)
    assert kept.severity.equals(rows.severity)
    assert sorted(kept.collisions["incident_id"]) == sorted(rows.collisions["incident_id"])


# --- real data: Edinburgh's collisions around three of its wards ---------------------------


@pytest.mark.realdata
def test_edinburgh_sites_near_three_wards(shared_data: Path, tmp_path: Path) -> None:
    """Three central wards of Edinburgh: the sites and the collisions read equal the reference
    (the collisions within 2 km by geopandas' exact distance, then ``repeat_locations``)."""
    raw = pd.read_csv(shared_data / EDINBURGH)
    when = pd.to_datetime(raw["a_date"], format="%d/%m/%Y")
    frame = pd.DataFrame({
        "incident_id": "edinburgh:" + raw["acc_ref"].astype(str), "source": "edinburgh",
        "category": RTC, "month": when.dt.strftime("%Y-%m"), "occurred_at": when,
        "x": raw["easting"].astype(float), "y": raw["northing"].astype(float),
        "severity": raw["severity"],
    })  # fmt: skip
    wards = gpd.read_file(shared_data / EDINBURGH_WARDS).to_crs(schema.CRS)
    code = next(c for c in wards.columns if c.upper().startswith("WD") and c.upper().endswith("CD"))
    name = next(c for c in wards.columns if c.upper().startswith("WD") and c.upper().endswith("NM"))
    wards = wards.rename(columns={code: "code", name: "name"}).sort_values("code")
    central = (
        wards.iloc[:3][["code", "name", "geometry"]]
        .assign(parent=None, population=np.nan, households=np.nan)
        .reset_index(drop=True)
    )
    store = Store(tmp_path / "store")
    store.write_layer("ward", central, info=LayerInfo(path="edinburgh_wards.geojson"))
    write_rows(store, _in_areas(frame, central, "ward"), "edinburgh.csv")

    result = collision_sites(store, RuleOptions("default"), period_end="2013-06", layer="ward")

    union = central.union_all()
    located = frame.dropna(subset=["x", "y"])
    distance = gpd.GeoSeries(gpd.points_from_xy(located.x, located.y)).distance(union).to_numpy()
    # collisions lie near the 2 km line, where a grown polygon alone would misjudge them
    assert ((distance > SITE_REACH_M - 5) & (distance < SITE_REACH_M + 5)).any()
    near = located.loc[distance <= SITE_REACH_M]
    reference = repeat_locations(near, rule=cluster_rule("default"), period_end="2013-06",
                                 areas=central)  # fmt: skip
    inside = reference["area_code"].notna()
    assert _ids(result.sites) == _ids(reference.loc[inside])
    assert _ids(result.outside) == _ids(reference.loc[~inside])
    assert len(result.sites) > 5 and len(near) < len(located) / 2  # most of the city not read
    window = near.loc[near["month"] >= "2010-07"]
    assert sorted(result.collisions["incident_id"]) == sorted(window["incident_id"])


def _damaged(path: Path, how: str) -> None:
    """Damage a kept file so that it still reads as Parquet: 16 bytes flipped inside a data
    page where a plain read (no page checksums) gives other values without an error, or half
    its rows written back with the original metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if how == "halved":
        half = table.slice(0, table.num_rows // 2)
        pq.write_table(half.replace_schema_metadata(table.schema.metadata), path)
        return
    original = path.read_bytes()
    group = pq.ParquetFile(path).metadata.row_group(0)
    for i in range(group.num_columns):
        column = group.column(i)
        for start in range(column.data_page_offset, column.data_page_offset
                           + column.total_compressed_size - 16, 4):  # fmt: skip
            data = bytearray(original)
            data[start : start + 16] = bytes(b ^ 0xFF for b in data[start : start + 16])
            path.write_bytes(bytes(data))
            try:
                if not pq.read_table(path).equals(table):
                    return  # read without complaint, with other values
            except (OSError, pa.ArrowException):
                pass
    raise AssertionError("no silent damage found")


@pytest.mark.parametrize("how", ["flipped", "halved"])
def test_a_damaged_kept_file_is_built_again_never_trusted(
    near_store: Store, tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Damage that leaves a valid Parquet file (a trial's case: 64 bytes flipped gave wrong
    dates, silently, and the next version reused them) is caught: the file is built again, and
    a later version does not reuse it."""
    store = Store(shutil.copytree(near_store.root, tmp_path / "store"))
    opts = RuleOptions("default")
    before = collision_sites(store, opts, period_end="2012-12", layer="ward")
    kept = next(store.root.glob(f"*/{store.version()}/{NEAR_FILE.format(layer='ward')}"))
    _damaged(kept, how)
    caplog.set_level("INFO", logger="geo_service.store.near")
    again = collision_sites(store, opts, period_end="2012-12", layer="ward")
    assert _ids(again.sites) == _ids(before.sites) and _ids(again.outside) == _ids(before.outside)
    assert again.sites["by_year"].tolist() == before.sites["by_year"].tolist()
    assert "0 partition(s) reused from an earlier version, 7 read" in caplog.text
    # damaged again, then a new version: its file is read afresh, not reused from the damage
    _damaged(kept, how)
    caplog.clear()
    crime = pd.DataFrame({"month": ["2012-08"], "x": [np.nan], "y": [np.nan],
                          "incident_id": ["crime:1"], "source": "police_uk",
                          "category": "Burglary", "area_ward": [None]})  # fmt: skip
    write_rows(store, crime, "crime.csv")
    later = collision_sites(store, opts, period_end="2012-12", layer="ward")
    assert _ids(later.sites) == _ids(before.sites)
    assert "0 partition(s) reused from an earlier version, 7 read" in caplog.text


def test_ksi_trend_of_a_layer_without_collisions_is_zeros_for_the_years_held(
    tmp_path: Path,
) -> None:
    """A layer 20 km from every collision: its severity table and its KSI trend both count 0
    for every year the data holds (before, the trend was empty while the table said 0)."""
    store = Store(tmp_path / "store")
    away = _wards().assign(geometry=_wards().translate(20000, 0).geometry)
    store.write_layer("ward", away, info=LayerInfo(path="squares"))
    months = [f"{y}-{m:02d}" for y in (2011, 2012) for m in range(1, 13)]
    rows = pd.DataFrame({"month": months, "x": X0 + 100.0, "y": Y0 + 100.0, "severity": "Serious"})
    rows["incident_id"] = [f"rtc:{m}" for m in months]
    rows["occurred_at"] = pd.to_datetime(rows["month"] + "-10")
    write_rows(store, rows.assign(source="rtc", category=RTC, area_ward=None), "rtc.csv")
    result = collision_sites(store, RuleOptions("default"), period_end="2012-12", layer="ward")
    assert result.sites.empty and result.outside.empty and result.collisions.empty
    assert result.ksi_trend["year"].tolist() == [2011, 2012]
    assert (result.ksi_trend.drop(columns="year").to_numpy() == 0).all()
    assert result.severity.set_index("severity").loc["Grand Total"].tolist()[-2:] == [0, 0]
