"""Tests for the cluster-rule presets file and the one rule for overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo_service.cluster_rules import cluster_rule, load_cluster_rules, rule_with_overrides
from geo_service.errors import InputError


def test_packaged_presets() -> None:
    rules = load_cluster_rules()
    assert list(rules) == ["default", "somerset", "ksi"]
    somerset = rules["somerset"]
    assert (somerset.min_count, somerset.radius_m, somerset.years) == (7, 50.0, 5)
    assert (somerset.urban_radius_m, somerset.rural_radius_m) == (50.0, 100.0)
    assert rules["ksi"].severities == ("Fatal", "Serious")
    assert cluster_rule("ksi") == rules["ksi"]


def test_partnership_file_replaces_the_presets(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        '[rules.county]\nmin_count = 5\nradius_m = 30.0\nyears = 4\nseverities = ["Fatal"]\n',
        encoding="utf-8",
    )
    rules = load_cluster_rules(path)
    assert list(rules) == ["county"]
    county = cluster_rule("county", rules=rules)
    assert (county.min_count, county.radius_m, county.years, county.severities) == (
        5, 30.0, 4, ("Fatal",)
    )  # fmt: skip
    with pytest.raises(InputError, match="unknown cluster rule 'default'; allowed: county"):
        cluster_rule("default", rules=rules)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.a]\nmin_count = 4\nradius_m = 50\nyears = 3\nradius = 2\n", "unknown key"),
        ("[rules.a]\nmin_count = 4\nyears = 3\n", r"missing key\(s\) \['radius_m'\]"),
        ("[rules.a]\nmin_count = 4\nradius_m = -5\nyears = 3\n", "radius_m must be a number"),
        ("[rules.a]\nmin_count = '4'\nradius_m = 5\nyears = 3\n", "min_count must be a whole"),
        ("[other]\nx = 1\n", "no \\[rules.<name>\\] tables"),
        ("[rules.a\n", "not valid TOML"),
    ],
)
def test_bad_rule_files_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=message) as caught:
        load_cluster_rules(path)
    assert str(path) in str(caught.value)


def test_overrides_make_one_adjusted_rule() -> None:
    somerset = cluster_rule("somerset")
    assert rule_with_overrides(somerset) is somerset
    adjusted = rule_with_overrides(somerset, min_count=4, radius_m=100.0, years=5, ksi_only=True)
    assert adjusted.name == "somerset (adjusted)"
    assert (adjusted.min_count, adjusted.radius_m, adjusted.years) == (4, 100.0, 5)
    assert (adjusted.urban_radius_m, adjusted.rural_radius_m) == (None, None)
    assert adjusted.severities == ("Fatal", "Serious")
    assert adjusted.description == somerset.description
    # KSI-only on the KSI preset changes nothing, so the preset keeps its name.
    assert rule_with_overrides(cluster_rule("ksi"), ksi_only=True).name == "ksi"
    with pytest.raises(InputError, match="min_count=0: expected a whole number from 2 to 100"):
        rule_with_overrides(somerset, min_count=0)
    with pytest.raises(InputError, match=r"radius_m=1000.5: .*; years=0: "):
        rule_with_overrides(somerset, radius_m=1000.5, years=0)
    assert rule_with_overrides(somerset, radius_m=1000.0).radius_m == 1000.0
