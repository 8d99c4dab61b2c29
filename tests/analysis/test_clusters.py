"""Tests for DBSCAN/HDBSCAN clusters: weighted (collapsed) DBSCAN equals DBSCAN on the expanded
points, the parameter rule, hull polygons and their measures, touched areas, rasterising."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box
from sklearn.cluster import DBSCAN

from geo_service.analysis.clusters import (
    auto_dbscan_params,
    cluster_cells,
    cluster_polygons,
    dbscan_clusters,
    dbscan_labels,
    hdbscan_clusters,
    snapped_cluster_cells,
)
from geo_service.analysis.grid import grid_for
from geo_service.errors import InputError
from geo_service.projection import to_bng
from geo_service.schema import CRS


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when two labelings put the same points in noise and in the same clusters."""
    if not np.array_equal(a < 0, b < 0):
        return False
    pairs = np.unique(np.column_stack([a, b])[a >= 0], axis=0)
    return len(np.unique(pairs[:, 0])) == len(pairs) == len(np.unique(pairs[:, 1]))


def _snapped_points(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Few distinct locations with many ties, well separated groups (no ambiguous borders)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0], [2000, 0], [0, 2000], [2000, 2000], [5000, 5000]], float)
    sites = np.concatenate([c + rng.uniform(-120, 120, (12, 2)).round() for c in centres])
    sites = np.concatenate([sites, rng.uniform(-3000, 8000, (40, 2)).round()])
    weight = rng.integers(1, 30, len(sites))
    xy = np.repeat(sites, weight, axis=0)
    return xy[:, 0], xy[:, 1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_labels_equal_plain_dbscan_on_expanded_points(seed: int) -> None:
    x, y = _snapped_points(seed)
    ours = dbscan_labels(x, y, eps_m=150, min_samples=40)
    plain = DBSCAN(eps=150, min_samples=40).fit(np.column_stack([x, y])).labels_
    assert _same_partition(ours, plain)
    assert ours.max() >= 2
    # Clusters are numbered by size, largest first.
    sizes = np.bincount(ours[ours >= 0])
    assert (np.diff(sizes) <= 0).all()


def test_weighted_dbscan_equals_plain_on_real_police_uk_points(shared_data: Path) -> None:
    path = shared_data / "police-uk-hertfordshire-street/2021-06-hertfordshire-street.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, usecols=["Longitude", "Latitude", "LSOA name"])
    frame = frame.dropna(subset=["Longitude"])
    frame = frame.loc[frame["LSOA name"].str.startswith("Dacorum")]
    x, y = to_bng(frame["Longitude"].to_numpy(), frame["Latitude"].to_numpy())
    assert len(np.unique(x + 1j * y)) < len(x) / 2  # snapped: many exact ties
    ours = dbscan_labels(x, y, eps_m=200, min_samples=15)
    plain = DBSCAN(eps=200, min_samples=15).fit(np.column_stack([x, y])).labels_
    # Noise and core structure are identical; a border point within reach of two clusters may
    # join either (DBSCAN's order dependence), so compare all but those.
    assert np.array_equal(ours < 0, plain < 0)
    agree = pd.crosstab(ours[ours >= 0], plain[plain >= 0]).to_numpy()
    assert (agree > 0).sum(axis=1).max() <= 2
    assert agree.max(axis=1).sum() >= 0.99 * (ours >= 0).sum()


def test_parameter_rule_by_hand() -> None:
    # 10 locations of 1 incident each spread out, and one location with 100 incidents.
    x = np.concatenate([np.arange(10) * 1000.0, np.zeros(99)])
    y = np.zeros(109)
    params = auto_dbscan_params(x, y, study_area_m2=109 * 400.0**2)
    assert params.eps_m == pytest.approx(400.0)  # sqrt(A / n) = 400, inside [100, 400]
    # Incidents' neighbour counts within 400 m: 100 for the 100 at x=0, 1 for the other 9.
    # The 80th percentile over incidents is 100.
    assert params.min_samples == 100
    small = auto_dbscan_params(x, y, study_area_m2=109 * 50.0**2)
    assert small.eps_m == 100.0  # sqrt(A / n) = 50 is below the floor
    wide = auto_dbscan_params(x, y, study_area_m2=109 * 1000.0**2, min_samples=7)
    assert (wide.eps_m, wide.min_samples) == (400.0, 7)  # capped; a given value is kept
    with pytest.raises(InputError, match="study area must be positive"):
        auto_dbscan_params(x, y, study_area_m2=0)


def test_scaled_parameters_do_not_merge_a_force_into_one_cluster() -> None:
    # A 20 x 20 km county of 4,000 map points (about 300 m apart) and 5 busy estates, with a
    # force-year of 200,000 incidents on them.
    rng = np.random.default_rng(7)
    background = rng.uniform(0, 20_000, (4000, 2))
    estates = [c + rng.uniform(-150, 150, (60, 2)) for c in rng.uniform(2000, 18_000, (5, 2))]
    sites = np.concatenate([background, *estates]).round()
    weight = np.concatenate([np.ones(4000), np.full(300, 12.0)])
    xy = sites[rng.choice(len(sites), 200_000, p=weight / weight.sum())]
    # Parameters that suit a district's month merge the county: every map point is a core.
    fixed = dbscan_labels(xy[:, 0], xy[:, 1], eps_m=400, min_samples=10)
    assert np.bincount(fixed[fixed >= 0]).max() > 0.8 * len(xy)
    scaled = dbscan_clusters(xy[:, 0], xy[:, 1], study_area_m2=20_000.0**2)
    assert scaled.attrs["eps_m"] == 100.0  # sqrt(4e8 / 2e5) = 45 m, floored
    assert len(scaled) >= 5
    assert scaled["count"].max() < 0.1 * len(xy)


def test_polygons_measures_and_touched_areas() -> None:
    # A 100 m square of 4 corner points (3 incidents each) and a pair of points 50 m apart.
    x = np.array([0, 100, 100, 0, 1000, 1050], float)
    y = np.array([0, 0, 100, 100, 1000, 1000], float)
    labels = np.array([0, 0, 0, 0, 1, 1])
    counts = np.array([3, 3, 3, 3, 1, 1])
    areas = gpd.GeoDataFrame(
        {"code": ["W", "E"]}, geometry=[box(-500, -500, 50, 2000), box(50, -500, 2000, 2000)],
        crs=CRS,
    )  # fmt: skip
    frame = cluster_polygons(x, y, labels, counts=counts, areas=areas, pad_m=20)
    assert frame["count"].tolist() == [12, 2]
    assert frame["locations"].tolist() == [4, 2]
    assert frame["area_m2"].iloc[0] == pytest.approx(10_000)
    assert frame["perimeter_m"].iloc[0] == pytest.approx(400)
    assert frame["area_perimeter_m"].iloc[0] == pytest.approx(25)
    # The pair is a line: buffered by pad_m / 2 = 10 m -> a 50 x 20 stadium with round ends.
    assert frame["area_m2"].iloc[1] == pytest.approx(50 * 20 + math.pi * 100, rel=0.01)
    assert frame["areas"].tolist() == ["E;W", "E"]
    concave = cluster_polygons(x, y, labels, hull="concave")
    assert concave["area_m2"].iloc[0] <= frame["area_m2"].iloc[0] + 1e-6
    with pytest.raises(InputError, match="allowed: convex, concave"):
        cluster_polygons(x, y, labels, hull="alpha")


def test_hdbscan_finds_separated_groups_and_refuses_too_many_points() -> None:
    rng = np.random.default_rng(3)
    blobs = [rng.normal(c, 60, (120, 2)) for c in ([0, 0], [3000, 0], [0, 3000])]
    noise = rng.uniform(-2000, 5000, (40, 2))
    xy = np.concatenate([*blobs, noise])
    frame = hdbscan_clusters(xy[:, 0], xy[:, 1], min_cluster_size=30)
    assert len(frame) == 3
    assert all(110 <= c <= 130 for c in frame["count"])
    with pytest.raises(InputError, match="use dbscan"):
        hdbscan_clusters(xy[:, 0], xy[:, 1], max_points=100)


def test_cluster_cells_scores_cells_by_cluster_density() -> None:
    grid = grid_for(box(0, 0, 1000, 1000), cell_m=100)
    clusters = gpd.GeoDataFrame(
        {"count": [40, 10], "area_m2": [200_000.0, 40_000.0]},
        geometry=[box(0, 0, 500, 400), box(600, 600, 800, 800)],
        crs=CRS,
    )
    score = cluster_cells(grid, clusters)
    assert score[0, 0] == pytest.approx(40 / 0.2)  # 200 per km2
    assert score[6, 6] == pytest.approx(10 / 0.04)  # 250 per km2
    assert (score > 0).sum() == 20 + 4


def _town(seed: int) -> np.ndarray:
    """A 3 x 3 km town of evenly busy streets (one big DBSCAN component) with two tight estates."""
    rng = np.random.default_rng(seed)
    streets = rng.uniform(0, 3000, (3000, 2)).round()
    estates = [rng.normal(c, 40, (150, 2)).round() for c in ([600, 600], [2400, 2200])]
    return np.concatenate([streets, *estates])


def test_no_hotspot_exceeds_one_km2_and_the_split_is_reported() -> None:
    xy = _town(8)
    unbounded = dbscan_clusters(xy[:, 0], xy[:, 1], eps_m=120, min_samples=8, max_area_m2=None)
    assert unbounded["area_m2"].max() > 5e6  # the whole town is one "hotspot"
    bounded = dbscan_clusters(xy[:, 0], xy[:, 1], eps_m=120, min_samples=8)
    assert len(bounded) >= 2 and bounded["area_m2"].max() <= 1e6
    assert bounded.attrs["split"] >= 1 and bounded.attrs["max_area_m2"] == 1e6
    # The estates survive as the two largest hotspots, each about its 150 incidents.
    centres = np.column_stack([bounded.centroid.x, bounded.centroid.y])[:2]
    assert sorted(np.rint(centres / 100).astype(int).tolist()) == [[6, 6], [24, 22]]
    assert all(140 <= c <= 200 for c in bounded["count"][:2])
    kept = int(bounded["count"].sum()) + bounded.attrs["dropped"]
    assert kept == int(unbounded["count"].sum())  # every incident is kept or counted as dropped
    assert bounded["cluster"].tolist() == list(range(len(bounded)))  # renumbered by size
    assert bounded["count"].is_monotonic_decreasing


_CLUSTERS = {"dbscan": dbscan_clusters, "hdbscan": hdbscan_clusters}


@pytest.mark.parametrize("method", ["dbscan", "hdbscan"])
@pytest.mark.parametrize("seed", [0, 1])
def test_weighted_points_cluster_as_the_points_repeated(seed: int, method: str) -> None:
    # Counted locations (each standing for n incidents, as a cube's rows) against the same
    # locations repeated n times, in another order: the same clusters, figure by figure,
    # through the automatic rule and the 1 km2 split.
    x, y = _snapped_points(seed)
    xy = np.column_stack([x, y])
    sites, n = np.unique(xy, axis=0, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(sites))
    found = _CLUSTERS[method]
    weighted = found(sites[order, 0], sites[order, 1], weights=n[order].astype(float))
    repeated = found(x, y)
    assert len(weighted) >= 3 and int(weighted["count"].sum()) > 0
    pd.testing.assert_frame_equal(
        pd.DataFrame(weighted.drop(columns="geometry")),
        pd.DataFrame(repeated.drop(columns="geometry")),
    )
    assert (
        weighted.geometry.normalize().geom_equals_exact(repeated.geometry.normalize(), 1e-9).all()
    )
    assert weighted.attrs == repeated.attrs


@pytest.mark.parametrize("method", ["dbscan", "hdbscan"])
def test_clusters_do_not_depend_on_the_order_of_the_points(method: str) -> None:
    # Unsnapped points with many border points between clusters, and snapped ones (ties): read
    # in any order (rows, or a cube's counted locations), the same clusters, hulls and numbers.
    rng = np.random.default_rng(5)
    centres = rng.uniform(0, 6000, (12, 2))
    xy = np.concatenate([centres[rng.integers(0, 12, 3000)] + rng.normal(0, 300, (3000, 2)),
                         rng.uniform(0, 6000, (1000, 2))])  # fmt: skip
    xy = np.concatenate([xy, np.round(xy[:1500] / 50) * 50])
    options = {"eps_m": 100, "min_samples": 6} if method == "dbscan" else {"min_samples": 6}
    first = _CLUSTERS[method](xy[:, 0], xy[:, 1], **options)
    order = rng.permutation(len(xy))
    again = _CLUSTERS[method](xy[order, 0], xy[order, 1], **options)
    assert len(first) > 5
    pd.testing.assert_frame_equal(
        pd.DataFrame(first.drop(columns="geometry")), pd.DataFrame(again.drop(columns="geometry"))
    )
    assert first.geometry.geom_equals_exact(again.geometry, tolerance=0).all()


@pytest.mark.parametrize(
    "weights", [np.array([1.0, 2.0]), np.array([1.0, 0.0, 2.0]), np.array([1.0, 1.5, 2.0])]
)
def test_weights_must_be_whole_incidents_one_per_point(weights: np.ndarray) -> None:
    for found in _CLUSTERS.values():
        with pytest.raises(InputError, match="weights"):
            found(np.array([0.0, 10.0, 20.0]), np.zeros(3), weights=weights)


def test_hdbscan_hotspots_are_bounded_too() -> None:
    xy = _town(9)
    frame = hdbscan_clusters(xy[:, 0], xy[:, 1], min_cluster_size=60)
    assert len(frame) >= 2 and frame["area_m2"].max() <= 1e6
    unbounded = hdbscan_clusters(xy[:, 0], xy[:, 1], min_cluster_size=60, max_area_m2=None)
    assert unbounded["area_m2"].max() > 1e6


def test_core_size_rule_is_the_same_on_unsnapped_points() -> None:
    # Unsnapped points are counted by a KD-tree; the rule must give what the radius graph gives.
    rng = np.random.default_rng(12)
    xy = np.concatenate([rng.normal(0, 300, (3000, 2)), rng.uniform(-3000, 3000, (2000, 2))])
    params = auto_dbscan_params(xy[:, 0], xy[:, 1], study_area_m2=36e6, eps_m=150)
    from sklearn.neighbors import radius_neighbors_graph

    around = radius_neighbors_graph(xy, 150, include_self=True).sum(axis=1).A1
    expected = max(5, math.ceil(np.sort(around)[np.searchsorted(np.arange(1, 5001) / 5000, 0.8)]))
    assert params.min_samples == expected


def test_snapped_cluster_cells_are_dbscan_of_the_cell_centres() -> None:
    grid = grid_for(box(0, 0, 2000, 2000), cell_m=100)
    counts = np.zeros(grid.shape)
    counts[3:5, 3:6] = 4  # a 2 x 3 block of busy cells: one cluster
    counts[15, 15] = 30  # one cell alone holding many: a flat cluster of one location
    counts[10, 2] = 1  # noise
    score = snapped_cluster_cells(grid, counts, eps_m=150, min_samples=8)
    # The block: 24 incidents over its centres' hull (200 x 100 m) grown by half a cell.
    hull_area = shapely.area(shapely.buffer(box(350, 350, 550, 450), 50))
    np.testing.assert_allclose(score[3:5, 3:6], 24 / (hull_area / 1e6))
    assert score[15, 15] == pytest.approx(30 / 0.01)  # a flat cluster scores over one cell
    assert score[10, 2] == 0 and np.count_nonzero(score) == 7
    xc, yc = grid.centres()
    cells = np.repeat(np.arange(counts.size), counts.ravel().astype(int))
    labels = (
        DBSCAN(eps=150, min_samples=8)
        .fit(np.column_stack([xc.ravel()[cells], yc.ravel()[cells]]))
        .labels_
    )
    assert set(cells[labels >= 0]) == set(np.flatnonzero(score.ravel()))


def test_labels_equal_sklearn_on_20k_unsnapped_points() -> None:
    rng = np.random.default_rng(21)
    centres = rng.uniform(0, 20_000, (25, 2))
    xy = np.concatenate(
        [centres[rng.integers(0, 25, 12_000)] + rng.normal(0, 400, (12_000, 2)),
         rng.uniform(0, 20_000, (8_000, 2))]
    )  # fmt: skip
    ours = dbscan_labels(xy[:, 0], xy[:, 1], eps_m=120, min_samples=9)
    # DBSCAN gives a border point to the first cluster reaching it: ours visits the locations
    # sorted by x then y (whatever order they come in), so scikit-learn is given them so too
    order = np.lexsort((xy[:, 1], xy[:, 0]))
    theirs = np.empty(len(xy), dtype=np.int64)
    theirs[order] = DBSCAN(eps=120, min_samples=9).fit(xy[order]).labels_
    assert ours.max() > 5
    assert _same_partition(ours, theirs)
    # Ours numbers clusters by size, ties by least x then least y; renumbered so,
    # scikit-learn's labels are the same array.
    members = pd.DataFrame({"label": theirs, "x": xy[:, 0], "y": xy[:, 1]})
    by_label = (
        members.loc[theirs >= 0]
        .groupby("label")
        .agg(size=("x", "size"), west=("x", "min"), south=("y", "min"))
    )
    sizes = by_label["size"].to_numpy()
    rank = np.empty_like(sizes)
    order = np.lexsort((by_label["south"], by_label["west"], -sizes))
    rank[order] = np.arange(sizes.size)
    np.testing.assert_array_equal(ours, np.where(theirs >= 0, rank[np.maximum(theirs, 0)], -1))
