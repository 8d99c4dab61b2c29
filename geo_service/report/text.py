"""Sentences of the strategic-assessment report, worded like the assessment's own.

Each function turns one analysis result (a change-table row, the movers, the top-five
persistence, a borough total) into plain English: "Berkhamsted Castle (D2A) reported the highest
number of dwelling burglary offences, accounting for 8.1% of the total (33 offences), up 26 from 7
the previous year." The text is plain (not HTML); the report template escapes it.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd

from geo_service.analysis import breakdowns, patterns
from geo_service.analysis.periods import PRECEDING, Period, month_label, shift_month
from geo_service.categories import CategoryGroup

#: Areas named per direction in the significant-change sentence.
SIGNIFICANT_SHOWN = 3
#: Days are reported when their Poisson tail probability is below this (stricter than for
#: months, since a year has ~365 days to test), at most this many per section.
DAY_ALPHA = 0.001
DAYS_SHOWN = 2

_PLURAL_UNITS = ("incidents", "fires", "collisions", "offences", "crimes")
_NUMBER_WORDS = ("None", "One", "Two", "Three", "Four", "Five")


def group_noun(name: str) -> str:
    """How the text names a group's incidents: "Dwelling burglary" -> "dwelling burglary
    offences", "ASB incidents" -> "ASB incidents", "Vehicle crime (excluding interference)" ->
    "vehicle crime offences (excluding interference)"."""
    text = name if name[:2].isupper() else name[:1].lower() + name[1:]
    head, bracket, tail = text.partition(" (")
    if head.split()[-1].lower() in _PLURAL_UNITS:
        return text
    return f"{head} offences{bracket}{tail}"


def unit_of(noun: str) -> str:
    """The counted unit of a noun from :func:`group_noun`: "offences", "incidents" ..."""
    return noun.partition(" (")[0].split()[-1]


def signed(value: int) -> str:
    """``82`` -> ``"+82"``, ``-862`` -> ``"-862"``, ``0`` -> ``"0"``."""
    return f"{value:+d}" if value else "0"


def trend_sentence(totals: pd.Series, noun: str, current: Period) -> str:
    """The borough trend: count, % change against the previous period, and its significance."""
    before, after = int(totals["previous"]), int(totals["current"])
    text = f"There were {after} {noun} recorded in the period ({current.label})"
    if before == 0:
        text += ", against none the previous year"
    elif after == before:
        text += f", the same number as the previous year ({before})"
    else:
        word = "an increase" if after > before else "a decrease"
        pct = abs(float(totals["pct_change"]))
        text += f", {word} of {pct:.1f}% compared to {before} the previous year"
    significant = str(totals["label"]).startswith("significant")
    verdict = f"a {totals['label']}" if significant else "not statistically significant"
    return f"{text}; the change is {verdict} (p {p_text(float(totals['p']))})."


def p_text(value: float) -> str:
    """``"= 0.043"``, or ``"< 0.001"`` for smaller values."""
    return "< 0.001" if value < 0.001 else f"= {value:.3f}"


def _movement(change_count: int, previous: int) -> str:
    if change_count == 0:
        return f"unchanged from {previous} the previous year"
    word = "up" if change_count > 0 else "down"
    return f"{word} {abs(change_count)} from {previous} the previous year"


def top_area_sentence(row: pd.Series, noun: str) -> str:
    """ "D2A ... reported the highest number of ..., accounting for 8.1% of the total (33 ...),
    up 26 from 7 the previous year." """
    return (
        f"{row['name']} ({row['code']}) reported the highest number of {noun}, accounting for "
        f"{row['share']:.1f}% of the total ({row['current']} {unit_of(noun)}), "
        f"{_movement(int(row['change']), int(row['previous']))}."
    )


def mover_sentences(increases: pd.DataFrame, decreases: pd.DataFrame, noun: str) -> list[str]:
    """Sentences naming the areas with the greatest increases and decreases."""
    sentences = []
    for table, kind, word in ((increases, "increase", "up"), (decreases, "decrease", "down")):
        if table.empty:
            sentences.append(
                f"No area recorded an {kind}."
                if kind == "increase"
                else "No area recorded a decrease."
            )
            continue
        parts = [
            f"{r.name} ({r.code}), {word} {abs(int(r.change))} from {r.previous} to {r.current}"
            for r in table.itertuples(index=False)
        ]
        plural = "s were" if len(parts) > 1 else " was"
        sentences.append(f"The greatest {kind}{plural} in {', and '.join(parts)}.")
    return sentences


def persistence_sentence(persistence: pd.DataFrame) -> str:
    """How many of last year's top five areas stayed in the top five, and which."""
    stayed = persistence.loc[persistence["persisted"]]
    count = len(stayed)
    word = _NUMBER_WORDS[count] if count < len(_NUMBER_WORDS) else str(count)
    names = ", ".join(f"{r.name} ({r.code})" for r in stayed.itertuples(index=False))
    verb = "has" if count == 1 else "have"
    if not count:
        return "None of the areas in the top five last year has remained in the top five this year."
    text = (
        f"{word} of the areas in the top five last year {verb} remained in the top five this year"
    )
    return f"{text}: {names}."


def significant_sentence(rows: pd.DataFrame, label: str) -> str | None:
    """ "Berkhamsted Castle (D2A) shows a significant increase (7 to 33, q = 0.001)." or, for
    several, the strongest few and how many others."""
    if rows.empty:
        return None
    strongest = rows.sort_values(["q", "code"], kind="stable").head(SIGNIFICANT_SHOWN)
    parts = [
        f"{r.name} ({r.code}, {r.previous} to {r.current}, q {p_text(r.q)})"
        for r in strongest.itertuples(index=False)
    ]
    if len(rows) == 1:
        r = strongest.iloc[0]
        return (
            f"{r['name']} ({r['code']}) shows a {label} "
            f"({r['previous']} to {r['current']}, q {p_text(float(r['q']))})."
        )
    others = len(rows) - len(parts)
    tail = f" and {others} other area{'s' if others > 1 else ''}" if others else ""
    return f"{len(rows)} areas show a {label}: {'; '.join(parts)}{tail}."


def period_wording(sentence: str, months: int, against: str = PRECEDING) -> str:
    """Sentences are worded for year-on-year comparisons; other lengths compare periods: the
    previous period, or, ``against="year-earlier"``, the same months a year earlier."""
    if months == 12:
        return sentence
    earlier = "the previous period" if against == PRECEDING else "a year earlier"
    for year, period in (
        ("the previous year", earlier),
        ("last year", "in the previous period" if against == PRECEDING else "a year earlier"),
        ("this year", "now"),
    ):
        sentence = sentence.replace(year, period)
    return sentence


def profile_sentence(
    subset: pd.DataFrame, group: CategoryGroup, current: Period, noun: str
) -> str | None:
    """The busiest day of the week and hour of the day, where dates and times are known."""
    days = patterns.day_of_week_profile(subset, group=group, period=current)
    if int(days["count"].sum()) == 0:
        return None
    busiest = days.loc[days["count"].idxmax()]
    text = f"Of the {noun} with a date, most fell on a {busiest['day']} ({busiest['share']:.1f}%)"
    hours = patterns.hour_of_day_profile(subset, group=group, period=current)
    if int(hours["count"].sum()) > 0:
        peak = hours.loc[hours["count"].idxmax()]
        hour = int(peak["hour"])
        text += (
            f"; the busiest hour was {hour:02d}:00-{(hour + 1) % 24:02d}:00 "
            f"({peak['share']:.1f}% of those with a known time)"
        )
    return text + "."


def type_sentence(
    subset: pd.DataFrame, group: CategoryGroup, previous: Period, current: Period, noun: str
) -> str | None:
    """ "The most common type was Other outdoor location (32 fires, 25.6%), followed by ..." """
    table = breakdowns.subcategory_breakdown(
        subset, group=group, previous=previous, current=current
    )
    named = table.loc[(table["subcategory"] != breakdowns.NOT_GIVEN) & (table["current"] > 0)]
    if len(named) < 2:
        return None
    first, second = named.iloc[0], named.iloc[1]
    return (
        f"The most common type was {first['subcategory']} ({first['current']} "
        f"{unit_of(noun)}, {first['share']:.1f}% of the total), followed by "
        f"{second['subcategory']} ({second['current']})."
    )


def peer_sentence(own: pd.Series, noun: str, per: object, *, highest_first: bool = False) -> str:
    """ "Among its peers, Dacorum is 7th of 10 for the rate of ... per 1,000 households (6.70),
    6th of 10 the previous year; 5th of 10 for the number of ... (4th of 10 the previous year)."
    followed by the positions' convention (:func:`~geo_service.analysis.breakdowns.
    position_convention`): by default, as in iQuanta, the highest is last."""
    name = own["name"]
    text = f"Among its peers, {name} is"
    if pd.notna(own["rate"]):
        text += f" {own['rate_position']} for the rate of {noun} per {per} ({own['rate']:.2f})"
        if pd.notna(own["previous_rate_position"]):
            text += f", {own['previous_rate_position']} the previous year;"
        else:
            text += ";"
    text += f" {own['count_position']} for the number of {noun}"
    if pd.notna(own["previous_count_position"]):
        text += f" ({own['previous_count_position']} the previous year)"
    convention = breakdowns.position_convention(highest_first=highest_first)
    return f"{text}. {convention}"


def long_run_sentence(history: pd.DataFrame, noun: str) -> str:
    """ "Over the past 5 years the average number of ASB incidents per month has fallen by 62.9%,
    from 879.2 (Aug 08 to Jul 09) to 326.4 (Aug 12 to Jul 13)." """
    first, last = history.iloc[0], history.iloc[-1]
    before, after = float(first["mean_per_month"]), float(last["mean_per_month"])
    span = f"Over the past {len(history)} years the average number of {noun} per month"
    ends = f"from {_decimal(before)} ({first['period']}) to {_decimal(after)} ({last['period']})"
    if before == 0:
        return f"{span} went {ends}."
    pct = 100.0 * (after - before) / before
    if round(pct, 1) == 0:
        return f"{span} was unchanged, {ends}."
    word = "risen" if pct > 0 else "fallen"
    return f"{span} has {word} by {abs(pct):.1f}%, {ends}."


def _decimal(value: float) -> str:
    """Up to two decimals without trailing zeros: 879.25, 326.4, 12."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _peak_sentences(
    subset: pd.DataFrame,
    group: CategoryGroup,
    series: pd.Series,
    noun: str,
    held: Collection[str] | None,
) -> list[str]:
    """The peak month with the same month a year earlier ("no data for Mar 12" when not held)."""
    peak = patterns.peak_and_trough(series)
    year_before = shift_month(peak.peak_month, -12)
    earlier = patterns.monthly_series(subset, group=group, period=Period(year_before, year_before))
    share = 100.0 * peak.peak_count / int(series.sum())
    then = (
        f"{int(earlier['count'].iloc[0])} in {month_label(year_before)}"
        if held is None or year_before in held
        else f"no data for {month_label(year_before)}"
    )
    return [
        f"The peak month for {noun} was {month_label(peak.peak_month)} with {peak.peak_count} "
        f"({share:.1f}% of the period; {then}) and the lowest {month_label(peak.trough_month)} "
        f"with {peak.trough_count}; the average was {peak.mean_per_month:.1f} a month."
    ]


def time_sentences(
    incidents: pd.DataFrame,
    subset: pd.DataFrame,
    group: CategoryGroup,
    current: Period,
    noun: str,
    *,
    held: Collection[str] | None = None,
) -> list[str]:
    """Peak and lowest month, five-year trend, unusual months, busiest day and hour, and days far
    above their month's average. ``held`` are the months the group's sources hold; without it,
    ``incidents`` (all groups) tells which months the data covers. A month not held is written
    "no data for Nov 20", never "0 in Nov 20"."""
    series = patterns.monthly_series(subset, group=group, period=current)["count"]
    if int(series.sum()) == 0:
        return []
    sentences = _peak_sentences(subset, group, series, noun, held) if len(series) > 1 else []
    covered = incidents["month"].dropna().unique() if held is None else sorted(held)
    history = patterns.yearly_totals(
        subset, group=group, end=current.end, months=current.n_months, covered_months=covered
    )
    if len(history) >= 3:
        sentences.append(long_run_sentence(history, noun))
    unusual = patterns.unusual_months(subset, group=group, period=current, covered_months=covered)
    for row in unusual.loc[unusual["far_above"]].itertuples(index=False):
        sentences.append(
            f"{month_label(row.month)} was well above its expected level: {row.count} {noun} "
            f"against {row.expected:.1f} expected ({row.basis})."
        )
    profile = profile_sentence(subset, group, current, noun)
    if profile:
        sentences.append(profile)
    days = patterns.daily_exceedances(subset, group=group, period=current, alpha=DAY_ALPHA)
    for day in days.head(DAYS_SHOWN).itertuples(index=False):
        sentences.append(
            f"{pd.Timestamp(day.date):%-d %B %Y} recorded {day.count} {noun}, above the "
            f"month's average of {day.daily_mean:.1f} per day."
        )
    return sentences
