"""The beat summary's sentences, from small hand-made tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import poisson

from geo_service.brief.words import beat_brief

SCOPE = {
    "All crime": frozenset({"Burglary", "Robbery", "Vehicle crime", "Drugs"}),
    "Serious acquisitive crime": frozenset({"Burglary", "Robbery", "Vehicle crime"}),
    "Dwelling burglary": frozenset({"Burglary"}),
    "Burglary": frozenset({"Burglary"}),
    "Robbery": frozenset({"Robbery"}),
    "Drugs": frozenset({"Drugs"}),
}
LEAVES = {"Burglary", "Robbery", "Drugs"}


def changes(rows: list[tuple[str, int, int, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["group", "previous", "current", "label"])
    frame["change"] = frame["current"] - frame["previous"]
    frame["pct_change"] = 100 * frame["change"] / frame["previous"]
    return frame


def test_a_rise_is_said_once_by_its_narrowest_row() -> None:
    table = changes([
        ("All crime", 100, 140, "significant increase"),
        ("Serious acquisitive crime", 40, 63, "significant increase"),
        ("Dwelling burglary", 7, 33, "significant increase"),
        ("Burglary", 20, 40, "significant increase"),
        ("Robbery", 10, 4, "no significant change"),
        ("Drugs", 30, 12, "significant decrease"),
    ])  # fmt: skip
    brief = beat_brief(table, {}, "Jul 13", leaves=LEAVES, scope=SCOPE, place="Castle (D2A)")
    rose, fell, unusual = brief.sentences
    assert rose == "Rose significantly in Castle (D2A): Dwelling burglary (7 to 33, +371 %)."
    assert fell == "Fell significantly in Castle (D2A): Drugs (30 to 12, -60 %)."
    assert unusual.startswith("Nothing was unusual")
    assert brief.leaves["group"].tolist() == ["Burglary", "Robbery", "Drugs"]
    assert brief.increases["group"].tolist() == ["Burglary"]
    assert brief.decreases["group"].tolist() == ["Drugs", "Robbery"]


def test_an_improbable_month_is_unusual() -> None:
    table = changes([("Burglary", 120, 130, "no significant change")])
    # 12 months of 10, then 25: P(X >= 25 | mean 10) is about 4e-5; 14 would be 0.08.
    assert poisson.sf(24, 10.0) < 0.01 < poisson.sf(13, 10.0)
    high = beat_brief(table, {"Burglary": [10] * 12 + [25]}, "Jul 13", leaves=LEAVES,
                      scope=SCOPE, place="X")  # fmt: skip
    assert high.sentences[2] == "Unusual in Jul 13: Burglary 25 (usually 10 a month)."
    usual = beat_brief(table, {"Burglary": [10] * 12 + [14]}, "Jul 13", leaves=LEAVES,
                       scope=SCOPE, place="X")  # fmt: skip
    assert usual.sentences[2].startswith("Nothing was unusual in X in Jul 13")
    low = beat_brief(table, {"Burglary": [10] * 12 + [2]}, "Jul 13", leaves=LEAVES,
                     scope=SCOPE, place="X")  # fmt: skip
    assert poisson.cdf(2, 10.0) < 0.01
    assert low.sentences[2] == "Unusual in Jul 13: Burglary only 2 (usually 10 a month)."
    gap = beat_brief(table, {"Burglary": [10] * 11 + [None, 25]}, "Jul 13", leaves=LEAVES,
                     scope=SCOPE, place="X")  # fmt: skip
    assert gap.sentences[2].startswith("Nothing was unusual")
    assert np.isfinite(table["pct_change"]).all()
