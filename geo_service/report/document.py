"""The strategic-assessment document: one self-contained HTML file built from the analysis tables.

:func:`build_report` writes what an analyst writes by hand each year: the "Looking back" table,
then for each priority group its risk rating, the borough trend, the top areas with their shares,
the biggest movers, a monthly chart (inline SVG, no JavaScript, prints well), breakdowns and the
position among peers, each told in sentences like the assessment's own ("Berkhamsted Castle (D2A)
reported the highest number of dwelling burglary offences, accounting for 8.1% of the total (33
offences), up 26 from 7 the previous year."). Text from the data is escaped by Jinja2's
autoescape. Collision groups use their own window, ``collision_lag_months`` earlier (the
assessment's July-June year for a report ending in July).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jinja2
import pandas as pd

from geo_service.analysis import breakdowns, change, patterns, risk
from geo_service.analysis.counts import select, within_layer
from geo_service.analysis.periods import Period, month_label, rolling_periods, shift_month
from geo_service.categories import CategoryGroup, find_group
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
    """Peer comparison: the incidents' ``area_<layer>`` for a peer layer (e.g. the county's
    districts), that layer's standard frame, and the code of the area the report is about."""

    layer: str
    areas: pd.DataFrame
    code: str


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
) -> str:
    """The report as one HTML document (inline CSS, inline SVG charts, print stylesheet).

    Parameters
    ----------
    incidents
        Canonical incidents joined to ``layer`` (and to ``peers.layer``). Borough figures count
        the incidents allocated to an area of ``layer``; incidents with no location are
        reported as unallocated; those located outside every area are ignored (except by the
        peer comparison, which counts per peer area).
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
    """
    previous, current = rolling_periods(period_end, months=months)
    borough = within_layer(incidents, layer)
    overview = change.looking_back(borough, groups, previous, current)
    chosen = matrix or risk.load_risk_matrix()
    windows = _Windows(period_end, months, collision_lag_months)
    sections = [
        _section(borough, incidents, find_group(groups, name), layer, areas, windows, peers, chosen)
        for name in priorities
    ]
    context = {
        "title": title,
        "previous_label": previous.label,
        "current_label": current.label,
        "layer": layer,
        "looking_back": [_looking_back_row(r) for r in overview.itertuples(index=False)],
        "sections": sections,
        "alpha": 0.05,
        "period_word": "year" if months == 12 else "period",
    }
    return _environment().get_template("report.html.j2").render(**context)


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
        "previous": str(row.previous),
        "current": str(row.current),
        "change": signed(int(row.change)),
        "pct_change": _pct(row.pct_change),
        "label": str(row.label),
    }


def _pct(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:+.1f}%"


@dataclass(frozen=True)
class _Windows:
    """The periods of a report: ``months`` ending ``period_end`` (collisions: lagged)."""

    period_end: str
    months: int
    collision_lag_months: int

    def for_group(self, group: CategoryGroup) -> tuple[Period, Period]:
        end = self.period_end
        if _is_collisions(group):
            end = shift_month(end, -self.collision_lag_months)
        return rolling_periods(end, months=self.months)


def _section(
    incidents: pd.DataFrame,
    everywhere: pd.DataFrame,
    group: CategoryGroup,
    layer: str,
    areas: pd.DataFrame,
    windows: _Windows,
    peers: Peers | None,
    matrix: risk.RiskMatrix,
) -> dict[str, Any]:
    previous, current = windows.for_group(group)
    subset = select(incidents, group=group)
    anywhere = select(everywhere, group=group)
    table = change.change_table(
        anywhere, layer=layer, areas=areas, group=group, previous=previous, current=current
    )
    totals = change.looking_back(subset, (group,), previous, current).iloc[0]
    peer = _peer_position(anywhere, group, peers, previous, current)
    rating = risk.risk_rating(
        group.name, previous=int(totals["previous"]), current=int(totals["current"]),
        p=float(totals["p"]), volume_ratio=peer["volume_ratio"], matrix=matrix,
    )  # fmt: skip
    earlier = _earlier_rating(incidents, subset, group, previous, peer, matrix)
    noun = group_noun(group.name)
    section: dict[str, Any] = dict(
        name=group.name, previous_label=previous.label, current_label=current.label,
        rating=rating, earlier_rating=earlier,
        empty=int(table["previous"].sum() + table["current"].sum()) == 0,
        sentences=[], top=[], rate_per=None, time_sentences=[], subcategories=[],
        type_sentence=None, severity=[],
    )  # fmt: skip
    if section["empty"]:
        section["sentences"] = [_EMPTY.format(noun=noun)]
        return section
    sentences = _sentences(table, totals, noun, current) + peer["sentences"]
    types = _subcategory_rows(subset, group, previous, current)
    section.update(
        sentences=[period_wording(s, windows.months) for s in sentences],
        top=_top_rows(table),
        rate_per=next(iter(table["rate_per"].dropna()), None),
        chart=_chart(subset, group, previous, current),
        time_sentences=time_sentences(incidents, subset, group, current, noun),
        subcategories=types,
        type_sentence=type_sentence(subset, group, previous, current, noun) if types else None,
        severity=_severity_rows(subset, group, previous, current),
    )
    return section


_EMPTY = (
    "No {noun} were recorded in either period. Either none occurred or the data does not "
    "distinguish this group (police.uk data, for instance, has no subcategories)."
)


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


def _chart(
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
    subset: pd.DataFrame, group: CategoryGroup, previous: Period, current: Period
) -> list[list[str]]:
    if not _is_collisions(group):
        return []
    table = breakdowns.severity_by_period(subset, (previous, current), group=group)
    return [[str(v) for v in row] for row in table.itertuples(index=False)]


def _peer_position(
    subset: pd.DataFrame,
    group: CategoryGroup,
    peers: Peers | None,
    previous: Period,
    current: Period,
) -> dict[str, Any]:
    """The borough's position among its peers, and its rate relative to their mean rate."""
    none: dict[str, Any] = {
        "volume_ratio": math.nan, "previous_volume_ratio": math.nan, "sentences": []
    }  # fmt: skip
    if peers is None:
        return none
    table = change.change_table(
        subset, layer=peers.layer, areas=peers.areas, group=group,
        previous=previous, current=current,
    )  # fmt: skip
    positions = breakdowns.peer_positions(table, areas=peers.areas).set_index("code")
    if peers.code not in positions.index:
        return none
    own = positions.loc[peers.code]
    per = table.set_index("code").loc[peers.code, "rate_per"]
    noun = group_noun(group.name)
    return {
        "volume_ratio": _ratio(float(own["rate"]), positions["rate"]),
        "previous_volume_ratio": _ratio(float(own["previous_rate"]), positions["previous_rate"]),
        "sentences": [peer_sentence(own, noun, per)],
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
    peer: dict[str, Any],
    matrix: risk.RiskMatrix,
) -> risk.RiskRating | None:
    """The rating the previous period had (against the one before it), when the data covers
    both; its volume input is the previous period's rate against the peers' then."""
    before = previous.shifted(-previous.n_months)
    covered = set(incidents["month"].dropna().astype("str"))
    if not set(before.months) <= covered:
        return None
    totals = change.looking_back(subset, (group,), before, previous).iloc[0]
    return risk.risk_rating(
        group.name, previous=int(totals["previous"]), current=int(totals["current"]),
        p=float(totals["p"]), volume_ratio=peer["previous_volume_ratio"], matrix=matrix,
    )  # fmt: skip


def _is_collisions(group: CategoryGroup) -> bool:
    """Whether ``group`` counts road traffic collisions (own window, severity table)."""
    return any(s.category == ROAD_TRAFFIC_COLLISION for s in group.include)
