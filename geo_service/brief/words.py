"""A beat's brief in plain words: what rose and fell significantly, and what is unusual this month.

Counts are of *leaf* categories — the whole categories each incident has exactly one of — so a
burglary is counted once, not again in "Serious acquisitive crime" and "All crime"; the groups
are listed apart. Only a change the area table calls significant is called a rise or a fall. A
month is *unusual* when its count is improbable under a Poisson distribution with the mean of
the 12 months before it (one-sided p < 0.01 each way, and at least 5 incidents expected or seen).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_service.analysis.change import top_movers
from geo_service.analysis.significance import poisson_tails

#: One-sided p-value below which a month's count is unusual against the 12 months before.
UNUSUAL_P = 0.01
#: Fewer incidents than this, expected and seen, is never called unusual.
UNUSUAL_MIN = 5
RISE, FALL = "significant increase", "significant decrease"


@dataclass(frozen=True)
class BeatBrief:
    """The words and tables at the top of a beat page.

    Attributes
    ----------
    sentences
        Three sentences: significant rises, significant falls, unusual this month.
    leaves, groups
        The area's change rows of leaf categories and of groups (overlapping).
    increases, decreases
        The leaf categories that moved most (up to three each).
    """

    sentences: tuple[str, str, str]
    leaves: pd.DataFrame
    groups: pd.DataFrame
    increases: pd.DataFrame
    decreases: pd.DataFrame


def beat_brief(
    changes: pd.DataFrame,
    monthly: dict[str, list[int | None]],
    latest_month: str,
    *,
    leaves: Collection[str],
    scope: Mapping[str, frozenset[str]],
    place: str,
) -> BeatBrief:
    """The brief of one area from its change table and monthly series.

    Parameters
    ----------
    changes
        One change row per group (column ``group``, ``previous``, ``current``, ``change``,
        ``pct_change``, ``label``).
    monthly
        Group name -> counts per month (None where not held), oldest first.
    latest_month
        The last month of the series, as the sentence says it ("Jul 13"); the series must run
        month by month to it for a month to be called unusual.
    leaves
        The names of the leaf categories.
    scope
        Group name -> the stored categories it can match: a significant group is named only
        when no narrower significant row within it already is (the rise of "Serious
        acquisitive crime" is said as the rise of dwelling burglary when that is what rose).
    place
        The area's name, as the sentences say it.

    Returns
    -------
    BeatBrief
    """
    is_leaf = changes["group"].isin(list(leaves)).to_numpy()
    leaf_rows, group_rows = changes.loc[is_leaf], changes.loc[~is_leaf]
    movers = leaf_rows.assign(code=leaf_rows["group"])
    increases, decreases = top_movers(movers)
    sentences = (
        _moved(changes, RISE, "rose", place, leaves, scope),
        _moved(changes, FALL, "fell", place, leaves, scope),
        _unusual({k: v for k, v in monthly.items() if k in set(leaves)}, latest_month, place),
    )
    return BeatBrief(sentences, leaf_rows, group_rows, increases, decreases)


def _moved(
    rows: pd.DataFrame,
    label: str,
    verb: str,
    place: str,
    leaves: Collection[str],
    scope: Mapping[str, frozenset[str]],
) -> str:
    moved = rows.loc[rows["label"] == label]
    # Narrowest first: fewest categories, sub-type groups before whole categories.
    order = sorted(
        moved.itertuples(),
        key=lambda r: (len(scope.get(r.group, ())), r.group in leaves, -abs(r.change)),
    )
    named: list[frozenset[str]] = []
    parts = []
    for r in order:
        cats = scope.get(r.group, frozenset())
        if any(cats and seen <= cats for seen in named):
            continue  # a broader group repeating incidents already named
        named.append(cats)
        parts.append((abs(r.change), f"{r.group} ({int(r.previous)} to {int(r.current)}"
                      f"{_pct(r.pct_change)})"))  # fmt: skip
    if not parts:
        return f"No category {verb} significantly in {place}."
    parts.sort(key=lambda p: -p[0])
    return f"{verb.capitalize()} significantly in {place}: {_join([text for _n, text in parts])}."


def _pct(value: float) -> str:
    return f", {value:+.0f} %" if np.isfinite(value) else ""


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _unusual(monthly: dict[str, list[int | None]], latest: str, place: str) -> str:
    found = []
    for name, counts in monthly.items():
        if len(counts) < 13 or counts[-1] is None or any(c is None for c in counts[-13:-1]):
            continue
        seen = int(counts[-1])
        usual = float(np.mean([c for c in counts[-13:-1] if c is not None]))
        if max(seen, usual) < UNUSUAL_MIN:
            continue
        low, high = poisson_tails(seen, usual)
        if high < UNUSUAL_P:
            found.append((high, f"{name} {seen} (usually {usual:.0f} a month)"))
        elif low < UNUSUAL_P:
            found.append((low, f"{name} only {seen} (usually {usual:.0f} a month)"))
    if not found:
        return f"Nothing was unusual in {place} in {latest} against the 12 months before."
    found.sort()
    return f"Unusual in {latest}: {_join([text for _p, text in found])}."
