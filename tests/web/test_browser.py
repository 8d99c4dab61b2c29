"""Pages opened in headless Chromium: no console errors, nothing fetched from off the machine,
maps drawn with legends, layer switching, table sorting, escaping; a screenshot of each page is
saved under ``tests/artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import CHROMIUM, INJECTION, served

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def server(app: Any) -> Iterator[str]:
    """The session's fixture app served from a background thread on 127.0.0.1 and a free port."""
    with served(app) as url:
        yield url


class Visit:
    """A page opened with every console error, dialog and request recorded."""

    def __init__(
        self, browser: Any, url: str, *, width: int = 1400, media: str | None = None
    ) -> None:
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page = browser.new_page(viewport={"width": width, "height": 1000})
        if media is not None:
            self.page.emulate_media(media=media)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.goto(url, wait_until="networkidle")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def off_machine(self) -> list[str]:
        return [u for u in self.requests if urlsplit(u).hostname not in ("127.0.0.1", None)]

    def shoot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


PAGES = {
    "overview": "/",
    "category": "/category/Burglary",
    "area": "/area/beat/D1A?category=Burglary",
    "collisions": "/collisions",
    "report": "/report",
}


@pytest.mark.parametrize("name", list(PAGES))
def test_page_loads_clean_and_offline(browser: Any, server: str, name: str) -> None:
    visit = Visit(browser, server + PAGES[name])
    visit.shoot(name)
    assert visit.errors == []
    assert visit.off_machine() == []
    assert visit.dialogs == []


@pytest.mark.parametrize("name", ["overview", "category", "area", "collisions"])
@pytest.mark.parametrize("size", ["phone", "print"])
def test_phone_and_print_show_the_comparison_and_what_it_rests_on(
    browser: Any, server: str, name: str, size: str
) -> None:
    """At 390 px and in print, each page loads clean, offline, and still states the periods
    compared; the overview's comparison control and data notes are there to read."""
    width, media = (390, None) if size == "phone" else (1000, "print")
    visit = Visit(browser, server + PAGES[name], width=width, media=media)
    visit.shoot(f"{name}-{size}")
    assert visit.errors == [] and visit.off_machine() == []
    heading = visit.page.locator("h1").first
    assert heading.is_visible() and heading.inner_text().strip()
    if name == "overview":
        assert visit.page.locator("select[name=against]").count() == 1
        assert visit.page.locator("ul.quality li").count() >= 1  # the unlocated row is said
        if size == "phone":
            assert visit.page.locator("ul.quality").is_visible()


@pytest.mark.parametrize("name", ["category", "area", "collisions"])
def test_map_draws_layers_and_legends(browser: Any, server: str, name: str) -> None:
    visit = Visit(browser, server + PAGES[name])
    page = visit.page
    assert page.locator(".leaflet-container").count() == 1
    assert page.locator(".leaflet-overlay-pane path").count() >= 4
    assert page.locator(".legend:visible").count() >= 1  # only the shown layers' legends
    assert page.locator(".leaflet-control-layers-overlays label").count() >= 2


def test_layer_switching_fetches_density_image(browser: Any, server: str) -> None:
    """Shadings are exclusive base layers: choosing one replaces the other, and only the
    chosen shading's legend shows; an overlay's legend shows while it is ticked."""
    visit = Visit(browser, server + PAGES["category"])
    page = visit.page

    def legend(title: str) -> Any:
        return page.locator(f'.legend[data-layer="{title}"]')

    assert page.locator(".leaflet-image-layer").count() == 0
    assert legend("Incidents by area").is_visible()
    assert not legend("Change vs previous period").is_visible()
    base = page.locator(".leaflet-control-layers-base label")
    base.filter(has_text="Density, Aug 12 to Jul 13").locator("input").check()
    page.wait_for_selector(".leaflet-image-layer")
    assert any("density.png" in u and "surface=current" in u for u in visit.requests)
    assert legend("Density, Aug 12 to Jul 13").is_visible()
    assert not legend("Incidents by area").is_visible()
    base.filter(has_text="Change").locator("input").check()
    assert page.locator(".leaflet-image-layer").count() == 0
    assert legend("Change vs previous period").is_visible()
    assert not legend("Density, Aug 12 to Jul 13").is_visible()
    hotspots = page.locator(".leaflet-control-layers-overlays label", has_text="Hotspots")
    assert not legend("Hotspots (clusters, Gi*)").is_visible()
    hotspots.locator("input").check()
    assert legend("Hotspots (clusters, Gi*)").is_visible()
    hotspots.locator("input").uncheck()
    assert not legend("Hotspots (clusters, Gi*)").is_visible()
    visit.shoot("category-layers-on")
    assert visit.errors == []


def test_beat_table_sorts(browser: Any, server: str) -> None:
    visit = Visit(browser, server + PAGES["category"])
    page = visit.page
    table = page.locator("#area-table")
    codes = table.locator("tbody tr td:first-child").all_inner_texts()
    table.locator("th", has_text="Code").click()
    ascending = table.locator("tbody tr td:first-child").all_inner_texts()
    assert ascending == sorted(codes, key=str.casefold)
    table.locator("th", has_text="Code").click()
    assert table.locator("tbody tr td:first-child").all_inner_texts() == ascending[::-1]
    # Numbers sort largest first on the first click, smallest first on the next.
    table.locator("th", has_text="Current").click()

    def current() -> list[int]:
        cells = table.locator("tbody tr td:nth-child(4)").all_inner_texts()
        return [int(v.replace(",", "")) for v in cells]

    assert current() == sorted(current(), reverse=True)
    table.locator("th", has_text="Current").click()
    assert current() == sorted(current())


def test_script_injection_shows_as_text(browser: Any, server: str) -> None:
    visit = Visit(browser, server + PAGES["collisions"])
    page = visit.page
    # The injection string is a collision's location text: hover its point for the tooltip.
    page.evaluate(
        """() => { for (const k of Object.keys(window)) { const g = window[k];
          if (!g || !g.getTooltip || !g.getTooltip() || !g.eachLayer) continue;
          g.eachLayer(l => { const p = l.feature && l.feature.properties;
            if (p && l.getLatLng && String(p.location_text).includes('script'))
            l.fire('mouseover', {latlng: l.getLatLng()}, true); }); } }"""
    )
    assert visit.dialogs == []
    tooltip_text = " ".join(page.locator(".leaflet-tooltip").all_inner_texts())
    assert INJECTION in tooltip_text
    visit.shoot("injection")
    overview = Visit(browser, server + "/")
    assert "Town <b>Centre</b>" in overview.page.inner_text("body")
    assert overview.dialogs == []
