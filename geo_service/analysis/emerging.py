"""Emerging hot spots: is a place's problem new, growing, lasting or fading?

Following ArcGIS Pro's Emerging Hot Spot Analysis: Gi* is computed for every location at every
time step (:func:`geo_service.analysis.gistar.gi_star`; neighbours in space only, one time step
at a time), a location is a significant hot (cold) spot at a step when its Gi* bin is positive
(negative), i.e. at 90 % confidence or more after the FDR correction, and the trend of its Gi*
z-scores over time is tested with the Mann-Kendall test (:func:`mann_kendall`, significant when
p < 0.05). With ``n`` time steps, "90 % of the steps" means at least ``ceil(0.9 n)`` of them.

Classes (each with a cold twin, e.g. "new cold spot"), tried in this order:

- **new**: hot at the final step and never before;
- **intensifying**: hot at >= 90 % of the steps including the final one, z rising significantly;
- **diminishing**: hot at >= 90 % of the steps including the final one, z falling significantly;
- **persistent**: hot at >= 90 % of the steps including the final one, no significant trend;
- **consecutive**: a single uninterrupted run of >= 2 hot steps ending at the final step, never
  hot before that run, and < 90 % of steps hot;
- **oscillating**: hot at the final step, < 90 % of steps hot, and a cold spot at some earlier
  step;
- **sporadic**: hot at the final step, < 90 % of steps hot, hot on and off before, never cold;
- **historical**: not hot at the final step, but hot at >= 90 % of the steps;
- **no pattern detected**: none of these, for hot or cold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from geo_service.analysis.gistar import gi_star
from geo_service.errors import InputError

if TYPE_CHECKING:
    import scipy.sparse as sp

NO_PATTERN = "no pattern detected"
#: Share of time steps that makes a location persistently hot (or cold).
PERSISTENT_SHARE = 0.9
#: Mann-Kendall p below which a trend counts as significant.
TREND_ALPHA = 0.05
EMERGING_COLUMNS = (
    "pattern",
    "hot_steps",
    "cold_steps",
    "final_bin",
    "trend_z",
    "trend_p",
    "trend",
)


@dataclass(frozen=True, eq=False)
class MannKendall:
    """Mann-Kendall trend test of each series: S, its variance (ties corrected), z and p.

    Attributes
    ----------
    s
        Kendall's S per series, shape ``(locations,)``.
    var_s
        Variance of S under no trend, ties corrected.
    z
        Standardised S (positive: rising).
    p
        Two-sided p-value from the normal approximation.
    """

    s: np.ndarray
    var_s: np.ndarray
    z: np.ndarray
    p: np.ndarray


def mann_kendall(series: np.ndarray, *, continuity: bool = True) -> MannKendall:
    """Mann-Kendall test along axis 0 of ``series`` (time steps x locations).

    The trend test of Mann (1945) and Kendall (1975), with the tie-corrected variance:
    ``S = sum_{i<j} sign(x_j - x_i)``; ``Var S = (n(n-1)(2n+5) - sum_t t(t-1)(2t+5)) / 18`` over
    groups of ``t`` tied values; ``z = (S - sign S) / sqrt(Var S)`` with the continuity
    correction (``S / sqrt(Var S)`` without); two-sided normal p. A constant series has
    ``z = 0``, ``p = 1``.

    Parameters
    ----------
    series
        Values, shape ``(time steps, locations)`` oldest first, or ``(time steps,)`` for one
        series; at least 3 steps.
    continuity
        Apply the continuity correction (default True).

    Returns
    -------
    MannKendall
        ``s``, ``var_s``, ``z`` and ``p``, each of shape ``(locations,)`` (``(1,)`` for 1-D input).

    Raises
    ------
    InputError
        Fewer than 3 time steps.
    """
    from scipy.special import ndtr  # norm.sf(x) is ndtr(-x): scipy.stats costs 0.8 s to import

    x = np.asarray(series, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    if n < 3:
        raise InputError(f"a trend needs at least 3 time steps, got {n}")
    s = np.zeros(x.shape[1])
    for i in range(n - 1):
        s += np.sign(x[i + 1 :] - x[i]).sum(axis=0)
    var_s = (n * (n - 1) * (2 * n + 5) - _tie_term(x)) / 18.0
    numerator = s - np.sign(s) if continuity else s
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_s > 0, numerator / np.sqrt(var_s), 0.0)
    p = 2.0 * ndtr(-np.abs(z))
    return MannKendall(s=s, var_s=var_s, z=z, p=p)


def emerging_hotspots(
    counts: np.ndarray,
    weights: sp.spmatrix | sp.sparray,
    *,
    permutations: int = 0,
    seed: int = 0,
    fdr: bool = True,
) -> pd.DataFrame:
    """Emerging hot-spot class of every location from counts per time step.

    Parameters
    ----------
    counts
        Array (time steps x locations), oldest step first, at least 3 steps, e.g. monthly
        counts per grid cell.
    weights
        Spatial weights between the locations, shape ``(locations, locations)`` (as for
        :func:`gi_star`).
    permutations, seed, fdr
        Passed to :func:`gi_star` at each step, the seed as ``seed + step`` (analytical p-values
        by default: the classification uses only the bins; FDR-corrected bins by default).

    Returns
    -------
    pandas.DataFrame
        One row per location, in the order of ``counts``' columns: :data:`EMERGING_COLUMNS`:
        ``pattern`` (class name), ``hot_steps`` and ``cold_steps`` (steps with a positive or
        negative bin), ``final_bin`` (-3..3), ``trend_z`` and ``trend_p`` (Mann-Kendall of the
        Gi* z-scores) and ``trend`` (``"up"``, ``"down"`` or ``"none"`` at p <
        :data:`TREND_ALPHA`).

    Raises
    ------
    InputError
        ``counts`` is not 2-D with at least 3 steps, or :func:`gi_star` refuses its inputs.
    """
    steps = np.asarray(counts, dtype=float)
    if steps.ndim != 2 or steps.shape[0] < 3:
        raise InputError(
            f"counts must be (time steps x locations) with at least 3 steps, got {steps.shape}"
        )
    z = np.empty(steps.shape)
    bins = np.empty(steps.shape, dtype=np.int64)
    for t, values in enumerate(steps):
        result = gi_star(values, weights, permutations=permutations, seed=seed + t, fdr=fdr)
        z[t], bins[t] = result.z, result.bins
    trend = mann_kendall(z)
    direction = np.where(trend.p < TREND_ALPHA, np.sign(trend.z), 0).astype(np.int64)
    pattern = classify_patterns(bins, direction)
    return pd.DataFrame(
        {
            "pattern": pattern,
            "hot_steps": (bins > 0).sum(axis=0),
            "cold_steps": (bins < 0).sum(axis=0),
            "final_bin": bins[-1],
            "trend_z": trend.z,
            "trend_p": trend.p,
            "trend": np.select([direction > 0, direction < 0], ["up", "down"], "none"),
        }
    )


def classify_patterns(bins: np.ndarray, trend: np.ndarray) -> np.ndarray:
    """Pattern names from Gi* bins and trend signs (the classes of the module docstring).

    A location that would be both a hot and a cold pattern (impossible at the final step) is
    given the hot one.

    Parameters
    ----------
    bins
        Gi* confidence bins (-3..3), shape ``(time steps, locations)``.
    trend
        Significant trend sign per location (+1 rising, -1 falling, 0 none), shape
        ``(locations,)``.

    Returns
    -------
    numpy.ndarray
        Object array of pattern names, shape ``(locations,)``, e.g. ``"new hot spot"`` or
        :data:`NO_PATTERN`.
    """
    bins = np.asarray(bins)
    hot = _patterns(bins > 0, bins < 0, np.asarray(trend), "hot spot")
    cold = _patterns(bins < 0, bins > 0, -np.asarray(trend), "cold spot")
    return np.where(hot != NO_PATTERN, hot, cold)


def _patterns(sig: np.ndarray, opposite: np.ndarray, trend: np.ndarray, kind: str) -> np.ndarray:
    """Classes of one kind; ``sig`` marks the kind's significant steps, ``opposite`` the other's."""
    n_steps = sig.shape[0]
    needed = math.ceil(PERSISTENT_SHARE * n_steps)
    count = sig.sum(axis=0)
    final = sig[-1]
    mostly = count >= needed
    run = _final_run_length(sig)
    before_run = count - run
    before_final = count - final
    conditions = [
        final & (before_final == 0),
        final & mostly & (trend > 0),
        final & mostly & (trend < 0),
        final & mostly,
        final & (run >= 2) & (before_run == 0),
        final & opposite[:-1].any(axis=0),
        final,
        ~final & mostly,
    ]
    names = [
        "new",
        "intensifying",
        "diminishing",
        "persistent",
        "consecutive",
        "oscillating",
        "sporadic",
        "historical",
    ]
    return np.select(conditions, [f"{name} {kind}" for name in names], NO_PATTERN).astype(object)


def _final_run_length(sig: np.ndarray) -> np.ndarray:
    """Length of the run of significant steps ending at the final step."""
    run = np.zeros(sig.shape[1], dtype=np.int64)
    alive = np.ones(sig.shape[1], dtype=bool)
    for step in sig[::-1]:
        alive &= step
        run += alive
    return run


def _tie_term(x: np.ndarray) -> np.ndarray:
    """``sum_t t(t-1)(2t+5)`` over the groups of tied values of each column."""
    ordered = np.sort(x, axis=0)
    term = np.zeros(x.shape[1])
    length = np.ones(x.shape[1])
    for i in range(1, x.shape[0] + 1):
        same = ordered[i] == ordered[i - 1] if i < x.shape[0] else np.zeros(x.shape[1], bool)
        ended = ~same
        term += np.where(ended, length * (length - 1) * (2 * length + 5), 0.0)
        length = np.where(same, length + 1, 1.0)
    return term
