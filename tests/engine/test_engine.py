"""Choosing the engine: the scheduler setting, the --scheduler option, Dask missing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from geo_service.cli import build_parser, main, settings_from_args
from geo_service.config import load_settings
from geo_service.engine import INSTALL_HINT, SingleProcess, check_scheduler, open_engine
from geo_service.errors import InputError
from tests.store.conftest import january_rows, write_police_csv

HAS_DASK = importlib.util.find_spec("distributed") is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("  ", None), ("local", "local"),
     ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"), ("tls://sched:8786", "tls://sched:8786")],
)  # fmt: skip
def test_scheduler_values_accepted(value: str | None, expected: str | None) -> None:
    assert check_scheduler(value, where="test") == expected


@pytest.mark.parametrize("value", ["dask", "LOCAL", "10.0.0.5:8786", "tcp://", "http://x:1"])
def test_other_scheduler_values_are_refused_with_the_allowed_ones(value: str) -> None:
    with pytest.raises(InputError, match=r"'local'.*tcp://host:8786"):
        check_scheduler(value, where="test")


def test_the_setting_comes_from_the_environment_and_the_option_wins() -> None:
    assert load_settings(environ={}).scheduler is None
    settings = load_settings(environ={"GEO_SERVICE_SCHEDULER": "tcp://h:8786"})
    assert settings.scheduler == "tcp://h:8786"
    with pytest.raises(InputError, match=r"environment: scheduler must be"):
        load_settings(environ={"GEO_SERVICE_SCHEDULER": "yes"})


@pytest.mark.parametrize(
    "argv",
    [["--scheduler", "local", "status"], ["status", "--scheduler", "local"]],
)
def test_scheduler_option_before_or_after_the_command(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEO_SERVICE_SCHEDULER", raising=False)
    monkeypatch.delenv("GEO_SERVICE_CONFIG", raising=False)
    args = build_parser().parse_args(argv)
    assert settings_from_args(args).scheduler == "local"
    plain = build_parser().parse_args(["status"])
    assert settings_from_args(plain).scheduler is None


def test_single_process_calls_the_function_directly_in_order() -> None:
    calls: list[int] = []

    def record(item: int, *, offset: int) -> int:
        calls.append(item)
        return item + offset

    with open_engine(None) as engine:
        assert isinstance(engine, SingleProcess) and engine.task_threads is None
        results = engine.map(record, [3, 1, 2], offset=10)
        assert calls == []  # computed only when asked for
        assert next(results) == 13 and calls == [3]
        assert list(results) == [11, 12]


def test_asking_for_a_scheduler_without_dask_is_one_error_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    store = tmp_path / "store"
    code = main(["--store", str(store), "--scheduler", "local", "ingest", "police-uk", str(csv)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert INSTALL_HINT in err[0] and "pip install 'geo_service[dask]'" in err[0]
    assert not (store / "CURRENT").exists()


@pytest.mark.skipif(not HAS_DASK, reason="the optional Dask engine is not installed")
def test_a_local_cluster_has_one_single_threaded_worker_per_core_sharing_memory() -> None:
    from distributed.system import MEMORY_LIMIT

    from geo_service.engine import local_sizes

    sizes = local_sizes(4)
    assert (sizes["n_workers"], sizes["threads_per_worker"]) == (4, 1)
    assert sizes["memory_limit"] == MEMORY_LIMIT // 4
    assert local_sizes()["n_workers"] == len(__import__("os").sched_getaffinity(0))


@pytest.mark.skipif(not HAS_DASK, reason="the optional Dask engine is not installed")
def test_an_unreachable_scheduler_is_one_input_error() -> None:
    with (
        pytest.raises(InputError, match="cannot connect to a Dask scheduler"),
        open_engine("tcp://127.0.0.1:9", connect_timeout_s=0.5),
    ):
        pass


@pytest.mark.skipif(not HAS_DASK, reason="the optional Dask engine is not installed")
def test_a_refused_scheduler_connection_is_reported_at_once() -> None:
    import socket
    import time

    with socket.socket() as probe:  # a port nothing listens on: bound, then closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    start = time.monotonic()
    with (
        pytest.raises(InputError, match=f"tcp://127.0.0.1:{port}: cannot connect"),
        open_engine(f"tcp://127.0.0.1:{port}", connect_timeout_s=10.0),
    ):
        pass
    assert time.monotonic() - start < 3.0  # not the 10 s timeout


def test_standard_input_is_read_here_whatever_the_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from geo_service.ingest import ingest_files
    from geo_service.store import Store

    csv = write_police_csv(tmp_path / "in" / "2021-01-test-street.csv", january_rows())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(csv.read_bytes())))
    # No scheduler listens at port 9: reaching for it would fail; stdin never leaves here.
    summary = ingest_files(
        Store(tmp_path / "store"), "police-uk", ["-"], scheduler="tcp://127.0.0.1:9"
    )
    assert (summary.rows_read, summary.stored, summary.rejected) == (8, 6, 1)
