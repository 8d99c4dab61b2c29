"""The category page's risk-adjusted density layer on the demo (whose beats carry population),
its legend against the classes of the API's cells, and its absence without population."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest

from geo_service.analysis.kde import class_breaks
from geo_service.config import Settings
from geo_service.maps.builders import RISK_ADJUSTED
from geo_service.maps.legends import significant
from geo_service.web import create_app
from tests.web.conftest import MemoryStore, beats, incidents

CATEGORY = "Dwelling burglary"
QUERY = "period_end=2013-07&months=12&layer=beat"


@pytest.fixture(scope="module")
def client(demo_app: Any) -> Any:
    return demo_app.test_client()


def _legend(page: str, title: str) -> list[str]:
    block = page[page.index(f'data-layer="{html.escape(title)}"') :]
    block = block[: block.index("</ul>")]
    return [html.unescape(m) for m in re.findall(r"</svg> ([^<]+)</li>", block)]


def test_the_demo_page_draws_the_risk_adjusted_density(client) -> None:
    page = client.get(f"/category/{quote(CATEGORY)}?{QUERY}").get_data(as_text=True)
    assert "rates-basis" in page and "population of beat (areal weighting)" in page
    script = client.get(f"/category/{quote(CATEGORY)}/map.js?{QUERY}").get_data(as_text=True)
    assert RISK_ADJUSTED in script
    png = client.get(f"/category/{quote(CATEGORY)}/density.png?{QUERY}&surface=risk-adjusted")
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    # the legend's classes are the head/tail breaks of the dual KDE over the listed cells
    cells = client.get(f"/api/category/{quote(CATEGORY)}/rates.geojson?{QUERY}&cells=1").get_json()
    values = np.array(
        [f["properties"]["dual_kde_per_1000"] for f in cells["features"]], dtype=float
    )
    values = values[np.isfinite(values)]
    assert values.size > 100
    edges = class_breaks(values, method="head_tail")
    labels = [
        f"{significant(edges[k])} to {significant(edges[k + 1])} per 1,000 residents"
        for k in range(len(edges) - 1)
    ]
    assert _legend(page, RISK_ADJUSTED) == labels and len(labels) >= 3
    assert edges[-1] == pytest.approx(values.max())


def test_no_risk_adjusted_layer_without_population() -> None:
    bare = MemoryStore(incidents(), {"beat": beats().drop(columns="population")})
    app = create_app(Settings(store=Path("memory"), tiles="none"), store=bare)
    app.config.update(TESTING=True)
    client = app.test_client()
    page = client.get("/category/Burglary").get_data(as_text=True)
    assert "Incidents by area" in page and RISK_ADJUSTED not in page
    assert "rates-basis" not in page
