"""The typed options of every use case: what the CLI parses from flags and the web from a query.

One vocabulary for both faces: a comparison is ``period_end`` (``YYYY-MM``), ``months`` and
``against`` (``"preceding"`` months or the same months a ``"year-earlier"``); hotspot, rule and
evaluation options carry their units in their names (``cell_m``, ``radius_m``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from geo_service.analysis.periods import AGAINST, Period, comparison_periods, default_comparison
from geo_service.errors import InputError

#: The study layer when none is named: the first of these the store holds, else any.
PREFERRED_LAYERS: tuple[str, ...] = ("beat", "ward", "district")
#: Hotspot methods, in the order the CLI lists them.
METHODS: tuple[str, ...] = ("kde", "dbscan", "hdbscan", "gistar", "emerging")


def resolve_view(
    months_held: Iterable[str],
    *,
    period_end: str | None = None,
    months: int | None = None,
    against: str | None = None,
    layer: str = "",
    exclude_forces: tuple[str, ...] = (),
) -> ViewOptions:
    """The comparison asked for, with what was left out chosen from the data.

    Defaults (:func:`geo_service.analysis.periods.default_comparison`): the latest month held;
    the longest window (12 months at most) that both periods fully cover, preferring the same
    months a year earlier (with 13 months held: the latest month against the same month a
    year earlier); a 1-month view is compared with the same month a year earlier.

    Parameters
    ----------
    months_held
        Months ``"YYYY-MM"`` the store (or the sources in question) holds.
    period_end
        Last month of the current period; None: the latest month held.
    months
        Length of each period in months; None: chosen from the data as above.
    against
        ``"preceding"`` or ``"year-earlier"``; None: chosen as above.
    layer
        Area layer name carried into the options ("" for the default layer).
    exclude_forces
        Reporting forces whose rows are left out.

    Returns
    -------
    ViewOptions
        With ``period_end``, ``months`` and ``against`` filled in (``print_view`` False).

    Raises
    ------
    InputError
        When ``against`` is unknown, ``months`` is below 1, ``period_end`` lies outside the
        months held or is not ``YYYY-MM``, or no month is held.
    """
    if against is not None and against not in AGAINST:
        raise InputError(f"against={against!r}: allowed: {', '.join(AGAINST)}")
    if months is not None and months < 1:
        raise InputError(f"months must be at least 1, got {months}")
    held = sorted(months_held)
    if period_end is not None and held and not held[0] <= period_end <= held[-1]:
        raise InputError(
            f"period end {period_end!r}: expected a month between {held[0]} and {held[-1]}, "
            "the months the store holds"
        )
    _previous, current, chosen = default_comparison(
        months_held, period_end=period_end, months=months, against=against
    )
    return ViewOptions(
        period_end=current.end,
        months=current.n_months,
        layer=layer,
        against=chosen,
        exclude_forces=tuple(exclude_forces),
    )


@dataclass(frozen=True)
class ViewOptions:
    """A comparison over one area layer: the options of the tables, pages and report.

    Parameters
    ----------
    period_end
        Last month of the current period, ``"YYYY-MM"``.
    months
        Length of each period in months (default 12).
    layer
        Area layer name; "" (default) for the study layer default
        (:func:`~geo_service.services.context.study_layer_name`).
    against
        ``"preceding"`` (default) or ``"year-earlier"``.
    print_view
        Lay pages out for printing (changes no result).
    exclude_forces
        Reporting forces whose rows are left out (police.uk ``Reported by``, e.g. British
        Transport Police inside a territorial force's download).
    """

    period_end: str
    months: int = 12
    layer: str = ""
    against: str = "preceding"
    print_view: bool = False
    #: Reporting forces whose rows are left out (police.uk ``Reported by``, e.g. British
    #: Transport Police inside a territorial force's download).
    exclude_forces: tuple[str, ...] = ()

    def periods(self) -> tuple[Period, Period]:
        """The previous and current periods compared.

        Returns
        -------
        tuple of Period
            ``(previous, current)``, each ``months`` long.

        Raises
        ------
        InputError
            ``against`` is unknown, ``months`` is below 1 or ``period_end`` is not ``YYYY-MM``.
        """
        return comparison_periods(self.period_end, months=self.months, against=self.against)

    def key(self) -> tuple[str, int, str, str, tuple[str, ...]]:
        """The options that change results (the print flag only changes the layout).

        Returns
        -------
        tuple
            ``(period_end, months, layer, against, exclude_forces)``, e.g. as a cache key.
        """
        return (self.period_end, self.months, self.layer, self.against, self.exclude_forces)

    def query(self, *, without: tuple[str, ...] = ()) -> dict[str, str | list[str]]:
        """The options as query-string values (for links that keep them), less ``without``.

        Parameters
        ----------
        without
            Query keys to leave out (e.g. ``("layer",)``).

        Returns
        -------
        dict
            ``period_end``, ``months``, ``layer``, ``against``, and ``exclude_force`` (a list) and
            ``print`` (``"1"``) when set.
        """
        query: dict[str, str | list[str]] = {
            "period_end": self.period_end,
            "months": str(self.months),
            "layer": self.layer,
            "against": self.against,
        }
        query |= {"exclude_force": list(self.exclude_forces)} if self.exclude_forces else {}
        query |= {"print": "1"} if self.print_view else {}
        return {k: v for k, v in query.items() if k not in without}


@dataclass(frozen=True)
class RuleOptions:
    """Collision cluster-site rule: a preset, optionally with overridden numbers.

    Parameters
    ----------
    rule
        Name of the preset (default ``"default"``).
    min_count
        Smallest number of collisions that makes a site; None keeps the preset's.
    radius_m
        One radius in metres replacing the preset's (and its urban and rural radii); None keeps
        the preset's.
    years
        Years counted back from the period end; None keeps the preset's.
    ksi_only
        Count fatal and serious collisions only (default False).
    highway_authority
        An ONS code (e.g. ``E10000015``): keep the collisions on that authority's roads only
        (STATS19 ``local_authority_highway``); None keeps all.
    """

    rule: str = "default"
    min_count: int | None = None
    radius_m: float | None = None
    years: int | None = None
    ksi_only: bool = False
    highway_authority: str | None = None


@dataclass(frozen=True)
class HotspotOptions:
    """One hotspot map: a category over ``months`` months ending ``period_end``.

    Parameters left ``None`` are chosen from the data.

    Parameters
    ----------
    category
        Category or group name.
    period_end
        Last month, ``"YYYY-MM"``; None: the latest month the category's sources hold.
    months
        Length of the mapped period in months (default 12).
    layer
        Study area layer; None: the default study layer.
    method
        One of :data:`METHODS` (default ``"kde"``).
    cell_m
        Grid cell size in metres; None: automatic.
    hexagons
        Hexagonal rather than square cells (Gi*, emerging).
    bandwidth_m
        KDE bandwidth in metres; None: automatic.
    eps_m, min_samples
        DBSCAN radius in metres and core size in incidents; None: automatic.
    permutations, seed
        Gi*'s conditional permutations (default 999) and their seed (default 0).
    areas
        Gi* on the areas of the layer rather than grid cells.
    step_months
        Emerging hot spots' time step in months; None: automatic.
    accuracy
        Backtest the method and state its accuracy (default True).
    exclude_forces
        Reporting forces whose rows are left out.
    """

    category: str
    period_end: str | None = None
    months: int = 12
    layer: str | None = None
    method: str = "kde"
    cell_m: float | None = None
    hexagons: bool = False
    bandwidth_m: float | None = None
    eps_m: float | None = None
    min_samples: int | None = None
    permutations: int = 999
    seed: int = 0
    areas: bool = False
    step_months: int | None = None
    accuracy: bool = True
    exclude_forces: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShiftOptions:
    """Year-on-year (or period-on-period) change of one category per area or grid cell.

    Parameters
    ----------
    category
        Category or group name.
    period_end, months, against
        The comparison; left ``None`` they are chosen from the months the category's sources
        hold, as :func:`resolve_view` chooses them.
    layer
        Area layer; None: the default study layer.
    cell_m
        Grid cell size in metres; None: automatic.
    hexagons
        Hexagonal rather than square cells.
    cells
        Grid cells even when an area layer is stored.
    exclude_forces
        Reporting forces whose rows are left out.
    """

    category: str
    period_end: str | None = None
    months: int | None = None
    against: str | None = None
    layer: str | None = None
    cell_m: float | None = None
    hexagons: bool = False
    cells: bool = False
    exclude_forces: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvaluateOptions:
    """The rolling-origin backtest of every hotspot method for one category.

    Parameters
    ----------
    category
        Category or group name.
    months
        Number of target months, the latest the store holds (default 12).
    horizon_months
        Months ahead each map predicts (default 1).
    coverages
        Percentages of the study area selected (default 1, 5 and 10).
    cell_m
        Grid cell size in metres; None: automatic.
    layer
        Study area layer; None: the default study layer.
    """

    category: str
    months: int = 12
    horizon_months: int = 1
    coverages: tuple[float, ...] = (1.0, 5.0, 10.0)
    cell_m: float | None = None
    layer: str | None = None
