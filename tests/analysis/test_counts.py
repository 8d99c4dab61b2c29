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
    within_layer,
)
from geo_service.analysis.periods import Period
from geo_service.errors import InputError


def _incidents(rows: list[tuple[str, str | None, str, str | None, bool]]) -> pd.DataFrame:
    """Rows of (category, subcategory, month, beat code, located)."""
    frame = pd.DataFrame(rows, columns=["category", "subcategory", "month", "area_beat", "located"])
    frame["x"] = np.where(frame["located"], 500000.0, np.nan)
    frame["y"] = np.where(frame["located"], 200000.0, np.nan)
    frame["incident_id"] = [f"t:{i}" for i in range(len(frame))]
    return schema.conform(frame)


def test_counts_include_zero_areas_and_unallocated() -> None:
    frame = _incidents(
        [("Burglary", "Burglary dwelling", "2013-01", "A", True)] * 3
        + [("Burglary", "Burglary dwelling", "2013-02", "B", True)]
        + [("Burglary", "Burglary dwelling", "2013-02", None, False)] * 2  # no location
        + [("Burglary", "Burglary dwelling", "2013-02", None, True)] * 5  # outside the layer
        + [("Burglary", "Burglary other", "2013-02", "A", True)]  # not dwelling
        + [("Burglary", "Burglary dwelling", "2012-02", "A", True)]  # other period
    )
    period = Period("2012-08", "2013-07")
    counts = counts_by_area(
        frame, layer="beat", codes=["A", "B", "C"], group="Dwelling burglary", period=period
    )
    assert counts.to_dict() == {"A": 3, "B": 1, "C": 0, UNALLOCATED: 2}
    assert total_count(frame, group="Dwelling burglary", period=period) == 11
    assert len(within_layer(frame, "beat")) == 6


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
