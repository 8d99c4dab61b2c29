"""Query-string validation: each page option parsed once, a bad value named with what is allowed.

Options live in the query string so a page can be bookmarked and printed as seen
(``?period_end=2013-07&months=12&layer=beat``). Every problem is collected first and reported in
one :class:`~geo_service.errors.InputError` (HTTP 400), never a 500.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from geo_service.errors import InputError

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
#: Period lengths offered, months.
MONTH_CHOICES: tuple[int, ...] = (1, 3, 6, 12, 24)
#: Preferred default layers, first present wins.
PREFERRED_LAYERS: tuple[str, ...] = ("beat", "ward")
_FLAGS = ("0", "1")


@dataclass(frozen=True)
class ViewOptions:
    """The validated options of a page."""

    period_end: str
    months: int
    layer: str
    print_view: bool = False

    def key(self) -> tuple[str, int, str]:
        """The options that change results (the print flag only changes the layout)."""
        return (self.period_end, self.months, self.layer)

    def query(self, *, without: tuple[str, ...] = ()) -> dict[str, str]:
        """The options as query-string values (for links that keep them), less ``without``."""
        query = {"period_end": self.period_end, "months": str(self.months), "layer": self.layer}
        query |= {"print": "1"} if self.print_view else {}
        return {k: v for k, v in query.items() if k not in without}


@dataclass(frozen=True)
class RuleOptions:
    """Collision cluster-site rule options: a preset, optionally with overridden numbers."""

    rule: str
    min_count: int | None
    radius_m: float | None
    years: int | None


def view_options(
    args: Mapping[str, str], *, months_stored: Sequence[str], layers: Sequence[str]
) -> ViewOptions:
    """Validate ``period_end``, ``months``, ``layer`` and ``print`` against what the store holds.

    Defaults: the last stored month, 12 months, the first of ``beat``/``ward``/any stored layer.
    """
    problems: list[str] = []
    last = months_stored[-1] if months_stored else None
    period_end = args.get("period_end") or last or ""
    if months_stored and (not _MONTH.match(period_end) or period_end not in months_stored):
        problems.append(
            f"period_end={period_end!r}: expected a month YYYY-MM between "
            f"{months_stored[0]} and {months_stored[-1]}"
        )
    months = _choice_int(args.get("months"), "months", MONTH_CHOICES, 12, problems)
    layer = args.get("layer") or default_layer(layers)
    if layers and layer not in layers:
        problems.append(f"layer={layer!r}: allowed: {', '.join(layers)}")
    flag = args.get("print", "0")
    if flag not in _FLAGS:
        problems.append(f"print={flag!r}: allowed: 0, 1")
    _raise(problems)
    return ViewOptions(period_end=period_end, months=months, layer=layer, print_view=flag == "1")


def rule_options(args: Mapping[str, str], *, presets: Sequence[str]) -> RuleOptions:
    """Validate ``rule`` (a preset name) and optional ``min_count``, ``radius_m``, ``years``."""
    problems: list[str] = []
    rule = args.get("rule", "default")
    if rule not in presets:
        problems.append(f"rule={rule!r}: allowed: {', '.join(presets)}")
    min_count = _bounded(args.get("min_count"), "min_count", 2, 100, problems, whole=True)
    radius = _bounded(args.get("radius_m"), "radius_m", 5, 1000, problems)
    years = _bounded(args.get("years"), "years", 1, 10, problems, whole=True)
    _raise(problems)
    return RuleOptions(
        rule=rule,
        min_count=None if min_count is None else int(min_count),
        radius_m=radius,
        years=None if years is None else int(years),
    )


def default_layer(layers: Sequence[str]) -> str:
    """The layer pages use when none is asked for."""
    for name in PREFERRED_LAYERS:
        if name in layers:
            return name
    return layers[0] if layers else ""


def _choice_int(
    raw: str | None, name: str, choices: Sequence[int], default: int, problems: list[str]
) -> int:
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
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high or (whole and not value.is_integer()):
        kind = "a whole number" if whole else "a number"
        problems.append(f"{name}={raw!r}: expected {kind} from {low:g} to {high:g}")
        return None
    return value


def _raise(problems: list[str]) -> None:
    if problems:
        raise InputError("; ".join(problems))
