"""Collision cluster-site rule presets, read from a TOML file, and the one rule for overrides.

The packaged presets (``geo_service/data/cluster_rules.toml``: ``default``, ``somerset``,
``ksi``) can be replaced by a partnership's own file. Analysis never reads the file itself: the
caller loads the presets here and passes a :class:`~geo_service.analysis.repeat_locations.
ClusterRule` in. :func:`rule_with_overrides` is the single place where a preset is adjusted by
the options a user gives (``--min-count``, ``--radius-m``, ``--years``, ``--ksi-only`` on the
command line, the same query parameters on the web), so both faces name and build an adjusted
rule the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from geo_service._toml import read_toml
from geo_service.analysis.repeat_locations import MAX_RADIUS_M, ClusterRule
from geo_service.errors import InputError
from geo_service.schema import SEVERITIES

_RULE_KEYS = frozenset(
    {"description", "min_count", "radius_m", "urban_radius_m", "rural_radius_m", "years",
     "severities"}
)  # fmt: skip
_KSI = ("Fatal", "Serious")
#: The range each override may take, inclusive, on the command line and the web alike: whole
#: numbers of collisions and years, a radius in metres up to the largest a rule may take
#: (:data:`~geo_service.analysis.repeat_locations.MAX_RADIUS_M`).
OVERRIDE_RANGES: Mapping[str, tuple[float, float]] = {
    "min_count": (2, 100),
    "radius_m": (5, MAX_RADIUS_M),
    "years": (1, 10),
}


def load_cluster_rules(path: Path | None = None) -> dict[str, ClusterRule]:
    """The rule presets of ``path`` (the packaged ``data/cluster_rules.toml`` when None), by name.

    Parameters
    ----------
    path
        A TOML file with ``[rules.<name>]`` tables (keys ``min_count``, ``radius_m``,
        ``urban_radius_m``, ``rural_radius_m`` in metres, ``years``, ``severities``,
        ``description``).

    Returns
    -------
    dict of str to ClusterRule
        The presets in file order.

    Raises
    ------
    InputError
        Unreadable file, invalid TOML, an unknown key or an invalid value, naming the file and
        the rule.
    """
    document, where = read_toml(path, packaged="data/cluster_rules.toml", what="cluster rules")
    rules = document.get("rules", {})
    if not isinstance(rules, dict) or not rules:
        raise InputError(f"{where}: no [rules.<name>] tables; expected at least one rule")
    return {name: _rule(where, name, entry) for name, entry in rules.items()}


def cluster_rule(name: str, *, rules: Mapping[str, ClusterRule] | None = None) -> ClusterRule:
    """The preset called ``name`` among ``rules`` (default: the packaged presets).

    Raises :class:`InputError` listing the presets when there is none of that name.
    """
    rules = load_cluster_rules() if rules is None else rules
    if name not in rules:
        raise InputError(f"unknown cluster rule {name!r}; allowed: {', '.join(sorted(rules))}")
    return rules[name]


def rule_with_overrides(
    preset: ClusterRule,
    *,
    min_count: int | None = None,
    radius_m: float | None = None,
    years: int | None = None,
    ksi_only: bool = False,
) -> ClusterRule:
    """``preset`` adjusted by the options given; named ``"<preset> (adjusted)"`` when changed.

    Parameters
    ----------
    preset
        The rule to start from.
    min_count
        Collisions a site needs.
    radius_m
        One radius in metres for every site (drops separate urban/rural radii).
    years
        Length of the window, years.
    ksi_only
        Count fatal and serious collisions only.

    Returns
    -------
    ClusterRule
        ``preset`` itself when nothing changes it.

    Raises
    ------
    InputError
        An override outside :data:`OVERRIDE_RANGES` (naming each), or a rule that is not usable.
    """
    problems = [
        f"{name}={value!r}: expected a {'number' if name == 'radius_m' else 'whole number'} "
        f"from {OVERRIDE_RANGES[name][0]:g} to {OVERRIDE_RANGES[name][1]:g}"
        for name, value in (("min_count", min_count), ("radius_m", radius_m), ("years", years))
        if value is not None and not OVERRIDE_RANGES[name][0] <= value <= OVERRIDE_RANGES[name][1]
    ]
    if problems:
        raise InputError(f"cluster rule {preset.name!r}: " + "; ".join(problems))
    changes: dict[str, Any] = {}
    if min_count is not None:
        changes["min_count"] = min_count
    if radius_m is not None:
        changes.update(radius_m=radius_m, urban_radius_m=None, rural_radius_m=None)
    if years is not None:
        changes["years"] = years
    if ksi_only and tuple(preset.severities) != _KSI:
        changes["severities"] = _KSI
    if not changes:
        return preset
    return replace(preset, name=f"{preset.name} (adjusted)", **changes)


def _rule(where: str, name: str, entry: object) -> ClusterRule:
    if not isinstance(entry, dict):
        raise InputError(f"{where}: rule {name!r} must be a table of keys")
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise InputError(
            f"{where}: rule {name!r}: unknown key(s) {sorted(unknown)}; "
            f"allowed: {sorted(_RULE_KEYS)}"
        )
    missing = [k for k in ("min_count", "radius_m", "years") if k not in entry]
    if missing:
        raise InputError(f"{where}: rule {name!r}: missing key(s) {missing}")
    fields = {k: v for k, v in entry.items() if k != "severities"}
    severities = tuple(entry.get("severities", SEVERITIES))
    try:
        return ClusterRule(name=name, severities=severities, **fields)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: rule {name!r}: a value has the wrong type ({exc})") from exc
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
