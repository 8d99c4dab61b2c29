"""The report's monthly chart: geometry of a two-line inline SVG (no JavaScript, prints well)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from geo_service.analysis import patterns
from geo_service.analysis.periods import Period, month_label
from geo_service.categories import CategoryGroup


def monthly_chart(
    subset: pd.DataFrame, group: CategoryGroup, previous: Period, current: Period
) -> dict[str, Any]:
    """Geometry of a two-line monthly chart (previous vs current period, month by month)."""
    before = patterns.monthly_series(subset, group=group, period=previous)["count"].tolist()
    after = patterns.monthly_series(subset, group=group, period=current)["count"].tolist()
    width, height, left, bottom, top = 560, 220, 40, 30, 10
    tick = _nice_step(max([*before, *after, 1]) / 4)
    top_value = tick * math.ceil(max([*before, *after, 1]) / tick)
    step = (width - left - 10) / max(len(after) - 1, 1)

    def points(values: list[int]) -> str:
        return " ".join(
            f"{left + i * step:.1f},{top + (height - top - bottom) * (1 - v / top_value):.1f}"
            for i, v in enumerate(values)
        )

    ticks = [
        {"x": f"{left + i * step:.1f}", "label": month_label(m)[:3]}
        for i, m in enumerate(current.months)
    ]
    levels = [tick * k for k in range(1, round(top_value / tick) + 1)]
    grid = [
        {"y": f"{top + (height - top - bottom) * (1 - v / top_value):.1f}", "label": f"{v:g}"}
        for v in levels
    ]
    return {
        "grid": grid,
        "width": width,
        "height": height,
        "left": left,
        "baseline": height - bottom,
        "top_value": top_value,
        "previous": points(before),
        "current": points(after),
        "ticks": ticks,
        "previous_label": previous.label,
        "current_label": current.label,
    }


def _nice_step(raw: float) -> float:
    """The smallest of 1, 2, 5 x 10^k at or above ``raw`` (a readable axis step)."""
    if raw <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))
