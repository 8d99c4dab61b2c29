"""The demo's calibration targets (``calibration.toml``), read into frozen dataclasses.

``calibration.toml`` is the only place the strategic assessment's figures are spelled: the
borough's population, the beats, and per "family" (the unit the assessment gives beat and month
figures for) the exact subcategory totals per year, the fixed beat and month cells and the bounds
on the other cells. :mod:`geo_service.demo.allocation` turns them into integer counts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from geo_service.errors import InputError

Pair = tuple[int, int]


@dataclass(frozen=True)
class BeatSpec:
    """One beat: code, name, sector and where its activity is centred."""

    code: str
    name: str
    sector: str
    kind: str  # "centre" | "urban" | "rural"
    x: float
    y: float
    radius_m: float
    weight_m: float
    people: float
    assessed: bool


@dataclass(frozen=True)
class Series:
    """At least ``count`` of a family's incidents in ``beat`` fall in ``months``."""

    beat: str
    months: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class FamilySpec:
    """Targets for one family of incidents (one category, a set of subcategories)."""

    name: str
    category: str
    profile: str
    hours: str
    season: tuple[float, ...]  # January .. December
    history: tuple[int, ...]  # family totals of the years before the previous year
    subcategories: dict[str, Pair]
    beats: dict[str, Pair]
    max_other: Pair | None
    min_other: Pair | None
    max_increase: int | None
    max_decrease: int | None
    decrease_everywhere: bool
    months: dict[str, int]
    month_max_other: Pair | None
    days: dict[str, int]
    distinct_beats: dict[str, int]
    majority: dict[str, int]
    cells: dict[str, dict[str, Pair]]
    series: tuple[Series, ...]

    def total(self, index: int) -> int:
        """Family total of the previous (0) or current (1) year."""
        return sum(pair[index] for pair in self.subcategories.values())


@dataclass(frozen=True)
class Hotspot:
    """A planted concentration: a share of some families' incidents in a beat and years."""

    name: str
    families: tuple[str, ...]
    years: tuple[int, ...]
    beat: str
    x: float
    y: float
    sigma_m: float
    share: float


@dataclass(frozen=True)
class CollisionSite:
    """A repeat collision location on one road, or at the junction of two."""

    name: str
    roads: tuple[str, ...]
    beat: str
    per_year: int
    radius_m: float
    at: float = 0.5  # where along the road's stretch through the beat (one-road sites)


@dataclass(frozen=True)
class Calibration:
    """Everything ``calibration.toml`` holds."""

    population: int
    households: int
    first_year: int
    previous_year: int
    current_year: int
    police_force: str
    sectors: dict[str, str]
    beats: tuple[BeatSpec, ...]
    families: tuple[FamilySpec, ...]
    hotspots: tuple[Hotspot, ...]
    collision_sites: tuple[CollisionSite, ...]

    @property
    def years(self) -> tuple[int, ...]:
        """Every generated year, oldest first."""
        return tuple(range(self.first_year, self.current_year + 1))

    def family(self, name: str) -> FamilySpec:
        """The family called ``name``."""
        for family in self.families:
            if family.name == name:
                return family
        raise KeyError(name)


def load_calibration(path: Path | None = None) -> Calibration:
    """Read the calibration table (the packaged one when ``path`` is None)."""
    if path is None:
        text = resources.files("geo_service.demo").joinpath("calibration.toml").read_text("utf-8")
        where = "geo_service/demo/calibration.toml"
    else:
        text = Path(path).read_text("utf-8")
        where = str(path)
    try:
        calibration = _calibration(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: not a valid demo calibration table ({exc!r})") from exc
    problems = _problems(calibration)
    if problems:
        raise InputError(f"{where}: inconsistent calibration:\n  - " + "\n  - ".join(problems))
    return calibration


def _problems(calibration: Calibration) -> list[str]:
    """Every inconsistency between the beats, families, hotspots and collision sites."""
    codes = {b.code for b in calibration.beats}
    families = {f.name for f in calibration.families}
    problems = [
        f"beat {b.code}: sector {b.sector!r} is not in [sectors]"
        for b in calibration.beats
        if b.sector not in calibration.sectors
    ]
    for family in calibration.families:
        named = set(family.beats) | set(family.cells) | {s.beat for s in family.series}
        problems += [f"family {family.name}: unknown beat {c!r}" for c in sorted(named - codes)]
        if len(family.history) != calibration.previous_year - calibration.first_year:
            problems.append(
                f"family {family.name}: history needs one total per year before "
                f"{calibration.previous_year}"
            )
        for code, cells in family.cells.items():
            for index in (0, 1):
                if family.beats.get(code, (None, None))[index] != sum(
                    c[index] for c in cells.values()
                ):
                    problems.append(
                        f"family {family.name}: cells of {code} do not sum to its beat total"
                    )
    for spot in calibration.hotspots:
        if spot.beat not in codes or not set(spot.families) <= families:
            problems.append(f"hotspot {spot.name!r}: unknown beat or family")
    problems += [
        f"collision site {s.name!r}: unknown beat {s.beat!r}"
        for s in calibration.collision_sites
        if s.beat not in codes
    ]
    return problems


def _calibration(document: dict[str, Any]) -> Calibration:
    borough = document["borough"]
    return Calibration(
        population=int(borough["population"]),
        households=int(borough["households"]),
        first_year=int(borough["first_year"]),
        previous_year=int(borough["previous_year"]),
        current_year=int(borough["current_year"]),
        police_force=str(borough["police_force"]),
        sectors={str(k): str(v) for k, v in document["sectors"].items()},
        beats=tuple(BeatSpec(**entry) for entry in document["beats"]),
        families=tuple(_family(entry) for entry in document["families"]),
        hotspots=tuple(
            Hotspot(**{**e, "families": tuple(e["families"]), "years": tuple(e["years"])})
            for e in document["hotspots"]
        ),
        collision_sites=tuple(
            CollisionSite(**{**e, "roads": tuple(e["roads"])}) for e in document["collision_sites"]
        ),
    )


def _pair(value: Any) -> Pair:
    first, second = value
    return int(first), int(second)


def _optional_pair(entry: dict[str, Any], key: str) -> Pair | None:
    return _pair(entry[key]) if key in entry else None


def _family(entry: dict[str, Any]) -> FamilySpec:
    return FamilySpec(
        name=entry["name"],
        category=entry["category"],
        profile=entry["profile"],
        hours=entry["hours"],
        season=tuple(float(v) for v in entry["season"]),
        history=tuple(int(v) for v in entry["history"]),
        subcategories={k: _pair(v) for k, v in entry["subcategories"].items()},
        beats={k: _pair(v) for k, v in entry.get("beats", {}).items()},
        max_other=_optional_pair(entry, "max_other"),
        min_other=_optional_pair(entry, "min_other"),
        max_increase=entry.get("max_increase"),
        max_decrease=entry.get("max_decrease"),
        decrease_everywhere=bool(entry.get("decrease_everywhere", False)),
        months={k: int(v) for k, v in entry.get("months", {}).items()},
        month_max_other=_optional_pair(entry, "month_max_other"),
        days={k: int(v) for k, v in entry.get("days", {}).items()},
        distinct_beats={k: int(v) for k, v in entry.get("distinct_beats", {}).items()},
        majority={k: int(v) for k, v in entry.get("majority", {}).items()},
        cells={b: {k: _pair(v) for k, v in c.items()} for b, c in entry.get("cells", {}).items()},
        series=tuple(
            Series(beat=s["beat"], months=tuple(s["months"]), count=int(s["count"]))
            for s in entry.get("series", [])
        ),
    )
