"""Colour scales and legends for the map layers, drawn as plain HTML beside the map.

Legends are data (:class:`Legend`) rendered by the page template, not Folium macros: they print,
they need no inline script, and every label is escaped by the template like any other text.
"""

from __future__ import annotations

import warnings
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
#: Fill of an area whose change is not significant (a change map colours only real changes).
NOT_SIGNIFICANT = "#f4f4f4"
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


#: Class-break methods a map offers (``breaks=`` on the pages): mapclassify's quantiles,
#: Fisher-Jenks natural breaks (as ArcGIS and QGIS draw them) and head/tail breaks (for
#: heavy-tailed counts).
BREAK_METHODS: tuple[str, ...] = ("quantiles", "fisher-jenks", "head-tail")
#: Diverging colours of a difference surface (ColorBrewer PuOr reversed, 6 classes, no middle):
#: purple where density fell, orange where it rose.
DIFFERENCE: tuple[str, ...] = ("#542788", "#998ec3", "#d8daeb", "#fee0b6", "#f1a340", "#b35806")


def count_breaks(
    values: np.ndarray,
    *,
    classes: int = len(SEQUENTIAL),
    method: str = "quantiles",
    whole: bool = True,
) -> tuple[float, ...]:
    """Display class lower bounds of the positive values, from :mod:`mapclassify`.

    Parameters
    ----------
    values
        The mapped values (NaN and values <= 0 are left out: they are drawn as "none").
    classes
        Most classes.
    method
        One of :data:`BREAK_METHODS`.
    whole
        Round bounds to whole numbers of at least 1 (counts); False keeps 3 significant
        figures (rates, densities).

    Returns
    -------
    tuple of float
        Increasing distinct lower bounds, the first the smallest positive value.
    """
    if method not in BREAK_METHODS:
        raise ValueError(f"class breaks {method!r}: expected one of {', '.join(BREAK_METHODS)}")
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size == 0:
        return (1.0,)
    distinct = np.unique(finite)
    if distinct.size <= classes:
        lows = distinct
    else:
        # mapclassify gives each class's (inclusive) upper bound; the next class starts at the
        # smallest value above it.
        uppers = _upper_bounds(finite, classes, method)[:-1]
        lows = np.r_[
            distinct[0], [distinct[distinct > b].min() for b in uppers if b < distinct[-1]]
        ]
    lows = np.maximum(np.round(lows), 1.0) if whole else np.array([_round3(v) for v in lows])
    return tuple(float(b) for b in np.unique(lows))


def _upper_bounds(values: np.ndarray, classes: int, method: str) -> np.ndarray:
    if method == "quantiles":
        # the page default: mapclassify's import (scipy.stats, sklearn) costs ~1 s CPU cold
        return _quantile_bounds(values, classes)
    import mapclassify

    # mapclassify warns when ties leave fewer distinct classes; the bounds are made distinct
    # by the caller, so the warning says nothing the legend does not.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        if method == "fisher-jenks":
            return np.asarray(mapclassify.FisherJenks(values, k=classes).bins, dtype=float)
        if method == "head-tail":
            return np.asarray(mapclassify.HeadTailBreaks(values).bins, dtype=float)[-classes:]
        return np.asarray(mapclassify.Quantiles(values, k=classes).bins, dtype=float)


def _quantile_bounds(values: np.ndarray, classes: int) -> np.ndarray:
    """The distinct upper bounds of ``mapclassify.Quantiles(values, k=classes).bins``, with the
    same arithmetic (``scipy.stats.scoreatpercentile``'s weighted neighbours), bit for bit."""
    ordered = np.sort(np.asarray(values, dtype=float).ravel())
    step = 100.0 / classes
    percents = np.arange(step, 100 + step, step)
    percents[-1] = min(percents[-1], 100.0)
    bounds = []
    for percent in percents:
        index = percent / 100.0 * (ordered.size - 1)
        low = int(index)
        if low == index:
            bounds.append(ordered[low] * 1 / 1.0)
            continue
        high = low + 1
        weights = np.array([(high - index), (index - low)], float)
        bounds.append(np.add.reduce(ordered[low : low + 2] * weights) / weights.sum())
    return np.unique(np.array(bounds, dtype=float))


def _round3(value: float) -> float:
    return float(f"{value:.3g}")


def difference_breaks(values: np.ndarray) -> tuple[float, ...]:
    """Symmetric class edges of a difference surface: ``-m, -m/3, -m/9, 0, m/9, m/3, m`` with
    ``m`` the largest absolute difference, so equal rises and falls get matching shades."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    top = float(np.abs(finite).max()) if finite.size else 0.0
    if top == 0:
        return (0.0,)
    steps = [top / 9, top / 3, top]
    return (*(-s for s in reversed(steps)), 0.0, *steps)


def difference_legend(title: str, edges: Sequence[float], unit: str) -> Legend:
    """Legend of a difference surface (edges of :func:`difference_breaks`)."""
    entries = []
    for k, colour in enumerate(DIFFERENCE):
        low, high = edges[k], edges[k + 1]
        word = "fell" if high <= 0 else "rose"
        entries.append((colour, f"{word}: {significant(low)} to {significant(high)} {unit}"))
    note = "Current minus previous period; cells that did not change are left clear."
    return Legend(title=title, entries=tuple(entries), note=note, shown=False, base=True)


def classed_colour(value: float, breaks: Sequence[float], colours: Sequence[str]) -> str:
    """Colour of ``value``: the class whose lower bound it reaches; NO_DATA below the first."""
    if not np.isfinite(value) or value < breaks[0]:
        return NO_DATA
    index = int(np.searchsorted(np.asarray(breaks), value, side="right")) - 1
    return colours[min(index, len(colours) - 1)]


def count_legend(
    title: str, breaks: Sequence[float], *, note: str = "", shown: bool = True, base: bool = False
) -> Legend:
    """Legend of a sequential count layer with lower bounds ``breaks``."""
    entries = [(NO_DATA, f"below {_fmt(breaks[0])}")]
    for i, low in enumerate(breaks):
        high = breaks[i + 1] if i + 1 < len(breaks) else None
        label = f"{_fmt(low)} or more" if high is None else f"{_fmt(low)} to under {_fmt(high)}"
        entries.append((SEQUENTIAL[min(i, len(SEQUENTIAL) - 1)], label))
    return Legend(title=title, entries=tuple(entries), note=note, shown=shown, base=base)


def change_colour(pct_change: float, current: float) -> str:
    """Diverging colour for a % change; a rise from zero (undefined %) gets the top class."""
    if not np.isfinite(pct_change):
        return DIVERGING[-1] if current > 0 else NO_DATA
    index = int(np.searchsorted(np.asarray(CHANGE_BREAKS_PCT), pct_change, side="left"))
    return DIVERGING[index]


def change_legend(title: str, *, shown: bool = False) -> Legend:
    """Legend of the change layer, its classes in % change (significant changes only)."""
    b = CHANGE_BREAKS_PCT
    labels = [f"fall over {-b[0]:g}%"]
    labels += [f"{b[i]:+g}% to {b[i + 1]:+g}%" for i in range(len(b) - 1)]
    labels += [f"rise over {b[-1]:g}% (or from zero)"]
    coloured = [(c, f"{label}, significant") for c, label in zip(DIVERGING, labels, strict=True)]
    # The middle class (-5..+5 %) is never significant in practice; listing it would mislead.
    coloured = [e for e in coloured if e[0] != DIVERGING[len(DIVERGING) // 2]]
    entries = (
        *coloured,
        (NOT_SIGNIFICANT, "no significant change"),
        (NO_DATA, "none in either period"),
    )
    note = (
        "Coloured only where the change is significant after false-discovery control "
        "(q < 0.05); hover an area for its counts and change."
    )
    return Legend(title=title, entries=entries, note=note, shown=shown, base=True)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"


def significant(value: float, *, digits: int = 3) -> str:
    """``value`` to ``digits`` significant figures, never in scientific notation (1,190; 22.4)."""
    rounded = float(f"{value:.{digits}g}")
    if abs(rounded) >= 10 ** (digits - 1):
        return f"{rounded:,.0f}"
    return f"{rounded:.{digits}g}"
