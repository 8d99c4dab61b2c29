"""Killed-or-seriously-injured (KSI) collision counts adjusted for the change in severity recording.

Police forces moved, from 2012 on, from officers judging severity to injury-based systems
(CRASH, and the Metropolitan Police's COPA), which record more injuries as serious. A force's
switch therefore shows as a rise in serious collisions that is not a change on the road. The DfT
publishes, for every collision since 2004, the probability that it would have been recorded as
serious (``adjusted_serious``) or slight (``adjusted_slight``) under injury-based recording; the
adjusted number of serious collisions is the sum of those probabilities, and adjusted KSI is
fatal collisions (never adjusted) plus adjusted serious. Counts on both sides of a switch are
then comparable.

A non-fatal collision without an adjustment (a file without the columns, or a row the DfT did
not adjust) counts as recorded (1 if serious, else 0); how many did is reported in
``unadjusted``, so a table mixing both kinds can be seen for what it is.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from geo_service.errors import InputError

ADJUSTED_COLUMNS = (
    "collisions",
    "fatal",
    "serious",
    "ksi",
    "serious_adjusted",
    "ksi_adjusted",
    "unadjusted",
)


def adjusted_ksi(collisions: pd.DataFrame, *, by: Sequence[str] = ()) -> pd.DataFrame:
    """Recorded and adjusted KSI collision counts per calendar year (and per ``by`` columns).

    Parameters
    ----------
    collisions
        Canonical incidents of road traffic collisions: ``month`` ("YYYY-MM"), ``severity``
        (Fatal / Serious / Slight) and, where known, ``adjusted_serious`` (probability 0..1).
    by
        Further columns to count by, e.g. ``["highway_authority"]``.

    Returns
    -------
    pandas.DataFrame
        One row per ``year`` (int) and ``by`` value, columns :data:`ADJUSTED_COLUMNS`:
        collisions, fatal, serious and ksi as recorded (int), ``serious_adjusted`` and
        ``ksi_adjusted`` (float, expected counts) and ``unadjusted`` (non-fatal collisions that
        had no adjustment and count as recorded).

    Raises
    ------
    InputError
        A needed column is missing.
    """
    _check(collisions, by)
    severity = collisions["severity"].astype("str")
    fatal = severity.eq("Fatal").to_numpy(dtype=bool, na_value=False)
    serious = severity.eq("Serious").to_numpy(dtype=bool, na_value=False)
    if "adjusted_serious" in collisions:
        probability = pd.to_numeric(collisions["adjusted_serious"], errors="coerce").to_numpy(
            dtype=float, na_value=np.nan
        )
    else:
        probability = np.full(len(collisions), np.nan)
    unadjusted = ~fatal & np.isnan(probability)
    serious_adjusted = np.where(fatal, 0.0, np.where(unadjusted, serious, probability))
    rows = pd.DataFrame(
        {
            "year": collisions["month"].astype("str").str[:4].astype(int).to_numpy(),
            **{column: collisions[column].to_numpy() for column in by},
            "collisions": 1,
            "fatal": fatal.astype(int),
            "serious": serious.astype(int),
            "serious_adjusted": serious_adjusted,
            "unadjusted": unadjusted.astype(int),
        }
    )
    table = rows.groupby(["year", *by], sort=True, dropna=False).sum().reset_index()
    table["ksi"] = table["fatal"] + table["serious"]
    table["ksi_adjusted"] = table["fatal"] + table["serious_adjusted"]
    return table[["year", *by, *ADJUSTED_COLUMNS]]


def _check(collisions: pd.DataFrame, by: Sequence[str]) -> None:
    missing = [c for c in ("month", "severity", *by) if c not in collisions.columns]
    if missing:
        raise InputError(
            f"collision table lacks column(s) {missing}; expected canonical incident columns"
        )
