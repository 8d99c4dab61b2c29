"""Tests for geo_service.join: one area per incident and layer, deterministic on shared edges."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service import join
from geo_service.boundaries import read_layer
from geo_service.errors import InputError
from geo_service.join import JoinReport, LayerJoin, assign_areas, locate_xy, lsoa_lookup
from geo_service.projection import to_bng

ONS = "ons-boundaries-uk-geojson"
POLICE = "police-uk-hertfordshire-street"


def layer_of(codes: list[str], boxes: list[tuple[float, float, float, float]]) -> gpd.GeoDataFrame:
    """A standard area layer of axis-aligned boxes (minx, miny, maxx, maxy) in EPSG:27700."""
    return gpd.GeoDataFrame(
        {
            "code": pd.array(codes, dtype="str"),
            "name": pd.array(codes, dtype="str"),
            "parent": pd.array([None] * len(codes), dtype="str"),
            "population": np.nan,
            "households": np.nan,
        },
        geometry=[shapely.box(*b) for b in boxes],
        crs=27700,
    )


def incidents(xy: list[tuple[float, float]], lsoa: list[str | None] | None = None) -> pd.DataFrame:
    x, y = (np.array(v, dtype=float) for v in zip(*xy, strict=True))
    frame = pd.DataFrame({"x": x, "y": y, "category": "Burglary"})
    if lsoa is not None:
        frame["lsoa_code"] = pd.array(lsoa, dtype="str")
    return frame


@pytest.fixture(autouse=True, params=["tested", "grid"])
def search(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run every test twice: points tested one by one, and placed through the interior grid."""
    if request.param == "grid":
        monkeypatch.setattr(join, "_GRID_FROM_POINTS", 0)
    else:
        monkeypatch.setattr(join, "_GRID_FROM_POINTS", 10**12)
    return str(request.param)


@pytest.fixture
def two_squares() -> gpd.GeoDataFrame:
    # "W2" on the left, "W1" on the right: file order is not code order on purpose
    return layer_of(["W2", "W1"], [(0, 0, 10, 10), (10, 0, 20, 10)])


# ------------------------------------------------------------------------------- edge rules
def test_points_inside_on_edges_and_outside(two_squares: gpd.GeoDataFrame) -> None:
    points = [
        (5, 5),  # inside W2
        (15, 5),  # inside W1
        (10, 5),  # on the shared edge: lowest code W1
        (10, 10),  # on the shared vertex: W1
        (0, 5),  # on W2's outer edge only: W2
        (0, 0),  # W2's outer vertex
        (20, 10),  # W1's outer vertex
        (25, 5),  # outside both
        (np.nan, np.nan),  # no location, no LSOA
    ]
    out, report = assign_areas(incidents(points), {"ward": two_squares})
    expected = ["W2", "W1", "W1", "W1", "W2", "W2", "W1", "", ""]
    assert out["area_ward"].fillna("").tolist() == expected
    assert report["ward"] == LayerJoin(
        layer="ward",
        located_inside=7,
        located_outside=1,
        on_boundary=5,
        allocated_by_lsoa=0,
        unallocated=1,
    )


def test_result_does_not_depend_on_layer_row_order(two_squares: gpd.GeoDataFrame) -> None:
    rng = np.random.default_rng(7)
    # points on a 0.5 m lattice, so many fall exactly on the edges
    xy = list(zip(rng.integers(-2, 44, 500) / 2, rng.integers(-2, 22, 500) / 2, strict=True))
    forward, _ = assign_areas(incidents(xy), {"ward": two_squares})
    backward, _ = assign_areas(incidents(xy), {"ward": two_squares.iloc[::-1]})
    pd.testing.assert_series_equal(forward["area_ward"], backward["area_ward"])
    x = forward["x"].to_numpy()
    y = forward["y"].to_numpy()
    inside_y = (y >= 0) & (y <= 10)
    expected = np.where(
        inside_y & (x >= 10) & (x <= 20), "W1", np.where(inside_y & (x >= 0) & (x < 10), "W2", "")
    )
    assert forward["area_ward"].fillna("").tolist() == expected.tolist()


def test_overlap_goes_to_lowest_code() -> None:
    layer = layer_of(["B", "A"], [(0, 0, 10, 10), (5, 0, 15, 10)])
    out, report = assign_areas(incidents([(7, 5), (2, 5), (12, 5), (5, 5)]), {"beat": layer})
    # (5, 5) is inside B and on A's edge: strictly inside wins over the lower code on an edge
    assert out["area_beat"].tolist() == ["A", "B", "A", "B"]
    assert report["beat"].on_boundary == 0


def test_many_polygons_grid_against_arithmetic() -> None:
    """81 cells (> 64: the x-sorted search) of 100 m; the expected cell is computed by hand."""
    n = 9
    codes = [f"C{r}{c}" for r in range(n) for c in range(n)]
    boxes = [(100 * c, 100 * r, 100 * c + 100, 100 * r + 100) for r in range(n) for c in range(n)]
    layer = layer_of(codes, boxes).sample(frac=1.0, random_state=3)  # shuffled rows
    rng = np.random.default_rng(11)
    x = rng.integers(-20, 20 * n + 20, 20_000) * 5.0  # a 5 m lattice: many points on grid lines
    y = rng.integers(-20, 20 * n + 20, 20_000) * 5.0
    got = locate_xy(layer, x, y)
    # lowest code = lowest row, then lowest column: on a line take the cell below / to the left
    col = np.where((x % 100 == 0) & (x > 0), x // 100 - 1, x // 100)
    row = np.where((y % 100 == 0) & (y > 0), y // 100 - 1, y // 100)
    inside = (x >= 0) & (x <= 100 * n) & (y >= 0) & (y <= 100 * n)
    cells = [f"C{int(r)}{int(c)}" for r, c in zip(row, col, strict=True)]
    assert pd.Series(got).fillna("").tolist() == np.where(inside, cells, "").tolist()


# ----------------------------------------------------------------------------- LSOA allocation
def test_unlocated_incidents_allocated_through_their_lsoa(two_squares: gpd.GeoDataFrame) -> None:
    # LSOA "L1" is an L-shape whose centroid lies outside it, "L2" sits in W1
    l1 = shapely.Polygon([(0, 0), (10, 0), (10, 2), (2, 2), (2, 10), (0, 10)])
    lsoa = layer_of(["L1", "L2"], [(0, 0, 1, 1), (12, 2, 18, 8)]).set_geometry(
        [l1, shapely.box(12, 2, 18, 8)], crs=27700
    )
    frame = incidents(
        [(np.nan, np.nan)] * 4 + [(15, 5)],
        lsoa=["L1", "L2", "L9", None, "L1"],  # L9 unknown; the located row keeps its point
    )
    out, report = assign_areas(frame, {"ward": two_squares, "lsoa": lsoa})
    assert out["area_lsoa"].fillna("").tolist() == ["L1", "L2", "", "", "L2"]
    assert out["area_ward"].fillna("").tolist() == ["W2", "W1", "", "", "W1"]
    for layer in ("ward", "lsoa"):
        assert (report[layer].allocated_by_lsoa, report[layer].unallocated) == (2, 2)
    assert lsoa_lookup(lsoa, two_squares).to_dict() == {"L1": "W2", "L2": "W1"}


def test_without_lsoa_layer_unlocated_stay_unallocated(two_squares: gpd.GeoDataFrame) -> None:
    frame = incidents([(np.nan, np.nan)], lsoa=["L1"])
    out, report = assign_areas(frame, {"ward": two_squares})
    assert out["area_ward"].isna().all()
    assert (report["ward"].allocated_by_lsoa, report["ward"].unallocated) == (0, 1)


# ------------------------------------------------------------------------------- input handling
def test_input_not_mutated_and_index_kept(two_squares: gpd.GeoDataFrame) -> None:
    frame = incidents([(5, 5), (15, 5)]).set_axis([10, 20])
    frame["area_ward"] = pd.array(["old", "old"], dtype="str")
    before = frame.copy()
    out, report = assign_areas(frame, {"ward": two_squares})
    pd.testing.assert_frame_equal(frame, before)
    assert out.index.tolist() == [10, 20] and out["area_ward"].tolist() == ["W2", "W1"]
    assert str(out["area_ward"].dtype) == "str"
    assert isinstance(report, JoinReport)
    assert report.as_dict()["ward"]["located_inside"] == 2


def test_layer_checks(two_squares: gpd.GeoDataFrame) -> None:
    frame = incidents([(5, 5)])
    with pytest.raises(InputError, match="is in EPSG:4326, expected EPSG:27700"):
        assign_areas(frame, {"ward": two_squares.set_crs(4326, allow_override=True)})
    with pytest.raises(InputError, match="layer name 'Ward 1' is not usable"):
        assign_areas(frame, {"Ward 1": two_squares})
    with pytest.raises(InputError, match="layer name 'hint'"):
        assign_areas(frame, {"hint": two_squares})
    with pytest.raises(InputError, match="lack column"):
        assign_areas(frame.drop(columns="y"), {"ward": two_squares})


def test_empty_layer_places_nothing(two_squares: gpd.GeoDataFrame) -> None:
    frame = incidents([(5, 5)] * 3)
    out, report = assign_areas(frame, {"ward": two_squares.iloc[0:0]})
    assert out["area_ward"].isna().all() and report["ward"].located_outside == 3


def test_empty_incidents(two_squares: gpd.GeoDataFrame) -> None:
    frame = pd.DataFrame({"x": pd.Series(dtype=float), "y": pd.Series(dtype=float)})
    out, report = assign_areas(frame, {"ward": two_squares})
    assert len(out) == 0 and "area_ward" in out.columns
    assert report["ward"].located_inside == 0


# ------------------------------------------------------------------------------------ real data
@pytest.fixture(scope="module")
def hertfordshire(shared_data: Path) -> pd.DataFrame:
    """All 13 Hertfordshire police.uk months, read with plain pandas and projected to BNG."""
    files = sorted((shared_data / POLICE).glob("*-hertfordshire-street.csv.gz"))
    assert len(files) == 13
    columns = ["Longitude", "Latitude", "LSOA code", "LSOA name"]
    raw = pd.concat([pd.read_csv(f, usecols=columns) for f in files], ignore_index=True)
    x, y = to_bng(raw["Longitude"].to_numpy(), raw["Latitude"].to_numpy())
    return raw.assign(x=x, y=y, lsoa_code=raw["LSOA code"])


@pytest.fixture(scope="module")
def dacorum(shared_data: Path) -> dict[str, gpd.GeoDataFrame]:
    folder = shared_data / ONS / "dacorum"
    return {
        "ward": read_layer(folder / "dacorum_wards.geojson")[0],
        "lsoa": read_layer(folder / "dacorum_lsoa.geojson")[0],
    }


def test_hertfordshire_months_in_dacorum_wards(hertfordshire, dacorum) -> None:
    out, report = assign_areas(hertfordshire, dacorum)
    assert len(out) == 108_465
    ward = report["ward"]
    # SOURCE.md: 1,789 rows without coordinates (and without LSOA), 13,184 in Dacorum wards
    assert (ward.located_inside, ward.unallocated, ward.allocated_by_lsoa) == (13_184, 1_789, 0)
    assert ward.located_inside + ward.located_outside + ward.unallocated == 108_465
    by_name = hertfordshire["LSOA name"].str.startswith("Dacorum").fillna(False).to_numpy()
    in_ward = out["area_ward"].notna().to_numpy()
    assert by_name.sum() == 13_187
    # the documented exceptions: 3 rows named Dacorum 001A at one map point just over the border
    exceptions = hertfordshire.loc[by_name & ~in_ward]
    assert len(exceptions) == 3 and set(exceptions["LSOA code"]) == {"E01023430"}
    assert not (in_ward & ~by_name).any()


def test_join_matches_geopandas_sjoin(hertfordshire, dacorum) -> None:
    out, _ = assign_areas(hertfordshire, dacorum)
    located = hertfordshire.dropna(subset=["x", "y"])
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(located["x"], located["y"]), crs=27700)
    points.index = located.index
    for name, layer in dacorum.items():
        joined = gpd.sjoin(points, layer[["code", "geometry"]], how="left", predicate="within")
        assert joined.index.is_unique  # tiling layers: no point within two areas
        reference = joined["code"].reindex(out.index)
        ours = out["area_" + name]
        assert (ours.fillna("-") == reference.fillna("-")).all()
        counts = ours.value_counts()
        assert counts.to_dict() == reference.value_counts().to_dict()
    # LSOA codes given by police.uk agree with the polygon for most Dacorum points (snapping and
    # generalised boundaries explain the rest)
    agree = (out["area_lsoa"] == hertfordshire["LSOA code"]).fillna(False)
    assert int(agree.sum()) == 12_654


def test_real_unlocated_rows_allocated_by_lsoa(hertfordshire, dacorum) -> None:
    in_dacorum = hertfordshire["LSOA name"].str.startswith("Dacorum").fillna(False)
    blanked = hertfordshire.loc[in_dacorum].assign(x=np.nan, y=np.nan)
    out, report = assign_areas(blanked, dacorum)
    assert report["lsoa"].allocated_by_lsoa == report["ward"].allocated_by_lsoa == 13_187
    assert (out["area_lsoa"] == blanked["LSOA code"]).all()
    # independent reference: each LSOA's representative point joined with geopandas
    lsoa = dacorum["lsoa"]
    points = gpd.GeoDataFrame({"lsoa": lsoa["code"]}, geometry=lsoa.representative_point())
    ward_of = gpd.sjoin(points, dacorum["ward"][["code", "geometry"]], predicate="intersects")
    expected = blanked["LSOA code"].map(ward_of.set_index("lsoa")["code"])
    assert (out["area_ward"] == expected).all()


@pytest.fixture(scope="module")
def county_lsoas(shared_data: Path) -> gpd.GeoDataFrame:
    files = sorted((shared_data / ONS / "hertfordshire" / "lsoa").glob("*_lsoa.geojson"))
    return pd.concat([read_layer(f)[0] for f in files], ignore_index=True)


def test_hertfordshire_lsoas_match_geopandas_sjoin(hertfordshire, county_lsoas) -> None:
    """690 real polygons: the x-sorted search and the grid against geopandas.sjoin."""
    layer = county_lsoas
    assert len(layer) == 690
    out, report = assign_areas(hertfordshire, {"county_lsoa": layer})
    located = hertfordshire.dropna(subset=["x", "y"])
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(located["x"], located["y"]), crs=27700)
    points.index = located.index
    joined = gpd.sjoin(points, layer[["code", "geometry"]], how="left", predicate="within")
    reference = joined["code"].groupby(level=0).min().reindex(out.index)
    assert (out["area_county_lsoa"].fillna("-") == reference.fillna("-")).all()
    assert report["county_lsoa"].located_inside == int(reference.notna().sum())
