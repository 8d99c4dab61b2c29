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
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from geo_service import schema
from geo_service.errors import InputError, StoreError
from geo_service.store.layout import (
    file_schema,
    held_dir,
    ids_in,
    is_geoparquet,
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
    """The partitions and held rows of an ingest being staged, batch by batch, and what moved.

    ``partitions`` and ``held`` start as the published manifest's and are updated by every
    :func:`merge_batch`; ``staged`` holds the (folder, key) of the files written into the
    staging version so far (the others are still the published ones, linked at the end by
    :func:`link_unstaged`), so a later batch touching the same partition builds on the earlier
    batch's file, not on the published one. ``touched`` holds every (source, month) a batch
    merged, including those it left empty.
    """

    partitions: dict[tuple[str, str], Partition] = field(default_factory=dict)
    held: dict[tuple[str, str], Partition] = field(default_factory=dict)
    staged: set[tuple[str, tuple[str, str]]] = field(default_factory=set)
    touched: set[tuple[str, str]] = field(default_factory=set)  # keys any batch merged
    stored: dict[str, int] = field(default_factory=dict)  # source_file -> new rows stored
    promoted: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, key) -> rows
    duplicates: int = 0

    @classmethod
    def start(cls, manifest: Manifest) -> Merged:
        """Nothing merged yet: the published version's partitions and held rows."""
        return cls(partitions=dict(manifest.partitions), held=dict(manifest.held))


def merge_batch(
    current: Path | None,
    staging: Path,
    merged: Merged,
    rows: pd.DataFrame,
    superseded: Sequence[StoredFile],
    layers: Sequence[str],
    *,
    held: pd.DataFrame,
) -> None:
    """Merge one batch of rows into the partitions it touches and write those into ``staging``.

    Only the partitions of the batch's months (and of the months of the files it supersedes)
    are read and written, so memory is bounded by the batch, not by the store. ``held`` are rows
    of the new files already counted as duplicates (by the loader): they join the held rows of
    their partition.
    """
    table, groups = partition_slices(rows, _as_table(rows, layers))
    held_table, held_groups = partition_slices(held, _as_table(held, layers))
    affected = (
        set(groups) | set(held_groups) | {(r.source, m) for r in superseded for m in r.months}
    )
    merged.touched |= affected
    jobs = []
    for key in sorted(affected):
        (start, end), (first, last) = groups.get(key, (0, 0)), held_groups.get(key, (0, 0))
        batch_held = held_table.slice(first, last - first)
        stored, kept = _merge_one(
            _base(current, staging, merged, "incidents", key), merged.partitions.get(key),
            _base(current, staging, merged, "held", key), merged.held.get(key), superseded,
            table.slice(start, end - start), batch_held, key, layers, merged,
        )  # fmt: skip
        kept = pa.concat_tables([kept, batch_held])
        jobs += _entry(key, stored, "incidents", staging, merged)
        jobs += _entry(key, kept, "held", staging, merged)
    write_tables(jobs)


def _as_table(frame: pd.DataFrame, layers: Sequence[str]) -> pa.Table:
    """``frame`` as a partition table; canonical columns it lacks become nulls in Arrow alone.

    An ingest passes only the columns its source carries (police.uk fills 13 of 36), so the
    others are never materialised as pandas columns; a frame with another dtype is conformed.
    """
    target = file_schema(layers)
    expected = dict(schema.INCIDENT_COLUMNS) | {schema.area_column(n): "str" for n in layers}
    if any(name in frame and str(frame[name].dtype) != expected[name] for name in target.names):
        return to_arrow(frame, layers)
    arrays = [
        pa.Array.from_pandas(frame[f.name], type=f.type)
        if f.name in frame
        else pa.nulls(len(frame), f.type)
        for f in target
    ]
    return pa.Table.from_arrays(arrays, schema=target)


def link_unstaged(current: Path | None, staging: Path, merged: Merged) -> None:
    """Hard-link into ``staging`` every partition and held file no batch rewrote (rewritten
    with its geometry if it predates GeoParquet partitions, as :func:`layout.carry` does)."""
    for folder, entries in (("incidents", merged.partitions), ("held", merged.held)):
        for key, entry in entries.items():
            if (folder, key) in merged.staged:
                continue
            source = _published(current) / entry.path
            if is_geoparquet(source):
                link(source, staging / entry.path)
            else:
                write_table(read_partition(source), staging / entry.path)


def _base(
    current: Path | None, staging: Path, merged: Merged, folder: str, key: tuple[str, str]
) -> Path | None:
    """Where the file of ``key`` in ``folder`` is now: staged by an earlier batch or published."""
    return staging if (folder, key) in merged.staged else current


def _entry(
    key: tuple[str, str], rows: pa.Table, folder: str, staging: Path, merged: Merged
) -> list[tuple[pa.Table, Path]]:
    """Record a (source, month) file of ``rows``; the write job (none, and no entry, if empty)."""
    into = merged.partitions if folder == "incidents" else merged.held
    path = (partition_dir if folder == "incidents" else held_dir)(*key) + "/part.parquet"
    if not rows.num_rows:
        into.pop(key, None)
        if (folder, key) in merged.staged:  # an earlier batch wrote it; nothing remains now
            merged.staged.discard((folder, key))
            (staging / path).unlink(missing_ok=True)
        return []
    into[key] = Partition(source=key[0], month=key[1], rows=rows.num_rows, path=path)
    merged.staged.add((folder, key))
    return [(rows, staging / path)]


def _merge_one(
    base: Path | None,
    part: Partition | None,
    held_base: Path | None,
    held_part: Partition | None,
    superseded: Sequence[StoredFile],
    new: pa.Table,
    batch_held: pa.Table,
    key: tuple[str, str],
    layers: Sequence[str],
    merged: Merged,
) -> tuple[pa.Table, pa.Table]:
    """One partition's stored and held rows after removing superseded files and adding ``new``.

    Held rows (incident ids another live file already provided when they were ingested) whose
    id is no longer stored are promoted, the first held row per id, so replacing a file never
    loses an incident another stored file still provides. ``batch_held`` are the batch's rows
    the loader held back (repeats of another of its files).

    Raises
    ------
    InputError
        A new file is another version of a month a file of another name holds
        (:func:`refuse_other_version`).
    """
    existing = _existing_rows(base, part, superseded, key[0], layers)
    waiting = _existing_rows(held_base, held_part, superseded, key[0], layers)
    promoted, waiting = _promote(waiting, existing)
    for item in pc.value_counts(promoted["source_file"]).to_pylist():
        name = (key[0], str(item["values"]))
        merged.promoted[name] = merged.promoted.get(name, 0) + int(item["counts"])
    existing = pa.concat_tables([existing, promoted])
    refuse_other_version(existing, new, batch_held, key)
    repeated = _ids_stored(new, existing)
    if pc.any(repeated).as_py():
        fresh, again = new.filter(pc.invert(repeated)), new.filter(repeated)
    else:  # the usual case, a new month: no copy of the rows
        fresh, again = new, new.slice(0, 0)
    merged.duplicates += again.num_rows
    for file_key, count in count_keys([fresh["source_file"]]).items():
        merged.stored[file_key] = merged.stored.get(file_key, 0) + count
    return pa.concat_tables([existing, fresh]), pa.concat_tables([waiting, again])


#: A derived id as stores written before content-derived ids made it (``...:asb:<file>:<line>``).
_OLD_DERIVED = r"^[a-z_]+:asb:.*[^0-9:].*:[0-9]+$"


def refuse_other_version(
    existing: pa.Table, new: pa.Table, batch_held: pa.Table, key: tuple[str, str]
) -> None:
    """Refuse a file that is another version of a month held by a file of another name.

    Rows a source gives no id (police.uk anti-social behaviour) get one derived from their
    content (:data:`geo_service.schema.DERIVED_ID_PREFIXES`), so an identical copy of a stored
    month, or a part of it, repeats its ids and stores nothing twice. A *revised* copy (police.uk
    re-publishes months) changes some of those rows: kept beside the first file, the changed rows
    would count twice. A new file of partition ``key`` is such a copy of another file (stored, or
    another of the batch, whichever comes first) when it has derived-id rows no other file holds
    *and* lacks derived-id rows of that file in the places it covers (its rows' ``lsoa_code``,
    else their ``falls_within`` force area): a part and the whole of a month, or two districts'
    parts, or two forces' months, lack nothing of each other where they overlap, and are kept.
    Given that file's name, the new one supersedes it instead. Rows of stores written before
    derived ids came from content (``...:asb:<file>:<line>``) match nothing: with no place to
    tell by, they count as covered.

    Parameters
    ----------
    existing
        The partition's stored rows (superseded files removed).
    new, batch_held
        The batch's rows of the partition, and those the loader held back as repeats.
    key
        (source, month) of the partition.

    Raises
    ------
    InputError
        Naming the file, the month, every other file it is another version of, and what to do.
    """
    prefix = schema.DERIVED_ID_PREFIXES.get(key[0])
    if prefix is None or not new.num_rows:
        return
    if not existing.num_rows and not batch_held.num_rows and _one_value(new["source_file"]):
        return  # the usual case, a new month from one file: no other file to compare with
    columns = ["incident_id", "source_file", "lsoa_code", "falls_within"]
    every = pa.concat_tables([t.select(columns) for t in (existing, new, batch_held)])
    every = every.filter(pc.is_valid(every["incident_id"]))
    # where a row lies: its LSOA (in one force's area), else the force area of its download
    place = pc.coalesce(
        every["lsoa_code"].cast(pa.large_string()),
        pc.binary_join_element_wise(
            pa.scalar("force:", pa.large_string()),
            every["falls_within"].cast(pa.large_string()),
            pa.scalar("", pa.large_string()),
        ),
    )
    every = pa.table({"incident_id": every["incident_id"], "source_file": every["source_file"],
                      "place": place})  # fmt: skip
    if pc.count_distinct(every["source_file"]).as_py() < 2:
        return
    derived = pc.fill_null(pc.starts_with(every["incident_id"], prefix), False)
    fresh = pc.fill_null(pc.starts_with(new["incident_id"], prefix), False)
    for name in pc.unique(new["source_file"]).to_pylist():
        mine = pc.fill_null(pc.equal(every["source_file"], name), False)
        others, own = every.filter(pc.invert(mine)), every.filter(mine)
        asb = new.filter(pc.and_(pc.fill_null(pc.equal(new["source_file"], name), False), fresh))
        unknown = asb.filter(pc.invert(ids_in(asb, others["incident_id"])))
        if not unknown.num_rows:
            continue  # a copy, or a part, of what the month holds
        # the other files' derived rows in the LSOAs this file covers that it does not hold
        covered = pc.or_kleene(
            pc.is_in(
                others["place"], value_set=pc.drop_null(pc.unique(own["place"])), skip_nulls=True
            ),
            pc.and_(  # an old id where nothing says where it lies: it cannot be told apart
                pc.is_null(others["place"]),
                pc.match_substring_regex(others["incident_id"], _OLD_DERIVED),
            ),
        )
        lacking = others.filter(
            pc.and_(
                pc.and_(derived.filter(pc.invert(mine)), pc.fill_null(covered, False)),
                pc.invert(ids_in(others, own["incident_id"])),
            )
        )
        if not lacking.num_rows:
            continue  # more of the month, changing nothing another file holds
        counts = pc.value_counts(lacking["source_file"]).to_pylist()
        same = sorted(((int(r["counts"]), str(r["values"])) for r in counts), reverse=True)
        raise InputError(_other_version(name, key[1], unknown.num_rows, same, others))


def _one_value(values: pa.ChunkedArray) -> bool:
    """Whether ``values`` (no nulls) hold one distinct value, without hashing them all."""
    first = values[0]
    return bool(pc.all(pc.equal(values, first)).as_py())


def _other_version(
    name: str, month: str, unknown: int, same: Sequence[tuple[int, str]], others: pa.Table
) -> str:
    """The refusal of :func:`refuse_other_version`: what is wrong, and the ways out."""
    names = [other for _, other in same]
    listed = ", ".join(f"{other} ({n})" for n, other in same)
    theirs = others.filter(pc.is_in(others["source_file"], pa.array(names)))
    if pc.any(pc.match_substring_regex(theirs["incident_id"], _OLD_DERIVED)).as_py():
        why = (
            f"its {unknown} row(s) without an id of their own (anti-social behaviour) cannot be "
            f"matched to those of {', '.join(names)}, stored before such rows had ids from "
            "their content"
        )
    else:
        why = (
            f"it has {unknown} row(s) without an id of their own (anti-social behaviour) that no "
            f"other file holds, and lacks such rows of {listed} in the places it covers: "
            "it is another version of the month"
        )
    quoted = " ".join(f"'{other}'" for other in names)
    return (
        f"{name}: month {month}: {why}. Beside them the changed rows would count twice, so the "
        "file is refused and nothing is stored. If it is the newer version, leave the older out "
        f"of this ingest, or remove it from the store first (geo-service remove {quoted}; it "
        "removes every month the named file holds, and lists them), then ingest it."
    )


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


def write_tables(jobs: Sequence[tuple[pa.Table, Path]]) -> None:
    """Write partition files, several at once (Parquet encoding releases the GIL).

    Raises
    ------
    OSError
        Naming the file that could not be written (Arrow's own errors name none).
    """
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(lambda job: _write_one(*job), jobs))


def _write_one(table: pa.Table, path: Path) -> None:
    try:
        write_table(table, path)
    except OSError as exc:
        if exc.filename is not None:
            raise
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def _existing_rows(
    base: Path | None,
    part: Partition | None,
    superseded: Sequence[StoredFile],
    source: str,
    layers: Sequence[str],
) -> pa.Table:
    """A partition's (or held) stored rows, minus those of superseded files."""
    target = file_schema(layers)
    if part is None:
        return target.empty_table()
    table = read_partition(_published(base) / part.path)
    for name in target.names:  # a column added to the schema after the file was written
        if name not in table.column_names:
            table = table.append_column(
                target.field(name), pa.nulls(len(table), target.field(name).type)
            )
    table = table.select(target.names).cast(target)
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
