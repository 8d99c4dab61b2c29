"""Category groups: named unions of categories and subcategories, read from a TOML file.

The default groups (``geo_service/data/categories.toml``) are the rows of a strategic
assessment's "Looking back" table; a partnership can supply its own file (``Settings.categories``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from geo_service._toml import read_toml
from geo_service.errors import InputError
from geo_service.schema import ASB, POLICE_UK_CATEGORIES

if TYPE_CHECKING:
    import pandas as pd

ALL_CRIME = "*crime"
#: The two kinds of detail a selector may need beyond its category.
SUBTYPES = "sub-types"
TIMES = "times of day"
_SELECTOR_KEYS = {"category", "subcategories", "exclude_subcategories", "hours"}


@dataclass(frozen=True)
class Selector:
    """Incidents of one category, optionally narrowed by subcategory and hour of day.

    ``sources`` narrows it to the rows of those sources; it is never read from a file but set
    by :meth:`geo_service.coverage.Coverage.formable` when only some sources carry the detail
    the selector needs.
    """

    category: str
    subcategories: tuple[str, ...] | None = None
    exclude_subcategories: tuple[str, ...] | None = None
    hours: tuple[int, ...] | None = None
    sources: tuple[str, ...] | None = None

    @property
    def needs(self) -> tuple[str, ...]:
        """The detail this selector needs beyond the category: sub-types and/or times of day."""
        need: list[str] = []
        if self.subcategories is not None or self.exclude_subcategories is not None:
            need.append(SUBTYPES)
        if self.hours is not None:
            need.append(TIMES)
        return tuple(need)

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``frame`` this selector matches."""
        if self.category == ALL_CRIME:
            crime = [c for c in POLICE_UK_CATEGORIES if c != ASB]
            selected = frame["category"].isin(crime).to_numpy()
        else:
            selected = (frame["category"] == self.category).to_numpy(dtype=bool, na_value=False)
        if self.subcategories is not None:
            selected = selected & frame["subcategory"].isin(self.subcategories).to_numpy()
        if self.exclude_subcategories is not None:
            selected = selected & ~frame["subcategory"].isin(self.exclude_subcategories).to_numpy()
        if self.sources is not None:
            selected = selected & frame["source"].isin(self.sources).to_numpy(dtype=bool)
        if self.hours is not None:
            hour = frame["occurred_at"].dt.hour
            timed = frame["time_known"].to_numpy(dtype=bool)
            selected = selected & timed & hour.isin(self.hours).to_numpy()
        return selected


@dataclass(frozen=True)
class CategoryGroup:
    """A named union of selectors, e.g. "Serious acquisitive crime"."""

    name: str
    include: tuple[Selector, ...]
    #: The partnership's priority order (1 first), or None: the strategic assessment gives each
    #: priority a section of its own, in this order.
    priority: int | None = None

    def mask(self, frame: pd.DataFrame) -> np.ndarray:
        """Boolean mask of the rows of ``frame`` in this group."""
        selected = np.zeros(len(frame), dtype=bool)
        for selector in self.include:
            selected = selected | selector.mask(frame)
        return selected


def load_groups(path: Path | None = None) -> tuple[CategoryGroup, ...]:
    """Read category groups from ``path``, or the packaged defaults when ``path`` is None."""
    document, where = read_toml(path, packaged="data/categories.toml", what="category groups file")
    return tuple(_group(where, i, entry) for i, entry in enumerate(document.get("groups", [])))


def categories_of(group: CategoryGroup) -> list[str]:
    """The stored categories ``group`` can match, sorted (``*crime``: every police.uk crime).

    Lets a caller ask the store for only these categories before applying the group's mask.
    """
    names: set[str] = set()
    for selector in group.include:
        if selector.category == ALL_CRIME:
            names.update(c for c in POLICE_UK_CATEGORIES if c != ASB)
        else:
            names.add(selector.category)
    return sorted(names)


def find_group(groups: tuple[CategoryGroup, ...], name: str) -> CategoryGroup:
    """The group called ``name`` (case-insensitive), else a group of the plain category ``name``."""
    for group in groups:
        if group.name.casefold() == name.casefold():
            return group
    return CategoryGroup(name=name, include=(Selector(category=name),))


def _group(where: str, index: int, entry: dict[str, object]) -> CategoryGroup:
    name = entry.get("name")
    include = entry.get("include")
    priority = entry.get("priority")
    if not isinstance(name, str) or not isinstance(include, list) or not include:
        raise InputError(
            f"{where}: groups[{index}] needs a 'name' (text) and a non-empty 'include' list"
        )
    unknown = set(entry) - {"name", "include", "priority"}
    if unknown:
        raise InputError(
            f"{where}: group {name!r}: unknown key(s) {sorted(unknown)}; "
            "allowed: include, name, priority"
        )
    if priority is not None and (
        isinstance(priority, bool) or not isinstance(priority, int) or priority < 1
    ):
        raise InputError(
            f"{where}: group {name!r}: priority = {priority!r}; expected a whole number from 1"
        )
    return CategoryGroup(
        name=name,
        include=tuple(_selector(where, name, s) for s in include),
        priority=priority,
    )


def _selector(where: str, group: str, entry: object) -> Selector:
    if not isinstance(entry, dict) or not isinstance(entry.get("category"), str):
        raise InputError(f"{where}: group {group!r}: each include entry needs a 'category'")
    unknown = set(entry) - _SELECTOR_KEYS
    if unknown:
        raise InputError(
            f"{where}: group {group!r}: unknown key(s) {sorted(unknown)}; "
            f"allowed: {sorted(_SELECTOR_KEYS)}"
        )

    def _tuple(key: str) -> tuple | None:
        value = entry.get(key)
        return None if value is None else tuple(value)

    return Selector(
        category=entry["category"],
        subcategories=_tuple("subcategories"),
        exclude_subcategories=_tuple("exclude_subcategories"),
        hours=_tuple("hours"),
    )
