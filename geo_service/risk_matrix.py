"""The risk matrix read from TOML: the packaged ``data/risk.toml`` or a partnership's own file.

Read here, outside :mod:`geo_service.analysis`, and passed to
:func:`geo_service.analysis.risk.risk_rating`, so the analysis reads no file itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from geo_service._toml import read_toml
from geo_service.analysis.risk import RiskMatrix
from geo_service.errors import InputError


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


def _trend_scores(table: Mapping[str, object]) -> dict[str, int]:
    """Trend scores by label; "no_incidents" scores as a decrease unless the file says otherwise."""
    scores = {key: int(str(value)) for key, value in table.items()}
    scores.setdefault("no_incidents", scores["significant_decrease"])
    return scores
