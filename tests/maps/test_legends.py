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


def test_count_breaks_are_rounded_positive_quantiles() -> None:
    values = np.array([0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], dtype=float)
    # Positive values 1..10: quantiles at 0, .2, .4, .6, .8 -> 1, 2.8, 4.6, 6.4, 8.2 -> rounded.
    assert count_breaks(values) == (1.0, 3.0, 5.0, 6.0, 8.0)
    assert count_breaks(np.zeros(3)) == (1.0,)


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
