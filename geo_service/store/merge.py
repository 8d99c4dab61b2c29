"""Merging an ingest's rows into the stored (source, month) partitions, and held rows.

Private to :mod:`geo_service.store.write`. A partition holds one row per incident id (rows
without an id are all kept). A row whose id the partition already holds from another live file
is a duplicate: it is not stored but **held**, in ``held/source=.../month=.../part.parquet``
beside ``incidents/`` (same schema, never read as incidents), and counted as a duplicate. When a
file is superseded its stored and held rows are removed, and held rows whose id is then no longer
stored are promoted (the first held row per id, in ingest order), so replacing a file never loses
an incident another stored file still provides.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_service.errors import StoreError
from geo_service.store.layout import (
    file_schema,
    held_dir,
    ids_in,
    link,
    partition_dir,
    partition_slices,
    read_partition,
    to_arrow,
    write_table,
)
from geo_service.store.manifest import Manifest, Partition, StoredFile


def _published(current: Path | None) -> Path:
    if current is None:
        raise StoreError("the store is empty")
    return current


@dataclass
class Merged:
    """The staged partitions and held rows of an ingest, and what moved where."""

    partitions: dict[tuple[str, str], Partition] = field(default_factory=dict)
    held: dict[tuple[str, str], Partition] = field(default_factory=dict)
    stored: list[pa.ChunkedArray] = field(default_factory=list)  # source_file of stored new rows
    promoted: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, key) -> rows
    duplicates: int = 0


def merge_partitions(
    current: Path | None,
    staging: Path,
    manifest: Manifest,
    rows: pd.DataFrame,
    superseded: Sequence[StoredFile],
    layers: Sequence[str],
    *,
    held: pd.DataFrame,
) -> Merged:
    """Stage every partition: unaffected ones linked, affected ones merged and rewritten.

    ``held`` are rows of the new files already counted as duplicates (by the loader): they join
    the held rows of their partition.
    """
    table, groups = partition_slices(rows, to_arrow(rows, layers))
    held_table, held_groups = partition_slices(held, to_arrow(held, layers))
    affected = (
        set(groups) | set(held_groups) | {(r.source, m) for r in superseded for m in r.months}
    )
    old_parts, old_held = manifest.partitions, manifest.held
    merged, jobs = Merged(), []
    for key in sorted(set(old_parts) | set(old_held) | affected):
        if key not in affected:
            for entry, into in ((old_parts.get(key), merged.partitions),
                                (old_held.get(key), merged.held)):  # fmt: skip
                if entry is not None:
                    link(_published(current) / entry.path, staging / entry.path)
                    into[key] = entry
            continue
        (start, end), (first, last) = groups.get(key, (0, 0)), held_groups.get(key, (0, 0))
        stored, kept = _merge_one(
            current, old_parts.get(key), old_held.get(key), superseded,
            table.slice(start, end - start), key, layers, merged,
        )  # fmt: skip
        kept = pa.concat_tables([kept, held_table.slice(first, last - first)])
        jobs += _entry(key, stored, partition_dir, staging, merged.partitions)
        jobs += _entry(key, kept, held_dir, staging, merged.held)
    _write_tables(jobs)
    return merged


def _entry(
    key: tuple[str, str],
    rows: pa.Table,
    folder: Callable[[str, str], str],
    staging: Path,
    into: dict[tuple[str, str], Partition],
) -> list[tuple[pa.Table, Path]]:
    """Record a (source, month) file of ``rows`` in ``into``; the write job (none if empty)."""
    if not rows.num_rows:
        return []
    path = folder(*key) + "/part.parquet"
    into[key] = Partition(source=key[0], month=key[1], rows=rows.num_rows, path=path)
    return [(rows, staging / path)]


def _merge_one(
    current: Path | None,
    part: Partition | None,
    held_part: Partition | None,
    superseded: Sequence[StoredFile],
    new: pa.Table,
    key: tuple[str, str],
    layers: Sequence[str],
    merged: Merged,
) -> tuple[pa.Table, pa.Table]:
    """One partition's stored and held rows after removing superseded files and adding ``new``.

    Held rows (incident ids another live file already provided when they were ingested) whose
    id is no longer stored are promoted, the first held row per id, so replacing a file never
    loses an incident another stored file still provides.
    """
    existing = _existing_rows(current, part, superseded, key[0], layers)
    waiting = _existing_rows(current, held_part, superseded, key[0], layers)
    promoted, waiting = _promote(waiting, existing)
    for item in pc.value_counts(promoted["source_file"]).to_pylist():
        name = (key[0], str(item["values"]))
        merged.promoted[name] = merged.promoted.get(name, 0) + int(item["counts"])
    existing = pa.concat_tables([existing, promoted])
    repeated = _ids_stored(new, existing)
    if pc.any(repeated).as_py():
        fresh, again = new.filter(pc.invert(repeated)), new.filter(repeated)
    else:  # the usual case, a new month: no copy of the rows
        fresh, again = new, new.slice(0, 0)
    merged.duplicates += again.num_rows
    merged.stored.append(fresh["source_file"])
    return pa.concat_tables([existing, fresh]), pa.concat_tables([waiting, again])


def _ids_stored(new: pa.Table, existing: pa.Table) -> pa.Array:
    """Mask of ``new`` rows whose incident id ``existing`` already holds."""
    if not existing.num_rows or not new.num_rows:
        return pa.array([False] * new.num_rows, pa.bool_())
    return ids_in(new, pc.drop_null(existing["incident_id"]))


def _promote(waiting: pa.Table, existing: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split held rows into those to store (first per id not in ``existing``) and the rest."""
    free = pc.invert(_ids_stored(waiting, existing)).to_pylist()
    seen: set[str] = set()
    take = []
    for ok, incident in zip(free, waiting["incident_id"].to_pylist(), strict=True):
        take.append(bool(ok) and incident not in seen)
        if take[-1]:
            seen.add(incident)
    mask = pa.array(take, pa.bool_())
    return waiting.filter(mask), waiting.filter(pc.invert(mask))


def _write_tables(jobs: Sequence[tuple[pa.Table, Path]]) -> None:
    """Write partition files, several at once (Parquet encoding releases the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(lambda job: write_table(*job), jobs))


def _existing_rows(
    current: Path | None,
    part: Partition | None,
    superseded: Sequence[StoredFile],
    source: str,
    layers: Sequence[str],
) -> pa.Table:
    """A partition's (or held) stored rows, minus those of superseded files."""
    target = file_schema(layers)
    if part is None:
        return target.empty_table()
    table = read_partition(_published(current) / part.path).select(target.names).cast(target)
    gone = [r.key for r in superseded if r.source == source]
    if gone:
        keep = pc.invert(pc.fill_null(pc.is_in(table["source_file"], pa.array(gone)), False))
        table = table.filter(keep)
    return table


def count_keys(columns: Sequence[pa.ChunkedArray]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for column in columns:
        for item in pc.value_counts(column).to_pylist():
            key = item["values"] if item["values"] is not None else ""
            counts[key] = counts.get(key, 0) + int(item["counts"])
    return counts
