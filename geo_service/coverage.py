"""What the stored data can say: the months each source holds and the detail it carries.

A comparison is honest only over months its sources hold: a month a source does not cover is
"no data", never 0. And a category group can be formed from a source only when the source carries
the detail the group's selectors need (offence sub-types for "Dwelling burglary", times of day for
night-time violence); police.uk data, for example, has neither. :class:`Coverage` holds both facts
as data, built from the stored rows (:meth:`Coverage.from_incidents`), so every service asks it
the same questions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from geo_service.categories import ALL_CRIME, CategoryGroup, Selector, categories_of

#: Columns :meth:`Coverage.from_incidents` reads.
COVERAGE_COLUMNS: tuple[str, ...] = ("source", "category", "subcategory", "month", "time_known")


@dataclass(frozen=True)
class Coverage:
    """Months held per source, and the detail each source carries per category.

    Attributes
    ----------
    months
        Source name -> the months (``YYYY-MM``, sorted) in which it holds at least one row.
    sources
        Category -> the sources that supplied rows of it (sorted).
    subcategories
        ``(source, category)`` pairs whose rows carry a subcategory (offence sub-type).
    times
        ``(source, category)`` pairs whose rows carry a known time of day.
    """

    months: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    subcategories: frozenset[tuple[str, str]] = frozenset()
    times: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def from_incidents(cls, frame: pd.DataFrame) -> Coverage:
        """The coverage of the rows of ``frame`` (columns :data:`COVERAGE_COLUMNS`)."""
        if frame.empty:
            return cls()
        source = frame["source"].astype("str")
        category = frame["category"].astype("str")
        keys = pd.DataFrame(
            {
                "source": source.to_numpy(),
                "category": category.to_numpy(),
                "month": frame["month"].astype("str").to_numpy(),
                "sub": frame["subcategory"].notna().to_numpy(),
                "timed": frame["time_known"].fillna(False).to_numpy(dtype=bool),
            }
        )
        months = keys.groupby("source")["month"].unique()
        pairs = keys.groupby(["source", "category"], sort=True)[["sub", "timed"]].any()
        by_category: dict[str, list[str]] = {}
        for src, cat in pairs.index:
            by_category.setdefault(str(cat), []).append(str(src))
        return cls(
            months={str(s): tuple(sorted(m)) for s, m in months.items()},
            sources={c: tuple(sorted(s)) for c, s in by_category.items()},
            subcategories=frozenset(
                (str(s), str(c)) for (s, c), v in pairs["sub"].items() if bool(v)
            ),
            times=frozenset((str(s), str(c)) for (s, c), v in pairs["timed"].items() if bool(v)),
        )

    def all_months(self) -> tuple[str, ...]:
        """Every month any source holds, sorted."""
        return tuple(sorted({m for held in self.months.values() for m in held}))

    def sources_of(self, group: CategoryGroup) -> tuple[str, ...]:
        """The sources that supplied any category ``group`` can match, sorted."""
        return tuple(sorted({s for c in categories_of(group) for s in self.sources.get(c, ())}))

    def months_of(self, group: CategoryGroup) -> tuple[str, ...]:
        """Months held by every source of ``group``'s categories, sorted (union over sources)."""
        return tuple(sorted({m for s in self.sources_of(group) for m in self.months.get(s, ())}))

    def last_month(self, source: str, *, not_after: str | None = None) -> str | None:
        """The latest month ``source`` holds, at or before ``not_after`` when given."""
        held = [m for m in self.months.get(source, ()) if not_after is None or m <= not_after]
        return held[-1] if held else None

    def missing_months(self, source: str, months: Iterable[str]) -> tuple[str, ...]:
        """The months of ``months`` that ``source`` does not hold, in the order given."""
        held = set(self.months.get(source, ()))
        return tuple(m for m in months if m not in held)

    def gaps(self, group: CategoryGroup) -> tuple[Gap, ...]:
        """What the sources of ``group`` cannot supply: one :class:`Gap` per source and part.

        A selector narrowed by subcategory needs every source of its category to carry
        subcategories; one narrowed by hour of day needs known times. A whole category
        (``"Robbery"``) needs nothing beyond the category itself.
        """
        found: list[Gap] = []
        for selector in group.include:
            for category in _categories(selector):
                for source in self.sources.get(category, ()):
                    need = _needs(selector)
                    lacks = tuple(
                        n
                        for n in need
                        if (source, category)
                        not in (self.subcategories if n == SUBTYPES else self.times)
                    )
                    if lacks:
                        found.append(Gap(source=source, category=category, lacks=lacks))
        return tuple(dict.fromkeys(found))


#: The two kinds of detail a selector may need.
SUBTYPES = "sub-types"
TIMES = "times of day"


@dataclass(frozen=True)
class Gap:
    """A part of a group that ``source`` cannot form: its ``category`` lacks detail ``lacks``."""

    source: str
    category: str
    lacks: tuple[str, ...]

    def text(self) -> str:
        """E.g. ``"police_uk data has no Burglary sub-types"``."""
        return f"{self.source} data has no {self.category} {' or '.join(self.lacks)}"


def _categories(selector: Selector) -> list[str]:
    if selector.category == ALL_CRIME:
        return categories_of(CategoryGroup(name=ALL_CRIME, include=(selector,)))
    return [selector.category]


def _needs(selector: Selector) -> tuple[str, ...]:
    need: list[str] = []
    if selector.subcategories is not None or selector.exclude_subcategories is not None:
        need.append(SUBTYPES)
    if selector.hours is not None:
        need.append(TIMES)
    return tuple(need)


def month_mask(frame: pd.DataFrame, windows: Mapping[str, tuple[str, str]]) -> np.ndarray:
    """Rows of ``frame`` whose month lies in their own source's ``(first, last)`` window."""
    keep = np.zeros(len(frame), dtype=bool)
    month = frame["month"].astype("str")
    source = frame["source"].astype("str")
    for name, (first, last) in windows.items():
        keep |= ((source == name) & (month >= first) & (month <= last)).to_numpy()
    return keep
