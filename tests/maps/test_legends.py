"""Colour classes and legends."""

from __future__ import annotations

import numpy as np

from geo_service.maps.legends import (
    DIVERGING,
    NO_DATA,
    SEQUENTIAL,
    change_colour,
    change_legend,
    classed_colour,
    count_breaks,
    count_legend,
)


def test_count_breaks_are_positive_quantile_classes() -> None:
    values = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=float)
    # Positive values 1..10: quintile upper bounds 2.8, 4.6, 6.4, 8.2, 10, so the classes are
    # {1, 2}, {3, 4}, {5, 6}, {7, 8}, {9, 10} and each starts at its smallest value.
    assert count_breaks(values) == (1.0, 3.0, 5.0, 7.0, 9.0)
    assert count_breaks(np.zeros(3)) == (1.0,)


def test_fisher_jenks_finds_the_natural_groups() -> None:
    values = np.array([1, 2, 3, 10, 11, 12, 30], dtype=float)
    # Three classes minimising the within-class spread: {1, 2, 3}, {10, 11, 12}, {30}.
    assert count_breaks(values, classes=3, method="fisher-jenks") == (1.0, 10.0, 30.0)


def test_head_tail_breaks_split_at_the_means() -> None:
    values = np.array([1, 1, 1, 1, 2, 2, 3, 10, 20, 100], dtype=float)
    # Mean 14.1: head {20, 100}; its mean 60: head {100}; one value left, so stop.
    assert count_breaks(values, method="head-tail") == (1.0, 20.0, 100.0)


def test_rates_keep_three_significant_figures() -> None:
    values = np.array([0.5, 1.234, 2.5, 7.891, 12.0, 40.0])
    assert count_breaks(values, classes=2, method="fisher-jenks", whole=False) == (0.5, 40.0)


def test_classed_colour() -> None:
    breaks = (1.0, 3.0, 5.0)
    assert classed_colour(0.0, breaks, SEQUENTIAL) == NO_DATA
    assert classed_colour(1.0, breaks, SEQUENTIAL) == SEQUENTIAL[0]
    assert classed_colour(4.9, breaks, SEQUENTIAL) == SEQUENTIAL[1]
    assert classed_colour(99.0, breaks, SEQUENTIAL) == SEQUENTIAL[2]
    assert classed_colour(float("nan"), breaks, SEQUENTIAL) == NO_DATA


def test_change_colour_classes() -> None:
    assert change_colour(-60.0, 4) == DIVERGING[0]
    assert change_colour(0.0, 10) == DIVERGING[3]
    assert change_colour(5.0, 10) == DIVERGING[3]  # the steady class includes +5 %
    assert change_colour(30.0, 10) == DIVERGING[5]
    assert change_colour(float("nan"), 3) == DIVERGING[-1]  # rise from zero
    assert change_colour(float("nan"), 0) == NO_DATA


def test_legends_have_one_entry_per_class() -> None:
    assert len(count_legend("n", (1.0, 3.0)).entries) == 3
    assert len(change_legend("c").entries) == len(DIVERGING) + 1


def test_significant_figures_without_scientific_notation() -> None:
    from geo_service.maps.legends import significant

    assert significant(1190.4) == "1,190"  # ".3g" would say 1.19e+03
    assert significant(12_345.0) == "12,300"
    assert significant(280.0) == "280" and significant(22.43) == "22.4"
    assert significant(3.561) == "3.56" and significant(0.0) == "0"
    assert significant(0.012345) == "0.0123"


def test_difference_classes_are_symmetric_about_no_change() -> None:
    from geo_service.maps.legends import DIFFERENCE, difference_breaks
    from geo_service.maps.views import _difference_classes

    edges = difference_breaks(np.array([-9.0, 0.0, 3.0]))
    # The largest absolute difference is 9: edges at 9, 9/3 and 9/9 either side of 0.
    assert edges == (-9.0, -3.0, -1.0, 0.0, 1.0, 3.0, 9.0)
    change = np.array([-9.0, -2.0, -0.5, 0.0, 0.5, 2.0, 9.0])
    assert _difference_classes(change, edges).tolist() == [1, 2, 3, 0, 4, 5, 6]
    assert len(DIFFERENCE) == len(edges) - 1
    assert difference_breaks(np.zeros(4)) == (0.0,)
