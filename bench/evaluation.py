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

Correctness check (raises on failure): at the last origin, the KDE 500 m hit rate at 5 % equals
a plain numpy/pandas reference (top cells by score against a groupby of the target month's
incidents per cell).
"""

from __future__ import annotations

import resource
import time
from typing import Any

import numpy as np
import pandas as pd

from geo_service import schema
from geo_service.analysis.evaluation import backtest
from geo_service.analysis.grid import Grid
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
    return {
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
