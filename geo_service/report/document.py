"""The strategic-assessment document: one self-contained HTML file built from the analysis tables.

:func:`build_report` writes what an analyst writes by hand each year: the "Looking back" table,
then for each priority group its risk rating, the borough trend, the top areas with their shares,
the biggest movers, a monthly chart (inline SVG, no JavaScript, prints well), breakdowns and the
position among peers, each told in sentences like the assessment's own ("Berkhamsted Castle (D2A)
reported the highest number of dwelling burglary offences, accounting for 8.1% of the total (33
offences), up 26 from 7 the previous year."). Text from the data is escaped by Jinja2's
autoescape. Collision groups use their own window, ``collision_lag_months`` earlier (the
assessment's July-June year for a report ending in July).

Given the store's :class:`~geo_service.coverage.Coverage`, the report says only what the data
supports: each group is compared over the months its own sources hold (a source ending earlier
is compared over its own latest months, and the report says so); a comparison whose periods are
not fully held is shown with its coverage and is not described as a change, tested or rated; a
month not held is "no data", never 0; a group the data cannot form is "not available from
police_uk data (no Burglary sub-types)", and one it can form only in part names what it leaves
out. Unlocated rows that nothing places in the layer are reported apart, and a material change in
the share of unlocated rows between the two periods is flagged.

Every figure is a count, so the report takes raw incidents or *counted* rows (each standing for
``n`` incidents with equal keys; :mod:`geo_service.analysis.counts`), as the store's area cube
gives them (:mod:`geo_service.store.cubes`, which counts a collision's severity too), one frame
per layer: the study layer's incidents and the peer layer's (:attr:`Peers.incidents`). Both
kinds give the same document for the same incidents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jinja2
import pandas as pd

from geo_service.analysis import breakdowns, change, risk
from geo_service.analysis.counts import (
    select,
    within_layer,
)
from geo_service.analysis.periods import (
    PRECEDING,
    Period,
    comparison_periods,
    parse_month,
    shift_month,
)
from geo_service.categories import CategoryGroup, find_group
from geo_service.coverage import Coverage
from geo_service.progress import Progress, quiet
from geo_service.report.chart import monthly_chart
from geo_service.report.notes import (
    apart_sentences,
    data_notes,
    looking_back_notes,
    not_compared_sentences,
    omitted_sentences,
)
from geo_service.report.text import (
    group_noun,
    mover_sentences,
    peer_sentence,
    period_wording,
    persistence_sentence,
    signed,
    significant_sentence,
    time_sentences,
    top_area_sentence,
    trend_sentence,
    type_sentence,
)
from geo_service.risk_matrix import load_risk_matrix
from geo_service.schema import ROAD_TRAFFIC_COLLISION, SEVERITIES

#: The assessment's priority sections, in its order.
DEFAULT_PRIORITIES: tuple[str, ...] = (
    "Dwelling burglary",
    "Vehicle crime (excluding interference)",
    "Drugs offences",
    "Night-time violence",
    "ASB incidents",
    "Criminal damage",
    "Deliberate fires",
    "Road traffic collisions",
)


@dataclass(frozen=True)
class Peers:
    """Peer comparison: a peer layer (e.g. the county's districts), its areas, the area the
    report is about, and the incidents counted per peer area.

    Attributes
    ----------
    layer
        The peer layer's name.
    areas
        Its standard frame (``code``, ``name``, denominators).
    code
        The code of the partnership's own area in it.
    incidents
        Incidents (or counted rows) joined to ``layer`` (column ``area_<layer>``), every
        incident of the store as for the report's own (forces left out alike); None: the
        report's ``incidents``, which then carry ``area_<layer>`` too.
    """

    layer: str
    areas: pd.DataFrame
    code: str
    incidents: pd.DataFrame | None = None


def build_report(
    incidents: pd.DataFrame,
    *,
    layer: str,
    areas: pd.DataFrame,
    groups: tuple[CategoryGroup, ...],
    period_end: str,
    months: int = 12,
    priorities: tuple[str, ...] = DEFAULT_PRIORITIES,
    title: str = "Strategic assessment",
    collision_lag_months: int = 1,
    peers: Peers | None = None,
    matrix: risk.RiskMatrix | None = None,
    coverage: Coverage | None = None,
    against: str = PRECEDING,
    highest_first: bool = False,
    progress: Progress | None = None,
    notes: tuple[str, ...] = (),
    collision_sites: pd.DataFrame | None = None,
) -> str:
    """The report as one HTML document (inline CSS, inline SVG charts, print stylesheet).

    Parameters
    ----------
    incidents
        Canonical incidents, or counted rows (module docstring), joined to ``layer`` (and to
        ``peers.layer`` when ``peers.incidents`` is None), with ``source``, ``category``,
        ``subcategory``, ``month``, ``occurred_at``, ``time_known`` and the location (``x``
        and ``y``, or ``located``). Borough figures count the incidents allocated to an area of
        ``layer``; incidents with no location are reported as unallocated; those located
        outside every area are ignored (except by the peer comparison, which counts per peer
        area).
    layer, areas
        The area layer of the local tables (beats, wards) and its standard frame.
    groups
        Category groups of the "Looking back" table, in order; priorities are looked up here.
    period_end, months
        The current period is the ``months`` ending ``period_end``; it is compared with the
        ``months`` before.
    priorities
        Group names given a section each.
    collision_lag_months
        Collision sections end this many months before ``period_end``.
    peers
        Optional peer comparison (positions, and the volume input of the risk rating).
    matrix
        Risk matrix; the packaged default when None.
    coverage
        Months and detail each source holds (module docstring); None takes every month as held
        (pure tests).
    against
        ``"preceding"`` (the ``months`` before) or ``"year-earlier"`` (the same months a year
        earlier), :data:`~geo_service.analysis.periods.AGAINST`.
    highest_first
        Peer positions: False (default) writes the highest as "10th of 10" (iQuanta), True as
        "1st of 10".
    progress
        Shows progress over the sections (:mod:`geo_service.progress`); none by default.
    notes
        Sentences stated first under "What the data could not say" (e.g. rows left out on
        request).
    collision_sites
        Ranked repeat-collision sites (:func:`geo_service.services.collisions.collision_sites`)
        listed in the collision section (the first :data:`SITE_ROWS`); None: none listed.

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    InputError
        The incidents are not joined to ``layer`` (or to ``peers.layer``), or ``areas`` lacks
        ``code`` or ``name`` or repeats a code.
    """
    previous, current = comparison_periods(period_end, months=months, against=against)
    borough = within_layer(incidents, layer)
    overview = change.looking_back(borough, groups, previous, current, coverage=coverage)
    windows = _Windows(period_end, months, collision_lag_months, against)
    setting = _Setting(layer, areas, windows, peers, matrix or load_risk_matrix(),
                       coverage, highest_first)  # fmt: skip
    shown = progress or quiet
    frames = _Frames(
        borough=borough,
        everywhere=incidents,
        peers=None if peers is None else peers.incidents,
    )
    sections = [
        _section(frames, find_group(groups, name), setting)
        for name in shown(priorities, what="report sections", total=len(priorities), unit="section")
    ]
    context = {
        "title": title,
        "previous_label": previous.label,
        "current_label": current.label,
        "layer": layer,
        "looking_back": [_looking_back_row(r) for r in overview.itertuples(index=False)],
        "looking_back_notes": looking_back_notes(overview),
        "data_notes": [*notes, *data_notes(incidents, layer, previous, current, coverage)],
        "sections": sections,
        "collision_sites": _site_rows(collision_sites),
        "alpha": 0.05,
        "period_word": "year" if months == 12 else "period",
        "against_word": "the same months a year earlier"
        if against != PRECEDING and months != 12
        else f"the {'year' if months == 12 else 'period'} before",
    }
    return _environment().get_template("report.html.j2").render(**context)


#: Repeat-collision sites listed in the report's collision section.
SITE_ROWS = 10


def _site_rows(sites: pd.DataFrame | None) -> list[dict[str, str]]:
    if sites is None or sites.empty:
        return []
    return [
        {
            "rank": str(r.get("rank_count", "")),
            "road": str(r.get("road", "") or ""),
            "area": str(r.get("area_name", "") or ""),
            "count": _count(r.get("count")),
            "ksi": _count(r.get("ksi")),
            "by_year": str(r.get("by_year", "") or ""),
        }
        for r in sites.head(SITE_ROWS).to_dict(orient="records")
    ]


@dataclass(frozen=True)
class _Frames:
    """The incidents the sections count: the borough's (in an area of the layer), every one
    (the layer's table and its unallocated row) and the peer layer's (None: ``everywhere``)."""

    borough: pd.DataFrame
    everywhere: pd.DataFrame
    peers: pd.DataFrame | None


@dataclass(frozen=True)
class _Setting:
    """What every section of one report shares."""

    layer: str
    areas: pd.DataFrame
    windows: _Windows
    peers: Peers | None
    matrix: risk.RiskMatrix
    coverage: Coverage | None
    highest_first: bool


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("geo_service.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _looking_back_row(row: Any) -> dict[str, str]:
    return {
        "group": str(row.group),
        "previous": _count(row.previous),
        "current": _count(row.current),
        "change": "-" if pd.isna(row.change) else signed(int(row.change)),
        "pct_change": _pct(row.pct_change),
        "label": str(row.label),
    }


def _count(value: object) -> str:
    """A count, or "no data" when the period is not held (never 0)."""
    return "no data" if pd.isna(value) else str(value)


def _pct(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:+.1f}%"


@dataclass(frozen=True)
class _Windows:
    """The periods of a report: ``months`` ending ``period_end`` (collisions: lagged)."""

    period_end: str
    months: int
    collision_lag_months: int
    against: str = PRECEDING

    def for_group(self, group: CategoryGroup) -> tuple[Period, Period]:
        end = self.period_end
        if _is_collisions(group):
            end = shift_month(end, -self.collision_lag_months)
        return comparison_periods(end, months=self.months, against=self.against)


def _section(frames: _Frames, group: CategoryGroup, setting: _Setting) -> dict[str, Any]:
    previous, current = _own_periods(group, *setting.windows.for_group(group), setting.coverage)
    incidents = frames.borough
    subset = select(incidents, group=group)
    anywhere = select(frames.everywhere, group=group)
    table = change.change_table(
        anywhere, layer=setting.layer, areas=setting.areas, group=group,
        previous=previous, current=current, coverage=setting.coverage,
    )  # fmt: skip
    totals = change.looking_back(
        subset, (group,), previous, current, coverage=setting.coverage
    ).iloc[0]
    noun = group_noun(group.name)
    section: dict[str, Any] = dict(
        name=group.name, previous_label=previous.label, current_label=current.label,
        rating=None, earlier_rating=None, empty=True, sentences=[], top=[], rate_per=None,
        time_sentences=[], subcategories=[], type_sentence=None, severity=[],
        collisions=_is_collisions(group),
    )  # fmt: skip
    if pd.isna(totals["previous"]) or pd.isna(totals["current"]):
        section["sentences"] = not_compared_sentences(totals, noun, previous, current)
        return section
    if int(totals["previous"]) + int(totals["current"]) == 0:
        section["sentences"] = [_EMPTY.format(noun=noun)]
        return section
    formed = _formed(group, setting.coverage)
    subset = select(incidents, group=formed)
    peer_rows = anywhere if frames.peers is None else select(frames.peers, group=group)
    peer = _peer_position(peer_rows, formed, setting, previous, current)
    rating = risk.risk_rating(
        group.name, previous=int(totals["previous"]), current=int(totals["current"]),
        p=float(totals["p"]), volume_ratio=peer["volume_ratio"], matrix=setting.matrix,
    )  # fmt: skip
    sentences = _sentences(table, totals, noun, current) + peer["sentences"]
    sentences += apart_sentences(anywhere, setting.layer, noun, current)
    wording = setting.windows.months, setting.windows.against
    held = None if setting.coverage is None else set(setting.coverage.months_of(formed))
    types = _subcategory_rows(subset, formed, previous, current)
    section.update(
        rating=rating, empty=False,
        earlier_rating=_earlier_rating(incidents, subset, formed, previous, current, peer, setting),
        sentences=[period_wording(s, *wording) for s in omitted_sentences(totals) + sentences],
        top=_top_rows(table),
        rate_per=next(iter(table["rate_per"].dropna()), None),
        chart=monthly_chart(subset, formed, previous, current),
        time_sentences=time_sentences(incidents, subset, formed, current, noun, held=held),
        subcategories=types,
        type_sentence=type_sentence(subset, formed, previous, current, noun) if types else None,
        severity=_severity_rows(frames.borough, formed, previous, current),
    )  # fmt: skip
    return section


_EMPTY = (
    "No {noun} were recorded in either period. Either none occurred or the data does not "
    "distinguish this group (police.uk data, for instance, has no subcategories)."
)


def _own_periods(
    group: CategoryGroup, previous: Period, current: Period, coverage: Coverage | None
) -> tuple[Period, Period]:
    """The periods a section is about: its sources' own latest months when they all end early by
    the same number of months (collisions ending June in a report to July), else those given."""
    if coverage is None:
        return previous, current
    shifts = {w.shift_months for w in coverage.for_group(group, previous, current).windows}
    if len(shifts) != 1:
        return previous, current
    (shift,) = shifts
    return previous.shifted(-shift), current.shifted(-shift)


def _formed(group: CategoryGroup, coverage: Coverage | None) -> CategoryGroup:
    """What of ``group`` the data can form (all of it without a coverage)."""
    if coverage is None:
        return group
    return coverage.formable(group).group or group


def _sentences(table: pd.DataFrame, totals: pd.Series, noun: str, current: Period) -> list[str]:
    sentences = [trend_sentence(totals, noun, current)]
    areas = table.loc[table["code"] != change.UNALLOCATED]
    if int(areas["current"].sum()) > 0:
        sentences.append(top_area_sentence(areas.iloc[0], noun))
    increases, decreases = change.top_movers(table, n=2)
    sentences.extend(mover_sentences(increases, decreases, noun))
    sentences.append(persistence_sentence(change.top_five_persistence(table)))
    for label in ("significant increase", "significant decrease"):
        sentence = significant_sentence(areas.loc[areas["label"] == label], label)
        if sentence:
            sentences.append(sentence)
    unallocated = table.loc[table["code"] == change.UNALLOCATED]
    if not unallocated.empty:
        sentences.append(
            f"{int(unallocated['current'].iloc[0])} {noun} in the current period had no location "
            "and could not be allocated to an area; they are not in the figures above."
        )
    return sentences


def _top_rows(table: pd.DataFrame, n: int = 5) -> list[dict[str, str]]:
    rows = []
    shown = change.rounded(table.loc[table["code"] != change.UNALLOCATED].head(n))
    for row in shown.itertuples(index=False):
        rows.append(
            {
                "rank": str(row.rank),
                "area": f"{row.name} ({row.code})",
                "previous": str(row.previous),
                "current": str(row.current),
                "change": signed(int(row.change)),
                "share": "-" if pd.isna(row.share) else f"{row.share:.1f}%",
                "rate": "-" if pd.isna(row.rate) else f"{row.rate:.2f}",
                "label": str(row.label),
            }
        )
    return rows


def _subcategory_rows(
    subset: pd.DataFrame, group: CategoryGroup, previous: Period, current: Period
) -> list[dict[str, str]]:
    table = breakdowns.subcategory_breakdown(
        subset, group=group, previous=previous, current=current
    )
    if table.empty or list(table["subcategory"]) == [breakdowns.NOT_GIVEN]:
        return []
    if _is_collisions(group) and set(table["subcategory"]) <= {*SEVERITIES, breakdowns.NOT_GIVEN}:
        return []  # the severity table already shows these
    return [
        {
            "subcategory": str(row.subcategory),
            "previous": str(row.previous),
            "current": str(row.current),
            "pct_change": _pct(float(row.pct_change)),
            "share": f"{row.share:.1f}%",
        }
        for row in table.itertuples(index=False)
    ]


def _severity_rows(
    borough: pd.DataFrame, group: CategoryGroup, previous: Period, current: Period
) -> list[list[str]]:
    if not _is_collisions(group):
        return []
    table = breakdowns.severity_by_period(borough, (previous, current), group=group)
    return [[str(v) for v in row] for row in table.itertuples(index=False)]


def _peer_position(
    subset: pd.DataFrame,
    group: CategoryGroup,
    setting: _Setting,
    previous: Period,
    current: Period,
) -> dict[str, Any]:
    """The borough's position among its peers, and its rate relative to their mean rate."""
    none: dict[str, Any] = {
        "volume_ratio": math.nan, "previous_volume_ratio": math.nan, "sentences": []
    }  # fmt: skip
    peers = setting.peers
    if peers is None:
        return none
    table = change.change_table(
        subset, layer=peers.layer, areas=peers.areas, group=group,
        previous=previous, current=current, coverage=setting.coverage,
    )  # fmt: skip
    positions = breakdowns.peer_positions(
        table, areas=peers.areas, highest_first=setting.highest_first
    ).set_index("code")
    if peers.code not in positions.index:
        return none
    own = positions.loc[peers.code]
    per = table.set_index("code").loc[peers.code, "rate_per"]
    noun = group_noun(group.name)
    return {
        "volume_ratio": _ratio(float(own["rate"]), positions["rate"]),
        "previous_volume_ratio": _ratio(float(own["previous_rate"]), positions["previous_rate"]),
        "sentences": [peer_sentence(own, noun, per, highest_first=setting.highest_first)],
    }


def _ratio(own: float, peers: pd.Series) -> float:
    """``own`` divided by the mean of ``peers`` (NaN when either is unknown or the mean is 0)."""
    mean = float(peers.mean())
    return own / mean if mean > 0 and math.isfinite(own) else math.nan


def _earlier_rating(
    incidents: pd.DataFrame,
    subset: pd.DataFrame,
    group: CategoryGroup,
    previous: Period,
    current: Period,
    peer: dict[str, Any],
    setting: _Setting,
) -> risk.RiskRating | None:
    """The rating the previous period had (against the one the same distance before it), when
    the data covers both; its volume input is the previous period's rate against the peers'."""
    gap = parse_month(current.start) - parse_month(previous.start)
    before = previous.shifted(-gap)
    if setting.coverage is None:
        covered = set(incidents["month"].dropna().astype("str").unique())
        if not set(before.months) <= covered:
            return None
    elif not setting.coverage.for_group(group, before, previous).covered:
        return None
    totals = change.looking_back(
        subset, (group,), before, previous, coverage=setting.coverage
    ).iloc[0]
    return risk.risk_rating(
        group.name, previous=int(totals["previous"]), current=int(totals["current"]),
        p=float(totals["p"]), volume_ratio=peer["previous_volume_ratio"], matrix=setting.matrix,
    )  # fmt: skip


def _is_collisions(group: CategoryGroup) -> bool:
    """Whether ``group`` counts road traffic collisions (own window, severity table)."""
    return any(s.category == ROAD_TRAFFIC_COLLISION for s in group.include)
