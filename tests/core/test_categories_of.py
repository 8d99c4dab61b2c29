"""categories_of: the stored categories a group can match, checked against the group's mask."""

from __future__ import annotations

import pandas as pd

from geo_service.categories import CategoryGroup, Selector, categories_of, load_groups
from geo_service.schema import ASB, POLICE_UK_CATEGORIES


def _one_of_each() -> pd.DataFrame:
    names = [*POLICE_UK_CATEGORIES, "Deliberate fire", "Road traffic collision"]
    return pd.DataFrame(
        {
            "category": names,
            "subcategory": [None] * len(names),
            "occurred_at": pd.Timestamp("2013-01-01 12:00"),
            "time_known": True,
        }
    )


def test_every_default_group_matches_only_its_categories() -> None:
    frame = _one_of_each()
    for group in load_groups():
        matched = sorted(frame.loc[group.mask(frame), "category"])
        assert set(matched) <= set(categories_of(group)), group.name


def test_all_crime_is_every_police_uk_crime_but_asb() -> None:
    group = CategoryGroup("All crime", (Selector("*crime"),))
    expected = sorted(c for c in POLICE_UK_CATEGORIES if c != ASB)
    assert categories_of(group) == expected
    assert ASB not in categories_of(group) and "Burglary" in categories_of(group)
    mixed = CategoryGroup("x", (Selector("Burglary"), Selector("Deliberate fire", hours=(1,))))
    assert categories_of(mixed) == ["Burglary", "Deliberate fire"]
