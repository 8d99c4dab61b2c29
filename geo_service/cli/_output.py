"""Writing tables to the terminal in the formats the CLI offers (table, csv, json)."""

from __future__ import annotations

import json
import sys
from typing import TextIO

import numpy as np
import pandas as pd

from geo_service.errors import InputError

TABLE_FORMATS = ("table", "csv", "json")


def write_frame(frame: pd.DataFrame, fmt: str, *, out: TextIO | None = None) -> None:
    """Write ``frame`` as an aligned text table, CSV or JSON records to ``out`` (stdout)."""
    stream = out or sys.stdout
    if fmt == "table":
        stream.write(frame.to_string(index=False, na_rep="-") + "\n")
    elif fmt == "csv":
        frame.to_csv(stream, index=False, lineterminator="\n")
    elif fmt == "json":
        json.dump(records(frame), stream, indent=2, ensure_ascii=False)
        stream.write("\n")
    else:
        raise InputError(f"unknown format {fmt!r}; allowed: {', '.join(TABLE_FORMATS)}")


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """JSON-ready records: missing values become null, numpy scalars plain Python values."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [{k: _plain(v) for k, v in row.items()} for row in clean.to_dict(orient="records")]


def _plain(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value
