"""Backtest benchmark: the full rolling-origin evaluation of one category over 12 months.

Measured at 100k incidents on a ~48k-cell grid (a Dacorum-sized area in 100 m cells) and, unless
quick, at 1M incidents on a 300 x 300 = 90k-cell grid:
:func:`geo_service.analysis.evaluation.backtest` with
:func:`~geo_service.analysis.hotspot_methods.default_methods` (KDE at three bandwidths, last
month's and last 12 months' counts, prospective hotspotting, Gi* hot cells) over 12 origins at
1/5/10 % coverage, plus the time of each method alone.

Inputs are synthetic and seeded, police.uk style: incidents are snapped to a fixed set of "map
points" (one per ten incidents), drawn each month from lognormal map-point weights that drift a
little from month to month, over 24 months (so every origin has 12 months of history).

Real data (when ``../shared/data`` or ``GEO_SERVICE_SHARED_DATA`` holds it): the 13 police.uk
Hertfordshire months, per category and study area (the county: every Hertfordshire ward, 250 m
cells; Dacorum, district E07000096: its wards, 100 m cells), the forecast candidates
(:func:`~geo_service.analysis.forecast.forecast_candidates`), the nested choice and the default
(:func:`~geo_service.analysis.forecast.choose_default`) at 5 % of area over origins
2021-01..2021-12. ``python -m bench.evaluation --docs`` writes that table from
``bench/results/evaluation.json`` into the marked block of ``docs/rtc_evaluation.md``.

Correctness check (raises on failure): at the last origin, the KDE 500 m hit rate at 5 % equals
a plain numpy/pandas reference (top cells by score against a groupby of the target month's
incidents per cell).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geo_service import schema
from geo_service.analysis.evaluation import backtest
from geo_service.analysis.forecast import (
    FORECAST,
    choose_default,
    forecast_candidates,
    select_per_origin,
)
from geo_service.analysis.grid import Grid, grid_for
from geo_service.analysis.hotspot_methods import default_methods
from geo_service.analysis.kde import kde_surface

SEED = 20_130_701
MONTHS = tuple(f"{2020 + m // 12}-{m % 12 + 1:02d}" for m in range(24))
FIRST_ORIGIN, LAST_ORIGIN = MONTHS[11], MONTHS[22]  # 12 origins, targets MONTHS[12..23]
SIZES = ((100_000, 240, 200), (1_000_000, 300, 300))  # incidents, nx, ny (100 m cells)
QUICK_SIZES = ((20_000, 60, 50),)
TARGETS = {"seconds_100k_max": 5.0, "seconds_1m_90k_cells_max": 30.0}


def run(*, quick: bool) -> dict[str, Any]:
    """Time the backtest at each size; raises if the reference check fails."""
    results = [_bench_size(n, nx, ny) for n, nx, ny in (QUICK_SIZES if quick else SIZES)]
    met = {}
    for result in results:
        if result["incidents"] == 100_000:
            met["seconds_100k_max"] = result["seconds"] <= TARGETS["seconds_100k_max"]
        if result["incidents"] == 1_000_000:
            met["seconds_1m_90k_cells_max"] = (
                result["seconds"] <= TARGETS["seconds_1m_90k_cells_max"]
            )
    real = None if quick else real_data_table(SHARED_DATA)
    return {
        "hertfordshire": real,
        "quick": quick,
        "seed": SEED,
        "origins": 12,
        "coverages": [1, 5, 10],
        "results": results,
        "targets": TARGETS,
        "targets_met": met,
    }


def synthetic_incidents(n: int, grid: Grid, *, seed: int) -> pd.DataFrame:
    """``n`` canonical incidents over ``MONTHS``, snapped to ``n // 10`` drifting map points."""
    rng = np.random.default_rng(seed)
    n_points = max(n // 10, 50)
    width, height = grid.nx * grid.cell_m, grid.ny * grid.cell_m
    # map points clustered around a few centres, like streets around town centres
    centres = rng.uniform([0, 0], [width, height], size=(12, 2))
    owner = rng.integers(0, len(centres), n_points)
    spread = rng.uniform(300, 2500, len(centres))[owner, None]
    points = centres[owner] + rng.normal(0, 1, (n_points, 2)) * spread
    points = np.clip(points, 0, [width - 1, height - 1]) + np.array([grid.x0, grid.y0])
    base = rng.lognormal(0.0, 1.2, n_points)
    per_month = rng.multinomial(n, np.full(len(MONTHS), 1 / len(MONTHS)))
    frames = []
    for month, count in zip(MONTHS, per_month, strict=True):
        weights = base * rng.lognormal(0.0, 0.3, n_points)  # month-to-month drift
        chosen = rng.choice(n_points, size=count, p=weights / weights.sum())
        frames.append(
            pd.DataFrame({"x": points[chosen, 0], "y": points[chosen, 1], "month": month})
        )
    frame = pd.concat(frames, ignore_index=True)
    frame["incident_id"] = "bench:" + pd.Series(np.arange(len(frame))).astype(str)
    frame["category"] = "Burglary"
    return schema.conform(frame)


def _bench_size(n: int, nx: int, ny: int) -> dict[str, Any]:
    grid = Grid(x0=500_000.0, y0=200_000.0, cell_m=100.0, nx=nx, ny=ny, inside=_inside(nx, ny))
    incidents = synthetic_incidents(n, grid, seed=SEED)
    methods = default_methods(cell_m=grid.cell_m)
    start = time.perf_counter()
    table = backtest(
        incidents, grid, methods=methods, first_origin=FIRST_ORIGIN, last_origin=LAST_ORIGIN
    )
    seconds = time.perf_counter() - start
    per_method = {}
    for name, method in methods.items():
        started = time.perf_counter()
        backtest(
            incidents,
            grid,
            methods={name: method},
            first_origin=FIRST_ORIGIN,
            last_origin=LAST_ORIGIN,
        )
        per_method[name] = round(time.perf_counter() - started, 3)
    _check_against_reference(incidents, grid, table)
    at5 = table[table["coverage"] == 5].groupby("method")[["hit_rate", "pai"]].mean()
    return {
        "incidents": n,
        "cells": nx * ny,
        "inside_cells": int(grid.inside.sum()),
        "seconds": round(seconds, 3),
        "seconds_per_method_alone": per_method,
        "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "mean_at_5_percent": at5.round(4).to_dict(orient="index"),
    }


def _inside(nx: int, ny: int) -> np.ndarray:
    """An ellipse filling the grid: the study area is not the whole rectangle."""
    yy, xx = np.mgrid[0:ny, 0:nx]
    inside = ((xx + 0.5 - nx / 2) / (nx / 2)) ** 2 + ((yy + 0.5 - ny / 2) / (ny / 2)) ** 2 <= 1
    inside.flags.writeable = False
    return inside


def _check_against_reference(incidents: pd.DataFrame, grid: Grid, table: pd.DataFrame) -> None:
    """KDE 500 m at 5 % on the last origin, recomputed the plain way."""
    history = incidents[incidents["month"] <= LAST_ORIGIN]
    recent = history[history["month"] > MONTHS[10]]  # the last 12 months, as kde_method uses
    surface = kde_surface(recent["x"], recent["y"], grid, bandwidth_m=500.0)
    flat_inside = grid.inside.ravel()
    values = pd.Series(surface.ravel())[flat_inside]
    k = int(np.floor(0.05 * flat_inside.sum()))
    ordered = values.sort_values(ascending=False, kind="stable")
    if ordered.iloc[k - 1] == ordered.iloc[k]:
        raise RuntimeError("reference check needs distinct scores at the 5 % cut-off")
    target = incidents[incidents["month"] == MONTHS[23]]
    col = ((target["x"] - grid.x0) // grid.cell_m).astype(int)
    row = ((target["y"] - grid.y0) // grid.cell_m).astype(int)
    cells = pd.Series((row * grid.nx + col).to_numpy())
    counts = cells[flat_inside[cells.to_numpy()]].value_counts()
    expected = counts.reindex(ordered.index[:k], fill_value=0).sum() / counts.sum()
    got = table.query("method == 'kde-500m' and origin == @LAST_ORIGIN and coverage == 5")
    if not np.isclose(float(got["hit_rate"].iloc[0]), expected):
        raise RuntimeError(f"backtest hit rate {got['hit_rate'].iloc[0]} != reference {expected}")


REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GEO_SERVICE_SHARED_DATA", REPO.parent / "shared" / "data"))
DOCS = REPO / "docs" / "rtc_evaluation.md"
RESULT = REPO / "bench" / "results" / "evaluation.json"
REAL_ORIGINS = ("2021-01", "2021-12")
FREQUENT_PER_MONTH = 50  # incidents a month in the study area that make a category frequent


def hertfordshire_incidents(shared: Path) -> pd.DataFrame:
    """The 13 Hertfordshire police.uk months as canonical incidents (located rows only)."""
    from geo_service.projection import to_bng

    files = sorted((shared / "police-uk-hertfordshire-street").glob("*-street.csv.gz"))
    columns = ["Month", "Crime type", "Longitude", "Latitude"]
    raw = pd.concat([pd.read_csv(f, usecols=columns) for f in files], ignore_index=True)
    raw = raw.dropna(subset=["Longitude", "Latitude"])
    x, y = to_bng(raw["Longitude"].to_numpy(), raw["Latitude"].to_numpy())
    frame = pd.DataFrame({"month": raw["Month"], "category": raw["Crime type"], "x": x, "y": y})
    frame["incident_id"] = "herts:" + pd.Series(np.arange(len(frame))).astype(str)
    return schema.conform(frame)


def hertfordshire_areas(shared: Path) -> dict[str, tuple[Any, float]]:
    """Study area name -> (ward layer, cell size in metres): the county and Dacorum."""
    import geopandas as gpd

    from geo_service.boundaries import read_layer

    folder = shared / "ons-boundaries-uk-geojson" / "hertfordshire" / "wards"
    layers = [read_layer(path)[0] for path in sorted(folder.glob("*_wards.geojson"))]
    county = gpd.GeoDataFrame(pd.concat(layers, ignore_index=True), crs=layers[0].crs)
    dacorum = read_layer(folder / "E07000096_wards.geojson")[0]
    return {"county": (county, 250.0), "Dacorum": (dacorum, 100.0)}


def category_default(incidents: pd.DataFrame, grid: Grid) -> dict[str, Any]:
    """Backtest the candidates on one category and study area; the default beside baselines."""
    table = backtest(
        incidents, grid, methods=forecast_candidates(cell_m=grid.cell_m),
        first_origin=REAL_ORIGINS[0], last_origin=REAL_ORIGINS[1], coverages=(5,),
    )  # fmt: skip
    forecast = select_per_origin(table)
    choice = choose_default(table, forecast)
    chosen = forecast["chosen"].value_counts()
    return {
        "default": choice.method,
        "map_method": choice.map_method,
        "hit_rate_5": round(choice.hit_rate, 4),
        "forecast_hit_rate_5": round(choice.forecast_hit_rate, 4),
        "previous_12_months": round(choice.baseline_hit_rates["previous-12-months"], 4),
        "previous_month": round(choice.baseline_hit_rates["previous-month"], 4),
        "chosen_most": str(chosen.index[0]),
    }


def real_data_table(shared: Path) -> list[dict[str, Any]] | None:
    """The default per category and study area on the Hertfordshire months; None without them."""
    if not (shared / "police-uk-hertfordshire-street").is_dir():
        return None
    incidents = hertfordshire_incidents(shared)
    rows = []
    for area, (layer, cell_m) in hertfordshire_areas(shared).items():
        grid = grid_for(layer, cell_m=cell_m)
        cell = grid.cell_index(incidents["x"].to_numpy(), incidents["y"].to_numpy())
        in_area = (cell >= 0) & grid.inside.ravel()[np.maximum(cell, 0)]
        for category, frame in incidents.loc[in_area].groupby("category", sort=True):
            started = time.process_time()
            row = category_default(frame, grid)
            per_month = len(frame) / frame["month"].nunique()
            rows.append(
                {
                    "category": category,
                    "area": area,
                    "incidents": len(frame),
                    "per_month": round(per_month, 1),
                    "frequent": per_month >= FREQUENT_PER_MONTH,
                    **row,
                    "cpu_seconds": round(time.process_time() - started, 2),
                }
            )
    return rows


def docs_block(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of the defaults, between ``<!-- bench:evaluation -->`` marks."""
    lines = [
        "<!-- bench:evaluation -->",
        "| category | area | a month | default (map) | default | prev. 12 months "
        "| prev. month | beats both |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for row in sorted(rows, key=lambda r: (r["category"], r["area"] != "county")):
        shown = f"forecast ({row['map_method']})" if row["default"] == FORECAST else row["default"]
        beats = row["hit_rate_5"] > max(row["previous_12_months"], row["previous_month"])
        lines.append(
            f"| {row['category']} | {row['area']} | {row['per_month']:.0f} | {shown} "
            f"| {100 * row['hit_rate_5']:.1f} % | {100 * row['previous_12_months']:.1f} % "
            f"| {100 * row['previous_month']:.1f} % | {'yes' if beats else 'no'} |"
        )
    lines.append("<!-- /bench -->")
    return "\n".join(lines)


def write_docs(result: Path = RESULT, docs: Path = DOCS) -> None:
    """Replace the marked block of ``docs`` with the table from ``result``."""
    rows = json.loads(result.read_text("utf-8"))["hertfordshire"]
    text = docs.read_text("utf-8")
    start, end = text.index("<!-- bench:evaluation -->"), text.index("<!-- /bench -->")
    docs.write_text(text[:start] + docs_block(rows) + text[end + len("<!-- /bench -->") :])


if __name__ == "__main__":
    if sys.argv[1:] == ["--docs"]:
        write_docs()
