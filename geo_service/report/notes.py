"""What a report says about the data itself: coverage, omissions, unlocated rows.

These sentences stand where a change cannot honestly be stated: a period not fully held, a group
the data cannot form, rows that nothing places in the layer. They are plain text; the template
escapes them.
"""

from __future__ import annotations

import pandas as pd

from geo_service.analysis import change
from geo_service.analysis.counts import unlocated_shares, unlocated_summary, unlocated_warning
from geo_service.analysis.periods import Period
from geo_service.coverage import NO_SOURCE, Coverage


def looking_back_notes(overview: pd.DataFrame) -> list[str]:
    """One note per row whose figures are not a full comparison of what the group names."""
    notes = []
    for row in overview.itertuples(index=False):
        said = [str(t) for t in (row.omitted, row.coverage, row.window) if t]
        if said:
            notes.append(f"{row.group}: {'; '.join(said)}.")
    return notes


def data_notes(
    incidents: pd.DataFrame,
    layer: str,
    previous: Period,
    current: Period,
    coverage: Coverage | None,
) -> list[str]:
    """Months missing per source, rows with no location, and a shift in their share."""
    notes: list[str] = []
    if coverage is not None:
        notes += coverage.missing_lines(coverage.months, previous, current)
    summary = unlocated_summary(incidents, layer)
    if summary.outside:
        notes.append(summary.sentence(f"an area of the {layer} layer"))
    warning = unlocated_warning(unlocated_shares(incidents, [previous, current]))
    if warning:
        notes.append(warning)
    return notes


def omitted_sentences(totals: pd.Series) -> list[str]:
    """ "These figures leave out what it cannot form from police_uk data (...)." """
    if not totals["omitted"]:
        return []
    return [f"These figures {str(totals['omitted']).replace('leaves out', 'leave out')}."]


def not_compared_sentences(
    totals: pd.Series, noun: str, previous: Period, current: Period
) -> list[str]:
    """What a section says when its two periods cannot be compared: never a change or a risk."""
    if totals["label"] == change.NOT_AVAILABLE:
        return [f"Figures for {noun} are {totals['omitted']}."]
    if totals["label"] == NO_SOURCE:
        return [f"No source in the store supplies {noun}: nothing can be said about them."]
    sentences = []
    if pd.notna(totals["current"]):
        sentences.append(
            f"There were {int(totals['current'])} {noun} recorded in the period ({current.label})."
        )
    held = str(totals["coverage"]) or str(totals["label"])
    sentences.append(
        f"The data does not hold every month of both periods ({held}), so no change against "
        f"{previous.label} is stated, tested or rated for risk."
    )
    return omitted_sentences(totals) + sentences


def apart_sentences(anywhere: pd.DataFrame, layer: str, noun: str, current: Period) -> list[str]:
    """Unlocated rows of the group in the current period that nothing places in the layer."""
    summary = unlocated_summary(anywhere.loc[current.contains(anywhere["month"])], layer)
    if not summary.outside:
        return []
    return [
        f"A further {summary.outside} {noun} in the files for the current period had no location "
        f"and nothing places them in an area of the {layer} layer (they may lie anywhere the "
        "files cover); they are left out."
    ]
