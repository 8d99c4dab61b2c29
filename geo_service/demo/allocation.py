"""Integer allocation of the calibration targets: how many incidents per beat, month, subcategory.

Every target is met by construction, never by rejection sampling: each total is split with
:func:`apportion` (largest remainder over seeded plausible weights, with lower/upper bounds per
cell) after the cells the assessment states are fixed. A family's beat counts and month counts are
both exact; incidents are then paired beat-with-month at random (which keeps both margins), and
each beat's incidents are given subcategories from an integer beat x subcategory table whose row
and column sums are exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo_service.demo.calibration import BeatSpec, Calibration, FamilySpec

#: Relative beat weights per kind of beat, by family profile.
_PROFILE_KIND = {
    "people": {"centre": 1.6, "urban": 1.0, "rural": 0.6},
    "centre": {"centre": 6.0, "urban": 1.0, "rural": 0.35},
    "residential": {"centre": 0.9, "urban": 1.1, "rural": 0.6},
    "roads": {"centre": 1.5, "urban": 0.7, "rural": 1.5},
}
ALLOCATION_COLUMNS = ("family", "category", "subcategory", "year", "month", "beat")


def apportion(
    total: int,
    weights: np.ndarray,
    *,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` within ``lower``..``upper``.

    Each cell first gets its lower bound; the rest is shared by largest-remainder apportionment
    over ``weights``, repeated while upper bounds clip cells. Raises ValueError when the bounds
    make ``total`` impossible.
    """
    weights = np.asarray(weights, dtype=float)
    low = np.zeros(len(weights), dtype=np.int64) if lower is None else np.asarray(lower, np.int64)
    high = (
        np.full(len(weights), total, dtype=np.int64)
        if upper is None
        else np.asarray(upper, np.int64)
    )
    if low.sum() > total or high.sum() < total or (low > high).any():
        raise ValueError(f"cannot split {total} within bounds {low.tolist()}..{high.tolist()}")
    counts = low.copy()
    remaining = total - int(counts.sum())
    while remaining > 0:
        room = high - counts
        eligible = room > 0
        w = np.where(eligible, weights, 0.0)
        w = w if w.sum() > 0 else eligible.astype(float)
        ideal = remaining * w / w.sum()
        base = np.minimum(np.floor(ideal).astype(np.int64), room)
        if base.sum() > 0:
            counts += base
            remaining -= int(base.sum())
            continue
        order = np.lexsort((np.arange(len(w)), -ideal))
        order = order[eligible[order]][:remaining]
        counts[order] += 1
        remaining -= len(order)
    return counts


def beat_weights(
    family: FamilySpec, beats: Sequence[BeatSpec], rng: np.random.Generator
) -> np.ndarray:
    """Seeded plausible weights of ``beats`` for ``family``."""
    kind = _PROFILE_KIND[family.profile]
    base = np.array([b.people * kind[b.kind] for b in beats])
    return base * rng.lognormal(0.0, 0.25, size=len(beats))


def year_months(year: int, family: FamilySpec) -> list[str]:
    """The 12 months of ``year`` for ``family`` (collisions July-June, others August-July)."""
    first = 7 if family.category == "Road traffic collision" else 8
    start = pd.Period(f"{year}-{first:02d}", freq="M")
    return [str(start + i) for i in range(12)]


def allocate(calibration: Calibration, *, seed: int) -> pd.DataFrame:
    """One row per incident to generate (``ALLOCATION_COLUMNS``), meeting every target exactly."""
    rng = np.random.default_rng(seed)
    parts = [_family_rows(calibration, family, rng) for family in calibration.families]
    columns = {name: np.concatenate([part[name] for part in parts]) for name in ALLOCATION_COLUMNS}
    frame = pd.DataFrame(columns)
    frame["year"] = frame["year"].astype(np.int64)
    return frame


def _family_rows(
    calibration: Calibration, family: FamilySpec, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    beats = calibration.beats
    codes = np.array([b.code for b in beats])
    weights = beat_weights(family, beats, rng)
    by_year = _beat_counts(calibration, family, weights, rng)
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ALLOCATION_COLUMNS}
    for year, counts in by_year.items():
        index = year - calibration.previous_year
        months = _month_counts(family, year, int(counts.sum()), index, rng)
        beat_of, month_of = _pair(family, codes, counts, months, rng)
        subcategory = _subcategories(family, codes, counts, year, index, beat_of, rng)
        n = len(beat_of)
        parts["family"].append(np.full(n, family.name, dtype=object))
        parts["category"].append(np.full(n, family.category, dtype=object))
        parts["subcategory"].append(subcategory)
        parts["year"].append(np.full(n, year, dtype=np.int64))
        parts["month"].append(month_of)
        parts["beat"].append(beat_of)
    return {name: np.concatenate(arrays) for name, arrays in parts.items()}


def _beat_counts(
    calibration: Calibration, family: FamilySpec, weights: np.ndarray, rng: np.random.Generator
) -> dict[int, np.ndarray]:
    codes = [b.code for b in calibration.beats]
    previous = _assessed_year(family, codes, weights, 0, None)
    current = _assessed_year(
        family, codes, (previous + 0.5) * rng.lognormal(0, 0.15, len(codes)), 1, previous
    )
    result = {}
    for year, total in zip(
        range(calibration.first_year, calibration.previous_year), family.history, strict=True
    ):
        noisy = (previous + 0.5) * rng.lognormal(0.0, 0.12, size=len(codes))
        result[year] = apportion(total, noisy)
    result[calibration.previous_year] = previous
    result[calibration.current_year] = current
    return result


def _assessed_year(
    family: FamilySpec,
    codes: list[str],
    weights: np.ndarray,
    index: int,
    previous: np.ndarray | None,
) -> np.ndarray:
    """Beat counts of the previous (index 0) or current (1) year, fixed cells and bounds applied."""
    total = family.total(index)
    fixed = np.array([code in family.beats for code in codes])
    counts = np.array([family.beats[c][index] if c in family.beats else 0 for c in codes], np.int64)
    lower = np.full(len(codes), family.min_other[index] if family.min_other else 0, np.int64)
    upper = np.full(len(codes), family.max_other[index] if family.max_other else total, np.int64)
    if previous is not None:
        if family.max_increase is not None:
            upper = np.minimum(upper, previous + family.max_increase)
        if family.max_decrease is not None:
            lower = np.maximum(lower, previous - family.max_decrease)
        if family.decrease_everywhere:
            upper = np.minimum(upper, previous - 1)
    free = ~fixed
    try:
        counts[free] = apportion(
            total - int(counts.sum()), weights[free], lower=lower[free], upper=upper[free]
        )
    except ValueError as exc:
        raise ValueError(f"family {family.name}, year index {index}: {exc}") from None
    return counts


def _month_counts(
    family: FamilySpec, year: int, total: int, index: int, rng: np.random.Generator
) -> dict[str, int]:
    """Incidents per month of ``year``: fixed months, the rest by seasonal weights."""
    months = year_months(year, family)
    fixed = {m: family.months[m] for m in months if m in family.months}
    season = np.array([family.season[int(m[5:]) - 1] for m in months])
    weights = season * rng.lognormal(0.0, 0.08, size=12)
    free = np.array([m not in fixed for m in months])
    upper = None
    if index in (0, 1) and family.month_max_other is not None:
        upper = np.full(int(free.sum()), family.month_max_other[index], np.int64)
    counts = np.zeros(12, dtype=np.int64)
    counts[~free] = [fixed[m] for m in months if m in fixed]
    counts[free] = apportion(total - int(counts.sum()), weights[free], upper=upper)
    return dict(zip(months, counts.tolist(), strict=True))


def _pair(
    family: FamilySpec,
    codes: np.ndarray,
    counts: np.ndarray,
    months: dict[str, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Beat and month of each incident: both margins exact, series pre-paired, the rest random."""
    beat_pool = dict(zip(codes.tolist(), counts.tolist(), strict=True))
    month_pool = dict(months)
    beat_of: list[str] = []
    month_of: list[str] = []
    for series in family.series:
        if not set(series.months) <= set(month_pool):
            continue
        share = apportion(series.count, np.array([month_pool[m] for m in series.months], float))
        for month, n in zip(series.months, share.tolist(), strict=True):
            beat_of += [series.beat] * n
            month_of += [month] * n
            month_pool[month] -= n
            beat_pool[series.beat] -= n
    rest_beats = np.repeat(list(beat_pool), list(beat_pool.values()))
    rest_months = np.repeat(list(month_pool), list(month_pool.values()))
    rest_months = rest_months[rng.permutation(len(rest_months))]
    beat_all = np.concatenate([np.array(beat_of, dtype=object), rest_beats.astype(object)])
    month_all = np.concatenate([np.array(month_of, dtype=object), rest_months.astype(object)])
    return beat_all, month_all


def _subcategories(
    family: FamilySpec,
    codes: np.ndarray,
    counts: np.ndarray,
    year: int,
    index: int,
    beat_of: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Subcategory of each incident, from an exact beat x subcategory table."""
    names = list(family.subcategories)
    if index in (0, 1):
        totals = np.array([family.subcategories[n][index] for n in names], np.int64)
    else:
        weights = np.array([family.subcategories[n][0] for n in names], float)
        totals = apportion(int(counts.sum()), weights)
    table = _subcategory_table(family, codes, counts, names, totals, year, index, rng)
    out = np.empty(len(beat_of), dtype=object)
    for row, code in enumerate(codes.tolist()):
        where = np.flatnonzero(beat_of == code)
        labels = np.repeat(np.array(names, dtype=object), table[row])
        out[where] = labels[rng.permutation(len(labels))]
    return out


def _subcategory_table(
    family: FamilySpec,
    codes: np.ndarray,
    counts: np.ndarray,
    names: list[str],
    totals: np.ndarray,
    year: int,
    index: int,
    rng: np.random.Generator,
) -> np.ndarray:
    table = np.zeros((len(codes), len(names)), dtype=np.int64)
    fixed_rows = np.zeros(len(codes), dtype=bool)
    if index in (0, 1):
        for row, code in enumerate(codes.tolist()):
            if code in family.cells:
                table[row] = [family.cells[code][n][index] for n in names]
                fixed_rows[row] = True
    remaining = np.where(fixed_rows, 0, counts).astype(np.int64)
    column_left = totals - table.sum(axis=0)
    for col, name in enumerate(names[:-1]):
        lower = np.zeros(len(codes), dtype=np.int64)
        upper = remaining.copy()
        if family.distinct_beats.get(name) == year:
            upper = np.minimum(upper, 1)
        if family.majority.get(name) == year:
            lower = np.where(remaining > 0, remaining // 2 + 1, 0)
        weights = remaining * rng.lognormal(0.0, 0.2, size=len(codes))
        added = apportion(int(column_left[col]), weights, lower=lower, upper=upper)
        table[:, col] += added
        remaining -= added
    table[~fixed_rows, -1] = remaining[~fixed_rows]
    if (table.sum(axis=0) != totals).any():
        raise ValueError(f"family {family.name}: subcategory table does not meet its totals")
    return table
