"""Service functions without Flask, checked against plain pandas on the fixture frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from geo_service.categories import load_groups
from geo_service.errors import NotFoundError
from geo_service.services import collisions, context, tables, views
from geo_service.services.options import RuleOptions
from geo_service.web.params import view_options

PREVIOUS = [f"2011-{m:02d}" for m in range(8, 13)] + [f"2012-{m:02d}" for m in range(1, 8)]


@pytest.fixture(scope="module")
def opts(store):
    return view_options({}, months_stored=store.months(), layers=store.layer_names())


@pytest.fixture(scope="module")
def groups(store):
    return context.page_groups(load_groups(), context.store_summary(store).categories)


def test_summary(store) -> None:
    summary = context.store_summary(store)
    assert summary.months[0] == "2011-08" and summary.months[-1] == "2013-07"
    assert summary.sources == ("stats19", "test")
    assert summary.layers == ("beat",) and not summary.demo


def test_overview_matches_pandas(store, groups, opts, frame: pd.DataFrame) -> None:
    view = tables.looking_back(store, groups, opts)
    table = view.table.set_index("group")
    # Borough totals: only incidents inside one of the layer's areas (as the report counts).
    burglary = frame[(frame["category"] == "Burglary") & frame["area_beat"].notna()]
    previous = int(burglary["month"].isin(PREVIOUS).sum())
    assert (table.loc["Burglary", "previous"], table.loc["Burglary", "current"]) == (
        previous,
        len(burglary) - previous,
    )
    expected = (
        burglary.groupby("month").size().reindex(sorted(frame["month"].unique()), fill_value=0)
    )
    assert view.monthly["Burglary"] == expected.tolist()


def test_category_view_table_matches_groupby(store, groups, opts, frame: pd.DataFrame) -> None:
    group = context.resolve_group(groups, "anti-social behaviour")
    assert group.name == "ASB incidents"  # the group that is exactly that category
    view = views.category_view(store, groups, group, opts)
    asb = frame[(frame["category"] == "Anti-social behaviour") & ~frame["month"].isin(PREVIOUS)]
    expected = asb.groupby("area_beat").size()
    got = view.table.set_index("code")["current"]
    for code, count in expected.items():
        assert got[code] == count
    in_layer = (frame["category"] == "Anti-social behaviour") & frame["area_beat"].notna()
    assert view.monthly["count"].sum() == in_layer.sum()
    spots = view.hotspots
    assert spots.kde is not None and spots.kde.surface is not None
    assert spots.kde.breaks is not None
    assert spots.kde.surface.shape == spots.grid.shape and np.all(spots.kde.surface >= 0)
    assert spots.kde.breaks[0] == 0 and np.all(np.diff(spots.kde.breaks) > 0)
    assert spots.accuracy is not None and 0 <= spots.accuracy.hit_rate <= 1


def test_area_view_rows_and_unknown_code(store, groups, opts) -> None:
    view = tables.area_view(store, groups, "D1A", opts)
    burglary = view.changes.set_index("group").loc["Burglary"]
    assert (burglary["previous"], burglary["current"]) == (33, 68)  # counted by hand from the seed
    assert view.increases.iloc[0]["change"] == 35
    with pytest.raises(NotFoundError, match="available: D1A, D1B, D2A, D2B"):
        tables.area_view(store, groups, "XX", opts)


def test_collisions_view_rule_override(store, opts) -> None:
    default = collisions.collision_sites(
        store, RuleOptions("default"), period_end=opts.period_end, layer=opts.layer
    )
    assert len(default.sites) == 2 and default.sites["count"].tolist() == [24, 24]
    total = default.severity.set_index("severity")
    assert total.loc["Grand Total"].tolist()[-2:] == [24, 24]
    strict = collisions.collision_sites(
        store, RuleOptions("default", min_count=30), period_end=opts.period_end, layer=opts.layer
    )
    assert len(strict.sites) == 0 and strict.rule.min_count == 30


def test_unknown_category_lists_choices(groups) -> None:
    with pytest.raises(NotFoundError, match="allowed: All crime"):
        context.resolve_group(groups, "Nope")


def test_density_breaks_are_shared_by_both_periods(store, groups, opts, frame) -> None:
    from geo_service.analysis import kde
    from geo_service.analysis.grid import grid_for

    group = context.resolve_group(groups, "Burglary")
    spots = views.category_view(store, groups, group, opts).hotspots.kde
    assert spots is not None and spots.breaks is not None and spots.surface is not None
    # Independently: both periods' surfaces on the same grid and bandwidth, pooled for breaks.
    grid = grid_for(store.layer("beat"))
    inside = grid.inside
    burglary = frame[(frame["category"] == "Burglary") & frame["area_beat"].notna()]
    surfaces = []
    for months in (PREVIOUS, [m for m in burglary["month"].unique() if m not in PREVIOUS]):
        rows = burglary[burglary["month"].isin(months)]
        x, y = rows["x"].to_numpy(dtype=float), rows["y"].to_numpy(dtype=float)
        surfaces.append(kde.kde_surface(x, y, grid, bandwidth_m=spots.meta["bandwidth_m"])[inside])
    expected = kde.class_breaks(surfaces, method="head_tail")
    np.testing.assert_allclose(spots.breaks, expected)
    np.testing.assert_allclose(spots.surface[inside], surfaces[1])
    current_only = kde.class_breaks([surfaces[1]], method="head_tail")
    assert not np.allclose(current_only, expected)  # the previous period does move the breaks
    # Same period pair, same breaks: the area page's map and a repeat request agree.
    again = views.category_view(store, groups, group, opts).hotspots.kde
    assert again is not None and again.breaks is not None
    np.testing.assert_array_equal(again.breaks, spots.breaks)
