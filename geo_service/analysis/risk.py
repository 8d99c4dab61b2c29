"""Risk rating (Low / Medium / High) per category group from a configurable matrix.

The matrix (read by :func:`geo_service.risk_matrix.load_risk_matrix` from
``geo_service/data/risk.toml`` or a partnership's own file, and passed in) scores three inputs from
1 to 3 - volume (rate against peers), trend (the significance of the change) and harm (a weight per
group) - and maps their sum to a level. Every input is returned next to the rating so a reader can
see why a group is rated as it is.

A group is rated only when both period totals are known: a row of a coverage-aware
:func:`~geo_service.analysis.change.looking_back` table with a missing total (a period not fully
held, a group the data cannot form) is :data:`NOT_RATED`, never scored as if it were zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from geo_service.analysis import significance

LOW, MEDIUM, HIGH = "Low", "Medium", "High"
NOT_RATED = "Not rated"


@dataclass(frozen=True)
class RiskMatrix:
    """Scores and thresholds of the risk matrix (see ``geo_service/data/risk.toml``).

    Attributes
    ----------
    volume_low_below, volume_high_from
        Volume ratio (borough rate / peer mean rate) below which volume scores 1, and from which
        it scores 3 (2 between).
    volume_unknown
        Volume score when the ratio is unknown (no peers).
    trend_scores
        Score per change label with spaces as underscores (e.g. ``significant_increase``).
    harm_weights
        Harm weight per group name (matched case-insensitively).
    harm_default
        Harm weight of a group not listed.
    low_max, high_min
        Total score at or below which the level is Low, and from which it is High.
    """

    volume_low_below: float
    volume_high_from: float
    volume_unknown: int
    trend_scores: Mapping[str, int]
    harm_weights: Mapping[str, int]
    harm_default: int
    low_max: int
    high_min: int

    def harm(self, group: str) -> int:
        """Harm weight of ``group`` (case-insensitive), else the default.

        Parameters
        ----------
        group
            Group name.

        Returns
        -------
        int
            The weight.
        """
        for name, weight in self.harm_weights.items():
            if name.casefold() == group.casefold():
                return weight
        return self.harm_default


@dataclass(frozen=True)
class RiskRating:
    """A group's rating and the inputs it was computed from.

    Attributes
    ----------
    group
        Group name.
    level
        ``"Low"``, ``"Medium"`` or ``"High"``.
    score
        volume_score + trend_score + harm_weight.
    volume_score, volume_ratio
        The volume score and the ratio behind it (borough rate / peer mean rate; NaN without
        peers).
    trend_score, trend_label
        The trend score and the change label it came from.
    pct_change
        Change of the totals in percent; NaN when the previous total is 0.
    p
        The p-value of the change.
    harm_weight
        The group's harm weight.
    """

    group: str
    level: str
    score: int
    volume_score: int
    volume_ratio: float  # borough rate / peer mean rate; NaN without peers
    trend_score: int
    trend_label: str
    pct_change: float
    p: float
    harm_weight: int


def risk_rating(
    group: str,
    *,
    previous: int,
    current: int,
    p: float,
    volume_ratio: float = math.nan,
    matrix: RiskMatrix,
) -> RiskRating:
    """Rate one group from its two period totals, their p-value and its rate relative to peers.

    Parameters
    ----------
    group
        Group name (for the harm weight).
    previous, current
        The group's totals in the two periods.
    p
        p-value of the change (e.g. the ``p`` of a looking-back row); the trend is significant
        when p < 0.05.
    volume_ratio
        Borough rate divided by the peer mean rate; NaN (default) when unknown.
    matrix
        The risk matrix (:func:`geo_service.risk_matrix.load_risk_matrix`).

    Returns
    -------
    RiskRating
        The level and every input.
    """
    chosen = matrix
    trend_label = str(significance.change_labels([previous], [current], [p])[0])
    trend_score = chosen.trend_scores[trend_label.replace(" ", "_")]
    volume_score = _volume_score(volume_ratio, chosen)
    harm_weight = chosen.harm(group)
    score = volume_score + trend_score + harm_weight
    level = LOW if score <= chosen.low_max else HIGH if score >= chosen.high_min else MEDIUM
    return RiskRating(
        group=group,
        level=level,
        score=score,
        volume_score=volume_score,
        volume_ratio=float(volume_ratio),
        trend_score=trend_score,
        trend_label=trend_label,
        pct_change=100.0 * (current - previous) / previous if previous else math.nan,
        p=float(p),
        harm_weight=harm_weight,
    )


def risk_table(
    looking_back: pd.DataFrame,
    *,
    volume_ratios: Mapping[str, float] | None = None,
    matrix: RiskMatrix,
) -> pd.DataFrame:
    """Ratings for every row of a :func:`~geo_service.analysis.change.looking_back` table.

    Parameters
    ----------
    looking_back
        Columns group, previous, current, p and label.
    volume_ratios
        Group name -> the borough's rate divided by the peer mean rate; a group not listed (or
        None, the default) has an unknown volume.
    matrix
        The risk matrix.

    Returns
    -------
    pandas.DataFrame
        One row per group, the fields of :class:`RiskRating` as columns. A row with a missing
        total is :data:`NOT_RATED` (its ``trend_label`` says why; scores missing).
    """
    chosen = matrix
    ratios = volume_ratios or {}
    rows = []
    for row in looking_back.itertuples(index=False):
        if pd.isna(row.previous) or pd.isna(row.current):
            rows.append({"group": str(row.group), "level": NOT_RATED, "trend_label": row.label})
            continue
        rating = risk_rating(
            str(row.group),
            previous=int(row.previous),
            current=int(row.current),
            p=float(row.p),
            volume_ratio=float(ratios.get(str(row.group), math.nan)),
            matrix=chosen,
        )
        rows.append(rating.__dict__)
    return pd.DataFrame(rows, columns=list(RiskRating.__dataclass_fields__))


def _volume_score(ratio: float, matrix: RiskMatrix) -> int:
    if not math.isfinite(ratio):
        return matrix.volume_unknown
    if ratio < matrix.volume_low_below:
        return 1
    return 3 if ratio >= matrix.volume_high_from else 2
