"""Tests for the canonical schema, category groups and settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_service.categories import find_group, load_groups
from geo_service.config import Settings, load_settings
from geo_service.errors import InputError
from geo_service.projection import from_bng, to_bng
from geo_service.schema import INCIDENT_COLUMNS, conform, empty_incidents, has_location


def _incidents() -> pd.DataFrame:
    return conform(
        pd.DataFrame(
            {
                "category": [
                    "Burglary",
                    "Burglary",
                    "Vehicle crime",
                    "Vehicle crime",
                    "Anti-social behaviour",
                    "Violence and sexual offences",
                    "Violence and sexual offences",
                ],
                "subcategory": [
                    "Burglary dwelling",
                    "Burglary other",
                    "Vehicle interference",
                    "Theft from motor vehicle",
                    "Nuisance",
                    "Violence with injury",
                    "Violence with injury",
                ],
                "occurred_at": pd.to_datetime(
                    ["2013-01-01 10:00"] * 5 + ["2013-01-01 23:30", "2013-01-01 12:00"]
                ),
                "time_known": [True] * 7,
                "x": [1.0, np.nan, 2.0, 3.0, 4.0, 5.0, 6.0],
                "y": [1.0, 1.0, np.nan, 3.0, 4.0, 5.0, 6.0],
            }
        )
    )


def test_conform_gives_canonical_columns_and_dtypes() -> None:
    frame = conform(pd.DataFrame({"incident_id": ["a"], "area_ward": ["E1"]}))
    assert list(frame.columns) == [*INCIDENT_COLUMNS, "area_ward"]
    assert frame["source_line"].iloc[0] == -1
    assert not frame["time_known"].iloc[0]
    assert list(empty_incidents().columns) == list(INCIDENT_COLUMNS)


def test_has_location_needs_both_coordinates() -> None:
    assert has_location(_incidents()).tolist() == [True, False, False, True, True, True, True]


def test_default_groups_select_by_subcategory_and_hour() -> None:
    groups = load_groups()
    frame = _incidents()
    counts = {g.name: int(g.mask(frame).sum()) for g in groups}
    assert counts["All crime"] == 6
    assert counts["ASB incidents"] == 1
    assert counts["Dwelling burglary"] == 1
    assert counts["Vehicle crime (excluding interference)"] == 1
    assert counts["Serious acquisitive crime"] == 2
    assert counts["Night-time violence"] == 1


def test_find_group_falls_back_to_a_plain_category() -> None:
    group = find_group(load_groups(), "Shoplifting")
    assert group.name == "Shoplifting"
    assert find_group((), "Robbery").mask(_incidents()).sum() == 0


def test_bad_groups_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "groups.toml"
    path.write_text('[[groups]]\nname = "X"\ninclude = [{ category = "A", colour = "red" }]\n')
    with pytest.raises(InputError, match=r"groups.toml.*colour"):
        load_groups(path)


def test_settings_precedence_and_validation(tmp_path: Path) -> None:
    config = tmp_path / "geo.toml"
    config.write_text('store = "/tmp/a"\nport = 8000\n')
    settings = load_settings(config, environ={"GEO_SERVICE_PORT": "9000"})
    assert settings == Settings(store=Path("/tmp/a"), port=9000)
    with pytest.raises(InputError, match="port must be a whole number"):
        load_settings(None, environ={"GEO_SERVICE_PORT": "abc"})
    with pytest.raises(InputError, match="unknown setting"):
        load_settings(_write(tmp_path, "colour = 1"), environ={})


def test_settings_error_names_where_the_bad_value_came_from(tmp_path: Path) -> None:
    """A bad GEO_SERVICE_* variable beside a good settings file is blamed on the environment."""
    config = tmp_path / "geo.toml"
    config.write_text('store = "/tmp/a"\nport = 8000\n')
    with pytest.raises(InputError, match=r"^environment: port must be .* got 'abc'$"):
        load_settings(config, environ={"GEO_SERVICE_PORT": "abc"})
    with pytest.raises(InputError, match=r"bad.toml: threads must be .* got 0$"):
        load_settings(_write(tmp_path, "threads = 0"), environ={"GEO_SERVICE_PORT": "9000"})
    # the environment still wins over the file, value by value
    both = load_settings(config, environ={"GEO_SERVICE_THREADS": "3"})
    assert both == Settings(store=Path("/tmp/a"), port=8000, threads=3)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def test_bng_round_trip_and_known_point() -> None:
    # Ordnance Survey's published example: Caister water tower, ETRS89 1.716073973E 52.658007833N
    # -> OSGB36 National Grid 651409.903 E, 313177.270 N (OSTN15). Helmert is within ~3 m.
    easting, northing = to_bng(np.array([1.716073973]), np.array([52.658007833]))
    assert abs(easting[0] - 651409.903) < 5 and abs(northing[0] - 313177.270) < 5
    lon, lat = from_bng(easting, northing)
    assert abs(lon[0] - 1.716073973) < 1e-7 and abs(lat[0] - 52.658007833) < 1e-7


def test_config_files_name_the_file_when_unreadable_or_invalid(tmp_path: Path) -> None:
    from geo_service.risk_matrix import load_risk_matrix

    broken = _write(tmp_path, "[volume\nlow_below = 1")
    with pytest.raises(InputError, match=r"bad.toml: not valid TOML"):
        load_groups(broken)
    with pytest.raises(InputError, match=r"bad.toml: not valid TOML"):
        load_risk_matrix(broken)
    with pytest.raises(InputError, match=r"missing.toml: cannot read risk matrix"):
        load_risk_matrix(tmp_path / "missing.toml")


def test_threads_project_at_once_with_the_same_results() -> None:
    """Loaders project files in parallel threads through one shared, thread-safe transformer."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(-0.8, -0.3, 50_000), rng.uniform(51.6, 51.9, 50_000)
    expected = to_bng(lon, lat)
    both_running = threading.Barrier(2)

    def project(_: int) -> tuple[np.ndarray, np.ndarray]:
        both_running.wait(timeout=10)
        return to_bng(lon, lat)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(project, range(2)))
    for easting, northing in results:
        assert np.array_equal(easting, expected[0]) and np.array_equal(northing, expected[1])


def test_priorities_are_numbered_groups_in_their_order(tmp_path: Path) -> None:
    from geo_service.services.report import priorities

    packaged = load_groups()
    assert priorities(packaged) == (
        "Dwelling burglary", "Vehicle crime (excluding interference)", "Drugs offences",
        "Night-time violence", "ASB incidents", "Criminal damage", "Deliberate fires",
        "Road traffic collisions",
    )  # fmt: skip
    own = tmp_path / "groups.toml"
    own.write_text(
        '[[groups]]\nname = "B"\npriority = 2\ninclude = [{ category = "Burglary" }]\n'
        '[[groups]]\nname = "A"\npriority = 1\ninclude = [{ category = "Robbery" }]\n'
        '[[groups]]\nname = "C"\ninclude = [{ category = "Drugs" }]\n',
        encoding="utf-8",
    )
    assert priorities(load_groups(own)) == ("A", "B")
    own.write_text(
        '[[groups]]\nname = "B"\npriority = true\ninclude = [{ category = "Burglary" }]\n',
        encoding="utf-8",
    )
    with pytest.raises(InputError, match="priority = True; expected a whole number"):
        load_groups(own)
