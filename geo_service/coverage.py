"""What the stored data can say: the months each source holds and the detail it carries.

A comparison is honest only over months its sources hold: a month a source does not cover is
"no data", never 0. And a category group can be formed from a source only when the source carries
the detail the group's selectors need (offence sub-types for "Dwelling burglary", times of day for
night-time violence); police.uk data, for example, has neither. :class:`Coverage` holds both facts
as data, built from the stored rows (:meth:`Coverage.from_incidents`), so every service asks it
the same questions:

* :meth:`Coverage.for_group` / :meth:`Coverage.comparison` - how the sources of a row cover the
  two periods of a comparison, each source over its own window (a source ending up to
  :data:`MAX_LAG_MONTHS` before the period is compared over its own latest months), as a
  :class:`PeriodCoverage` that labels a period not fully held;
* :meth:`Coverage.formable` - the part of a group the sources can honestly form, and a note
  naming what is left out (:class:`FormedGroup`);
* :meth:`Coverage.missing_lines` - the months each source lacks for a comparison, as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from geo_service.analysis.periods import Period, format_month, month_label, parse_month
from geo_service.categories import (
    ALL_CRIME,
    SUBTYPES,
    TIMES,
    CategoryGroup,
    Selector,
    categories_of,
)


def months_text(months: Iterable[str]) -> str:
    """Months as runs: ``["2020-02", ..., "2020-12", "2021-03"]`` -> "Feb 20 to Dec 20, Mar 21"."""
    indices = sorted({parse_month(m) for m in months})
    runs: list[list[int]] = []
    for index in indices:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    return ", ".join(Period(format_month(r[0]), format_month(r[-1])).label for r in runs)


#: The label of a comparison no source of the store can make.
NO_SOURCE = "no data: no source in the store supplies it"

#: How many months earlier than the period asked a source's own window may end (half a year:
#: its window then still shares at least half its months with the period asked).
MAX_LAG_MONTHS = 6


#: A month in which a source holds fewer rows than this share of the median of its other months
#: is held only in part (one stray row of a later month in a file, a download cut short): it is
#: "no data", never a month to compare. Asked only of sources whose other months hold at least
#: :data:`PARTIAL_MIN_MEDIAN` rows each (median), so a sparse source's quiet month stays held.
PARTIAL_SHARE = 0.05
PARTIAL_MIN_MEDIAN = 50


def partial_months(counts: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Per source, the months it holds only in part (:data:`PARTIAL_SHARE`).

    Parameters
    ----------
    counts
        Rows per source and month: columns ``source``, ``month`` (``YYYY-MM``), ``rows``
        (several rows of one source and month are summed).

    Returns
    -------
    dict
        Source -> its partial months, sorted; sources with none are left out.
    """
    if counts.empty:
        return {}
    totals = counts.groupby(["source", "month"], sort=True)["rows"].sum()
    found: dict[str, tuple[str, ...]] = {}
    for source, per_month in totals.groupby(level="source"):
        rows = per_month.to_numpy(dtype=float)
        months = [str(m) for m in per_month.index.get_level_values("month")]
        partial = []
        for i, month in enumerate(months):
            others = np.delete(rows, i)
            if others.size == 0:
                continue
            usual = float(np.median(others))
            if usual >= PARTIAL_MIN_MEDIAN and rows[i] < PARTIAL_SHARE * usual:
                partial.append(month)
        if partial:
            found[str(source)] = tuple(partial)
    return found


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
    partial
        Source -> months it holds only in part (:func:`partial_months`): not in ``months``, so
        never compared; named in :meth:`missing_lines`.
    """

    months: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    subcategories: frozenset[tuple[str, str]] = frozenset()
    times: frozenset[tuple[str, str]] = frozenset()
    partial: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

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
        """The sources that supplied any category ``group`` can match (within a selector's own
        :attr:`~geo_service.categories.Selector.sources` when it names them), sorted."""
        found: set[str] = set()
        for selector in group.include:
            for category in _categories(selector):
                supplied = self.sources.get(category, ())
                allowed = supplied if selector.sources is None else selector.sources
                found.update(s for s in supplied if s in allowed)
        return tuple(sorted(found))

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
                    lacks = self._lacks(selector, source, category)
                    if lacks:
                        found.append(Gap(source=source, category=category, lacks=lacks))
        return tuple(dict.fromkeys(found))

    def formable(self, group: CategoryGroup) -> FormedGroup:
        """The part of ``group`` its sources can honestly form, and what had to be left out.

        A part (one selector's category) that no source can form is dropped; one that only
        some sources can form is narrowed to those sources (:attr:`Selector.sources`). The
        result's :attr:`FormedGroup.group` is None when nothing is left.
        """
        gaps = self.gaps(group)
        if not gaps:
            return FormedGroup(name=group.name, group=group, gaps=())
        parts: list[Selector] = []
        for selector in group.include:
            pieces = [self._formable_part(selector, c) for c in _categories(selector)]
            kept = [p for p in pieces if p is not None]
            intact = len(kept) == len(pieces) and all(p.sources is None for p in kept)
            parts.extend([selector] if intact else kept)
        formed = CategoryGroup(name=group.name, include=tuple(parts)) if parts else None
        return FormedGroup(name=group.name, group=formed, gaps=gaps)

    def _lacks(self, selector: Selector, source: str, category: str) -> tuple[str, ...]:
        held = {SUBTYPES: self.subcategories, TIMES: self.times}
        return tuple(n for n in selector.needs if (source, category) not in held[n])

    def _formable_part(self, selector: Selector, category: str) -> Selector | None:
        sources = self.sources.get(category, ())
        able = tuple(s for s in sources if not self._lacks(selector, s, category))
        if len(able) == len(sources):
            return replace(selector, category=category)
        return replace(selector, category=category, sources=able) if able else None

    def comparison(
        self,
        sources: Iterable[str],
        previous: Period,
        current: Period,
        *,
        max_lag_months: int = MAX_LAG_MONTHS,
    ) -> PeriodCoverage:
        """How well ``sources`` cover ``previous`` and ``current``, each over its own window.

        A source whose data ends before ``current.end`` (at most ``max_lag_months`` earlier)
        is compared over its own latest months: both periods move back by the same number of
        months, so a July-June collision year stands beside an August-July crime year. A
        source ending earlier still is not moved (its missing months show as not held).
        """
        windows = tuple(
            self._window(s, previous, current, max_lag_months) for s in sorted(set(sources))
        )
        return PeriodCoverage(previous=previous, current=current, windows=windows)

    def for_group(
        self,
        group: CategoryGroup,
        previous: Period,
        current: Period,
        *,
        max_lag_months: int = MAX_LAG_MONTHS,
    ) -> PeriodCoverage:
        """:meth:`comparison` for the sources of ``group``'s categories."""
        return self.comparison(
            self.sources_of(group), previous, current, max_lag_months=max_lag_months
        )

    def _window(self, source: str, previous: Period, current: Period, lag: int) -> SourceWindow:
        last = self.last_month(source, not_after=current.end)
        latest = self.last_month(source)
        shift = 0
        if last is not None and latest == last:  # the source ends before the period does
            shift = parse_month(current.end) - parse_month(last)
            shift = shift if shift <= lag else 0
        held = set(self.months.get(source, ()))
        before, after = previous.shifted(-shift), current.shifted(-shift)
        return SourceWindow(
            source=source,
            previous=before,
            current=after,
            shift_months=shift,
            held_previous=tuple(m in held for m in before.months),
            held_current=tuple(m in held for m in after.months),
        )

    def missing_for(
        self, sources: Iterable[str], previous: Period, current: Period
    ) -> dict[str, tuple[str, ...]]:
        """Per source, the months of its window (:meth:`comparison`) that it does not hold."""
        found = self.comparison(sources, previous, current)
        return {
            w.source: self.missing_months(w.source, (*w.previous.months, *w.current.months))
            for w in found.windows
        }

    def missing_lines(self, sources: Iterable[str], previous: Period, current: Period) -> list[str]:
        """One line per source missing months of a comparison, e.g. "police_uk: no data for
        Feb 20 to Dec 20"; empty when every source holds every month it is compared over."""
        missing = self.missing_for(sources, previous, current)
        lines = []
        for source, months in missing.items():
            part = [m for m in months if m in self.partial.get(source, ())]
            absent = [m for m in months if m not in part]
            if absent:
                lines.append(f"{source}: no data for {months_text(absent)}")
            if part:
                lines.append(
                    f"{source}: {months_text(part)} held only in part (under "
                    f"{100 * PARTIAL_SHARE:.0f} % of a usual month's rows), so counted as no data"
                )
        return lines


@dataclass(frozen=True)
class Gap:
    """A part of a group that ``source`` cannot form: its ``category`` lacks detail ``lacks``."""

    source: str
    category: str
    lacks: tuple[str, ...]

    def text(self) -> str:
        """E.g. ``"police_uk data has no Burglary sub-types"``."""
        return f"{self.source} data has no {self.category} {' or '.join(self.lacks)}"

    def short(self) -> str:
        """E.g. ``"no Burglary sub-types"``."""
        return f"no {self.category} {' or '.join(self.lacks)}"


@dataclass(frozen=True)
class FormedGroup:
    """What of a group the data can form (:meth:`Coverage.formable`)."""

    name: str
    group: CategoryGroup | None
    gaps: tuple[Gap, ...]

    @property
    def available(self) -> bool:
        """Whether anything of the group can be formed."""
        return self.group is not None

    def note(self) -> str:
        """Empty when whole; else "not available from police_uk data (no Burglary sub-types)" or
        "leaves out what police_uk data cannot form (no Burglary sub-types)"."""
        if not self.gaps:
            return ""
        by_source: dict[str, list[str]] = {}
        for gap in self.gaps:
            by_source.setdefault(gap.source, []).append(gap.short())
        said = "; ".join(f"{s} data ({', '.join(g)})" for s, g in by_source.items())
        if self.group is None:
            return f"not available from {said}"
        return f"leaves out what it cannot form from {said}"


@dataclass(frozen=True)
class SourceWindow:
    """One source's own pair of periods, and which of their months it holds."""

    source: str
    previous: Period
    current: Period
    shift_months: int
    held_previous: tuple[bool, ...]
    held_current: tuple[bool, ...]

    def text(self) -> str:
        """E.g. ``"stats19: Jul 12 to Jun 13 (its data ends Jun 13)"``."""
        ends = month_label(self.current.end)
        return f"{self.source}: {self.current.label} (its data ends {ends})"


@dataclass(frozen=True)
class PeriodCoverage:
    """How the sources of one row cover the two periods of a comparison.

    A month of a period counts as held when every source holds its own month at that position.
    """

    previous: Period
    current: Period
    windows: tuple[SourceWindow, ...]

    @property
    def held_previous(self) -> int:
        """Months of the earlier period held by every source."""
        return _held(self.previous, [w.held_previous for w in self.windows])

    @property
    def held_current(self) -> int:
        """Months of the current period held by every source."""
        return _held(self.current, [w.held_current for w in self.windows])

    @property
    def previous_covered(self) -> bool:
        return self.held_previous == self.previous.n_months

    @property
    def current_covered(self) -> bool:
        return self.held_current == self.current.n_months

    @property
    def covered(self) -> bool:
        """Whether both periods are fully held (a change can then be stated)."""
        return self.previous_covered and self.current_covered

    def label(self) -> str:
        """ "" when covered; else e.g. "no data for the earlier period" or "earlier period partly
        covered (1 of 12 months)"."""
        if not self.windows:
            return NO_SOURCE
        parts = [
            _period_label(word, held, period.n_months)
            for word, held, period in (
                ("earlier", self.held_previous, self.previous),
                ("current", self.held_current, self.current),
            )
        ]
        return "; ".join(p for p in parts if p)

    def text(self) -> str:
        """ "" when covered; else e.g. "Feb 20 to Jan 21: 1 of 12 months held"."""
        parts = [
            f"{period.label}: {held} of {period.n_months} months held"
            for held, period in (
                (self.held_previous, self.previous),
                (self.held_current, self.current),
            )
            if held < period.n_months
        ]
        return "; ".join(parts)

    def window_text(self) -> str:
        """Sources compared over their own months, e.g. "stats19: Jul 12 to Jun 13 (its data
        ends Jun 13)"; "" when every source is compared over the periods asked."""
        return "; ".join(w.text() for w in self.windows if w.shift_months)

    def source_periods(self, which: str) -> dict[str, Period]:
        """Source -> its own ``"previous"`` or ``"current"`` period, for counting."""
        return {w.source: getattr(w, which) for w in self.windows}


def _held(period: Period, held: list[tuple[bool, ...]]) -> int:
    if not held:
        return 0
    return sum(all(h[i] for h in held) for i in range(period.n_months))


def _period_label(word: str, held: int, months: int) -> str:
    if held == months:
        return ""
    if held == 0:
        return f"no data for the {word} period"
    return f"{word} period partly covered ({held} of {months} months)"


def _categories(selector: Selector) -> list[str]:
    if selector.category == ALL_CRIME:
        return categories_of(CategoryGroup(name=ALL_CRIME, include=(selector,)))
    return [selector.category]


def month_mask(frame: pd.DataFrame, windows: Mapping[str, tuple[str, str] | Period]) -> np.ndarray:
    """Rows of ``frame`` whose month lies in their own source's ``(first, last)`` window (or
    :class:`~geo_service.analysis.periods.Period`)."""
    keep = np.zeros(len(frame), dtype=bool)
    month = frame["month"].astype("str")
    source = frame["source"].astype("str")
    for name, window in windows.items():
        first, last = (window.start, window.end) if isinstance(window, Period) else window
        inside = (source == name) & (month >= first) & (month <= last)
        keep |= inside.to_numpy(dtype=bool, na_value=False)
    return keep
