"""Splitting a Folium map into page parts, with every asset served from our own ``static/``.

Folium writes a whole HTML document whose header loads Leaflet, jQuery, Bootstrap and Font Awesome
from public CDNs and whose body ends in an inline ``<script>``. Pages served to networks without
internet access, under a Content-Security-Policy of ``script-src 'self'``, need neither: the map's
``<div>`` goes into our template, its script (plus the header's small inline settings script) is
served from a URL of our own, and the CDN references are replaced by the local copies listed in
:data:`LOCAL_ASSETS`. Assets the generated script does not use (jQuery, Bootstrap, Font Awesome,
awesome-markers) are dropped; an unknown remote asset is an error, so a new Folium feature cannot
silently reach the internet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import folium


#: Remote asset (as Folium names it) -> path under ``static/``; None means "not needed, dropped".
LOCAL_ASSETS: dict[str, str | None] = {
    "leaflet": "vendor/leaflet/leaflet.js",
    "leaflet_css": "vendor/leaflet/leaflet.css",
    "jquery": None,
    "bootstrap": None,
    "bootstrap_css": None,
    "glyphicons_css": None,
    "awesome_markers": None,
    "awesome_markers_css": None,
    "awesome_markers_font_css": None,
    "awesome_rotate_css": None,
}

#: The layer switcher stays open on wide screens (visible, printable) and folds on phones.
_COLLAPSE_ON_PHONES = ('"collapsed": false,', '"collapsed": window.innerWidth < 700,')
_LAYER_CONTROL = re.compile(r"(?:let|var) (layer_control_\w+) = L\.control\.layers\(")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
_REMOTE = re.compile(r"""(?:src|href)=["'](https?:)?//[^"']+["']""")


@dataclass(frozen=True)
class MapParts:
    """A rendered map: the ``<div>`` for the page, its script, and the local assets it needs."""

    html: str
    script: str
    scripts: tuple[str, ...]
    stylesheets: tuple[str, ...]


def split_map(fmap: folium.Map) -> MapParts:
    """Render ``fmap`` into page parts that reference only local assets.

    Raises
    ------
    ValueError
        When the map needs a remote asset with no local copy (a programming error, not user input).
    """
    import folium

    from geo_service.maps import rendered_text

    rendered_text.install()
    figure = cast(folium.Figure, fmap.get_root())
    figure.render()
    header = figure.header.render()
    scripts, stylesheets = _local_assets(figure)
    leftover = _REMOTE.findall(_strip_known(header, figure))
    if leftover:
        raise ValueError(f"map needs remote assets with no local copy: {leftover}")
    settings = "\n".join(_INLINE_SCRIPT.findall(header))
    script = figure.script.render().replace(*_COLLAPSE_ON_PHONES)
    control = _LAYER_CONTROL.search(script)
    register = (
        "\n(window.geoServiceMaps = window.geoServiceMaps || []).push("
        f"{{map: {fmap.get_name()}, control: {control.group(1) if control else 'null'}}});\n"
    )
    html, script = _steady_ids(figure, figure.html.render(), settings + "\n" + script + register)
    return MapParts(
        html=html,
        script=script,
        scripts=scripts,
        stylesheets=stylesheets,
    )


def _local_assets(figure: folium.Figure) -> tuple[tuple[str, ...], tuple[str, ...]]:
    scripts: list[str] = []
    stylesheets: list[str] = []
    for child in _all_children(figure):
        for name, _url in getattr(child, "default_js", []):
            _add(scripts, name)
        for name, _url in getattr(child, "default_css", []):
            _add(stylesheets, name)
    return tuple(scripts), tuple(stylesheets)


def _add(into: list[str], name: str) -> None:
    if name not in LOCAL_ASSETS:
        raise ValueError(f"map asset {name!r} has no local copy; add it to static/")
    local = LOCAL_ASSETS[name]
    if local is not None and local not in into:
        into.append(local)


def _strip_known(header: str, figure: folium.Figure) -> str:
    for child in _all_children(figure):
        for _name, url in [*getattr(child, "default_js", []), *getattr(child, "default_css", [])]:
            header = header.replace(url, "")
    return header


def _steady_ids(figure: folium.Figure, html: str, script: str) -> tuple[str, str]:
    """``html`` and ``script`` with Folium's random element ids (uuid4 hex) replaced by ids
    derived from the map's content: the same map gets the same page in every process (a page
    from one process and its map script from another, or after its cache entry was dropped,
    still meet), and two different maps on one page keep different ids."""
    import hashlib

    ids = {str(getattr(child, "_id", "")) for child in _all_children(figure)}
    ids = {i for i in ids if re.fullmatch(r"[0-9a-f]{32}", i)}
    if not ids:
        return html, script
    # one pass of a plain pattern (any 32 hex digits standing alone), looked up in the ids: an
    # alternation of hundreds of ids costs ~0.5 s CPU on a district's page
    order: dict[str, int] = {}
    both = html + "\0" + script
    for match in _HEX32.finditer(both):
        if match.group(0) in ids:
            order.setdefault(match.group(0), len(order))

    def numbered(m: re.Match[str]) -> str:
        found = order.get(m.group(0))
        return m.group(0) if found is None else f"#{found}#"

    digest = hashlib.sha256(_HEX32.sub(numbered, both).encode()).hexdigest()
    steady = {
        old: hashlib.sha256(f"{digest}:{n}".encode()).hexdigest()[:32] for old, n in order.items()
    }

    def replaced(m: re.Match[str]) -> str:
        return steady.get(m.group(0), m.group(0))

    return _HEX32.sub(replaced, html), _HEX32.sub(replaced, script)


#: 32 hexadecimal digits not inside a longer run of them (a Folium element id).
_HEX32 = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")


def _all_children(element: object) -> list[object]:
    found = [element]
    for child in getattr(element, "_children", {}).values():
        found.extend(_all_children(child))
    return found
