"""The three users' pages opened in headless Chromium on the demo store, as each user would:
the neighbourhood officer's patrol map one click from the overview, the layer control on a
phone, the briefing pack link, and no page wider than a 390 px phone. Screenshots at 1440 px,
390 px and in print go to ``/tmp/shots/`` (or ``GEO_SERVICE_SHOTS``) to be looked at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.conftest import CHROMIUM, served
from tests.web.test_browser import Visit

SHOTS = Path(os.environ.get("GEO_SERVICE_SHOTS", "/tmp/shots"))
SIZES = {"desktop": (1440, None), "phone": (390, None), "print": (1440, "print")}
PAGES = {
    "overview": "/",
    "patrol": "/patrol/Dwelling%20burglary",
    "category": "/category/Dwelling%20burglary",
    "area": "/area/beat/D2A",
    "collisions": "/collisions",
    "report": "/report",
}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture(scope="module")
def server(demo_app: Any) -> Iterator[str]:
    with served(demo_app) as url:
        yield url


def shoot(visit: Visit, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    visit.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def no_sideways_scroll(visit: Visit) -> bool:
    return bool(visit.page.evaluate("document.documentElement.scrollWidth <= innerWidth"))


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_fits_its_screen(browser: Any, server: str, name: str, size: str) -> None:
    width, media = SIZES[size]
    visit = Visit(browser, server + PAGES[name], width=width, media=media)
    shoot(visit, f"{name}-{size}")
    assert visit.errors == [] and visit.off_machine() == []
    assert no_sideways_scroll(visit)
    if media == "print":
        assert not visit.page.locator("header.site nav").is_visible()
        assert not visit.page.locator(".leaflet-control-layers").first.is_visible() or name in (
            "overview",
            "report",
        )


def test_patrol_map_is_one_click_from_the_overview(browser: Any, server: str) -> None:
    visit = Visit(browser, server + "/")
    page = visit.page
    row = page.locator("#looking-back tr", has_text="Dwelling burglary")
    row.locator("a.patrol-link").click()
    page.wait_for_selector(".zone-number")
    assert page.locator("h1").inner_text().startswith("Patrol zones for Dwelling burglary")
    statement = page.locator("#patrol-statement").inner_text()
    assert "5 % of the area, held" in statement and "drawn at random would hold 5 %" in statement
    # The numbered markers on the map match the ranked list beside it.
    # (textContent: a number hidden to avoid an overlap is still there, shown on zooming in)
    markers = page.eval_on_selector_all(
        ".leaflet-marker-pane .zone-number", "els => els.map(e => e.textContent)"
    )
    rows = page.locator("#zone-table tbody tr").count()
    assert sorted(int(m) for m in markers) == list(range(1, rows + 1))
    assert "Leighton Buzzard Road" in page.locator("#zone-table").inner_text()
    assert page.locator("details.how").inner_text().count("PAI") >= 1
    shoot(visit, "patrol-from-overview")
    assert visit.errors == []


OVERLAPS = """(selector) => {
  const boxes = Array.from(document.querySelectorAll(selector))
    .filter(e => getComputedStyle(e).visibility !== "hidden")
    .map(e => e.getBoundingClientRect());
  let n = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right && a.right > b.left && a.top < b.bottom && a.bottom > b.top) n++;
  }
  return [n, boxes.length];
}"""


@pytest.mark.parametrize(("name", "selector"), [
    ("patrol", ".leaflet-marker-pane .zone-number"),
    ("collisions", ".leaflet-marker-pane .road-label"),
])  # fmt: skip
@pytest.mark.parametrize("width", [1440, 390])
def test_map_labels_never_overlap(
    browser: Any, server: str, name: str, selector: str, width: int
) -> None:
    visit = Visit(browser, server + PAGES[name], width=width)
    overlaps, shown = visit.page.evaluate(OVERLAPS, selector)
    assert overlaps == 0 and shown >= 3
    visit.page.locator(".leaflet-control-zoom-in").click()
    visit.page.wait_for_timeout(600)
    overlaps, more = visit.page.evaluate(OVERLAPS, selector)
    assert overlaps == 0 and more >= shown  # zooming in shows labels hidden before


def test_patrol_brief_downloads_as_pdf(browser: Any, server: str) -> None:
    visit = Visit(browser, server + PAGES["patrol"])
    href = visit.page.locator("a.brief-link", has_text="PDF").get_attribute("href")
    response = visit.page.request.get(server + str(href))
    assert response.status == 200 and response.body()[:5] == b"%PDF-"


def test_layer_control_folds_on_phones(browser: Any, server: str) -> None:
    phone = Visit(browser, server + PAGES["category"], width=390)
    control = phone.page.locator(".leaflet-control-layers")
    assert "leaflet-control-layers-expanded" not in (control.get_attribute("class") or "")
    assert not phone.page.locator(".leaflet-control-layers-list").is_visible()
    desktop = Visit(browser, server + PAGES["category"], width=1440)
    assert desktop.page.locator(".leaflet-control-layers-list").is_visible()


def test_chosen_layers_travel_to_the_printable_view(browser: Any, server: str) -> None:
    visit = Visit(browser, server + PAGES["category"])
    page = visit.page
    base = page.locator(".leaflet-control-layers-base label")
    base.filter(has_text="Change").locator("input").check()
    overlays = page.locator(".leaflet-control-layers-overlays label")
    overlays.filter(has_text="Hotspots").locator("input").check()
    href = page.locator("a.print-link").get_attribute("href") or ""
    assert "#layers=" in href and "Change" in href
    printable = Visit(browser, href if href.startswith("http") else server + href, media="print")
    shoot(printable, "category-printable-chosen-layers")
    legend = printable.page.locator('.legend[data-layer="Change vs previous period"]')
    assert legend.is_visible()
    assert not printable.page.locator('.legend[data-layer="Incidents by area"]').is_visible()
    assert printable.page.locator('.legend[data-layer="Hotspots (clusters, Gi*)"]').is_visible()
    assert not printable.page.locator(".leaflet-control-layers").is_visible()
    assert printable.errors == []


def test_patrol_zones_are_a_base_layer_of_the_category_map(browser: Any, server: str) -> None:
    visit = Visit(browser, server + PAGES["category"])
    page = visit.page
    zones_legend = page.locator('.legend[data-layer="Patrol zones (next month)"]')
    assert not zones_legend.is_visible()  # a base shading, off until chosen
    assert page.locator(".zone-number").count() == 0
    base = page.locator(".leaflet-control-layers-base label")
    base.filter(has_text="Patrol zones").locator("input").check()
    assert zones_legend.is_visible()
    assert not page.locator('.legend[data-layer="Incidents by area"]').is_visible()
    assert page.locator(".zone-number").count() > 0
    shoot(visit, "category-patrol-zones-layer")
    assert visit.errors == []


def test_highways_rows_find_their_site_on_the_map(browser: Any, server: str) -> None:
    visit = Visit(browser, server + PAGES["collisions"])
    page = visit.page
    table = page.locator("#sites-table")
    assert "Named roads nearby" in table.locator("thead").inner_text()
    assert "2012" in table.locator("thead").inner_text()  # one column per year
    # Every listed site's rank links to it on the map.
    links = table.locator("a.zoom-to")
    assert links.count() == table.locator("tbody tr").count() > 0
    links.nth(0).click()
    page.wait_for_timeout(500)
    zoom, centre = page.evaluate(
        "(() => { const m = window.geoServiceMaps[0].map; const c = m.getCenter();"
        " return [m.getZoom(), [c.lat, c.lng]]; })()"
    )
    lat = float(links.nth(0).get_attribute("data-lat") or "nan")
    lon = float(links.nth(0).get_attribute("data-lon") or "nan")
    assert zoom == 17 and centre == pytest.approx([lat, lon], abs=1e-4)
    assert "chosen" in (table.locator("tbody tr").nth(0).get_attribute("class") or "")
    shoot(visit, "collisions-site-1-on-map")
    # "Collisions" sorts largest first, then smallest first.
    heading = table.locator("th", has_text="Collisions")

    def counts() -> list[int]:
        return [int(v) for v in table.locator("tbody tr td:nth-child(4)").all_inner_texts()]

    heading.click()
    assert counts() == sorted(counts(), reverse=True)
    heading.click()
    assert counts() == sorted(counts())
    assert visit.errors == []
