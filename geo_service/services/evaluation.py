"""How well each hotspot method predicts next month: the rolling-origin backtest of a category.

The targets are the latest months the store holds; each origin month's map is scored on the
following ``horizon_months`` (hit rate, PAI and the oracle at each coverage), and the best method
at 5 % of the area is named (:mod:`geo_service.analysis.evaluation`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from geo_service.analysis.evaluation import (
    NAIVE_BASELINES,
    backtest,
    best_method,
    map_kind_backtest,
    map_kinds,
    summarise_backtest,
    summarise_map_kinds,
)
from geo_service.analysis.forecast import (
    FORECAST,
    DefaultChoice,
    choose_default,
    forecast_candidates,
    select_per_origin,
)
from geo_service.analysis.grid import Grid
from geo_service.analysis.hotspot_methods import default_methods
from geo_service.analysis.periods import format_month, latest_run, origins, parse_month
from geo_service.categories import CategoryGroup
from geo_service.errors import InputError
from geo_service.progress import Progress
from geo_service.schema import has_location
from geo_service.services.context import (
    StoreLike,
    formed_group,
    require_incidents,
    study_layer_name,
)
from geo_service.services.hotspots import backtest_incidents, incident_count
from geo_service.services.options import EvaluateOptions

logger = logging.getLogger(__name__)
#: Above this many located incidents the HDBSCAN map kind is not backtested (12 refits).
HDBSCAN_BACKTEST_MAX_INCIDENTS = 5_000


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The backtest of one category, its summary, the best method, and what it rests on.

    Attributes
    ----------
    category
        The group's name.
    cell_m
        Grid cell size in metres.
    first_origin, last_origin
        First and last origin month, ``"YYYY-MM"``.
    horizon_months
        Months ahead each map was scored on.
    best_method
        Highest mean hit rate at 5 % of the area (or at the first coverage asked when 5 % was
        not).
    table
        :func:`~geo_service.analysis.evaluation.backtest`: one row per method, origin and
        coverage.
    summary
        :func:`~geo_service.analysis.evaluation.summarise_backtest`: one row per method and
        coverage.
    default
        The category's default map (:func:`~geo_service.analysis.forecast.choose_default`):
        ``default.method`` is ``"forecast"`` or the better naive baseline, ``default.hit_rate``
        its mean hit rate at 5 %, ``default.baseline_hit_rates`` both baselines'.
    forecast_table
        Backtest of the forecast candidates (:func:`~geo_service.analysis.forecast.
        forecast_candidates`, baselines included) and the nested choice ``"forecast"`` (its
        ``chosen`` column names the candidate used at each origin), at the coverages asked
        and 5 %.
    forecast_summary
        :func:`~geo_service.analysis.evaluation.summarise_backtest` of ``forecast_table``.
    map_accuracy
        One row per map kind (``kde``, ``gistar-cells``, ``gistar-areas``, ``dbscan``,
        ``hdbscan``, ``emerging``, then ``patrol-<c>%`` for each coverage of the default map):
        ``map_kind, origins, area_share, hit_rate, pai, baseline, baseline_hit_rate,
        baseline_pai, beats_baseline`` (the baseline scored on the same origins at the same
        area share). None unless ``with_map_kinds``.
    """

    category: str
    cell_m: float
    first_origin: str
    last_origin: str
    horizon_months: int
    best_method: str
    table: pd.DataFrame
    summary: pd.DataFrame
    default: DefaultChoice | None = None
    forecast_table: pd.DataFrame | None = None
    forecast_summary: pd.DataFrame | None = None
    map_accuracy: pd.DataFrame | None = None


def evaluate(
    store: StoreLike,
    groups: Sequence[CategoryGroup],
    opts: EvaluateOptions,
    *,
    progress: Progress | None = None,
    with_map_kinds: bool = False,
) -> Evaluation:
    """Backtest every default hotspot method, the forecasts and every map kind on a category.

    The origins' targets are the latest months of the latest unbroken run of months the
    category's sources hold; history reaches 24 months before the first origin.

    Parameters
    ----------
    store
        The store read.
    groups
        The settings' category groups.
    opts
        Category, target months, horizon in months, coverages (percent), cell size (metres) and
        study layer.
    progress
        Shows progress over the origins (:mod:`geo_service.progress`).
    with_map_kinds
        Also backtest every map kind (:attr:`Evaluation.map_accuracy`); default False, since
        refitting clusters and emerging classes at every origin costs 2-4 s a category (the
        pages ask for it; the command line and the JSON API do not show it).

    Returns
    -------
    Evaluation

    Raises
    ------
    InputError
        When the store covers too few months for one origin, or options are out of range
        (coverages outside 0..100, months or horizon below 1, ``cell_m``).
    DataError
        When no source supplies the category or carries the detail it needs, or it has no
        located incident.
    NotFoundError
        When the store holds no incidents, or the category or layer is unknown.
    """
    prepared = _prepare(store, groups, opts)
    incidents, grid = prepared.incidents, prepared.grid
    first_origin, last_origin = prepared.first_origin, prepared.last_origin
    table = backtest(
        incidents, grid, methods=default_methods(cell_m=grid.cell_m), first_origin=first_origin,
        last_origin=last_origin, horizon_months=opts.horizon_months,
        coverages=list(opts.coverages), progress=progress,
    )  # fmt: skip
    summary = summarise_backtest(table)
    coverage = 5.0 if 5.0 in opts.coverages else float(opts.coverages[0])
    forecasts = _forecasts(incidents, grid, first_origin, last_origin, opts)
    default = choose_default(forecasts[forecasts["method"] != FORECAST], forecasts)
    accuracy = (
        _map_accuracy(
            incidents, grid, prepared.areas, forecasts, default, first_origin, last_origin, opts
        )
        if with_map_kinds else None
    )  # fmt: skip
    return Evaluation(
        category=prepared.category,
        cell_m=grid.cell_m,
        first_origin=first_origin,
        last_origin=last_origin,
        horizon_months=opts.horizon_months,
        best_method=best_method(summary, coverage=coverage),
        table=table,
        summary=summary,
        default=default,
        forecast_table=forecasts,
        forecast_summary=summarise_backtest(forecasts),
        map_accuracy=accuracy,
    )


@dataclass(frozen=True, eq=False)
class ForecastBacktest:
    """The forecasts' backtest of one category: what a patrol map states of its accuracy.

    The fields of :class:`Evaluation` they share mean the same (``default`` and
    ``forecast_summary`` as :func:`evaluate` gives them); the hotspot methods' backtest and
    the map kinds are not run. Small enough to keep beside a store version
    (:mod:`geo_service.services.kept`).
    """

    category: str
    cell_m: float
    first_origin: str
    last_origin: str
    horizon_months: int
    default: DefaultChoice
    forecast_summary: pd.DataFrame


def forecast_backtest(
    store: StoreLike, groups: Sequence[CategoryGroup], opts: EvaluateOptions
) -> ForecastBacktest:
    """The forecast candidates' backtest of a category and its default map, as :func:`evaluate`
    computes them (same origins, grid and choice), without the hotspot methods' backtest.

    Raises
    ------
    InputError, DataError, NotFoundError
        As :func:`evaluate`.
    """
    prepared = _prepare(store, groups, opts)
    forecasts = _forecasts(
        prepared.incidents, prepared.grid, prepared.first_origin, prepared.last_origin, opts
    )
    return ForecastBacktest(
        category=prepared.category,
        cell_m=prepared.grid.cell_m,
        first_origin=prepared.first_origin,
        last_origin=prepared.last_origin,
        horizon_months=opts.horizon_months,
        default=choose_default(forecasts[forecasts["method"] != FORECAST], forecasts),
        forecast_summary=summarise_backtest(forecasts),
    )


@dataclass(frozen=True, eq=False)
class _Prepared:
    """What every backtest of a category rests on: its incidents, origins and grid."""

    category: str
    first_origin: str
    last_origin: str
    incidents: pd.DataFrame
    grid: Grid
    areas: gpd.GeoDataFrame | None


def _prepare(store: StoreLike, groups: Sequence[CategoryGroup], opts: EvaluateOptions) -> _Prepared:
    """Options checked, then the group's incidents from 24 months before the first origin and
    the study grid: with a layer, the incidents of its areas (as the tables and maps count
    them) on the grid over the areas and every cell holding one; without, every located
    incident on the grid over the box of 98 % of them."""
    require_incidents(store)
    if not opts.coverages or any(not 0 <= c <= 100 for c in opts.coverages):
        raise InputError(f"coverage: each value must be in [0, 100], got {list(opts.coverages)}")
    formed = formed_group(store, groups, opts.category)
    group, months = formed.group, latest_run(formed.held)
    for note in formed.notes:
        logger.warning("note: %s", note)
    first_origin, last_origin = origins(
        months, months_wanted=opts.months, horizon=opts.horizon_months
    )
    found = parse_month(last_origin) - parse_month(first_origin) + 1
    if found < opts.months:
        logger.info("only %d origin months available", found)
    history_from = format_month(parse_month(first_origin) - 24)
    name = study_layer_name(store, opts.layer)
    incidents, grid, areas = backtest_incidents(
        store, group, name, month_from=history_from, month_to=months[-1], cell_m=opts.cell_m,
        where="in the store" if name is None else f"in the areas of layer {name!r}",
    )  # fmt: skip
    return _Prepared(group.name, first_origin, last_origin, incidents, grid, areas)


def evaluation_document(result: Evaluation, rows: pd.DataFrame) -> dict[str, object]:
    """The backtest as one JSON-ready document, the same from the CLI and the web.

    Parameters
    ----------
    result
        An :func:`evaluate` result.
    rows
        The table shown (the summary, the per-origin detail or the hit-rate curve).

    Returns
    -------
    dict
        ``category, cell_m, first_origin, last_origin, horizon_months, best_method, rows``;
        ``default`` (the default map: method, the candidate drawn, its hit rate at 5 % and both
        naive baselines') when the forecasts ran; ``map_kinds`` (every map kind's hit rate and
        PAI beside the best naive baseline on the same area) when they were backtested.
    """
    from geo_service import export  # pyarrow/openpyxl writers: only when a document is made

    document: dict[str, object] = {
        "category": result.category, "cell_m": result.cell_m,
        "first_origin": result.first_origin, "last_origin": result.last_origin,
        "horizon_months": result.horizon_months, "best_method": result.best_method,
        "rows": export.json_records(rows),
    }  # fmt: skip
    if result.default is not None:
        chosen = result.default
        document["default"] = {
            "method": chosen.method, "map_method": chosen.map_method,
            "coverage": chosen.coverage, "hit_rate": chosen.hit_rate,
            "baseline_hit_rates": dict(chosen.baseline_hit_rates),
        }  # fmt: skip
    if result.map_accuracy is not None:
        document["map_kinds"] = export.json_records(result.map_accuracy)
    return document


def _forecasts(
    incidents: pd.DataFrame, grid: Grid, first: str, last: str, opts: EvaluateOptions
) -> pd.DataFrame:
    """The candidates' backtest and the nested choice among them (at 5 % whatever was asked)."""
    coverages = sorted({*map(float, opts.coverages), 5.0})
    table = backtest(
        incidents, grid, methods=forecast_candidates(cell_m=grid.cell_m), first_origin=first,
        last_origin=last, horizon_months=opts.horizon_months, coverages=coverages,
    )  # fmt: skip
    chosen = select_per_origin(table, coverage=5.0, horizon_months=opts.horizon_months)
    table["chosen"] = table["method"]
    return pd.concat([table, chosen], ignore_index=True)


def _map_accuracy(
    incidents: pd.DataFrame,
    grid: Grid,
    areas: gpd.GeoDataFrame | None,
    forecasts: pd.DataFrame,
    default: DefaultChoice,
    first: str,
    last: str,
    opts: EvaluateOptions,
) -> pd.DataFrame:
    """Every map kind's accuracy, then the patrol zones (top c % of the default map)."""
    kinds = map_kinds(grid, areas=areas)
    if incident_count(incidents.loc[has_location(incidents)]) > HDBSCAN_BACKTEST_MAX_INCIDENTS:
        # HDBSCAN's cost grows quickly with the points; 12 refits would dominate the page.
        logger.info("no HDBSCAN backtest above %d incidents", HDBSCAN_BACKTEST_MAX_INCIDENTS)
        kinds.pop("hdbscan")
    table = map_kind_backtest(
        incidents, grid, kinds=kinds, first_origin=first, last_origin=last,
        horizon_months=opts.horizon_months,
    )  # fmt: skip
    return pd.concat(
        [summarise_map_kinds(table), _patrol_zones(forecasts, default)], ignore_index=True
    )


def _patrol_zones(forecasts: pd.DataFrame, default: DefaultChoice) -> pd.DataFrame:
    """Top 1 / 5 / 10 % (the coverages asked) of the default map beside the best baseline."""
    summary = summarise_backtest(forecasts)
    rows = []
    for coverage, at in summary.groupby("coverage", sort=True):
        by = at.set_index("method")
        base = by.loc[list(NAIVE_BASELINES)].sort_values("hit_rate", ascending=False)
        own = by.loc[default.method]
        rows.append(
            {
                "map_kind": f"patrol-{coverage:g}%",
                "origins": int(own["origins"]),
                "area_share": float(own["area_share"]),
                "hit_rate": float(own["hit_rate"]),
                "pai": float(own["pai"]),
                "baseline": str(base.index[0]),
                "baseline_hit_rate": float(base["hit_rate"].iloc[0]),
                "baseline_pai": float(base["pai"].iloc[0]),
                "beats_baseline": bool(own["hit_rate"] > base["hit_rate"].iloc[0]),
            }
        )
    return pd.DataFrame(rows)
