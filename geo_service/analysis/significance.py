"""Is a change real? The exact conditional test of two Poisson counts, and false-discovery control.

If an area's counts in two periods are Poisson with rates ``r1``, ``r2`` and exposures ``t1``,
``t2`` (months, or residents x months), then given their total ``n = a + b`` the previous count
``a`` is Binomial(n, t1 / (t1 + t2)) when the rates are equal. The two-sided p-value sums the
probabilities of every outcome no more likely than the one observed (the same convention as
``scipy.stats.binomtest``). With equal exposures the null probability is 1/2. The binomial
probabilities come from a table of ``log k!`` (:func:`math.lgamma`), which matches
``scipy.stats.binom.pmf`` to ~1e-13 without importing ``scipy.stats`` (0.8 s of start-up).

Testing every area of a table at once inflates false alarms, so p-values are adjusted with the
Benjamini-Hochberg step-up procedure into q-values, and an area is labelled a significant change
when ``q < ALPHA`` (0.05).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

#: Level of the false discovery rate at which a change is called significant (applied to q).
ALPHA = 0.05

SIGNIFICANT_INCREASE = "significant increase"
SIGNIFICANT_DECREASE = "significant decrease"
NO_SIGNIFICANT_CHANGE = "no significant change"
NO_INCIDENTS = "no incidents"

# Outcomes whose probability equals the observed one up to rounding count as "as extreme".
_RELATIVE_TOLERANCE = 1 + 1e-7


def poisson_change_p(
    previous: int, current: int, *, exposure_previous: float = 1.0, exposure_current: float = 1.0
) -> float:
    """Two-sided p-value of the exact conditional test that two Poisson rates are equal.

    Parameters
    ----------
    previous, current
        Counts in the two periods (whole numbers, 0 or more).
    exposure_previous, exposure_current
        Relative exposures (e.g. months in each period); equal by default.

    Returns
    -------
    float
        The p-value; 1.0 when both counts are 0.
    """
    n = int(previous) + int(current)
    log_factorials = _log_factorials(n)
    return _p_value(
        int(previous), n, log_factorials, exposure_previous=exposure_previous,
        exposure_current=exposure_current,
    )  # fmt: skip


def poisson_change_pvalues(
    previous: npt.ArrayLike,
    current: npt.ArrayLike,
    *,
    exposure_previous: float = 1.0,
    exposure_current: float = 1.0,
) -> np.ndarray:
    """:func:`poisson_change_p` for each pair of counts.

    Parameters
    ----------
    previous, current
        Counts (whole numbers >= 0), one length.
    exposure_previous, exposure_current
        Relative exposures (e.g. months in each period); equal by default.

    Returns
    -------
    numpy.ndarray
        float p-values, one per pair.
    """
    prev = np.asarray(previous).astype(np.int64)
    totals = prev + np.asarray(current).astype(np.int64)
    # One log-factorial table for the largest total serves every pair, and each distinct pair
    # is tested once (tables of many groups and areas repeat small counts).
    log_factorials = _log_factorials(int(totals.max()) if totals.size else 0)
    pairs, where = np.unique(np.stack([prev, totals]), axis=1, return_inverse=True)
    p = np.array(
        [
            _p_value(
                int(a),
                int(n),
                log_factorials,
                exposure_previous=exposure_previous,
                exposure_current=exposure_current,
            )
            for a, n in pairs.T
        ],
        dtype=float,
    )
    return p[where.reshape(-1)] if p.size else np.zeros(prev.shape, dtype=float)


def poisson_tails(count: int, mean: float) -> tuple[float, float]:
    """``P(X <= count)`` and ``P(X >= count)`` for ``X ~ Poisson(mean)``.

    Each tail is summed over its own terms (never ``1 - other``), so a tail of 1e-12 keeps its
    digits; the terms come from the same ``log k!`` table as the change test, and match
    ``scipy.stats.poisson.cdf(count, mean)`` and ``.sf(count - 1, mean)`` to ~1e-12 relative
    without importing scipy (0.2 s of a cold page for two numbers).

    Parameters
    ----------
    count
        A whole number of incidents (negative counts are treated as below every outcome).
    mean
        The expected count, 0 or more.

    Returns
    -------
    (float, float)
        Lower tail ``P(X <= count)`` and upper tail ``P(X >= count)``.

    Raises
    ------
    ValueError
        ``mean`` is negative or not finite.
    """
    if not math.isfinite(mean) or mean < 0:
        raise ValueError(f"Poisson mean must be a finite number >= 0, got {mean!r}")
    k = int(count)
    if k < 0:
        return 0.0, 1.0
    if mean == 0:
        return 1.0, 1.0 if k == 0 else 0.0
    # beyond mean + 40 sd (and the count) the terms are below 1e-300 of the largest
    last = int(max(k, mean) + 40.0 * math.sqrt(mean) + 60.0)
    i = np.arange(last + 1)
    log_pmf = -mean + i * math.log(mean) - _log_factorials(last)
    return _sum_exp(log_pmf[: k + 1]), _sum_exp(log_pmf[k:])


def _sum_exp(logs: np.ndarray) -> float:
    """``sum(exp(logs))`` without underflow of the scale, capped at 1 (a probability)."""
    top = float(logs.max())
    return float(min(1.0, math.exp(top) * np.exp(logs - top).sum()))


def _log_factorials(n: int) -> np.ndarray:
    """``log k!`` for k = 0..n (a read-only view of a table kept for the process)."""
    global _LOG_FACTORIALS
    if _LOG_FACTORIALS.size <= n:
        size = max(n + 1, 2 * _LOG_FACTORIALS.size)
        table = np.array([math.lgamma(k + 1.0) for k in range(size)])
        table.flags.writeable = False
        _LOG_FACTORIALS = table
    return _LOG_FACTORIALS[: n + 1]


#: ``log k!`` for k = 0, 1, ...: grown on demand by :func:`_log_factorials`.
_LOG_FACTORIALS = np.array([math.lgamma(k + 1.0) for k in range(256)])


def _p_value(
    previous: int,
    n: int,
    log_factorials: np.ndarray,
    *,
    exposure_previous: float,
    exposure_current: float,
) -> float:
    if n == 0:
        return 1.0
    total_exposure = exposure_previous + exposure_current
    k = np.arange(n + 1)
    log_pmf = (
        log_factorials[n]
        - log_factorials[k]
        - log_factorials[n - k]
        + k * math.log(exposure_previous / total_exposure)
        + (n - k) * math.log(exposure_current / total_exposure)
    )
    pmf = np.exp(log_pmf)
    observed = pmf[previous]
    return float(min(1.0, pmf[pmf <= observed * _RELATIVE_TOLERANCE].sum()))


def bh_qvalues(pvalues: npt.ArrayLike) -> np.ndarray:
    """Benjamini-Hochberg (1995) adjusted p-values (q-values).

    ``q_(i) = min over j >= i of p_(j) * m / j`` for the ``m`` finite p-values sorted ascending,
    capped at 1. NaN p-values stay NaN and are not counted in ``m``.

    Parameters
    ----------
    pvalues
        p-values, any shape.

    Returns
    -------
    numpy.ndarray
        q-values, same shape.
    """
    p = np.asarray(pvalues, dtype=float)
    q = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = finite.size
    if m == 0:
        return q
    order = finite[np.argsort(p[finite], kind="stable")]
    scaled = p[order] * m / np.arange(1, m + 1)
    q[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return q


def change_labels(
    previous: npt.ArrayLike, current: npt.ArrayLike, qvalues: npt.ArrayLike, *, alpha: float = ALPHA
) -> np.ndarray:
    """Plain labels of a change from its counts and q-values.

    "significant increase/decrease" when ``q < alpha``, "no incidents" when both counts are zero
    (nothing to compare: e.g. a group the data cannot select), else "no significant change".

    Parameters
    ----------
    previous, current
        Counts, one shape.
    qvalues
        q- (or p-) values, same shape; NaN is never significant.
    alpha
        Level below which a change is significant (default :data:`ALPHA`, 0.05).

    Returns
    -------
    numpy.ndarray
        Object array of labels, same shape.
    """
    prev = np.asarray(previous, dtype=float)
    curr = np.asarray(current, dtype=float)
    significant = np.asarray(qvalues, dtype=float) < alpha
    labels = np.full(prev.shape, NO_SIGNIFICANT_CHANGE, dtype=object)
    labels[(prev == 0) & (curr == 0)] = NO_INCIDENTS
    labels[significant & (curr > prev)] = SIGNIFICANT_INCREASE
    labels[significant & (curr < prev)] = SIGNIFICANT_DECREASE
    return labels
