"""Rates per 1,000 residents for a category: per area, per grid cell and as a dual KDE.

The denominators are the study layer's ``population`` (see ``boundaries denominators``);
:mod:`geo_service.analysis.population` spreads them over the grid by areal weighting, or by the
store's ``addresses`` reference layer (dasymetric) when one is loaded. The CLI (``rates``), the
API (``/api/category/<name>/rates.<fmt>``) and the category page all ask :func:`rates_for_period`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.analysis.counts import weights
from geo_service.analysis.grid import Grid
from geo_service.analysis.kde import auto_bandwidth_m, class_breaks, kde_surface
from geo_service.analysis.periods import month_label, rolling_periods
from geo_service.analysis.population import (
    MIN_RESIDENTS,
    areas_without_addresses,
    dual_kde,
    population_surface,
    rates_per_1000,
)
from geo_service.categories import CategoryGroup
from geo_service.errors import DataError, InputError
from geo_service.reference import read_reference
from geo_service.schema import area_column, has_location
from geo_service.services.context import (
    StoreLike,
    formed_group,
    require_incidents,
    study_grid,
    study_layer_name,
)
from geo_service.services.hotspots import BREAKS, cell_counts, layer_incidents, point_weights

logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Rates:
    """A category's rates per 1,000 residents over a period.

    Attributes
    ----------
    category, layer, month_from, month_to
        What was counted, on which layer, over which months ("YYYY-MM").
    areas
        One row per area: ``code``, ``name``, ``population``, ``count``, ``rate_per_1000``
        (NaN without residents) and the polygons (EPSG:27700).
    cells
        One row per inside grid cell: ``cell``, ``row``, ``col``, ``count``, ``residents``
        (areal weighting), ``rate_per_1000`` (NaN without residents), ``dual_kde_per_1000``
        (Levine's dual KDE; NaN where the smoothed residents are below ``min_residents``) and
        the squares.
    bandwidth_m
        The kernel radius of both densities of the dual KDE.
    min_residents
        Smoothed residents per cell below which the dual KDE is masked.
    cell_m
        The grid's cell size, metres.
    addresses
        Address points that weighted the residents (0: areal weighting).
    notes
        Sentences about the basis (areas spread by areal weighting for want of an address).
    grid
        The grid of ``cells`` (None only for a hand-built value).
    dual_surface
        The dual KDE on the whole grid, shape ``grid.shape`` (NaN where masked).
    dual_breaks
        Class edges of the dual KDE over the inside cells (head/tail breaks, as the density
        maps), ``[0, b1, ..., max]``; ``[0.0]`` when no value is positive.
    """

    category: str
    layer: str
    month_from: str
    month_to: str
    areas: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame
    bandwidth_m: float
    min_residents: float
    cell_m: float = float("nan")
    addresses: int = 0
    notes: tuple[str, ...] = field(default=())
    grid: Grid | None = None
    dual_surface: np.ndarray | None = None
    dual_breaks: np.ndarray | None = None

    @property
    def weighting(self) -> str:
        """``"dasymetric"`` (by address points) or ``"areal"``."""
        return "dasymetric" if self.addresses else "areal"

    @property
    def meta(self) -> dict[str, Any]:
        """The basis of the rates, written beside every output (the ``geo_service`` member)."""
        return {
            "category": self.category,
            "period": f"{self.month_from}..{self.month_to}",
            "layer": self.layer,
            "denominator": f"population of layer {self.layer!r}",
            "weighting": self.weighting,
            "address_points": self.addresses,
            "cell_m": self.cell_m,
            "bandwidth_m": self.bandwidth_m,
            "min_residents": self.min_residents,
            "unit": "incidents per 1,000 residents",
            "notes": list(self.notes),
        }

    @property
    def basis(self) -> str:
        """A short sentence of the dual KDE's basis, for a map legend."""
        weighting = (
            f"placed by {self.addresses:,} address points" if self.addresses else "areal weighting"
        )
        return (
            f"Incidents per 1,000 residents near each cell ({self.bandwidth_m:,.0f} m kernel), "
            f"residents from the population of {self.layer} ({weighting}); cells with under "
            f"{self.min_residents:g} residents nearby are left clear."
        )

    def frame(self, *, cells: bool = False) -> gpd.GeoDataFrame:
        """The areas' rates, or (``cells``) the grid cells' with the dual KDE."""
        return self.cells if cells else self.areas


def describe(rates: Rates) -> str:
    """One line stating the rates' basis (the CLI logs it)."""
    return (
        f"{rates.category} per 1,000 residents, {month_label(rates.month_from)} to "
        f"{month_label(rates.month_to)}: denominator population of {rates.layer}, "
        f"{rates.weighting} weighting"
        + (f" ({rates.addresses:,} address points)" if rates.addresses else "")
        + f", {rates.cell_m:g} m cells, dual KDE bandwidth {rates.bandwidth_m:.0f} m, masked "
        f"below {rates.min_residents:g} smoothed residents per cell"
        + "".join(f". {note}" for note in rates.notes)
    )


def rates_for_period(
    store: StoreLike,
    groups: Sequence[CategoryGroup],
    category: str,
    *,
    period_end: str | None = None,
    months: int = 12,
    layer: str | None = None,
    cell_m: float | None = None,
    bandwidth_m: float | None = None,
) -> Rates:
    """:func:`category_rates` over the ``months`` to ``period_end`` (default: the latest month
    the category's sources hold).

    Raises
    ------
    InputError
        ``months`` below 1 or a period end not ``YYYY-MM``.
    DataError
        As :func:`category_rates`.
    """
    if months < 1:
        raise InputError(f"months must be at least 1, got {months}")
    require_incidents(store)
    end = period_end or formed_group(store, groups, category).held[-1]
    _, period = rolling_periods(end, months=months)
    return category_rates(
        store, groups, category, month_from=period.start, month_to=period.end, layer=layer,
        cell_m=cell_m, bandwidth_m=bandwidth_m,
    )  # fmt: skip


def category_rates(
    store: StoreLike,
    groups: Sequence[CategoryGroup],
    category: str,
    *,
    month_from: str,
    month_to: str,
    layer: str | None = None,
    cell_m: float | None = None,
    bandwidth_m: float | None = None,
) -> Rates:
    """Rates per 1,000 residents of ``category`` per area and per cell, and the dual KDE.

    The incidents counted are those in an area of the layer, as the area tables count them
    (:func:`~geo_service.services.hotspots.layer_incidents`: from a
    :class:`~geo_service.store.Store` its density cube, so a national store is not scanned); the
    cells and the dual KDE take the located ones.

    Parameters
    ----------
    store
        The store read.
    groups
        The settings' category groups.
    category
        Category or group name.
    month_from, month_to
        First and last month counted, "YYYY-MM".
    layer
        Study layer; None: the default study layer. It must carry ``population``.
    cell_m
        Grid cell size in metres; None: automatic.
    bandwidth_m
        Kernel radius in metres; None: the automatic bandwidth of the incidents.

    Returns
    -------
    Rates

    Raises
    ------
    DataError
        No study layer, or it has no population, or no located incident in its areas.
    """
    require_incidents(store)
    group = formed_group(store, groups, category).group
    name = study_layer_name(store, layer)
    if name is None:
        raise DataError(
            "rates need an area layer with population: add a layer, then its residents with "
            "`geo-service boundaries denominators LAYER FILE.csv`"
        )
    areas = store.layer(name)
    if not has_population(areas):
        raise DataError(
            f"layer {name!r} has no population, so there is no rate per 1,000 residents; add "
            f"it with `geo-service boundaries denominators {name} FILE.csv` (code, population)"
        )
    # the incidents in the layer's areas, as the area tables count them: from a Store its
    # density cube (counted by location, with n), so a national store is not scanned
    incidents = layer_incidents(store, group, name, areas, month_from=month_from, month_to=month_to)
    located = incidents.loc[has_location(incidents)]
    if located.empty:
        raise DataError(
            f"no located incidents of {group.name!r} in the {name} areas in "
            f"{month_from}..{month_to}"
        )
    grid = study_grid(areas, located, cell_m=cell_m)
    x, y = located["x"].to_numpy(float), located["y"].to_numpy(float)
    w = point_weights(located)
    h = float(bandwidth_m) if bandwidth_m is not None else auto_bandwidth_m(x, y, weights=w)
    points, notes = _addresses(store, areas, grid)
    residents = population_surface(grid, areas, addresses=points)
    # A cell whose centre lies just outside the layer still holds residents (or incidents) of
    # a border area: list it, so the cells keep every resident and incident.
    counts = cell_counts(grid, located)
    inside = grid.inside | (residents > 0) | (counts > 0)
    inside.flags.writeable = False
    grid = replace(grid, inside=inside)
    surface = kde_surface(x, y, grid, bandwidth_m=h, weights=w)
    dual = dual_kde(surface, residents, grid, bandwidth_m=h)
    cells = grid.to_geodataframe(
        {
            "count": counts,
            "residents": residents,
            "rate_per_1000": rates_per_1000(counts, residents),
            "dual_kde_per_1000": dual,
        }
    )
    per_area = _area_rates(areas, incidents, name)
    return Rates(
        group.name, name, month_from, month_to, per_area, cells, h, MIN_RESIDENTS,
        cell_m=float(grid.cell_m), addresses=0 if points is None else len(points), notes=notes,
        grid=grid, dual_surface=dual, dual_breaks=_breaks(dual, grid),
    )  # fmt: skip


def _breaks(dual: np.ndarray, grid: Grid) -> np.ndarray:
    """Head/tail class edges of the dual KDE's inside, unmasked cells (as the density maps)."""
    values = dual[grid.inside]
    values = values[np.isfinite(values)]
    return class_breaks(values, method=BREAKS) if values.size else np.array([0.0])


def has_population(areas: gpd.GeoDataFrame) -> bool:
    """Whether an area layer carries residents (a ``population`` value for some area)."""
    if "population" not in areas.columns:
        return False
    return bool(pd.to_numeric(areas["population"], errors="coerce").notna().any())


def _addresses(
    store: StoreLike, areas: gpd.GeoDataFrame, grid: Grid
) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """The stored address points on the grid (None without an address layer), and a note
    naming the areas that hold none and so are spread by areal weighting."""
    root = getattr(store, "root", None)
    layer = read_reference(Path(root), "addresses") if root is not None else None
    if layer is None or layer.empty:
        return None, ()
    x0, y0 = grid.x0, grid.y0
    x1, y1 = x0 + grid.nx * grid.cell_m, y0 + grid.ny * grid.cell_m
    points = layer.geometry.cx[x0:x1, y0:y1].to_numpy()
    if not len(points):
        return None, ("No address point lies in the study area: residents spread by area.",)
    empty = areas_without_addresses(areas, points)
    if not empty:
        return points, ()
    shown = ", ".join(empty[:10]) + (f" and {len(empty) - 10} more" if len(empty) > 10 else "")
    return points, (
        f"{len(empty)} of {len(areas)} areas hold no address point and are spread by area "
        f"(areal weighting): {shown}.",
    )


def _area_rates(areas: gpd.GeoDataFrame, incidents: pd.DataFrame, layer: str) -> gpd.GeoDataFrame:
    """Incidents (rows, or counted rows with ``n``) and rates per 1,000 residents per area."""
    column = area_column(layer)
    counts = (
        pd.Series(weights(incidents), index=incidents[column].astype(str)).groupby(level=0).sum()
    )
    out = areas[["code", "name", "population", "geometry"]].copy()
    out["population"] = pd.to_numeric(out["population"], errors="coerce")
    out["count"] = out["code"].map(counts).fillna(0).astype("int64").to_numpy()
    out["rate_per_1000"] = rates_per_1000(out["count"], out["population"])
    return out[["code", "name", "population", "count", "rate_per_1000", "geometry"]]
