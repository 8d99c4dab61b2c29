"""The exact conditional Poisson test against scipy, and BH q-values against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from geo_service.analysis.significance import (
    bh_qvalues,
    change_labels,
    poisson_change_p,
    poisson_change_pvalues,
    poisson_tails,
)


@pytest.mark.parametrize(
    ("previous", "current"),
    [(7, 33), (33, 7), (4, 16), (36, 14), (10, 10), (0, 5), (430, 407), (1, 0)],
)
def test_equal_exposure_matches_scipy_binomtest(previous: int, current: int) -> None:
    expected = stats.binomtest(previous, previous + current, 0.5).pvalue
    assert poisson_change_p(previous, current) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("previous", "current", "t1", "t2"), [(20, 7, 12, 6), (3, 9, 1, 2), (50, 40, 12, 12)]
)
def test_unequal_exposure_matches_scipy_binomtest(
    previous: int, current: int, t1: float, t2: float
) -> None:
    expected = stats.binomtest(previous, previous + current, t1 / (t1 + t2)).pvalue
    observed = poisson_change_p(previous, current, exposure_previous=t1, exposure_current=t2)
    assert observed == pytest.approx(expected, rel=1e-9)


def test_hand_worked_values() -> None:
    # 0 vs 5: P(a = 0) + P(a = 5) = 2 / 32.
    assert poisson_change_p(0, 5) == pytest.approx(2 / 32)
    assert poisson_change_p(0, 0) == 1.0
    assert poisson_change_p(3, 3) == pytest.approx(1.0)
    assert poisson_change_pvalues(np.array([0, 2]), np.array([5, 2])).tolist() == pytest.approx(
        [2 / 32, 1.0]
    )


def test_bh_qvalues_match_scipy() -> None:
    rng = np.random.default_rng(7)
    p = rng.uniform(0, 0.2, size=40)
    np.testing.assert_allclose(bh_qvalues(p), stats.false_discovery_control(p), rtol=1e-12)


def test_bh_qvalues_skip_missing_values() -> None:
    p = np.array([0.01, np.nan, 0.04, 0.03])
    q = bh_qvalues(p)
    assert np.isnan(q[1])
    np.testing.assert_allclose(q[[0, 2, 3]], stats.false_discovery_control([0.01, 0.04, 0.03]))


def test_labels_read_q_at_five_percent() -> None:
    labels = change_labels([7, 36, 10, 10], [33, 14, 20, 10], [0.001, 0.049, 0.05, 1.0])
    assert labels.tolist() == [
        "significant increase",
        "significant decrease",
        "no significant change",
        "no significant change",
    ]
    # Nothing in either period: there is no change to test.
    assert change_labels([0, 0], [0, 1], [1.0, 1.0]).tolist() == [
        "no incidents",
        "no significant change",
    ]


@pytest.mark.parametrize(
    ("count", "mean"),
    [(0, 0.3), (1, 0.3), (5, 1.0), (12, 4.5), (30, 12.0), (0, 25.0), (60, 25.0), (950, 1000.0),
     (1100, 1000.0), (3, 40.0)],
)  # fmt: skip
def test_poisson_tails_match_scipy_in_both_tails(count, mean):
    low, high = poisson_tails(count, mean)
    assert low == pytest.approx(stats.poisson.cdf(count, mean), rel=1e-10, abs=1e-300)
    assert high == pytest.approx(stats.poisson.sf(count - 1, mean), rel=1e-10, abs=1e-300)


def test_poisson_tails_keep_the_digits_of_a_tiny_tail():
    # P(X >= 40 | 5): 1 - cdf would round to 0; the summed tail keeps ~1e-19 (scipy agrees)
    _low, high = poisson_tails(40, 5.0)
    assert 0 < high < 1e-18
    assert high == pytest.approx(stats.poisson.sf(39, 5.0), rel=1e-9)


def test_poisson_tails_at_a_zero_mean_and_a_negative_count():
    assert poisson_tails(0, 0.0) == (1.0, 1.0)
    assert poisson_tails(3, 0.0) == (1.0, 0.0)
    assert poisson_tails(-1, 2.0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="finite number"):
        poisson_tails(1, float("nan"))


def test_vector_pvalues_test_each_repeated_pair_as_the_single_test_does() -> None:
    rng = np.random.default_rng(1)
    previous, current = rng.poisson(5, 500), rng.poisson(6, 500)  # many pairs repeat
    for t1, t2 in ((1.0, 1.0), (12.0, 6.0)):
        got = poisson_change_pvalues(previous, current, exposure_previous=t1, exposure_current=t2)
        want = [
            poisson_change_p(int(a), int(b), exposure_previous=t1, exposure_current=t2)
            for a, b in zip(previous, current, strict=True)
        ]
        assert np.array_equal(got, np.array(want))
    assert poisson_change_pvalues([], []).shape == (0,)
