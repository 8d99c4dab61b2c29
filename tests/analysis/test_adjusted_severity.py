"""Tests for KSI counts adjusted for the change to injury-based severity recording."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis.adjusted_severity import adjusted_ksi
from geo_service.errors import InputError


def _collisions(rows: list[tuple[str, str, float, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "incident_id": [f"c{i}" for i in range(len(rows))],
            "month": [r[0] for r in rows],
            "severity": [r[1] for r in rows],
            "adjusted_serious": [r[2] for r in rows],
            "highway_authority": [r[3] for r in rows],
        }
    )
    return schema.conform(frame)


ROWS = [
    ("2013-01", "Fatal", np.nan, "E10000015"),
    ("2013-02", "Serious", 0.9, "E10000015"),
    ("2013-03", "Slight", 0.2, "E10000015"),
    ("2013-04", "Slight", np.nan, "E10000015"),  # no adjustment: counts as recorded, 0
    ("2013-05", "Serious", np.nan, "E10000015"),  # no adjustment: counts as recorded, 1
    ("2014-01", "Serious", 1.0, "E10000015"),
    ("2014-02", "Slight", 0.35, "E06000060"),
    ("2014-03", "Fatal", 0.7, "E10000015"),  # fatal is never adjusted
]


def test_adjusted_ksi_by_hand() -> None:
    table = adjusted_ksi(_collisions(ROWS)).set_index("year")
    # 2013: serious adjusted 0.9 + 0.2 + 0 + 1 = 2.1; KSI adjusted 1 + 2.1
    assert table.loc[2013, ["collisions", "fatal", "serious", "ksi", "unadjusted"]].tolist() == [
        5, 1, 2, 3, 2
    ]  # fmt: skip
    assert table.loc[2013, "serious_adjusted"] == pytest.approx(2.1)
    assert table.loc[2013, "ksi_adjusted"] == pytest.approx(3.1)
    # 2014: serious adjusted 1.0 + 0.35 = 1.35; KSI adjusted 1 + 1.35
    assert table.loc[2014, ["collisions", "fatal", "serious", "ksi", "unadjusted"]].tolist() == [
        3, 1, 1, 2, 0
    ]  # fmt: skip
    assert table.loc[2014, "ksi_adjusted"] == pytest.approx(2.35)


def test_adjusted_ksi_by_highway_authority() -> None:
    table = adjusted_ksi(_collisions(ROWS), by=["highway_authority"])
    herts_2014 = table[(table["year"] == 2014) & (table["highway_authority"] == "E10000015")]
    assert herts_2014[["collisions", "ksi"]].iloc[0].tolist() == [2, 2]
    assert herts_2014["ksi_adjusted"].iloc[0] == pytest.approx(2.0)
    other = table[table["highway_authority"] == "E06000060"]
    assert other["ksi_adjusted"].iloc[0] == pytest.approx(0.35)


def test_without_adjustment_columns_counts_as_recorded() -> None:
    frame = _collisions(ROWS).drop(columns=["adjusted_serious"])
    table = adjusted_ksi(frame).set_index("year")
    assert (table["ksi_adjusted"] == table["ksi"]).all()
    assert table["unadjusted"].tolist() == [4, 2]
    with pytest.raises(InputError, match="severity"):
        adjusted_ksi(frame.drop(columns=["severity"]))
