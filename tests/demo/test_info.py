"""Recognising a demo store (its flag in the manifest), and its road context layer."""

from __future__ import annotations

from pathlib import Path

from geo_service.demo.info import SYNTHETIC_NOTE, demo_roads
from geo_service.store import Store


def test_demo_store_is_recognised(demo_store: Store, tmp_path: Path) -> None:
    assert demo_store.is_demo()
    assert {n: i.synthetic for n, i in demo_store.manifest().layers.items()} == {
        "beat": True,
        "sector": True,
    }
    assert not Store(tmp_path / "empty").is_demo()
    assert "SYNTHETIC" in SYNTHETIC_NOTE


def test_demo_roads_come_with_the_demo_store(demo_store: Store, tmp_path: Path) -> None:
    roads = demo_roads(demo_store)
    assert roads is not None and roads.crs.to_epsg() == 27700
    assert sorted(roads["ref"]) == ["A41", "A4146", "A4147", "A5", "M1"]
    assert demo_roads(Store(tmp_path / "empty")) is None
