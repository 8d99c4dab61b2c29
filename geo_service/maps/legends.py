"""Colour scales and legends for the map layers, drawn as plain HTML beside the map.

Legends are data (:class:`Legend`) rendered by the page template, not Folium macros: they print,
they need no inline script, and every label is escaped by the template like any other text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Sequential colours (ColorBrewer YlOrRd, 5 classes) for counts and density.
SEQUENTIAL: tuple[str, ...] = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
#: Diverging colours (ColorBrewer RdBu reversed, 7 classes): blue fall, grey steady, red rise.
DIVERGING: tuple[str, ...] = (
    "#2166ac",
    "#67a9cf",
    "#d1e5f0",
    "#f7f7f7",
    "#fddbc7",
    "#ef8a62",
    "#b2182b",
)
#: Upper bounds (%) of the diverging classes but the last.
CHANGE_BREAKS_PCT: tuple[float, ...] = (-50.0, -20.0, -5.0, 5.0, 20.0, 50.0)
NO_DATA = "#d9d9d9"
#: Emerging-hotspot classes and their colours (reds: hot and growing; blues: fading).
EMERGING_COLOURS: dict[str, str] = {
    "new": "#67000d",
    "consecutive": "#a50f15",
    "intensifying": "#de2d26",
    "persistent": "#fb6a4a",
    "diminishing": "#fcae91",
    "sporadic": "#fdd0a2",
    "oscillating": "#c994c7",
    "historical": "#9ecae1",
}
SEVERITY_COLOURS: dict[str, str] = {"Fatal": "#000000", "Serious": "#d7301f", "Slight": "#fdae61"}


@dataclass(frozen=True)
class Legend:
    """One legend: a title (the name of the layer it explains), ``(colour, label)`` entries and
    an optional note; ``shown`` when its layer is on the map at first, ``base`` when the layer is
    one of the map's exclusive base layers (the page shows only the chosen one's legend)."""

    title: str
    entries: tuple[tuple[str, str], ...]
    note: str = ""
    shown: bool = True
    base: bool = False


def count_breaks(values: np.ndarray, *, classes: int = len(SEQUENTIAL)) -> tuple[float, ...]:
    """Display class lower bounds for counts: distinct rounded quantiles, first one above zero."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size == 0:
        return (1.0,)
    quantiles = np.quantile(finite, np.linspace(0, 1, classes + 1)[:-1])
    return tuple(float(b) for b in np.unique(np.maximum(np.round(quantiles), 1.0)))


def classed_colour(value: float, breaks: Sequence[float], colours: Sequence[str]) -> str:
    """Colour of ``value``: the class whose lower bound it reaches; NO_DATA below the first."""
    if not np.isfinite(value) or value < breaks[0]:
        return NO_DATA
    index = int(np.searchsorted(np.asarray(breaks), value, side="right")) - 1
    return colours[min(index, len(colours) - 1)]


def count_legend(title: str, breaks: Sequence[float], *, note: str = "") -> Legend:
    """Legend of a sequential count layer with lower bounds ``breaks``."""
    entries = [(NO_DATA, f"below {_fmt(breaks[0])}")]
    for i, low in enumerate(breaks):
        high = breaks[i + 1] if i + 1 < len(breaks) else None
        label = f"{_fmt(low)} or more" if high is None else f"{_fmt(low)} to under {_fmt(high)}"
        entries.append((SEQUENTIAL[min(i, len(SEQUENTIAL) - 1)], label))
    return Legend(title=title, entries=tuple(entries), note=note)


def change_colour(pct_change: float, current: float) -> str:
    """Diverging colour for a % change; a rise from zero (undefined %) gets the top class."""
    if not np.isfinite(pct_change):
        return DIVERGING[-1] if current > 0 else NO_DATA
    index = int(np.searchsorted(np.asarray(CHANGE_BREAKS_PCT), pct_change, side="left"))
    return DIVERGING[index]


def change_legend(title: str) -> Legend:
    """Legend of the change layer, its classes in % change."""
    b = CHANGE_BREAKS_PCT
    labels = [f"fall over {-b[0]:g}%"]
    labels += [f"{b[i]:+g}% to {b[i + 1]:+g}%" for i in range(len(b) - 1)]
    labels += [f"rise over {b[-1]:g}% (or from zero)"]
    entries = (*zip(DIVERGING, labels, strict=True), (NO_DATA, "none in either period"))
    note = "Thick outline: change significant after false-discovery control (q < 0.05)."
    return Legend(title=title, entries=entries, note=note)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def significant(value: float, *, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, never in scientific notation (1,190; 22.4)."""
    rounded = float(f"{value:.{digits}g}")
    if abs(rounded) >= 10 ** (digits - 1):
        return f"{rounded:,.0f}"
    return f"{rounded:.{digits}g}"
