"""CLI output: standard output or a file."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import pytest

from geo_service.cli._output import write_to


def test_write_to_stdout_or_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def emit(stream: TextIO) -> None:
        stream.write("a,b\n1,2\n")

    assert write_to(None, 1, emit) == 0
    assert capsys.readouterr().out == "a,b\n1,2\n"
    out = tmp_path / "t.csv"
    assert write_to(out, 1, emit) == 0
    assert out.read_text("utf-8") == "a,b\n1,2\n" and capsys.readouterr().out == ""
