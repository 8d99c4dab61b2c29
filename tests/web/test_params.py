"""Query-string validation."""

from __future__ import annotations

import pytest

from geo_service.errors import InputError
from geo_service.web.params import default_layer, rule_options, view_options

MONTHS = ["2013-01", "2013-02", "2013-03"]


def test_defaults_are_last_month_the_window_held_and_beat() -> None:
    # Three months held: only one month against the month before is fully held.
    opts = view_options({}, months_stored=MONTHS, layers=["lsoa", "ward", "beat"])
    assert (opts.period_end, opts.months, opts.against, opts.layer, opts.print_view) == (
        "2013-03",
        1,
        "preceding",
        "beat",
        False,
    )
    # Thirteen months held: the latest month against the same month a year earlier.
    year = [f"2012-{m:02d}" for m in range(3, 13)] + MONTHS
    opts = view_options({}, months_stored=year, layers=["beat"])
    assert (opts.period_end, opts.months, opts.against) == ("2013-03", 1, "year-earlier")
    # A length asked for is kept; one month alone is compared with a year earlier.
    opts = view_options({"months": "1"}, months_stored=MONTHS, layers=["beat"])
    assert (opts.months, opts.against) == (1, "year-earlier")
    assert default_layer(["lsoa", "ward"]) == "ward" and default_layer(["lsoa"]) == "lsoa"


def test_every_problem_reported_at_once() -> None:
    with pytest.raises(InputError) as caught:
        view_options(
            {"period_end": "2013-3", "months": "x", "layer": "zz"},
            months_stored=MONTHS,
            layers=["beat"],
        )
    message = caught.value.message
    assert "period_end='2013-3': expected a month YYYY-MM between 2013-01 and 2013-03" in message
    assert "months='x': allowed: 1, 3, 6, 12, 24" in message
    assert "layer='zz': allowed: beat" in message
    assert caught.value.http_status == 400


def test_query_round_trip_and_key() -> None:
    opts = view_options({"months": "3", "print": "1"}, months_stored=MONTHS, layers=["beat"])
    assert opts.query() == {
        "period_end": "2013-03",
        "months": "3",
        "layer": "beat",
        "against": "preceding",
        "print": "1",
    }
    assert opts.query(without=("layer", "print", "against")) == {
        "period_end": "2013-03",
        "months": "3",
    }
    assert opts.key() == ("2013-03", 3, "beat", "preceding", ())


def test_rule_options() -> None:
    opts = rule_options(
        {"rule": "ksi", "min_count": "5", "radius_m": "75.5"}, presets=["default", "ksi"]
    )
    assert (opts.rule, opts.min_count, opts.radius_m, opts.years) == ("ksi", 5, 75.5, None)
    with pytest.raises(InputError, match="years='0': expected a whole number from 1 to 10"):
        rule_options({"years": "0"}, presets=["default"])
