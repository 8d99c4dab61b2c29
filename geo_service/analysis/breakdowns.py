"""Breakdowns: by subcategory, collision severity by year, and position among peer areas.

Peer positions are written as the field writes them: "7th of 10". By default they follow the
Home Office / iQuanta convention the published assessment uses, where positions count up from the
lowest: the area with the lowest count (or rate) is "1st of 10" and the highest "10th of 10"
("Dacorum remains highest in the county (10th/10)"); areas tied share the lower position ("min"
ranking: two areas tied highest of 10 are both "9th of 10", the assessment's "joint 9th/10").
``highest_first=True`` counts from the highest instead (highest "1st of 10"). Compute them from a
:func:`~geo_service.analysis.change.change_table` of the peer layer (all districts, all wards ...);
:func:`position_convention` states the convention beside them.

The breakdowns take raw incidents or a *counted* frame (rows standing for several incidents
with equal keys, their number in ``n``; :mod:`geo_service.analysis.counts`): both give the same
table for the same incidents.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo_service.analysis.counts import UNALLOCATED, select, weights
from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup
from geo_service.schema import ROAD_TRAFFIC_COLLISION, SEVERITIES

NOT_GIVEN = "(not given)"
GRAND_TOTAL = "Grand Total"


def ordinal(n: int) -> str:
    """``1`` -> ``"1st"``, ``2`` -> ``"2nd"``, ``11`` -> ``"11th"``, ``22`` -> ``"22nd"``.

    Parameters
    ----------
    n
        A whole number.

    Returns
    -------
    str
        The number with its English ordinal suffix.
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def subcategory_breakdown(
    incidents: pd.DataFrame,
    *,
    group: CategoryGroup | str,
    previous: Period,
    current: Period,
) -> pd.DataFrame:
    """Counts per subcategory in both periods, with change, % change and % share.

    Parameters
    ----------
    incidents
        Canonical incidents, or a counted frame (module docstring).
    group
        Category group, or the name of a plain category.
    previous, current
        The periods compared.

    Returns
    -------
    pandas.DataFrame
        One row per subcategory (a missing subcategory is reported as ``"(not given)"``):
        subcategory, previous, current, change, pct_change (percent; NaN when previous is 0),
        share (percent of the current total). Ordered by current count, highest first.
    """
    counts = {}
    for key, period in (("previous", previous), ("current", current)):
        chosen = select(incidents, group=group, period=period)
        sub = chosen["subcategory"].fillna(NOT_GIVEN).astype("str")
        counts[key] = pd.Series(weights(chosen), index=chosen.index).groupby(sub).sum()
    table = pd.DataFrame(counts).fillna(0).astype("int64")
    table.index.name = "subcategory"
    table = table.reset_index()
    table["change"] = table["current"] - table["previous"]
    prev = table["previous"].to_numpy(dtype=float)
    safe = np.where(prev > 0, prev, 1.0)
    table["pct_change"] = np.where(prev > 0, 100.0 * table["change"] / safe, np.nan)
    total = table["current"].sum()
    table["share"] = 100.0 * table["current"] / total if total else np.nan
    table = table.sort_values(["current", "subcategory"], ascending=[False, True], kind="stable")
    return table.reset_index(drop=True)


def severity_by_period(
    incidents: pd.DataFrame,
    periods: tuple[Period, ...] | list[Period],
    *,
    group: CategoryGroup | str = ROAD_TRAFFIC_COLLISION,
) -> pd.DataFrame:
    """Collisions per severity (Slight, Serious, Fatal, then Grand Total) in each period.

    Parameters
    ----------
    incidents
        Canonical incidents with ``severity``, or a counted frame with it (module docstring).
    periods
        The periods, one column each.
    group
        The collisions' group or category (default road traffic collisions).

    Returns
    -------
    pandas.DataFrame
        Four rows; columns ``severity`` then one column per period, named by its label.
        Collisions with no severity are only in the Grand Total.
    """
    order = list(reversed(SEVERITIES))
    columns: dict[str, list[str] | list[int]] = {"severity": [*order, GRAND_TOTAL]}
    for period in periods:
        chosen = select(incidents, group=group, period=period)
        n = pd.Series(weights(chosen), index=chosen.index)
        counts = n.groupby(chosen["severity"]).sum()
        columns[period.label] = [int(counts.get(s, 0)) for s in order] + [int(n.sum())]
    return pd.DataFrame(columns)


def position_convention(*, highest_first: bool = False) -> str:
    """The convention of :func:`peer_positions`, said in words beside the positions.

    Parameters
    ----------
    highest_first
        As for :func:`peer_positions` (default False: the iQuanta convention).

    Returns
    -------
    str
        One sentence.
    """
    if highest_first:
        return "Positions count down from the highest (1st)."
    return "Positions count up from the lowest (1st), so the highest is last, as in iQuanta."


def peer_positions(
    table: pd.DataFrame, *, areas: pd.DataFrame | None = None, highest_first: bool = False
) -> pd.DataFrame:
    """Position of each area among its peers on counts and rates, both periods.

    Parameters
    ----------
    table
        A change table of the peer layer (columns code, name, previous, current, rate, rate_per).
    areas
        The peer layer's standard frame; gives the denominators of the previous-period rates.
    highest_first
        False (default): the Home Office / iQuanta convention, the highest is "10th of 10";
        True: the highest is "1st of 10".

    Returns
    -------
    pandas.DataFrame
        code, name, count_rank, count_position ("7th of 10"), previous_count_rank,
        previous_count_position, rate, rate_rank, rate_position, previous_rate,
        previous_rate_rank, previous_rate_position; one row per area, the unallocated row left
        out. Ranks are nullable ``Int64``; rates per 1,000 residents or households (missing
        without denominators).
    """
    peers = table.loc[table["code"] != UNALLOCATED, ["code", "name", "previous", "current"]]
    out = peers.astype({"previous": "float64", "current": "float64"})
    out["rate"] = table.loc[peers.index, "rate"] if "rate" in table.columns else np.nan
    out["previous_rate"] = _previous_rate(table.loc[peers.index], areas)
    for key, column in (
        ("count", "current"),
        ("previous_count", "previous"),
        ("rate", "rate"),
        ("previous_rate", "previous_rate"),
    ):
        ranks, positions = _positions(out[column], highest_first=highest_first)
        out[f"{key}_rank"] = ranks
        out[f"{key}_position"] = positions
    return out.drop(columns=["previous", "current"]).reset_index(drop=True)


def _positions(values: pd.Series, *, highest_first: bool) -> tuple[pd.Series, pd.Series]:
    numbers = values.astype("float64")
    ranks = numbers.rank(method="min", ascending=not highest_first).astype("Int64")
    of = int(numbers.notna().sum())
    positions = pd.array(
        [None if pd.isna(r) else f"{ordinal(int(r))} of {of}" for r in ranks], dtype="str"
    )
    return ranks, pd.Series(positions, index=values.index)


def _previous_rate(table: pd.DataFrame, areas: pd.DataFrame | None) -> np.ndarray:
    if areas is None or "rate_per" not in table.columns:
        return np.full(len(table), np.nan)
    column = table["rate_per"].map(
        lambda per: "households" if isinstance(per, str) and "household" in per else "population"
    )
    lookup = areas.set_index(areas["code"].astype("str"))
    denominators = [
        float(lookup[c].get(code, np.nan)) if c in lookup.columns else np.nan
        for code, c in zip(table["code"], column, strict=True)
    ]
    denominator = np.array(denominators, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = 1000.0 * table["previous"].to_numpy(dtype=float, na_value=np.nan) / denominator
    return np.where(denominator > 0, rate, np.nan)
