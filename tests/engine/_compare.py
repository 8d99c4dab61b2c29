"""What must be identical whichever engine ran an ingest: stored rows, manifest, summary, tables."""

from __future__ import annotations

import dataclasses
import io
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pandas as pd

from geo_service.cli import main
from geo_service.ingest import IngestSummary
from geo_service.store import Store


def stored_rows(root: Path) -> pd.DataFrame:
    """Every stored row, in one order (file, line) whatever order the store keeps them in."""
    rows = Store(root).incidents()
    return rows.sort_values(["source_file", "source_line"], ignore_index=True)


def manifest_files(root: Path) -> list[dict[str, Any]]:
    """The manifest's file records without the ingest ids and times (new on every run)."""
    out = []
    for record in Store(root).manifest().files:
        entry = dataclasses.asdict(record)
        for name in ("ingest_id", "ingested_at", "superseded_by"):
            entry[name] = entry[name] is not None
        out.append(entry)
    return out


def partition_rows(root: Path) -> dict[tuple[str, str], int]:
    """Rows per (source, month) partition, and of the held rows."""
    manifest = Store(root).manifest()
    held = {("held", *k): p.rows for k, p in manifest.held.items()}
    return {k: p.rows for k, p in manifest.partitions.items()} | held


def summary_dict(summary: IngestSummary) -> dict[str, Any]:
    """The summary without its ingest id and rejects file name (new on every run)."""
    out = summary.as_dict()
    out["ingest_id"] = out["ingest_id"] is not None
    out["rejects_path"] = out["rejects_path"] is not None
    return out


def rejects(summary: IngestSummary) -> str | None:
    return summary.rejects_path.read_text("utf-8") if summary.rejects_path else None


def change_csv(root: Path, *layer_args: str) -> str:
    """The ``change`` command's CSV for the store at ``root``."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["--store", str(root), "change", *layer_args, "--format", "csv"]) == 0
    return out.getvalue()
