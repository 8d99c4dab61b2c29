"""Presentation helpers for templates: table cells with sort keys, number formats, small SVG charts.

Text is returned raw and escaped by Jinja's autoescape; the chart helpers return only numbers
(coordinates), so no text from data ever reaches markup unescaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from geo_service.analysis.periods import month_label


@dataclass(frozen=True)
class Column:
    """A table column: frame column, heading and format (text, int, pct, float, date)."""

    key: str
    heading: str
    kind: str = "text"


@dataclass(frozen=True)
class Cell:
    """A formatted cell and the value the table sorts it by."""

    text: str
    sort: str
    numeric: bool


@dataclass(frozen=True)
class Bar:
    """One bar of a monthly chart (SVG user units) with its month and count."""

    x: float
    y: float
    width: float
    height: float
    month: str
    count: int | None  # None: no source of the category holds the month ("no data")
    current: bool


#: The beat (area) table of a category page.
CHANGE_COLUMNS = (
    Column("code", "Code"),
    Column("name", "Area"),
    Column("previous", "Previous", "int"),
    Column("current", "Current", "int"),
    Column("change", "Change", "int"),
    Column("pct_change", "% change", "pct"),
    Column("share", "% share", "float"),
    Column("rank", "Rank", "int"),
    Column("rate", "Rate", "float"),
    Column("rate_per", "Rate per"),
    Column("label", "Significance"),
    Column("note", "Note"),
    Column("coverage", "Data held"),
    Column("window", "Compared over"),
    Column("omitted", "Left out"),
)
LOOKING_BACK_COLUMNS = (
    Column("group", "Category"),
    Column("previous", "Previous", "int"),
    Column("current", "Current", "int"),
    Column("change", "Change", "int"),
    Column("pct_change", "% change", "pct"),
    Column("label", "Significance"),
    Column("note", "Note"),
    Column("coverage", "Data held"),
    Column("window", "Compared over"),
    Column("omitted", "Left out"),
)


def change_columns(frame: pd.DataFrame, first: Sequence[Column] = ()) -> tuple[Column, ...]:
    """:data:`CHANGE_COLUMNS` for ``frame`` (after ``first``, which replaces code and name).

    When every row's rate is per the same base, the base goes into the "Rate" heading instead of
    repeating in a column of its own.
    """
    columns = (*first, *CHANGE_COLUMNS[2:]) if first else CHANGE_COLUMNS
    bases = frame["rate_per"].dropna().astype(str).unique() if "rate_per" in frame else []
    if len(bases) != 1:
        return columns
    return tuple(
        Column("rate", f"Rate per {bases[0]}", "float") if c.key == "rate" else c
        for c in columns
        if c.key != "rate_per"
    )


def cells(frame: pd.DataFrame, columns: Sequence[Column]) -> list[list[Cell]]:
    """Rows of formatted cells for the ``columns`` :func:`headings` shows."""
    present = headings(frame, columns)
    records = frame[[c.key for c in present]].astype(object).to_dict(orient="records")
    return [[_cell(record[c.key], c.kind) for c in present] for record in records]


#: Columns saying what a row's comparison rests on; when every row says the same, the page's
#: notes above the table say it once instead.
BASIS_KEYS = ("coverage", "window", "omitted")


def headings(frame: pd.DataFrame, columns: Sequence[Column]) -> list[Column]:
    """The columns of ``columns`` present in ``frame``, less text columns empty in every row
    (a note or coverage column says something only when some row has something to say), and
    less a :data:`BASIS_KEYS` column that says the same in every row of several."""
    return [
        c
        for c in columns
        if c.key in frame.columns
        and not _blank(frame[c.key], c.kind)
        and not (c.key in BASIS_KEYS and len(frame) > 1 and frame[c.key].nunique(dropna=False) == 1)
    ]


def _blank(values: pd.Series, kind: str) -> bool:
    if kind != "text":
        return bool(values.isna().all())
    return bool((values.isna() | (values.astype("string").fillna("") == "")).all())


def _cell(value: object, kind: str) -> Cell:
    missing = value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
    if missing:
        return Cell(text="–" if kind != "text" else "", sort="", numeric=kind != "text")
    if kind == "text":
        return Cell(text=str(value), sort=str(value).casefold(), numeric=False)
    if kind == "date":
        day = pd.Timestamp(value).strftime("%Y-%m-%d")
        return Cell(text=day, sort=day, numeric=False)
    number = float(value)  # type: ignore[arg-type]
    if kind == "int":
        text = f"{number:,.0f}"
    elif kind == "pct":
        text = f"{number:+.1f}%"
    else:
        text = f"{number:,.1f}"
    return Cell(text=text, sort=repr(number), numeric=True)


def monthly_bars(
    months: Sequence[str],
    counts: Sequence[int | None],
    *,
    current_from: str | None = None,
    width: float = 480.0,
    height: float = 120.0,
) -> list[Bar]:
    """Bars of a monthly chart scaled into ``width`` x ``height``; ``current_from`` marks the
    months of the current period. A month with no data (``None``) has no bar."""
    n = max(len(counts), 1)
    values = [_value(c) for c in counts]
    top = max(max((v for v in values if v is not None), default=0), 1)
    step = width / n
    bars = []
    for i, (month, value) in enumerate(zip(months, values, strict=True)):
        h = 0.0 if value is None else height * value / top
        current = current_from is not None and month >= current_from
        bars.append(Bar(i * step + 0.5, height - h, max(step - 1.0, 0.5), h, month, value, current))
    return bars


def total(counts: Sequence[int | None]) -> int:
    """The sum of the months held (``None``: no data, left out)."""
    return sum(v for v in map(_value, counts) if v is not None)


def _value(count: object) -> int | None:
    """``count`` as an int; ``None`` for no data (``None`` or ``<NA>``)."""
    if count is None or bool(pd.isna(count)):
        return None
    return int(count)  # type: ignore[call-overload]


def sparkline(counts: Sequence[int | None], *, width: float = 120.0, height: float = 24.0) -> str:
    """SVG polyline ``points`` of a small monthly line (numbers only); months with no data
    (``None``) are left out of the line rather than drawn as 0."""
    if not counts:
        return ""
    values = [_value(c) for c in counts]
    top = max(max((v for v in values if v is not None), default=0), 1)
    step = width / max(len(counts) - 1, 1)
    return " ".join(
        f"{i * step:.1f},{height - height * v / top:.1f}"
        for i, v in enumerate(values)
        if v is not None
    )


def month_text(month: str) -> str:
    """``"2013-07"`` -> ``"Jul 13"``."""
    return month_label(month)


def percent(value: float | None) -> str:
    """``0.234`` -> ``"23 %"``; None -> ``"n/a"``."""
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.0f} %"


def year_columns(by_year: pd.Series) -> pd.DataFrame:
    """``"2010: no data; 2011: 3; 2012: 2"`` texts as one Int64 column per year (``"2010"``...;
    0 where a row has no collision that year, missing where the data does not cover the year),
    years in order."""
    parsed = [
        {
            year.strip(): (None if count.strip() == "no data" else int(count))
            for year, _, count in (p.partition(":") for p in str(t).split(";"))
            if year.strip()
        }
        if isinstance(t, str) and t
        else {}
        for t in by_year
    ]
    years = sorted({y for row in parsed for y in row})
    rows = [[row.get(y, 0) for y in years] for row in parsed]
    return pd.DataFrame(rows, columns=years, index=by_year.index).astype("Int64")
