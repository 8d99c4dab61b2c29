"""The HTML report: sections, generated sentences, escaping, collision window, self-containment."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from geo_service import schema
from geo_service.analysis.periods import Period, rolling_periods
from geo_service.categories import find_group, load_groups
from geo_service.coverage import Coverage
from geo_service.report import DEFAULT_PRIORITIES, Peers, build_report
from geo_service.report.text import (
    group_noun,
    long_run_sentence,
    mover_sentences,
    peer_sentence,
    persistence_sentence,
    profile_sentence,
    signed,
    significant_sentence,
    type_sentence,
)
from geo_service.store import Store

BEATS = {"D2A": ("Berkhamsted Castle", 7, 33), "D1M": ("<b>Chaulden</b> & Shrubhill", 4, 16),
         "D1G": ("Highfield and St Pauls", 36, 14)}  # fmt: skip


def _frame() -> pd.DataFrame:
    rows = []
    for code, (_name, before, after) in BEATS.items():
        rows += [("Burglary", "Burglary dwelling", "2012-01", code, None)] * before
        rows += [("Burglary", "Burglary dwelling", "2013-03", code, None)] * after
    rows += [("Road traffic collision", "Slight", "2012-07", "D1G", "Slight")] * 5  # RTC year
    rows += [("Road traffic collision", "Fatal", "2013-07", "D1G", "Fatal")] * 9  # outside it
    rows += [("Burglary", "Burglary dwelling", "2013-04", None, None)] * 2  # no location
    frame = pd.DataFrame(
        rows, columns=["category", "subcategory", "month", "area_beat", "severity"]
    )
    located = frame["area_beat"].notna()
    frame["x"] = np.where(located, 500000.0, np.nan)
    frame["y"] = np.where(located, 200000.0, np.nan)
    frame["area_district"] = np.where(located, "E07000096", None)
    return schema.conform(frame)


def _areas() -> pd.DataFrame:
    return pd.DataFrame(
        {"code": list(BEATS), "name": [v[0] for v in BEATS.values()], "households": 2000.0}
    )


@pytest.fixture(scope="module")
def html() -> str:
    return build_report(
        _frame(), layer="beat", areas=_areas(), groups=load_groups(), period_end="2013-07"
    )


def _text(html: str) -> str:
    body = re.sub(r"<(style|svg)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def test_report_is_well_formed_and_self_contained(html: str) -> None:
    HTMLParser().feed(html)
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "@media print" in html
    assert html.count("<svg") == 2  # only dwelling burglary and collisions have data
    for name in DEFAULT_PRIORITIES:
        assert f"<h2>{name}</h2>" in html
    assert "No drugs offences were recorded in either period." in _text(html)


def test_sentences_read_like_the_assessment(html: str) -> None:
    text = _text(html)
    total = 33 + 16 + 14
    assert (
        "Berkhamsted Castle (D2A) reported the highest number of dwelling burglary offences, "
        f"accounting for {100 * 33 / total:.1f}% of the total (33 offences), "
        "up 26 from 7 the previous year."
    ) in text
    assert (
        "There were 63 dwelling burglary offences recorded in the period (Aug 12 to Jul 13)" in text
    )
    assert "an increase of 34.0% compared to 47 the previous year" in text
    assert "Highfield and St Pauls (D1G), down 22 from 36 to 14" in text
    assert "2 dwelling burglary offences in the current period had no location" in text
    assert (
        "The peak month for dwelling burglary offences was Mar 13 with 63 (100.0% of the period; "
        "0 in Mar 12) and the lowest Aug 12 with 0; the average was 5.2 a month."
    ) in text


def test_data_text_is_escaped(html: str) -> None:
    assert "<b>Chaulden</b>" not in html
    assert "&lt;b&gt;Chaulden&lt;/b&gt; &amp; Shrubhill (D1M)" in html


def test_collisions_use_the_july_to_june_year(html: str) -> None:
    section = html.split("<h2>Road traffic collisions</h2>")[1]
    assert "Jul 12 to Jun 13" in section and "Jul 11 to Jun 12" in section
    text = _text(section)
    assert "There were 5 road traffic collisions recorded in the period (Jul 12 to Jun 13)" in text
    assert re.search(r"Slight\s+0\s+5", text) and re.search(r"Grand Total\s+0\s+5", text)
    assert "Breakdown by type" not in section  # subcategories repeat the severity table


def test_looking_back_table_and_risk(html: str) -> None:
    text = _text(html)
    assert re.search(r"Dwelling burglary 47 63 \+16 \+34\.0%", text)
    burglary = text.split("Dwelling burglary Risk assessment")[1][:400]
    # 47 -> 63 is not significant (binomial p = 0.15): volume 2 + trend 2 + harm 3 = 7, Medium.
    assert burglary.startswith(" shows a 'Medium Risk'")
    assert "trend score 2 (no significant change), harm weight 3; total 7." in burglary


def test_peer_sentence_with_districts() -> None:
    districts = pd.DataFrame({"code": ["E07000096"], "name": ["Dacorum"], "population": [144800.0]})
    html = build_report(
        _frame(), layer="beat", areas=_areas(), groups=load_groups(), period_end="2013-07",
        priorities=("Dwelling burglary",),
        peers=Peers(layer="district", areas=districts, code="E07000096"),
    )  # fmt: skip
    rate = 1000 * 63 / 144800  # district layer has residents but no households
    assert (
        "Among its peers, Dacorum is 1st of 1 for the rate of dwelling burglary offences per "
        f"1,000 residents ({rate:.2f}), 1st of 1 the previous year; 1st of 1 for the number of "
        "dwelling burglary offences (1st of 1 the previous year). Positions count up from the "
        "lowest (1st), so the highest is last, as in iQuanta."
    ) in _text(html)
    assert "(rate 1.00 &times; the peer average)" in html


def test_text_helpers() -> None:
    assert group_noun("Vehicle crime (excluding interference)") == (
        "vehicle crime offences (excluding interference)"
    )
    assert group_noun("ASB incidents") == "ASB incidents"
    assert (signed(82), signed(-862), signed(0)) == ("+82", "-862", "0")
    empty = pd.DataFrame(columns=["code", "name", "previous", "current", "change"])
    assert persistence_sentence(empty.assign(persisted=[])).startswith("None of the areas")
    assert mover_sentences(empty, empty, "fires") == [
        "No area recorded an increase.",
        "No area recorded a decrease.",
    ]
    persistence = pd.DataFrame(
        {"code": ["D1Q", "D1T"], "name": ["Bennetts End", "Woodhall"], "persisted": [True, True]}
    )
    assert persistence_sentence(persistence) == (
        "Two of the areas in the top five last year have remained in the top five this year: "
        "Bennetts End (D1Q), Woodhall (D1T)."
    )


def test_significant_sentence_names_the_strongest_few() -> None:
    rows = pd.DataFrame(
        {
            "name": ["Berkhamsted Castle", "Tring East", "Apsley", "Watling"],
            "code": ["D2A", "D3C", "D1D", "D1S"],
            "previous": [7, 1, 2, 3],
            "current": [33, 9, 12, 14],
            "q": [0.0011, 0.0004, 0.02, 0.03],
        }
    )
    assert significant_sentence(rows.head(1), "significant increase") == (
        "Berkhamsted Castle (D2A) shows a significant increase (7 to 33, q = 0.001)."
    )
    assert significant_sentence(rows, "significant increase") == (
        "4 areas show a significant increase: Tring East (D3C, 1 to 9, q < 0.001); "
        "Berkhamsted Castle (D2A, 7 to 33, q = 0.001); Apsley (D1D, 2 to 12, q = 0.020) "
        "and 1 other area."
    )
    assert significant_sentence(rows.head(0), "significant increase") is None


def test_profile_and_type_sentences() -> None:
    # 2013-01-05 is a Saturday, 2013-01-07 a Monday.
    frame = schema.conform(
        pd.DataFrame(
            {
                "category": "Deliberate fire",
                "subcategory": ["Wheelie bin"] * 3 + ["Grassland"] * 2 + [None],
                "month": "2013-01",
                "occurred_at": pd.to_datetime(
                    ["2013-01-05 20:10"] * 3 + ["2013-01-07 20:30"] * 2 + [None]
                ),
                "time_known": [True, True, True, False, True, False],
            }
        )
    )
    _, current = rolling_periods("2013-07")
    group = find_group(load_groups(), "Deliberate fires")
    assert profile_sentence(frame, group, current, "deliberate fires") == (
        "Of the deliberate fires with a date, most fell on a Saturday (60.0%); "
        "the busiest hour was 20:00-21:00 (100.0% of those with a known time)."
    )
    previous = Period("2011-08", "2012-07")
    assert type_sentence(frame, group, previous, current, "deliberate fires") == (
        "The most common type was Wheelie bin (3 fires, 50.0% of the total), "
        "followed by Grassland (2)."
    )


def test_peer_sentence_with_rates() -> None:
    own = pd.Series(
        {"name": "Dacorum", "rate": 6.7049, "rate_position": "7th of 10",
         "previous_rate_position": "6th of 10", "count_position": "5th of 10",
         "previous_count_position": "4th of 10"}
    )  # fmt: skip
    assert peer_sentence(own, "dwelling burglary offences", "1,000 households") == (
        "Among its peers, Dacorum is 7th of 10 for the rate of dwelling burglary offences per "
        "1,000 households (6.70), 6th of 10 the previous year; 5th of 10 for the number of "
        "dwelling burglary offences (4th of 10 the previous year). Positions count up from the "
        "lowest (1st), so the highest is last, as in iQuanta."
    )
    assert peer_sentence(
        own, "dwelling burglary offences", "1,000 households", highest_first=True
    ).endswith("(4th of 10 the previous year). Positions count down from the highest (1st).")


def test_long_run_sentence() -> None:
    history = pd.DataFrame(
        {"period": ["Aug 08 to Jul 09", "Aug 10 to Jul 11", "Aug 12 to Jul 13"],
         "mean_per_month": [879.25, 500.0, 326.4]}
    )  # fmt: skip
    assert long_run_sentence(history, "ASB incidents") == (
        "Over the past 3 years the average number of ASB incidents per month has fallen by "
        "62.9%, from 879.25 (Aug 08 to Jul 09) to 326.4 (Aug 12 to Jul 13)."
    )


def test_previous_rating_when_the_data_covers_it() -> None:
    frame = _frame()
    older = frame.loc[frame["month"] == "2012-01"].assign(month="2011-01")
    months = Period("2010-08", "2013-07").months  # one bicycle theft a month: data covers these
    filler = schema.conform(
        pd.DataFrame({"category": "Bicycle theft", "month": months, "area_beat": "D1G",
                      "x": 500000.0, "y": 200000.0})
    )  # fmt: skip
    html = build_report(
        pd.concat([frame, older, older, older, filler], ignore_index=True),
        layer="beat", areas=_areas(), groups=load_groups(), period_end="2013-07",
        priorities=("Dwelling burglary",),
    )  # fmt: skip
    # Aug 10..Jul 11: 3 x 47 = 141 -> Aug 11..Jul 12: 47, a significant decrease:
    # volume 2 + trend 1 + harm 3 = 6, Low.
    assert (
        "The previous year was rated Low (total 6: significant decrease against the year before)."
    ) in _text(html)
    assert "previous year was rated" not in build_report(
        frame, layer="beat", areas=_areas(), groups=load_groups(), period_end="2013-07",
        priorities=("Dwelling burglary",),
    )  # fmt: skip


# ----------------------------------------------------------------------------------- coverage
def _police_uk_like() -> pd.DataFrame:
    """13 months (2021-01..2022-01) of police.uk-like rows: no sub-types, no times."""
    rows = []
    for month in Period("2021-01", "2022-01").months:
        rows += [("Drugs", month, "D2A")] * 3 + [("Burglary", month, "D1M")] * 2
    rows += [("Drugs", "2022-01", "D1G")] * 9  # Jan 22: 12 drugs offences against 3 in Jan 21
    frame = pd.DataFrame(rows, columns=["category", "month", "area_beat"])
    frame["source"], frame["x"], frame["y"] = "police_uk", 500000.0, 200000.0
    return schema.conform(frame)


@pytest.fixture(scope="module")
def police_uk_report() -> str:
    frame = _police_uk_like()
    return build_report(
        frame, layer="beat", areas=_areas(), groups=load_groups(), period_end="2022-01",
        priorities=("Drugs offences", "Dwelling burglary"), coverage=Coverage.from_incidents(frame),
    )  # fmt: skip


def test_partly_covered_year_is_not_a_change_nor_rated(police_uk_report: str) -> None:
    text = _text(police_uk_report)
    assert re.search(r"Drugs offences no data 45 - - earlier period partly covered", text)
    assert "Drugs offences: Feb 20 to Jan 21: 1 of 12 months held." in text
    drugs = _text(police_uk_report.split("<h2>Drugs offences</h2>")[1].split("<h2>")[0])
    assert "There were 45 drugs offences recorded in the period (Feb 21 to Jan 22)." in drugs
    assert (
        "The data does not hold every month of both periods (Feb 20 to Jan 21: 1 of 12 months "
        "held), so no change against Feb 20 to Jan 21 is stated, tested or rated for risk."
    ) in drugs
    for word in ("Risk assessment", "increase", "significant (", " 0 in "):
        assert word not in drugs
    assert "police_uk: no data for Feb 20 to Dec 20" in text


def test_group_the_source_cannot_form_is_said(police_uk_report: str) -> None:
    text = _text(police_uk_report)
    assert (
        "Figures for dwelling burglary offences are not available from police_uk data "
        "(no Burglary sub-types)."
    ) in text
    assert re.search(r"Dwelling burglary no data no data - - not available", text)
    assert "No dwelling burglary offences were recorded" not in text


def test_year_earlier_month_is_compared_and_worded() -> None:
    frame = _police_uk_like()
    html = build_report(
        frame, layer="beat", areas=_areas(), groups=load_groups(), period_end="2022-01",
        months=1, against="year-earlier", priorities=("Drugs offences",),
        coverage=Coverage.from_incidents(frame),
    )  # fmt: skip
    text = _text(html)
    assert "Period assessed: Jan 22, compared with Jan 21 (the same months a year earlier)." in text
    # 3 -> 12: binomial p = P(X <= 3 | 15, 0.5) * 2 = 0.035, a significant increase.
    assert (
        "There were 12 drugs offences recorded in the period (Jan 22), an increase of 300.0% "
        "compared to 3 a year earlier; the change is a significant increase (p = 0.035)."
    ) in text
    assert "Risk assessment shows a" in text


def test_demo_report_compares_collisions_july_to_june(demo_store: Store) -> None:
    incidents = demo_store.incidents()
    html = build_report(
        incidents, layer="beat", areas=demo_store.layer("beat"), groups=load_groups(),
        period_end="2013-07", priorities=("Road traffic collisions",),
        coverage=Coverage.from_incidents(incidents),
    )  # fmt: skip
    text = _text(html)
    assert re.search(r"Road traffic collisions 299 268 -31 -10\.4% no significant change", text)
    assert "Road traffic collisions: stats19: Jul 12 to Jun 13 (its data ends Jun 13)." in text
    assert (
        "There were 268 road traffic collisions recorded in the period (Jul 12 to Jun 13)" in text
    )
