"""Tests for binned FFT kernel density: exact against a direct kernel sum, units, bandwidth,
class breaks; and against scikit-learn's KernelDensity."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from scipy.spatial import cKDTree
from shapely.geometry import box
from sklearn.neighbors import KernelDensity

from geo_service.analysis.grid import grid_for
from geo_service.analysis.kde import (
    auto_bandwidth_m,
    class_breaks,
    classify,
    kde_surface,
    kernel_value,
)
from geo_service.errors import InputError
from tests.analysis.conftest import hertfordshire_points


def _direct(xc: np.ndarray, yc: np.ndarray, x: np.ndarray, y: np.ndarray, h: float, kernel: str):
    """Sum of kernels centred on each point, evaluated at every cell centre, per km2."""
    total = np.zeros(xc.shape)
    for px, py in zip(x, y, strict=True):
        d = np.hypot(xc - px, yc - py)
        if kernel == "quartic":
            u2 = (d / h) ** 2
            total += np.where(u2 < 1, 3 / (math.pi * h * h) * (1 - u2) ** 2, 0.0)
        else:
            k = np.exp(-0.5 * (d / h) ** 2) / (2 * math.pi * h * h)
            total += np.where(d <= 4 * h, k, 0.0)
    return total * 1e6


@pytest.mark.parametrize(
    ("kernel", "h"), [("quartic", 350.0), ("quartic", 120.0), ("gaussian", 90.0)]
)
def test_equals_direct_sum_of_kernels_for_points_at_cell_centres(kernel: str, h: float) -> None:
    grid = grid_for(box(0, 0, 2000, 1500), cell_m=50)
    rng = np.random.default_rng(3)
    xc, yc = grid.centres()
    pick = rng.integers(0, grid.nx * grid.ny, 60)
    x, y = xc.ravel()[pick], yc.ravel()[pick]  # binning moves them nowhere: exact comparison
    surface = kde_surface(x, y, grid, bandwidth_m=h, kernel=kernel)
    np.testing.assert_allclose(surface, _direct(xc, yc, x, y, h, kernel), rtol=1e-9, atol=1e-9)


def test_points_beyond_the_grid_still_spread_into_it() -> None:
    grid = grid_for(box(0, 0, 1000, 1000), cell_m=100)
    x, y = np.array([-150.0]), np.array([450.0])  # the centre of a cell just west of the grid
    surface = kde_surface(x, y, grid, bandwidth_m=400)
    xc, yc = grid.centres()
    np.testing.assert_allclose(surface, _direct(xc, yc, x, y, 400, "quartic"), atol=1e-9)
    assert surface[4, 0] > 0 and surface[4, 3] == 0  # 200 m away inside, 400 m away outside


def test_density_is_per_km2_and_integrates_to_the_number_of_points() -> None:
    grid = grid_for(box(0, 0, 20_000, 20_000), cell_m=50)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(5000, 15000, 1000), rng.uniform(5000, 15000, 1000)
    for kernel in ("quartic", "gaussian"):
        surface = kde_surface(x, y, grid, bandwidth_m=500, kernel=kernel)
        assert surface.sum() * grid.cell_area_km2 == pytest.approx(1000, rel=2e-3)
    # A single point: peak 3 / (pi h^2) per m2 = 3e6 / (pi 500^2) per km2.
    one = kde_surface(np.array([10_025.0]), np.array([10_025.0]), grid, bandwidth_m=500)
    assert one.max() == pytest.approx(3e6 / (math.pi * 500**2))


def test_weights_equal_repeated_points_and_missing_points_are_ignored() -> None:
    grid = grid_for(box(0, 0, 3000, 3000), cell_m=100)
    x = np.array([500.0, 1700.0, np.nan])
    y = np.array([800.0, 2100.0, 5.0])
    weighted = kde_surface(x, y, grid, bandwidth_m=600, weights=np.array([3.0, 1.0, 9.0]))
    repeated = kde_surface(
        np.array([500.0, 500.0, 500.0, 1700.0]), np.array([800.0] * 3 + [2100.0]), grid,
        bandwidth_m=600,
    )  # fmt: skip
    np.testing.assert_allclose(weighted, repeated, atol=1e-12)


def test_matches_sklearn_kernel_density_gaussian() -> None:
    grid = grid_for(box(0, 0, 3000, 3000), cell_m=50)
    xc, yc = grid.centres()
    rng = np.random.default_rng(5)
    pick = rng.integers(0, grid.nx * grid.ny, 300)
    points = np.column_stack([xc.ravel()[pick], yc.ravel()[pick]])
    h = 150.0
    ours = kde_surface(points[:, 0], points[:, 1], grid, bandwidth_m=h, kernel="gaussian")
    model = KernelDensity(kernel="gaussian", bandwidth=h).fit(points)
    theirs = np.exp(model.score_samples(np.column_stack([xc.ravel(), yc.ravel()]))) * 300 * 1e6
    # Ours stops at 4 sd (3.4e-4 of each kernel's mass, up to ~0.3 % of a low density value).
    big = theirs > 1e-2 * theirs.max()
    np.testing.assert_allclose(ours.ravel()[big], theirs[big], rtol=5e-3)
    assert np.median(np.abs(ours.ravel()[big] / theirs[big] - 1)) < 5e-4


def test_auto_bandwidth_follows_the_documented_rule_and_floor() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(0, 3000, 2000), rng.normal(0, 2000, 2000)
    dist = np.hypot(x - x.mean(), y - y.mean())
    sd = math.sqrt(np.mean(dist**2))
    dm = np.median(dist)
    expected = 0.9 * min(sd, math.sqrt(1 / math.log(2)) * dm) * 2000**-0.2
    assert auto_bandwidth_m(x, y, min_bandwidth_m=0) == pytest.approx(expected)
    assert auto_bandwidth_m(x / 100, y / 100) == 300.0  # tight cluster: the police.uk floor
    grid = grid_for(box(-10_000, -10_000, 10_000, 10_000), cell_m=100)
    auto = kde_surface(x, y, grid, min_bandwidth_m=0)
    explicit = kde_surface(x, y, grid, bandwidth_m=expected)
    np.testing.assert_allclose(auto, explicit)


def test_class_breaks_are_pooled_quantiles_shared_by_months() -> None:
    month_1 = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    month_2 = np.array([0.0, 0.0, 5.0, 6.0, 7.0, 8.0])
    edges = class_breaks([month_1, month_2], n_classes=4)
    positive = np.array([1, 2, 3, 4, 5, 6, 7, 8.0])
    # np.quantile (linear) of 1..8 at 1/4, 1/2, 3/4: 2.75, 4.5, 6.25
    np.testing.assert_allclose(edges, [0, 2.75, 4.5, 6.25, 8])
    np.testing.assert_allclose(edges[1:-1], np.quantile(positive, [0.25, 0.5, 0.75]))
    np.testing.assert_array_equal(classify(month_1, edges), [0, 1, 1, 2, 2])
    np.testing.assert_array_equal(classify(month_2, edges), [0, 0, 3, 3, 4, 4])
    np.testing.assert_array_equal(classify(np.array([9.0]), edges), [4])


def test_head_tail_breaks_split_at_successive_means() -> None:
    values = np.array([1.0] * 10 + [2.0] * 5 + [10.0, 20.0, 100.0])
    edges = class_breaks(values, n_classes=3, method="head_tail")
    mean_all = values.mean()  # 9.0; head: 10, 20, 100 -> mean 43.33
    np.testing.assert_allclose(edges, [0, mean_all, np.mean([10, 20, 100]), 100])


def test_bad_arguments_name_the_allowed_values() -> None:
    grid = grid_for(box(0, 0, 1000, 1000), cell_m=100)
    with pytest.raises(InputError, match="allowed: quartic, gaussian"):
        kde_surface(np.zeros(1), np.zeros(1), grid, kernel="epanechnikov")
    with pytest.raises(InputError, match="positive number of metres"):
        kde_surface(np.zeros(1), np.zeros(1), grid, bandwidth_m=-5)
    with pytest.raises(InputError, match="same length"):
        kde_surface(np.zeros(2), np.zeros(3), grid)
    with pytest.raises(InputError, match="allowed: quantile, head_tail"):
        class_breaks([np.ones(3)], method="jenks")
    assert class_breaks([np.zeros(3)]).tolist() == [0.0]
    assert kernel_value(np.array([0.0]), 100.0, kernel="quartic")[0] == pytest.approx(
        3 / (math.pi * 1e4)
    )


def _top_cells(surface: np.ndarray, share: float = 0.05) -> set[int]:
    k = int(share * surface.size)
    return set(np.argsort(surface.ravel(), kind="stable")[-k:].tolist())


def _clustered_points(seed: int, grid_box: tuple[float, float, float, float]) -> np.ndarray:
    """Thirty Gaussian clusters of 40 points (sd 150 m) over 600 uniform points."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = grid_box
    centres = rng.uniform((x0, y0), (x1, y1), (30, 2))
    clustered = np.concatenate([rng.normal(c, 150, (40, 2)) for c in centres])
    return np.concatenate([clustered, rng.uniform((x0, y0), (x1, y1), (600, 2))])


@pytest.mark.parametrize("evaluation", ["binned", "direct", "auto"])
@pytest.mark.parametrize("h", [200.0, 300.0, 1500.0])
def test_clustered_points_within_one_percent_of_peak(evaluation: str, h: float) -> None:
    grid = grid_for(box(0, 0, 6000, 5000), cell_m=100)
    points = _clustered_points(11, (0, 0, 6000, 5000))
    xc, yc = grid.centres()
    reference = _direct(xc, yc, points[:, 0], points[:, 1], h, "quartic")
    surface = kde_surface(points[:, 0], points[:, 1], grid, bandwidth_m=h, evaluation=evaluation)
    error = np.abs(surface - reference).max() / reference.max()
    assert error < (1e-9 if evaluation == "direct" else 0.01)
    assert len(_top_cells(surface) & _top_cells(reference)) >= 0.99 * len(_top_cells(reference))


def test_one_isolated_point_between_nodes_stays_within_one_percent() -> None:
    # The worst case of linear binning: a lone point half-way between lattice nodes.
    grid = grid_for(box(0, 0, 3000, 3000), cell_m=100)
    xc, yc = grid.centres()
    x, y = np.array([1512.5 + 4.1]), np.array([1537.5 - 3.3])
    for h, kernel in ((200.0, "quartic"), (330.0, "quartic"), (150.0, "gaussian")):
        surface = kde_surface(x, y, grid, bandwidth_m=h, kernel=kernel, evaluation="binned")
        reference = _direct(xc, yc, x, y, h, kernel)
        assert np.abs(surface - reference).max() < 0.01 * reference.max()


def test_bandwidth_below_two_cells_is_the_exact_sum_even_when_binned_is_asked() -> None:
    grid = grid_for(box(0, 0, 2000, 2000), cell_m=250)
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0, 2000, 300), rng.uniform(0, 2000, 300)
    xc, yc = grid.centres()
    # "KDE 250 m on 250 m cells" was a count map before; now it is the kernel sum itself.
    surface = kde_surface(x, y, grid, bandwidth_m=250, evaluation="binned")
    np.testing.assert_allclose(surface, _direct(xc, yc, x, y, 250, "quartic"), rtol=1e-9)
    with pytest.raises(InputError, match="allowed: auto, binned, direct"):
        kde_surface(x, y, grid, bandwidth_m=250, evaluation="fft")


def _direct_tree(xc: np.ndarray, yc: np.ndarray, x: np.ndarray, y: np.ndarray, h: float):
    """The quartic kernel sum at the cell centres over point pairs closer than ``h`` (per km2)."""
    cells = cKDTree(np.column_stack([xc.ravel(), yc.ravel()]))
    pairs = cells.sparse_distance_matrix(
        cKDTree(np.column_stack([x, y])), h, output_type="coo_matrix"
    )
    u2 = (pairs.data / h) ** 2
    values = np.where(u2 < 1, 3 / (math.pi * h * h) * (1 - u2) ** 2, 0.0)
    return np.bincount(pairs.row, weights=values, minlength=xc.size).reshape(xc.shape) * 1e6


def test_hertfordshire_months_in_dacorum_match_the_direct_sum(shared_data: Path) -> None:
    wards = gpd.read_file(
        shared_data / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"
    ).to_crs(27700)
    points = hertfordshire_points(shared_data, ["2021-10", "2021-11", "2021-12"])
    points = points.loc[points.geometry.within(wards.union_all())]
    x, y = points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    assert len(x) > 2500  # three months of every crime type in Dacorum
    grid = grid_for(wards, cell_m=100)
    xc, yc = grid.centres()
    for h in (200.0, 300.0, 1500.0):
        reference = _direct_tree(xc, yc, x, y, h)
        for evaluation in ("binned", "auto"):
            surface = kde_surface(x, y, grid, bandwidth_m=h, evaluation=evaluation)
            assert np.abs(surface - reference).max() < 0.01 * reference.max(), (h, evaluation)
            shared = _top_cells(surface) & _top_cells(reference)
            assert len(shared) >= 0.99 * len(_top_cells(reference)), (h, evaluation)


def test_weighted_auto_bandwidth_is_that_of_the_points_repeated() -> None:
    """Counted cells (a point standing for n incidents) give the bandwidth of the n points."""
    rng = np.random.default_rng(5)
    for size in (2, 3, 17, 400):
        x, y = rng.normal(0, 1500, size), rng.normal(0, 900, size)
        n = rng.integers(1, 6, size)
        repeated = auto_bandwidth_m(np.repeat(x, n), np.repeat(y, n), min_bandwidth_m=0)
        weighted = auto_bandwidth_m(x, y, min_bandwidth_m=0, weights=n)
        assert weighted == pytest.approx(repeated, rel=1e-12)
    # an even total: the median is the mean of the two middle distances, as numpy's
    x, y = np.array([0.0, 300.0, 1000.0]), np.zeros(3)
    assert auto_bandwidth_m(x, y, min_bandwidth_m=0, weights=np.array([1, 1, 2])) == (
        pytest.approx(auto_bandwidth_m(np.array([0.0, 300, 1000, 1000]), np.zeros(4),
                                       min_bandwidth_m=0), rel=1e-12)
    )  # fmt: skip
    # one point standing for several incidents has a spread of zero: the floor
    assert auto_bandwidth_m(np.array([5.0]), np.array([5.0]), weights=np.array([9])) == 300.0


def test_rows_and_counted_locations_choose_the_same_evaluation() -> None:
    # 250 map points holding 1-80 incidents each (police.uk-like): the rows (12,000 points,
    # shuffled) and the counted locations (250, weighted) make the same choice of evaluation
    # (by the incidents, not the points), so their surfaces differ only by the order of the
    # sums. Chosen by the points, the few counted locations were summed exactly and the rows
    # binned: 0.35 % of peak apart on the Hertfordshire county layer.
    rng = np.random.default_rng(8)
    sites = rng.uniform([500_000, 200_000], [510_000, 208_000], (250, 2)).round(1)
    n = rng.integers(1, 81, len(sites))
    rows = rng.permutation(np.repeat(sites, n, axis=0))
    grid = grid_for(box(500_000, 200_000, 510_000, 208_000), cell_m=50)
    h_rows = auto_bandwidth_m(rows[:, 0], rows[:, 1])
    h_counted = auto_bandwidth_m(sites[:, 0], sites[:, 1], weights=n.astype(float))
    assert h_rows == pytest.approx(h_counted, rel=1e-12)
    from_rows = kde_surface(rows[:, 0], rows[:, 1], grid, bandwidth_m=h_rows)
    counted = kde_surface(sites[:, 0], sites[:, 1], grid, bandwidth_m=h_rows, weights=n)
    assert np.abs(from_rows - counted).max() < 1e-12 * from_rows.max()
    binned = kde_surface(rows[:, 0], rows[:, 1], grid, bandwidth_m=h_rows, evaluation="binned")
    assert np.array_equal(from_rows, binned)  # 12,000 incidents: the binned sum, both ways


def test_the_default_bandwidth_of_counted_locations_is_that_of_their_incidents() -> None:
    # No bandwidth given: counted locations (weights) get the automatic bandwidth of the
    # incidents they stand for, so the surface is the rows' (it took the locations' spread,
    # 2.4 % of peak off on a Hertfordshire backtest).
    rng = np.random.default_rng(3)
    sites = rng.uniform([0, 0], [8000, 6000], (120, 2)).round(1)
    n = np.where(np.arange(120) < 10, 60, 1)  # ten busy locations in the west
    sites[:10, 0] = rng.uniform(0, 1000, 10)
    rows = rng.permutation(np.repeat(sites, n, axis=0))
    grid = grid_for(box(0, 0, 8000, 6000), cell_m=100)
    from_rows = kde_surface(rows[:, 0], rows[:, 1], grid)
    counted = kde_surface(sites[:, 0], sites[:, 1], grid, weights=n)
    assert np.abs(from_rows - counted).max() < 1e-12 * from_rows.max()
    unweighted_h = auto_bandwidth_m(sites[:, 0], sites[:, 1])
    assert unweighted_h != pytest.approx(auto_bandwidth_m(rows[:, 0], rows[:, 1]), rel=0.05)
