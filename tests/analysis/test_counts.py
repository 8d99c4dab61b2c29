"""Counting per area: zeros included, unallocated vs outside, group selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis.counts import (
    UNALLOCATED,
    counts_by_area,
    total_count,
    unlocated_outside,
    unlocated_shares,
    unlocated_summary,
    unlocated_warning,
    within_layer,
)
from geo_service.analysis.periods import Period
from geo_service.categories import load_groups
from geo_service.errors import InputError

#: The packaged category groups by name.
GROUPS = {g.name: g for g in load_groups()}


def _incidents(
    rows: list[tuple[str, str | None, str, str | None, bool]], source: str = "force"
) -> pd.DataFrame:
    """Rows of (category, subcategory, month, beat code, located), all of one ``source``."""
    frame = pd.DataFrame(rows, columns=["category", "subcategory", "month", "area_beat", "located"])
    frame["source"] = source
    frame["x"] = np.where(frame["located"], 500000.0, np.nan)
    frame["y"] = np.where(frame["located"], 200000.0, np.nan)
    frame["incident_id"] = [f"t:{i}" for i in range(len(frame))]
    return schema.conform(frame)


def test_counts_include_zero_areas_and_unallocated() -> None:
    borough = _incidents(
        [("Burglary", "Burglary dwelling", "2013-01", "A", True)] * 3
        + [("Burglary", "Burglary dwelling", "2013-02", "B", True)]
        + [("Burglary", "Burglary dwelling", "2013-02", None, False)] * 2  # no location
        + [("Burglary", "Burglary other", "2013-02", "A", True)]  # not dwelling
        + [("Burglary", "Burglary dwelling", "2012-02", "A", True)]  # other period
    )
    # A wider source: 5 rows outside the layer, and an unlocated row that is not the borough's.
    wider = _incidents(
        [("Burglary", "Burglary dwelling", "2013-02", None, True)] * 5
        + [("Burglary", "Burglary dwelling", "2013-02", None, False)],
        source="police_uk",
    )
    frame = pd.concat([borough, wider], ignore_index=True)
    period = Period("2012-08", "2013-07")
    counts = counts_by_area(
        frame, layer="beat", codes=["A", "B", "C"], group=GROUPS["Dwelling burglary"], period=period
    )
    assert counts.to_dict() == {"A": 3, "B": 1, "C": 0, UNALLOCATED: 2}
    assert total_count(frame, group=GROUPS["Dwelling burglary"], period=period) == 12
    assert len(within_layer(frame, "beat")) == 6
    summary = unlocated_summary(frame, "beat")
    assert (summary.unlocated, summary.placed, summary.unallocated, summary.outside) == (3, 0, 2, 1)
    assert unlocated_outside(frame, "beat") == 1


def test_force_wide_unlocated_rows_are_not_the_borough_s() -> None:
    """Two force-wide rows with no location; one has an LSOA the join placed in area B."""
    located = _incidents(
        [("Drugs", None, "2013-01", "A", True), ("Drugs", None, "2013-01", None, True)],
        source="police_uk",
    )
    unlocated = _incidents(
        [("Drugs", None, "2013-01", None, False), ("Drugs", None, "2013-01", "B", False)],
        source="police_uk",
    )
    frame = pd.concat([located, unlocated], ignore_index=True)
    counts = counts_by_area(
        frame, layer="beat", codes=["A", "B"], group="Drugs", period=Period("2013-01", "2013-01")
    )
    assert counts.to_dict() == {"A": 1, "B": 1, UNALLOCATED: 0}
    assert len(within_layer(frame, "beat")) == 2
    summary = unlocated_summary(frame, "beat")
    assert summary.sentence("Dacorum") == (
        "2 rows in the files have no location; 1 of them can be placed in Dacorum."
    )
    assert unlocated_outside(frame, "beat") == 1


def test_plain_category_name_is_a_group() -> None:
    frame = _incidents([("Drugs", None, "2013-01", "A", True)] * 2)
    counts = counts_by_area(
        frame, layer="beat", codes=["A"], group="Drugs", period=Period("2013-01", "2013-01")
    )
    assert counts["A"] == 2


def test_missing_layer_names_the_joined_layers() -> None:
    frame = _incidents([("Drugs", None, "2013-01", "A", True)])
    with pytest.raises(InputError, match="joined layers: beat"):
        counts_by_area(
            frame, layer="ward", codes=["A"], group="Drugs", period=Period("2013-01", "2013-01")
        )


def test_unlocated_share_per_period_and_its_warning() -> None:
    # 2012: 100 rows, 14 unlocated (14.0 %); 2013: 60 rows, 1 unlocated (1.7 %).
    rows = [("Drugs", None, "2012-03", "A", True)] * 86 + [
        ("Drugs", None, "2012-03", None, False)
    ] * 14
    rows += [("Drugs", None, "2013-03", "A", True)] * 59 + [("Drugs", None, "2013-03", None, False)]
    frame = _incidents(rows)
    periods = [Period("2012-01", "2012-12"), Period("2013-01", "2013-12")]
    shares = unlocated_shares(frame, periods)
    assert shares["rows"].tolist() == [100, 60] and shares["unlocated"].tolist() == [14, 1]
    assert shares["share"].tolist() == pytest.approx([14.0, 100 / 60])
    assert unlocated_warning(shares) == (
        "The share of rows with no location changed from 14.0% (Jan 12 to Dec 12) to 1.7% "
        "(Jan 13 to Dec 13): area counts can rise or fall for that reason alone."
    )
    # 2.0 % against 2.9 %: under 5 points and a ratio of 1.45: not material.
    close = shares.assign(share=[2.0, 2.9])
    assert unlocated_warning(close) is None
    # 0.2 % against 0.5 %: a ratio of 2.5, but both under the 1 % floor.
    assert unlocated_warning(shares.assign(share=[0.2, 0.5])) is None
    assert unlocated_warning(shares.assign(share=[1.0, 1.6])) is not None  # ratio 1.6
