"""The evaluation service's forecast, default and map-kind accuracy, and the rates service."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_service.analysis.evaluation import NAIVE_BASELINES
from geo_service.analysis.forecast import FORECAST
from geo_service.categories import load_groups
from geo_service.errors import DataError
from geo_service.services import context
from geo_service.services.evaluation import evaluate
from geo_service.services.options import EvaluateOptions
from geo_service.services.rates import category_rates
from tests.web.conftest import MemoryStore, beats


@pytest.fixture(scope="module")
def groups(store):
    return context.page_groups(load_groups(), context.store_summary(store).categories)


@pytest.fixture(scope="module")
def result(store, groups):
    opts = EvaluateOptions(category="Burglary", months=6, cell_m=100.0)
    return evaluate(store, groups, opts, with_map_kinds=True)


def test_forecast_rows_and_default_beside_both_baselines(result) -> None:
    table = result.forecast_table
    assert {FORECAST, *NAIVE_BASELINES, "eb-h12", "blend-h6-a0.2"} <= set(table["method"])
    at5 = table[table["coverage"] == 5].groupby("method")["hit_rate"].mean()
    default = result.default
    assert default.baseline_hit_rates == pytest.approx({n: at5[n] for n in NAIVE_BASELINES})
    assert default.forecast_hit_rate == pytest.approx(at5[FORECAST])
    if default.method == FORECAST:
        assert default.hit_rate > max(default.baseline_hit_rates.values())
    else:
        assert default.method in NAIVE_BASELINES
    # every forecast row is its chosen candidate's row at that origin
    chosen = table[table["method"] == FORECAST]
    for _, row in chosen.iterrows():
        own = table[
            (table["method"] == row["chosen"])
            & (table["origin"] == row["origin"])
            & (table["coverage"] == row["coverage"])
        ]
        assert own["hit_rate"].iloc[0] == row["hit_rate"]
    # the original methods and their summary are unchanged in meaning
    assert "kde-250m" in set(result.summary["method"])


def test_map_accuracy_has_every_kind_and_patrol_zones(result) -> None:
    accuracy = result.map_accuracy.set_index("map_kind")
    expected = {"kde", "gistar-cells", "gistar-areas", "dbscan", "hdbscan", "emerging"}
    assert expected | {"patrol-1%", "patrol-5%", "patrol-10%"} == set(accuracy.index)
    patrol = accuracy.loc["patrol-5%"]
    summary = result.forecast_summary.set_index(["method", "coverage"])
    own = summary.loc[(result.default.method, 5.0), "hit_rate"]
    assert patrol["hit_rate"] == pytest.approx(own)
    assert patrol["baseline_hit_rate"] == pytest.approx(
        max(summary.loc[(name, 5.0), "hit_rate"] for name in NAIVE_BASELINES)
    )
    assert set(accuracy["baseline"]) <= set(NAIVE_BASELINES)


def test_rates_per_area_and_cell(store, groups) -> None:
    rates = category_rates(
        store, groups, "Burglary", month_from="2012-08", month_to="2013-07", cell_m=100.0
    )
    frame = store.incidents(month_from="2012-08", month_to="2013-07")
    burglary = frame[frame["category"] == "Burglary"]
    by_beat = burglary["area_beat"].value_counts()
    areas = rates.areas.set_index("code")
    assert areas.loc["D1A", "count"] == by_beat["D1A"]
    assert areas.loc["D1A", "rate_per_1000"] == pytest.approx(1000 * by_beat["D1A"] / 4000)
    assert np.isnan(areas.loc["D2B", "rate_per_1000"])  # no population
    # residents spread over the cells sum to the beats' population (D2B has none)
    assert rates.cells["residents"].sum() == pytest.approx(15000.0, abs=1e-6)
    cell = rates.cells[rates.cells["residents"] > 0].iloc[0]
    assert cell["rate_per_1000"] == pytest.approx(1000 * cell["count"] / cell["residents"])
    masked = rates.cells["dual_kde_per_1000"].isna()
    assert masked.any() and (~masked).any()


def test_rates_refused_without_population(frame, groups) -> None:
    layer = beats().assign(population=np.nan)
    bare = MemoryStore(frame, {"beat": layer})
    with pytest.raises(DataError, match="boundaries denominators"):
        category_rates(bare, groups, "Burglary", month_from="2012-08", month_to="2013-07")


def test_evaluate_without_map_kinds(store, groups) -> None:
    quick = evaluate(store, groups, EvaluateOptions(category="Burglary", months=3))
    assert quick.map_accuracy is None and isinstance(quick.forecast_table, pd.DataFrame)
