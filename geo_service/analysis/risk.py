"""Risk rating (Low / Medium / High) per category group from a configurable matrix.

The matrix (``geo_service/data/risk.toml``, or a partnership's own file) scores three inputs from
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
from pathlib import Path

import pandas as pd

from geo_service._toml import read_toml
from geo_service.analysis import significance
from geo_service.errors import InputError

LOW, MEDIUM, HIGH = "Low", "Medium", "High"
NOT_RATED = "Not rated"


@dataclass(frozen=True)
class RiskMatrix:
    """Scores and thresholds of the risk matrix (see ``geo_service/data/risk.toml``)."""

    volume_low_below: float
    volume_high_from: float
    volume_unknown: int
    trend_scores: Mapping[str, int]
    harm_weights: Mapping[str, int]
    harm_default: int
    low_max: int
    high_min: int

    def harm(self, group: str) -> int:
        """Harm weight of ``group`` (case-insensitive), else the default."""
        for name, weight in self.harm_weights.items():
            if name.casefold() == group.casefold():
                return weight
        return self.harm_default


@dataclass(frozen=True)
class RiskRating:
    """A group's rating and the inputs it was computed from."""

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


def load_risk_matrix(path: Path | None = None) -> RiskMatrix:
    """Read the risk matrix from ``path``, or the packaged default when ``path`` is None."""
    document, where = read_toml(path, packaged="data/risk.toml", what="risk matrix")
    try:
        harm = dict(document["harm"])
        default = int(harm.pop("default", 2))
        return RiskMatrix(
            volume_low_below=float(document["volume"]["low_below"]),
            volume_high_from=float(document["volume"]["high_from"]),
            volume_unknown=int(document["volume"]["unknown"]),
            trend_scores=_trend_scores(document["trend"]),
            harm_weights={k: int(v) for k, v in harm.items()},
            harm_default=default,
            low_max=int(document["rating"]["low_max"]),
            high_min=int(document["rating"]["high_min"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(
            f"{where}: risk matrix incomplete or not numeric ({exc!r}); expected tables "
            "[volume] low_below/high_from/unknown, [trend], [harm], [rating] low_max/high_min"
        ) from exc


def risk_rating(
    group: str,
    *,
    previous: int,
    current: int,
    p: float,
    volume_ratio: float = math.nan,
    matrix: RiskMatrix | None = None,
) -> RiskRating:
    """Rate one group from its two period totals, their p-value and its rate relative to peers."""
    chosen = matrix or load_risk_matrix()
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
    matrix: RiskMatrix | None = None,
) -> pd.DataFrame:
    """Ratings for every row of a :func:`~geo_service.analysis.change.looking_back` table.

    ``volume_ratios`` maps group name to the borough's rate divided by the peer mean rate. A row
    with a missing total is :data:`NOT_RATED` (its ``trend_label`` says why; scores missing).
    """
    chosen = matrix or load_risk_matrix()
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


def _trend_scores(table: Mapping[str, object]) -> dict[str, int]:
    """Trend scores by label; "no_incidents" scores as a decrease unless the file says otherwise."""
    scores = {key: int(str(value)) for key, value in table.items()}
    scores.setdefault("no_incidents", scores["significant_decrease"])
    return scores
