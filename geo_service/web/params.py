"""Query-string validation: each page option parsed once, a bad value named with what is allowed.

Options live in the query string so a page can be bookmarked and printed as seen
(``?period_end=2013-07&months=12&layer=beat``). Every problem is collected first and reported in
one :class:`~geo_service.errors.InputError` (HTTP 400), never a 500.

Numbers are parsed to their value, so ``radius_m=100``, ``100.0`` and ``1e2`` ask the same
question and share one cached result; a number written with more than
:data:`MAX_DECIMALS` decimal places (``100.0000001``) is refused, so query strings cannot make
an unlimited number of distinct results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from geo_service.cluster_rules import OVERRIDE_RANGES
from geo_service.errors import InputError
from geo_service.services.options import (
    AGAINST,
    PREFERRED_LAYERS,
    EvaluateOptions,
    HotspotOptions,
    RuleOptions,
    ShiftOptions,
    ViewOptions,
    resolve_view,
)

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
#: Period lengths offered, months.
MONTH_CHOICES: tuple[int, ...] = (1, 3, 6, 12, 24)
_FLAGS = ("0", "1")
_CODE = re.compile(r"^[A-Za-z]\d{8}$")
#: Most decimal places a number in a query may carry (0.01 m is finer than any map needs).
MAX_DECIMALS = 2
#: Every query key some view reads; an answer is cached whole only for queries of these keys.
OPTION_KEYS: frozenset[str] = frozenset(
    {
        # page options and the links pages carry on
        "period_end", "months", "layer", "against", "print", "exclude_force", "category",
        "title", "peer_layer", "peer_code", "v",
        # collision rule
        "rule", "min_count", "radius_m", "years", "ksi_only", "highway_authority",
        # hotspot maps, shifts, backtests
        "cell_m", "hex", "bandwidth_m", "eps_m", "min_samples", "permutations", "seed",
        "areas", "step_months", "accuracy", "cells", "targets", "horizon_months", "coverage",
        "map_kinds", "breaks",
    }
)  # fmt: skip


def view_options(
    args: Mapping[str, str],
    *,
    months_stored: Sequence[str],
    layers: Sequence[str],
    exclude_forces: Sequence[str] = (),
) -> ViewOptions:
    """Validate ``period_end``, ``months``, ``against``, ``layer`` and ``print`` against what
    the store holds.

    What the query leaves out is chosen from the data, as on the command line
    (:func:`~geo_service.services.options.resolve_view`): the latest month held, the longest
    window (up to 12 months) both periods fully cover, year-earlier for one month; the layer
    is the first of :data:`~geo_service.services.options.PREFERRED_LAYERS` stored, else any.
    ``exclude_forces`` are the query's repeated ``exclude_force`` values (reporting forces left
    out).
    """
    problems: list[str] = []
    period_end = args.get("period_end") or None
    if (
        period_end is not None
        and months_stored
        and (not _MONTH.match(period_end) or period_end not in months_stored)
    ):
        problems.append(
            f"period_end={period_end!r}: expected a month YYYY-MM between "
            f"{months_stored[0]} and {months_stored[-1]}"
        )
    months = _choice_int(args.get("months"), "months", MONTH_CHOICES, None, problems)
    layer = args.get("layer") or default_layer(layers)
    if layers and layer not in layers:
        problems.append(f"layer={layer!r}: allowed: {', '.join(layers)}")
    against = args.get("against") or None
    if against is not None and against not in AGAINST:
        problems.append(f"against={against!r}: allowed: {', '.join(AGAINST)}")
    flag = args.get("print", "0")
    if flag not in _FLAGS:
        problems.append(f"print={flag!r}: allowed: 0, 1")
    _raise(problems)
    if not months_stored:  # an empty store: the pages say so before any comparison is made
        return ViewOptions(period_end="", months=months or 12, layer=layer, against="preceding")
    chosen = resolve_view(
        months_stored, period_end=period_end, months=months, against=against, layer=layer,
        exclude_forces=tuple(f for f in exclude_forces if f),
    )  # fmt: skip
    return replace(chosen, print_view=flag == "1")


def window_end(raw: str | None) -> str | None:
    """A collision window's last month as asked: any ``YYYY-MM``, as the CLI's ``--period-end``
    of ``repeat-locations`` takes it (the service notes when the collision data ends before it
    and refuses a window holding none of its months); None when not asked.

    Raises
    ------
    InputError
        ``raw`` is not a month ``YYYY-MM``.
    """
    if not raw:
        return None
    if not _MONTH.match(raw):
        raise InputError(f"period_end={raw!r}: expected a month YYYY-MM")
    return raw


def rule_options(args: Mapping[str, str], *, presets: Sequence[str]) -> RuleOptions:
    """Validate ``rule`` (a preset name) and optional ``min_count``, ``radius_m``, ``years``,
    ``ksi_only`` (``0``/``1``) and ``highway_authority`` (ONS code): every override the CLI's
    ``repeat-locations`` has."""
    problems: list[str] = []
    rule = args.get("rule", "default")
    if rule not in presets:
        problems.append(f"rule={rule!r}: allowed: {', '.join(presets)}")
    ranges = OVERRIDE_RANGES
    min_count = _bounded(args.get("min_count"), "min_count", *ranges["min_count"], problems,
                         whole=True)  # fmt: skip
    radius = _bounded(args.get("radius_m"), "radius_m", *ranges["radius_m"], problems)
    years = _bounded(args.get("years"), "years", *ranges["years"], problems, whole=True)
    ksi_only = args.get("ksi_only", "0")
    if ksi_only not in _FLAGS:
        problems.append(f"ksi_only={ksi_only!r}: allowed: 0, 1")
    authority = args.get("highway_authority") or None
    if authority is not None and not _CODE.match(authority):
        problems.append(f"highway_authority={authority!r}: expected an ONS code like E10000015")
    _raise(problems)
    return RuleOptions(
        rule=rule,
        min_count=None if min_count is None else int(min_count),
        radius_m=radius,
        years=None if years is None else int(years),
        ksi_only=ksi_only == "1",
        highway_authority=authority,
    )


def default_layer(layers: Sequence[str]) -> str:
    """The layer pages use when none is asked for."""
    for name in PREFERRED_LAYERS:
        if name in layers:
            return name
    return layers[0] if layers else ""


def _choice_int(
    raw: str | None, name: str, choices: Sequence[int], default: int | None, problems: list[str]
) -> int | None:
    if raw is None or raw == "":
        return default
    if raw.isdigit() and int(raw) in choices:
        return int(raw)
    problems.append(f"{name}={raw!r}: allowed: {', '.join(str(c) for c in choices)}")
    return default


def _bounded(
    raw: str | None, name: str, low: float, high: float, problems: list[str], *, whole: bool = False
) -> float | None:
    if raw is None or raw == "":
        return None
    value, places = _number(raw)
    if not low <= value <= high or (whole and not value.is_integer()):
        kind = "a whole number" if whole else "a number"
        problems.append(f"{name}={raw!r}: expected {kind} from {low:g} to {high:g}")
        return None
    if places > MAX_DECIMALS:
        problems.append(
            f"{name}={raw!r}: expected at most {MAX_DECIMALS} decimal places, "
            f"e.g. {round(value, MAX_DECIMALS):g}"
        )
        return None
    return value


def _number(raw: str) -> tuple[float, int]:
    """The value of ``raw`` and its decimal places (``nan`` when it is not a finite number)."""
    try:
        exact = Decimal(raw.strip())
    except InvalidOperation:
        return float("nan"), 0
    if not exact.is_finite():
        return float("nan"), 0
    exponent = exact.normalize().as_tuple().exponent
    return float(exact), max(0, -exponent) if isinstance(exponent, int) else 0


def _raise(problems: list[str]) -> None:
    if problems:
        raise InputError("; ".join(problems))


def hotspot_options(
    args: Mapping[str, str],
    *,
    category: str,
    method: str,
    view: ViewOptions,
    methods: Sequence[str],
) -> HotspotOptions:
    """Validate a hotspot map's query: every option of the CLI's ``hotspots`` command.

    ``period_end`` and ``months`` are the page options ``view`` has validated, when the query
    gives them; left out, they are chosen as the CLI's ``hotspots`` chooses them
    (:func:`asked_period`). The rest come from ``args``: ``cell_m``, ``bandwidth_m``, ``eps_m``
    (metres), ``min_samples``, ``permutations``, ``seed``, ``step_months`` (whole numbers),
    ``hex``, ``areas``, ``accuracy`` (``0``/``1``).
    """
    problems: list[str] = []
    if method not in methods:
        problems.append(f"method {method!r}: allowed: {', '.join(methods)}")
    cell_m = _bounded(args.get("cell_m"), "cell_m", 10, 5000, problems)
    bandwidth_m = _bounded(args.get("bandwidth_m"), "bandwidth_m", 10, 20000, problems)
    eps_m = _bounded(args.get("eps_m"), "eps_m", 1, 5000, problems)
    min_samples = _bounded(args.get("min_samples"), "min_samples", 2, 10000, problems, whole=True)
    permutations = _bounded(args.get("permutations"), "permutations", 0, 9999, problems, whole=True)
    seed = _bounded(args.get("seed"), "seed", 0, 2**31 - 1, problems, whole=True)
    step = _bounded(args.get("step_months"), "step_months", 1, 24, problems, whole=True)
    flags = {}
    for name, default in (("hex", "0"), ("areas", "0"), ("accuracy", "1")):
        flags[name] = args.get(name, default)
        if flags[name] not in _FLAGS:
            problems.append(f"{name}={flags[name]!r}: allowed: 0, 1")
    _raise(problems)
    return HotspotOptions(
        category=category,
        **asked_period(args, view),
        layer=view.layer or None,
        method=method,
        cell_m=cell_m,
        hexagons=flags["hex"] == "1",
        bandwidth_m=bandwidth_m,
        eps_m=eps_m,
        min_samples=None if min_samples is None else int(min_samples),
        permutations=999 if permutations is None else int(permutations),
        seed=0 if seed is None else int(seed),
        areas=flags["areas"] == "1",
        step_months=None if step is None else int(step),
        accuracy=flags["accuracy"] == "1",
        exclude_forces=view.exclude_forces,
    )


def asked_period(args: Mapping[str, str], view: ViewOptions) -> dict[str, Any]:
    """The ``period_end`` and ``months`` of a one-period download (hotspot map, rates) as asked.

    A value the query gives is the one ``view`` validated; a value it leaves out is left to the
    service, as the CLI leaves it (12 months to the latest month the category's sources hold),
    not the page's comparison window, which depends on what both periods cover. The pages' own
    links give both (:meth:`~geo_service.services.options.ViewOptions.query`).

    Parameters
    ----------
    args
        The query.
    view
        The validated page options of the same query.

    Returns
    -------
    dict
        ``period_end`` (``str`` or None) and ``months`` (``int``, 12 when not asked).
    """
    return {
        "period_end": view.period_end if args.get("period_end") else None,
        "months": view.months if args.get("months") else HotspotOptions.months,
    }


def shift_options(args: Mapping[str, str], *, category: str, view: ViewOptions) -> ShiftOptions:
    """Validate a shifts query: the comparison asked plus ``cells``/``hex`` (``0``/``1``) and
    ``cell_m`` (metres), as the CLI's ``shifts`` flags.

    ``period_end``, ``months`` and ``against`` the query gives are those ``view`` validated; one
    it leaves out is left to the service, as the CLI leaves it (chosen from the months the
    category's sources hold), not taken from the page's window: a category whose sources end
    before the store's latest month would otherwise be asked for a month it does not hold.
    """
    problems: list[str] = []
    cell_m = _bounded(args.get("cell_m"), "cell_m", 10, 5000, problems)
    flags = {name: args.get(name, "0") for name in ("cells", "hex")}
    problems += [f"{k}={v!r}: allowed: 0, 1" for k, v in flags.items() if v not in _FLAGS]
    _raise(problems)
    return ShiftOptions(
        category=category,
        period_end=view.period_end if args.get("period_end") else None,
        months=view.months if args.get("months") else None,
        against=view.against if args.get("against") else None,
        layer=view.layer or None,
        cell_m=cell_m,
        hexagons=flags["hex"] == "1",
        cells=flags["cells"] == "1",
        exclude_forces=view.exclude_forces,
    )


def evaluate_options(
    args: Mapping[str, str], *, category: str, view: ViewOptions
) -> EvaluateOptions:
    """Validate a backtest query: ``targets`` (months, default 12), ``horizon_months``,
    ``coverage`` (percentages, e.g. ``1,5,10``) and ``cell_m``, as the CLI's ``evaluate``."""
    problems: list[str] = []
    months = _bounded(args.get("targets"), "targets", 1, 120, problems, whole=True)
    horizon = _bounded(args.get("horizon_months"), "horizon_months", 1, 12, problems, whole=True)
    cell_m = _bounded(args.get("cell_m"), "cell_m", 10, 5000, problems)
    coverages: tuple[float, ...] = (1.0, 5.0, 10.0)
    if args.get("coverage"):
        coverages = _coverages(args["coverage"], problems)
    _raise(problems)
    return EvaluateOptions(
        category=category,
        months=12 if months is None else int(months),
        horizon_months=1 if horizon is None else int(horizon),
        coverages=coverages,
        cell_m=cell_m,
        layer=view.layer or None,
    )


def _coverages(raw: str, problems: list[str]) -> tuple[float, ...]:
    """Percentages like ``1,5,10``: each in (0, 100], at most :data:`MAX_DECIMALS` places,
    at most 20 of them."""
    parsed = [_number(p) for p in raw.split(",") if p.strip()]
    values = tuple(value for value, _places in parsed)
    if not parsed or len(parsed) > 20 or any(v != v for v in values):
        problems.append(f"coverage={raw!r}: expected up to 20 percentages like 1,5,10")
    elif any(not 0 < v <= 100 for v in values):
        problems.append(f"coverage={raw!r}: each value must be in (0, 100]")
    elif any(places > MAX_DECIMALS for _value, places in parsed):
        problems.append(f"coverage={raw!r}: expected at most {MAX_DECIMALS} decimal places")
    return values
