"""Folium maps split into page parts that reference only local assets."""

from __future__ import annotations

import re
from pathlib import Path

import folium
import pytest

from geo_service.maps.assets import LOCAL_ASSETS, split_map

STATIC = Path(__file__).resolve().parents[2] / "static"


def test_split_map_uses_local_leaflet_only() -> None:
    fmap = folium.Map(location=[51.75, -0.47], zoom_start=12, tiles=None)
    folium.LayerControl().add_to(fmap)
    parts = split_map(fmap)
    assert parts.scripts == ("vendor/leaflet/leaflet.js",)
    assert parts.stylesheets == ("vendor/leaflet/leaflet.css",)
    assert 'class="folium-map"' in parts.html and "<script" not in parts.html
    assert "L.map(" in parts.script and "http" not in parts.script


def test_every_local_asset_exists_with_licence() -> None:
    for local in filter(None, LOCAL_ASSETS.values()):
        path = STATIC / local
        assert path.is_file(), path
        assert (path.parent / "LICENSE").is_file()


def test_unknown_remote_asset_is_refused() -> None:
    fmap = folium.Map(tiles=None)
    marker = folium.Marker([51.7, -0.4])
    marker.default_js = [("some_plugin", "https://cdn.example.org/plugin.js")]
    marker.add_to(fmap)
    with pytest.raises(ValueError, match="some_plugin"):
        split_map(fmap)


def _marked_map(lat: float) -> folium.Map:
    fmap = folium.Map(location=[lat, -0.47], zoom_start=12, tiles=None)
    folium.Marker([lat, -0.4]).add_to(fmap)
    folium.LayerControl().add_to(fmap)
    return fmap


def test_the_same_map_gets_the_same_ids_and_another_map_other_ids() -> None:
    # Folium names each element with a random uuid4; a page and its map script made in two
    # processes (or after the cache dropped one) must still name the same <div> and variables.
    first, again, other = (split_map(_marked_map(lat)) for lat in (51.75, 51.75, 51.8))
    assert (first.html, first.script) == (again.html, again.script)
    div = re.search(r'id="(map_[0-9a-f]{32})"', first.html)
    assert div is not None and f'L.map(\n                "{div.group(1)}"' in first.script
    other_div = re.search(r'id="(map_[0-9a-f]{32})"', other.html)
    assert other_div is not None and other_div.group(1) != div.group(1)
    assert len(set(re.findall(r"\b\w+_[0-9a-f]{32}\b", first.script))) == 3  # map, marker, control
