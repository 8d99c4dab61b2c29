"""Rendered map text kept as text: the same pages as compiling it again with Jinja."""

from __future__ import annotations

from pathlib import Path

import branca.element
import jinja2
import pytest

from geo_service.config import Settings
from geo_service.maps import rendered_text
from geo_service.maps.rendered_text import RenderedText, template
from geo_service.web import create_app

PLAIN = [
    "",
    "x",
    "\n",
    "a\n",
    "a\n\n",
    "  indented\n\tand tabbed  ",
    "var m = L.map('map', {center: [51.7, -0.4]});\n",
    "{ {not a tag} } %} }} #}",
    "unicode: café – ±\n",
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_text_renders_as_jinja_renders_it(text: str) -> None:
    made = template(text)
    assert isinstance(made, RenderedText)
    assert made.render(this=object(), kwargs={}) == jinja2.Template(text).render()
    assert made.module.__dict__.get("script") is None


JINJA = ["{{ 1 + 1 }}", "{% if true %}y{% endif %}", "a{# c #}b", "a\r\nb"]


@pytest.mark.parametrize("text", JINJA)
def test_text_with_jinja_syntax_or_carriage_returns_is_compiled(text: str) -> None:
    made = template(text)
    assert isinstance(made, jinja2.Template)
    assert made.render() == jinja2.Template(text).render()


def test_options_always_compile() -> None:
    assert isinstance(template("x", keep_trailing_newline=True), jinja2.Template)


def _pages(store: object) -> dict[str, bytes]:
    app = create_app(Settings(store=Path("memory"), tiles="none"), store=store)
    client = app.test_client()
    paths = [
        "/",
        "/category/Burglary",
        "/category/Burglary/map.js",
        "/category/Burglary?print=1",
        "/area/beat/D1A?category=Burglary",
        "/collisions",
        "/collisions/map.js",
    ]
    pages = {}
    for path in paths:
        answer = client.get(path)
        assert answer.status_code == 200, path
        pages[path] = answer.data
    return pages


def test_pages_are_byte_identical_with_and_without_it(
    store: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rendered_text, "install", lambda: None)
    monkeypatch.setattr(branca.element, "Template", jinja2.Template)
    compiled = _pages(store)
    monkeypatch.undo()
    rendered_text.install()
    assert branca.element.Template is template
    kept = _pages(store)
    assert kept == compiled
    assert b"L.map(" in kept["/category/Burglary/map.js"]
