"""Coverage: months per source, own windows for sources ending early, groups formed from the detail
a source carries, missing months as text."""

from __future__ import annotations

import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis.periods import Period, rolling_periods
from geo_service.categories import CategoryGroup, Selector, find_group, load_groups
from geo_service.coverage import Coverage, month_mask, months_text

GROUPS = load_groups()


def _rows(source: str, category: str, months: list[str], sub: str | None = None) -> pd.DataFrame:
    return pd.DataFrame(
        {"source": source, "category": category, "month": months, "subcategory": sub}
    )


def _coverage(*frames: pd.DataFrame) -> Coverage:
    return Coverage.from_incidents(schema.conform(pd.concat(frames, ignore_index=True)))


def _months(first: str, last: str) -> list[str]:
    return list(Period(first, last).months)


@pytest.fixture(scope="module")
def mixed() -> Coverage:
    """A force extract with sub-types to 2013-07, police.uk without to 2013-07, STATS19 to 06."""
    return _coverage(
        _rows("force", "Burglary", _months("2011-08", "2013-07"), "Burglary dwelling"),
        _rows("police_uk", "Vehicle crime", _months("2011-08", "2013-07")),
        _rows("police_uk", "Robbery", _months("2011-08", "2013-07")),
        _rows("police_uk", "Burglary", _months("2011-08", "2013-07")),
        _rows("stats19", "Road traffic collision", _months("2011-07", "2013-06"), "Slight"),
    )


def test_a_source_ending_early_is_compared_over_its_own_months(mixed: Coverage) -> None:
    previous, current = rolling_periods("2013-07")
    rtc = mixed.for_group(find_group(GROUPS, "Road traffic collisions"), previous, current)
    (window,) = rtc.windows
    assert (window.current.start, window.current.end) == ("2012-07", "2013-06")
    assert (window.previous.start, window.previous.end) == ("2011-07", "2012-06")
    assert rtc.covered and rtc.label() == "" and rtc.text() == ""
    assert rtc.window_text() == "stats19: Jul 12 to Jun 13 (its data ends Jun 13)"
    assert rtc.source_periods("current") == {"stats19": Period("2012-07", "2013-06")}


def test_a_source_ending_more_than_six_months_early_is_not_moved(mixed: Coverage) -> None:
    previous, current = rolling_periods("2014-01")  # STATS19 ends 7 months before
    rtc = mixed.comparison(["stats19"], previous, current)
    assert rtc.windows[0].shift_months == 0
    assert (rtc.held_previous, rtc.held_current) == (12, 5)  # Feb 12..Jan 13; Feb 13..Jun 13
    assert rtc.label() == "current period partly covered (5 of 12 months)"
    assert rtc.text() == "Feb 13 to Jan 14: 5 of 12 months held"


def test_partly_held_earlier_period_is_labelled() -> None:
    coverage = _coverage(_rows("police_uk", "Drugs", _months("2021-01", "2022-01")))
    previous, current = rolling_periods("2022-01")
    held = coverage.comparison(["police_uk"], previous, current)
    assert (held.held_previous, held.held_current) == (1, 12)
    assert not held.covered and held.current_covered
    assert held.label() == "earlier period partly covered (1 of 12 months)"
    assert held.text() == "Feb 20 to Jan 21: 1 of 12 months held"
    assert coverage.missing_lines(["police_uk"], previous, current) == [
        "police_uk: no data for Feb 20 to Dec 20"
    ]
    none = coverage.comparison(["police_uk"], *rolling_periods("2020-12", months=1))
    assert none.label() == "no data for the earlier period; no data for the current period"


def test_groups_are_formed_from_the_detail_each_source_carries(mixed: Coverage) -> None:
    dwelling = mixed.formable(find_group(GROUPS, "Dwelling burglary"))
    # The force extract carries burglary sub-types, police.uk does not: narrowed to the force.
    assert dwelling.available
    assert dwelling.group is not None and dwelling.group.include[0].sources == ("force",)
    assert dwelling.note() == (
        "leaves out what it cannot form from police_uk data (no Burglary sub-types)"
    )
    vehicle = mixed.formable(find_group(GROUPS, "Vehicle crime (excluding interference)"))
    assert not vehicle.available
    assert vehicle.note() == "not available from police_uk data (no Vehicle crime sub-types)"
    robbery = mixed.formable(find_group(GROUPS, "Robbery"))
    assert robbery.group == find_group(GROUPS, "Robbery") and robbery.note() == ""


def test_police_uk_serious_acquisitive_crime_is_never_silently_shrunk() -> None:
    coverage = _coverage(
        *(
            _rows("police_uk", c, ["2021-01"])
            for c in ("Burglary", "Vehicle crime", "Robbery", "Shoplifting")
        )
    )
    formed = coverage.formable(find_group(GROUPS, "Serious acquisitive crime"))
    # Only robbery can be formed; the note names both omissions.
    assert formed.group == CategoryGroup(
        "Serious acquisitive crime", (Selector(category="Robbery"),)
    )
    assert formed.note() == (
        "leaves out what it cannot form from police_uk data "
        "(no Burglary sub-types, no Vehicle crime sub-types)"
    )
    night = coverage.formable(find_group(GROUPS, "Night-time violence"))
    assert night.gaps == ()  # police.uk holds no violence here at all: nothing to form from


def test_selector_needs_follow_from_the_selector() -> None:
    assert Selector("Robbery").needs == ()
    assert Selector("Burglary", subcategories=("Burglary dwelling",)).needs == ("sub-types",)
    assert Selector("Vehicle crime", exclude_subcategories=("x",)).needs == ("sub-types",)
    both = Selector("Violence and sexual offences", subcategories=("a",), hours=(22,))
    assert both.needs == ("sub-types", "times of day")


def test_month_mask_takes_periods_or_pairs() -> None:
    frame = schema.conform(
        pd.DataFrame(
            {"source": ["a", "a", "b", "b"], "month": ["2013-06", "2013-07", "2013-06", "2013-07"]}
        )
    )
    windows = {"a": Period("2013-07", "2013-07"), "b": ("2013-06", "2013-06")}
    assert month_mask(frame, windows).tolist() == [False, True, True, False]


def test_months_text_writes_runs() -> None:
    months = [*_months("2020-02", "2020-12"), "2021-03"]
    assert months_text(months) == "Feb 20 to Dec 20, Mar 21"


def test_a_narrowed_group_is_judged_on_the_months_of_its_own_sources() -> None:
    # The force extract (with sub-types) holds 24 months; police.uk (without) only the last 13.
    coverage = _coverage(
        _rows("force", "Burglary", _months("2020-02", "2022-01"), "Burglary dwelling"),
        _rows("police_uk", "Burglary", _months("2021-01", "2022-01")),
    )
    formed = coverage.formable(find_group(GROUPS, "Dwelling burglary")).group
    assert formed is not None
    assert coverage.sources_of(formed) == ("force",)
    assert coverage.for_group(formed, *rolling_periods("2022-01")).covered
    assert coverage.sources_of(find_group(GROUPS, "Dwelling burglary")) == ("force", "police_uk")
