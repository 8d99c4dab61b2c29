"""Shared helpers for the benchmark smoke tests: each quick run once per session, JSON checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

import bench.evaluation
import bench.hotspots


def json_round_trip(result: dict[str, Any]) -> dict[str, Any]:
    """``result`` through JSON and back: fails on values ``python -m bench`` cannot write."""
    return json.loads(json.dumps(result, allow_nan=False))


@pytest.fixture(scope="session")
def hotspots_quick() -> dict[str, Any]:
    """``bench.hotspots.run(quick=True)`` (raises if one of its correctness checks fails)."""
    return bench.hotspots.run(quick=True)


@pytest.fixture(scope="session")
def evaluation_quick() -> dict[str, Any]:
    """``bench.evaluation.run(quick=True)`` (raises if its reference check fails)."""
    return bench.evaluation.run(quick=True)
