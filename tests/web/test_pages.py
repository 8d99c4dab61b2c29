"""Every page through the Flask test client: status, content, options, escaping, bad parameters."""

from __future__ import annotations

import re

import pytest

from geo_service.analysis.forecast import describe
from geo_service.config import Settings
from geo_service.services.evaluation import evaluate
from geo_service.services.options import EvaluateOptions
from tests.web.conftest import INJECTION

Q = "period_end=2013-07&months=12&layer=beat&against=preceding"
QH = Q.replace("&", "&amp;")  # as written in HTML attributes


def test_overview_states_periods_sources_and_links(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "Aug 12 to Jul 13 against Aug 11 to Jul 12" in html
    assert "sources: stats19, test" in html
    # Burglary 33 -> 68 inside the beats (3 and 6 a month were drawn; a few fall outside).
    row = re.search(r">Burglary</a>.*?</td>(.*?)</tr>", html, re.S).group(1)
    assert ">33<" in row and ">68<" in row and "significant increase" in row
    assert f'href="/category/Burglary?{QH}"' in html
    assert 'href="/area/beat/D1A?period_end=2013-07&amp;months=12&amp;against=preceding"' in html
    assert 'href="/collisions?' in html
    # A plain category that a group already is ("Deliberate fires") is not listed twice.
    assert html.count(">Deliberate fire</a>") == 0 and html.count(">Deliberate fires</a>") == 1


def test_area_name_is_escaped(client) -> None:
    html = client.get("/").get_data(as_text=True)
    assert "Town &lt;b&gt;Centre&lt;/b&gt;" in html
    assert "Town <b>Centre</b>" not in html


@pytest.mark.parametrize(
    ("query", "allowed"),
    [
        ("months=7", "allowed: 1, 3, 6, 12, 24"),
        ("period_end=2013-13", "expected a month YYYY-MM between 2011-08 and 2013-07"),
        ("period_end=2020-01", "between 2011-08 and 2013-07"),
        ("layer=ward", "allowed: beat"),
        ("print=yes", "allowed: 0, 1"),
    ],
)
def test_bad_option_is_400_saying_what_is_allowed(client, query: str, allowed: str) -> None:
    paths = ("/", "/category/Burglary")
    # the collisions page takes any month as its window's end, as the CLI does (below)
    paths += ("/collisions",) if not query.startswith("period_end") else ()
    for path in paths:
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert allowed in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("period_end=2013-13", "period_end=&#39;2013-13&#39;: expected a month YYYY-MM"),
        ("period_end=2020-01", "the 3-year window Feb 17 to Jan 20 holds no collision data; "
                               "collisions are held from Aug 11 to Jul 13"),
    ],
)  # fmt: skip
def test_collision_window_ends_that_cannot_be_answered_are_400(client, query, said) -> None:
    for path in ("/collisions", "/api/collisions/sites.csv"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400
        assert said in response.get_data(as_text=True).replace("'", "&#39;")


def test_bad_rule_options_are_400(client) -> None:
    response = client.get("/collisions?rule=nope&min_count=2.5&radius_m=-1")
    text = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "rule=&#39;nope&#39;: allowed: default" in text
    assert "min_count=&#39;2.5&#39;: expected a whole number from 2 to 100" in text
    assert "radius_m=&#39;-1&#39;: expected a number from 5 to 1000" in text


def test_category_page_has_map_table_chart_and_accuracy(client) -> None:
    html = client.get(f"/category/Burglary?{Q}").get_data(as_text=True)
    assert 'class="folium-map"' in html
    assert f'src="/category/Burglary/map.js?{QH}"' in html
    assert "<script>" not in html  # no inline script: the CSP forbids it
    assert 'id="area-table"' in html and ">D1A<" in html and ">106.1%<" in html.replace("+", "")
    assert "hit rate" in html and "PAI" in html and "5 % of the area" in html
    assert html.count("<rect") >= 24  # one bar per month of both periods
    # Significant changes stand out in the area table as they do on the overview.
    assert '<td class=" sig-up" data-sort="significant increase">' in html
    for title in (
        "Incidents by area",
        "Change vs previous period",
        "Density, Aug 12 to Jul 13",
        "Density, Aug 11 to Jul 12",
        "Density difference",
        "Hotspots (clusters, Gi*)",
    ):
        assert f"<h3>{title}</h3>" in html


def test_base_layers_are_exclusive_and_only_shown_legends_show(client) -> None:
    html = client.get(f"/category/Burglary?{Q}").get_data(as_text=True)
    # Counts are the one base layer shown first; the other shadings' legends start hidden.
    assert (
        '<div class="legend" data-layer="Incidents by area" data-shown="1" data-base="1">' in html
    )
    assert 'data-layer="Change vs previous period" data-shown="0" data-base="1"' in html
    assert 'data-layer="Density difference" data-shown="0" data-base="1"' in html
    assert 'data-layer="Hotspots (clusters, Gi*)" data-shown="0">' in html
    assert "Rate per 1,000" in html  # the beats carry residents and households
    script = client.get(f"/category/Burglary/map.js?{Q}").get_data(as_text=True)
    base = script[script.index("base_layers") : script.index("overlays")]
    for name in ("Incidents by area", "Change vs previous period", "Density difference"):
        assert f'"{name}"' in base
    assert '"Hotspots (clusters, Gi*)"' not in base
    # The change legend colours significant changes only.
    assert (
        "no significant change" in html and "Coloured only where the change is significant" in html
    )


@pytest.mark.parametrize("method", ["quantiles", "fisher-jenks", "head-tail"])
def test_class_breaks_option(client, method) -> None:
    html = client.get(f"/category/Burglary?{Q}&breaks={method}").get_data(as_text=True)
    assert f'<option value="{method}" selected>' in html
    assert client.get(f"/category/Burglary?{Q}&breaks=equal").status_code == 400


def test_previous_and_difference_density_images(client) -> None:
    for surface in ("previous", "difference"):
        png = client.get(f"/category/Burglary/density.png?{Q}&surface={surface}")
        assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"/category/Burglary/density.png?{Q}&surface=later").status_code == 404


def test_map_script_and_density_image(client) -> None:
    script = client.get(f"/category/Burglary/map.js?{Q}")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    body = script.get_data(as_text=True)
    density_url = f"/category/Burglary/density.png?{Q}&surface=current".replace("&", "\\u0026")
    assert "L.map(" in body and density_url in body
    assert "https://" not in body.replace("https://invalid/", "")
    png = client.get(f"/category/Burglary/density.png?{Q}")
    assert png.mimetype == "image/png" and png.data[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_category_area_and_layer_are_404(client) -> None:
    assert client.get("/category/Nope").status_code == 404
    missing = client.get("/area/beat/ZZZ")
    assert missing.status_code == 404 and "available: D1A, D1B, D2A, D2B" in missing.get_data(
        as_text=True
    )
    assert client.get("/area/ward/D1A").status_code == 404


def test_area_page(client) -> None:
    html = client.get("/area/beat/D1A?category=Burglary").get_data(as_text=True)
    assert "D1A Town &lt;b&gt;Centre&lt;/b&gt;" in html
    assert "Biggest movers" in html and "Burglary: up 35 (33 to 68)" in html
    # Other categories offered for the map: only those with incidents in the area.
    assert "category=ASB+incidents" in html and "BCS+comparator" not in html
    assert 'src="/area/beat/D1A/map.js?category=Burglary' in html
    assert client.get("/area/beat/D1A/map.js?category=Burglary").status_code == 200


def test_collisions_page_escapes_location_in_map_script(client) -> None:
    html = client.get("/collisions").get_data(as_text=True)
    assert "Sites ranked (2)" in html and "A41 / A4146" in html
    script = client.get("/collisions/map.js").get_data(as_text=True)
    assert INJECTION not in script
    assert "\\u0026lt;script\\u0026gt;" in script  # escaped, then JSON-encoded


def test_print_view_keeps_options(client) -> None:
    query = "period_end=2013-06&months=6&layer=beat&against=preceding"  # not 2013-07, 12
    html = client.get(f"/category/Burglary?{query}&print=1").get_data(as_text=True)
    assert 'class="print-view"' in html
    assert "Jan 13 to Jun 13 against Jul 12 to Dec 12" in html  # the periods asked for
    kept = query.replace("&", "&amp;") + "&amp;print=1"
    links = re.findall(
        r'(?:href|src)="(/(?:category|api/category|collisions|report|\?)[^"]*)"', html
    )
    assert len(links) >= 6
    assert all(link.endswith(f"?{kept}") for link in links), links
    assert f'src="/category/Burglary/map.js?{kept}"' in html
    script = client.get(f"/category/Burglary/map.js?{query}&print=1").get_data(as_text=True)
    assert "period_end=2013-06\\u0026months=6\\u0026layer=beat" in script  # density URL


def test_report_page_has_its_own_strict_policy(client) -> None:
    response = client.get(f"/report?{Q}")
    assert response.status_code == 200
    assert "Looking back" in response.get_data(as_text=True)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy


def test_repeated_page_is_served_from_cache(client, store) -> None:
    client.get(f"/category/Burglary?{Q}")
    reads = store.reads
    client.get(f"/category/Burglary?{Q}")
    client.get(f"/category/Burglary/map.js?{Q}")
    assert store.reads == reads


def test_period_not_held_is_no_data_never_significant(client) -> None:
    """12 months ending Jul 12 against the 12 before: the store holds none of Aug 10-Jul 11."""
    html = client.get("/?period_end=2012-07&months=12").get_data(as_text=True)
    assert "test: no data for Aug 10 to Jul 11" in html
    assert "stats19: no data for Aug 10 to Jul 11" in html
    row = re.search(r">Burglary</a>.*?</td>(.*?)</tr>", html, re.S).group(1)
    assert "no data for the earlier period" in row and "significant" not in row
    default = client.get("/").get_data(as_text=True)
    assert "no data for" not in default
    assert "1 row in the files has no location; 0 of them can be placed in the beat" in default


def test_default_comparison_is_the_longest_window_both_periods_hold(client) -> None:
    """For Jul 12 the store holds Aug 11 onwards: 6 months against the 6 before."""
    html = client.get("/?period_end=2012-07").get_data(as_text=True)
    assert "Feb 12 to Jul 12 against Aug 11 to Jan 12" in html


@pytest.mark.parametrize(
    "url",
    [
        "/?endpoint=x",
        "/collisions?endpoint=x",
        "/category/Burglary?name=x",
        "/area/beat/D1A?code=x",
        "/area/beat/D1A?layer=ward",
        "/?_external=1",
        "/collisions?_anchor=x&rule=default",
    ],
)
def test_unknown_query_keys_never_give_500(client, url: str) -> None:
    response = client.get(url)
    html = response.get_data(as_text=True)
    assert response.status_code == 200, html[:300]
    # Unknown keys are not carried into the page's links (print link, map script).
    links = re.findall(r'(?:href|src)="(/[^"]*)"', html)
    assert links
    for key in ("endpoint", "name", "code", "_external", "_anchor"):
        assert not [link for link in links if f"?{key}=" in link or f";{key}=" in link]


def test_print_link_keeps_only_the_page_options(client) -> None:
    html = client.get(f"/category/Burglary?{Q}&endpoint=x&_external=1").get_data(as_text=True)
    link = re.search(r'class="print-link" href="([^"]+)"', html).group(1)
    assert link == f"/category/Burglary?{QH}&amp;print=1"
    area = client.get("/area/beat/D1A?layer=ward&category=Burglary").get_data(as_text=True)
    link = re.search(r'class="print-link" href="([^"]+)"', area).group(1)
    assert link == "/area/beat/D1A?category=Burglary&amp;print=1"


def test_rate_base_is_in_the_heading_not_a_column(client) -> None:
    for path in ("/category/Burglary", "/area/beat/D1A"):
        html = client.get(path).get_data(as_text=True)
        headings = re.findall(r"<th[^>]*>([^<]*)</th>", html)
        assert "Rate per 1,000 residents" in headings and "Rate per" not in headings
        assert ">1,000 residents<" not in html


def test_overview_links_each_category_to_its_patrol_map(client) -> None:
    html = client.get(f"/?{Q}").get_data(as_text=True)
    assert f'class="patrol-link" href="/patrol/Burglary?{QH}"' in html
    # a group the data cannot form gets no patrol link (it would answer 422), and every link
    # that is offered answers
    links = re.findall(r'class="patrol-link" href="([^"]+)"', html)
    assert links and not any("Dwelling%20burglary" in link for link in links)
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link


def test_patrol_page_states_forecast_zones_and_reliability(client) -> None:
    response = client.get(f"/patrol/Burglary?{Q}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Patrol zones for Burglary: forecast for Aug 13" in html
    assert "% of the area, held" in html and "a map drawn at random would hold 5 %" in html
    assert 'id="zone-1"' in html and "How this is made" in html
    assert "<strong>PAI</strong>" in html and "<strong>Hit rate</strong>" in html
    # The zone lying in beat D1A names it, escaped.
    assert "Town &lt;b&gt;Centre&lt;/b&gt;" in html
    script = client.get(f"/patrol/Burglary/map.js?{Q}&coverage=5").get_data(as_text=True)
    assert "zone-number" in script and "geoServiceMaps" in script
    assert '"collapsed": window.innerWidth < 700' in script


@pytest.fixture(scope="module")
def burglary_backtest(store):
    """The forecast backtest's 5 % rows of Burglary, as the pages' defaults ask for it."""
    evaluation = evaluate(
        store, Settings().groups(),
        EvaluateOptions(category="Burglary", coverages=(1.0, 5.0, 10.0), layer="beat"),
    )  # fmt: skip
    table = evaluation.forecast_table
    at = table[table["coverage"] == 5.0].groupby("method")[["hit_rate", "pai"]].mean()
    return evaluation, at


def test_category_page_states_the_default_map_beside_the_best_baseline(
    client, burglary_backtest
) -> None:
    evaluation, at = burglary_backtest
    assert evaluation.default is not None and evaluation.default.method == "forecast"
    html = client.get(f"/category/Burglary?{Q}").get_data(as_text=True)
    line = re.search(r'<p class="accuracy" id="default-accuracy">(.*?)</p>', html, re.S)
    assert line is not None
    text = " ".join(re.sub(r"<[^>]+>", "", line.group(1)).split())
    forecast = 100 * at.loc["forecast", "hit_rate"]
    baseline = 100 * at.loc[["previous-12-months", "previous-month"], "hit_rate"].max()
    assert forecast > baseline
    assert text.startswith(
        f"Next month's map (patrol zones): {forecast:.0f} % of incidents in 5 % of the area in "
        f"back-tests; last year&#39;s counts alone: {baseline:.0f} %. That share is the hit rate;"
    )
    assert f"the PAI ({at.loc['forecast', 'pai']:.1f}) is the hit rate divided by" in text
    assert f'href="/patrol/Burglary?{QH}">patrol zones</a>' in line.group(1)


def test_patrol_page_says_how_the_forecast_is_made(client, burglary_backtest) -> None:
    evaluation, at = burglary_backtest
    html = client.get(f"/patrol/Burglary?{Q}").get_data(as_text=True)
    statement = re.search(r'id="patrol-statement">(.*?)</p>', html, re.S)
    assert statement is not None
    forecast = 100 * at.loc["forecast", "hit_rate"]
    baseline = 100 * at.loc[["previous-12-months", "previous-month"], "hit_rate"].max()
    assert f"held {forecast:.0f} % of each month&#39;s incidents" in statement.group(1)
    assert f"Last year&#39;s counts alone would have held {baseline:.0f} %." in statement.group(1)
    how = html[html.index("How this is made") :]
    words = describe(evaluation.default.map_method, cell_m=evaluation.cell_m)
    assert words[:1].upper() + words[1:].replace("'", "&#39;") in how
    assert "the candidate best on the months already scored was used" in how


def test_patrol_exports_and_bad_coverage(client) -> None:
    csv = client.get(f"/api/patrol/Burglary.csv?{Q}&coverage=10").get_data(as_text=True)
    assert csv.splitlines()[1].startswith("1,10.0,")
    geo = client.get(f"/api/patrol/Burglary.geojson?{Q}").get_json()
    assert geo["geo_service"]["coverage"] == 5.0 and geo["features"]
    bad = client.get(f"/patrol/Burglary?{Q}&coverage=7")
    assert bad.status_code == 400
    assert "expected one of 1, 5, 10" in bad.get_data(as_text=True)


def test_patrol_brief_downloads(client) -> None:
    html = client.get(f"/patrol/Burglary?{Q}").get_data(as_text=True)
    assert 'href="/patrol/Burglary/brief.pdf?coverage=5&amp;' in html
    pdf = client.get(f"/patrol/Burglary/brief.pdf?{Q}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-") and b"/Count 1" in pdf.data
    png = client.get(f"/patrol/Burglary/brief.png?{Q}&area=beat:D1A")
    assert png.status_code == 200 and png.data[:4] == b"\x89PNG"
    assert client.get(f"/patrol/Burglary/brief.pdf?{Q}&area=D1A").status_code == 400


def test_area_page_opens_with_a_plain_words_summary(client) -> None:
    html = client.get(f"/area/beat/D1A?{Q}".replace("&layer=beat", "")).get_data(as_text=True)
    summary = re.search(r'<p id="beat-summary">(.*?)</p>', html, re.S).group(1)
    # Burglary in D1A went from 3 a month to 6 (fixture plan): a significant rise, said once.
    assert summary.startswith(
        "Rose significantly in Town &lt;b&gt;Centre&lt;/b&gt; (D1A): Burglary"
    )
    assert "No category fell significantly" in summary or "Fell significantly" in summary
    assert "Jul 13" in summary
    # Leaf categories in the main table; groups (overlapping) in a collapsible block.
    assert 'id="area-table"' in html and '<details class="groups">' in html
    main_table = html[html.index('id="area-table"') : html.index('<details class="groups">')]
    assert ">All crime<" not in main_table and ">Burglary<" in main_table
    assert "Patrol zones in D1A" in html


def test_movers_are_coloured_only_when_significant(client) -> None:
    html = client.get("/area/beat/D1A").get_data(as_text=True)
    movers = re.search(r'<ul class="movers">(.*?)</ul>', html, re.S).group(1)
    for item in re.findall(r"<li[^>]*>.*?</li>", movers):
        coloured = 'class="sig-up"' in item or 'class="sig-down"' in item
        assert coloured == item.endswith(", significant</li>"), item


def test_area_names_link_to_their_pages(client) -> None:
    html = client.get(f"/category/Burglary?{Q}").get_data(as_text=True)
    table = html[html.index('id="area-table"') :]
    assert '<a href="/area/beat/D1A?category=Burglary&amp;period_end=2013-07' in table


def test_collision_sites_have_years_streets_and_map_links(client) -> None:
    html = client.get("/collisions").get_data(as_text=True)
    table = html[html.index('id="sites-table"') :]
    table = table[: table.index("</table>")]
    # The fixture's two junctions collide every month of 2011-08..2013-07.
    heads = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', table)
    assert {"2011", "2012", "2013"} <= set(heads)
    assert "Named roads nearby" not in heads  # no roads reference layer in this store
    assert table.count('class="zoom-to"') == table.count("<tr id=") >= 1
    assert 'href="/area/beat/' in table


def test_report_lists_repeat_collision_sites_and_fits_a_phone(client) -> None:
    html = client.get(f"/report?{Q}").get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    section = html[html.index("<h3>Repeat-collision sites</h3>") :]
    section = section[: section.index("</table>")]
    # The fixture's two junctions: a collision every month, on the A41.
    assert section.count("<tr><td") >= 1 and "A41" in section


def test_collisions_brief_downloads(client) -> None:
    html = client.get("/collisions").get_data(as_text=True)
    assert 'href="/collisions/brief.pdf' in html and 'href="/collisions/brief.png' in html
    pdf = client.get("/collisions/brief.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-") and b"/Count 1" in pdf.data
    png = client.get("/collisions/brief.png")
    assert png.status_code == 200 and png.data[:4] == b"\x89PNG"


def test_maps_say_how_to_add_streets_when_tiles_are_off_and_no_roads_are_loaded(
    tmp_path, monkeypatch
) -> None:
    from geo_service.config import Settings
    from geo_service.web import create_app
    from tests.reliability.store_fixtures import build_store

    root = build_store(tmp_path) / "store"
    app = create_app(Settings(store=root, tiles="none"))
    app.config.update(TESTING=True)
    page = app.test_client().get("/category/Burglary").get_data(as_text=True)
    assert "no roads layer is loaded" in page and "geo-service reference add roads" in page
    # with the roads loaded, the maps draw them and the note goes
    from geo_service._paths import project_folder
    from geo_service.cli import main

    roads = project_folder("boundaries") / "demo_roads.geojson"
    assert main(["-q", "--store", str(root), "reference", "add", "roads", str(roads)]) == 0
    app = create_app(Settings(store=root, tiles="none"))
    app.config.update(TESTING=True)
    page = app.test_client().get("/category/Burglary").get_data(as_text=True)
    assert "no roads layer is loaded" not in page


def test_collision_map_legend_says_which_collisions_are_drawn(client) -> None:
    """The map draws the collisions within 2 km of the areas (those the sites are found among),
    so points beyond the outlines are explained where the map is read."""
    html = client.get("/collisions").get_data(as_text=True)
    assert (
        "Drawn: the collisions within 2 km of the areas, among which sites are found; the sites "
        "listed are those centred in an area."
    ) in html
