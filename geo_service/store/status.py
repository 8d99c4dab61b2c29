"""What a store holds: status, coverage and the kept summary of each version.

Private to :class:`geo_service.store.Store`, which caches what these read per version.

* :func:`summarise` reads five columns of each partition file and counts, per source, month and
  category, the rows, the rows without coordinates (``unlocated``) and the rows carrying a
  subcategory or a known time; :func:`coverage_from_summary` turns that into a
  :class:`~geo_service.coverage.Coverage`.
* :func:`stored_summary` keeps that count beside the version's manifest and reads it back,
  trusting it only while its rows per (source, month) equal the manifest's partitions.
* :func:`store_status` is the document ``geo-service status --json`` prints; :func:`read_status`
  gives the same document from the manifest and the kept tables alone (Arrow, no pandas), and
  falls back to :func:`store_status` whenever one of them must be computed again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from geo_service import schema
from geo_service.errors import StoreDamagedError
from geo_service.store.layout import version_path
from geo_service.store.manifest import LayerInfo, Manifest, Partition

if TYPE_CHECKING:
    import pandas as pd

    from geo_service.coverage import Coverage
    from geo_service.store.store import Store

logger = logging.getLogger(__name__)

#: Columns of :func:`summarise`'s frame.
SUMMARY_COLUMNS = (
    "source", "month", "category", "rows", "unlocated", "with_subcategory", "with_time",
)  # fmt: skip
_READ = ["category", "subcategory", "time_known", "x", "y"]


# ------------------------------------------------------------------------------ summary
#: The summary of a version, kept beside its manifest once computed (a derived file: deleting it
#: loses nothing, the next read computes it again).
SUMMARY_FILE = "summary.parquet"


def stored_summary(version_dir: Path, parts: Sequence[Partition]) -> pd.DataFrame:
    """:func:`summarise` of a version, read from its :data:`SUMMARY_FILE` when one is there,
    else computed and written there (atomically; a store that cannot be written is only read).

    Every command opens the store afresh, so keeping the counts per version saves each one
    reading a column of every partition again.
    """
    return kept_table(
        version_dir / SUMMARY_FILE,
        lambda frame: _summary_agrees(frame.to_dict("list"), parts),
        lambda: summarise(version_dir, parts),
        read=typed_summary,
    )


def kept_table(
    path: Path,
    agrees: Callable[[pd.DataFrame], bool],
    compute: Callable[[], pd.DataFrame],
    *,
    read: Callable[[pd.DataFrame], pd.DataFrame] = lambda frame: frame,
) -> pd.DataFrame:
    """A derived table kept at ``path`` beside a version's manifest: read while ``agrees`` with
    the manifest, else ``compute``d and written there atomically (a store that cannot be
    written is only read; an unreadable or disagreeing file is computed again, with a warning
    for one that disagrees)."""
    if path.is_file():
        try:
            frame = pq.read_table(path).to_pandas()
            if agrees(frame):
                return read(frame)
            logger.warning(
                "%s does not match this version and its inputs; computing it again", path
            )
        except (OSError, pa.ArrowException):
            pass  # an unreadable copy is computed again below
    frame = compute()
    # one staging name per process and thread: two threads never write the same temporary file
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), staging)
        os.replace(staging, path)
    except OSError:
        # a store that cannot be written (read-only mount, full disk) is only read; removing
        # what was staged may fail the same way
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
    return frame


def _summary_agrees(kept: Mapping[str, Sequence[Any]], parts: Sequence[Partition]) -> bool:
    """Whether a kept summary (column -> values) has :data:`SUMMARY_COLUMNS` and its rows per
    (source, month) are the listed partitions' rows.

    A summary copied from another version or edited by hand would otherwise give its figures.
    """
    if list(kept) != list(SUMMARY_COLUMNS):
        return False
    held: dict[tuple[str, str], int] = {}
    try:
        for source, month, rows in zip(kept["source"], kept["month"], kept["rows"], strict=True):
            if _missing(source) or _missing(month):
                continue  # as a groupby leaves missing keys out
            key = (str(source), str(month))
            held[key] = held.get(key, 0) + int(rows)
    except (TypeError, ValueError):
        return False
    return held == {(p.source, p.month): p.rows for p in parts}


def typed_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """A summary frame read back from Parquet, with the dtypes :func:`summarise` gives."""
    return frame.astype(
        {**{c: "str" for c in SUMMARY_COLUMNS[:3]}, **{c: "int64" for c in SUMMARY_COLUMNS[3:]}}
    )


def summarise(version_dir: Path, parts: Sequence[Partition]) -> pd.DataFrame:
    """Per (source, month, category): rows, unlocated, with_subcategory, with_time (counts).

    ``unlocated`` counts rows without a finite x or y (as :func:`geo_service.schema.has_location`
    judges); the frame has :data:`SUMMARY_COLUMNS`, sorted by source, month, category. Each
    partition is read (five columns) and counted in Arrow, and one pandas frame is made of all
    the counts, so the cost is the reading, not a pandas frame per partition.
    """
    import pandas as pd  # here: ``status`` reads a kept summary without pandas

    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype="str" if i < 3 else "int64") for i, c in enumerate(SUMMARY_COLUMNS)}
        )
    tables = [_counted(version_dir / part.path, part) for part in parts]
    frame = typed_summary(pa.concat_tables(tables).to_pandas())
    return frame[list(SUMMARY_COLUMNS)].sort_values(
        ["source", "month", "category"], ignore_index=True
    )


def read_checked(path: Path, columns: Sequence[str], *, dictionary: Sequence[str] = ()) -> pa.Table:
    """``columns`` of a partition file, its page checksums verified; those of ``dictionary``
    read dictionary-encoded (from the file's dictionary pages: cheaper to read and to group).

    Raises
    ------
    StoreDamagedError
        The file is missing, cut short or fails a page checksum (naming the file and the
        commands that list and mend the damage).
    """
    try:
        return pq.read_table(
            path,
            columns=list(columns),
            page_checksum_verification=True,
            read_dictionary=[c for c in dictionary if c in columns] or None,
        )
    except (OSError, pa.ArrowException) as exc:
        raise StoreDamagedError(
            f"{path}: partition unreadable ({one_line(exc)}); the store is damaged: "
            "`geo-service check` lists every problem, `geo-service repair` fixes what can be fixed"
        ) from exc


def _counted(path: Path, part: Partition) -> pa.Table:
    """One partition's counts per category (Arrow), with its source and month."""
    import pyarrow.compute as pc  # here: 0.1 s to import, and a kept summary needs none

    table = read_checked(path, _READ)
    located = pc.and_(
        pc.fill_null(pc.is_finite(table["x"]), False), pc.fill_null(pc.is_finite(table["y"]), False)
    )
    counts = pa.table(
        {
            "category": table["category"].cast(pa.large_string()),
            "rows": pa.array(np.ones(table.num_rows, dtype=np.int64)),
            "unlocated": pc.invert(located).cast(pa.int64()),
            "with_subcategory": pc.is_valid(table["subcategory"]).cast(pa.int64()),
            "with_time": pc.fill_null(table["time_known"], False).cast(pa.int64()),
        }
    )
    grouped = counts.group_by("category").aggregate([(c, "sum") for c in SUMMARY_COLUMNS[3:]])
    k = grouped.num_rows
    return pa.table(
        {
            "source": pa.array([part.source] * k, type=pa.large_string()),
            "month": pa.array([part.month] * k, type=pa.large_string()),
            "category": grouped["category"],
            **{c: grouped[f"{c}_sum"] for c in SUMMARY_COLUMNS[3:]},
        }
    )


def one_line(exc: BaseException) -> str:
    """An exception's text on one line (Arrow's messages span several)."""
    return " ".join(str(exc).split())


def coverage_from_summary(summary: pd.DataFrame) -> Coverage:
    """The :class:`Coverage` of the rows :func:`summarise` counted.

    One representative row per (source, month, category), carrying a subcategory or a known
    time when any counted row did: :meth:`Coverage.from_incidents` only asks whether any did.
    """
    import pandas as pd

    from geo_service.coverage import Coverage, partial_months

    frame = pd.DataFrame(
        {
            "source": summary["source"].astype("str"),
            "category": summary["category"].astype("str"),
            "subcategory": pd.Series("yes", index=summary.index, dtype="str").where(
                summary["with_subcategory"] > 0
            ),
            "month": summary["month"].astype("str"),
            "time_known": (summary["with_time"] > 0).to_numpy(dtype=bool),
        }
    )
    partial = partial_months(summary[["source", "month", "rows"]])
    if partial:
        stray = [(s, m) for s, months in partial.items() for m in months]
        keys = pd.MultiIndex.from_arrays([frame["source"], frame["month"]])
        frame = frame.loc[~keys.isin(stray)]
    return replace(Coverage.from_incidents(frame), partial=partial)


# ------------------------------------------------------------------------------- status
#: One row of a summary as the status reads it: source, month, category and the counts.
SummaryRow = Mapping[str, Any]


def store_status(store: Store) -> dict[str, Any]:
    """What ``store`` holds, JSON-ready.

    Keys: ``store``, ``version``, ``created_at``, ``updated_at``, ``demo``, ``incidents``,
    ``without_location``, ``sources`` (per source: :func:`source_status`), ``counts`` (one
    record per source, category and month), ``layers`` (per layer: its record, areas,
    denominators filled, incidents in an area, located outside every area, per area),
    ``files`` and ``ingests`` (as the manifest records them) and ``rejects``.
    """
    manifest = store.manifest()
    layers = manifest.layer_names()
    counts = _stored_area_counts(store, manifest, layers) if layers else None
    return _status_document(
        store.root,
        store.version(),
        manifest,
        store.summary().to_dict("records"),
        [] if counts is None else counts.to_dict("records"),
        {n: store.layer_table(n, list(_LAYER_READ)).to_dict("list") for n in layers},
    )


def read_status(root: Path) -> dict[str, Any]:
    """:func:`store_status` of the store at ``root``, read from the published manifest and the
    version's kept :data:`SUMMARY_FILE` and :data:`AREA_COUNTS_FILE` with Arrow alone.

    The version's files are checked against its manifest first, as every read of the store
    does. An empty store, an unreadable manifest or layer, or a kept table that is missing or
    disagrees with the manifest is left to :func:`store_status` (which raises for damage and
    computes and keeps what is missing), so both give one document by the same rules.

    Raises
    ------
    StoreDamagedError
        The version's files do not match its manifest.
    """
    from geo_service.store import verify

    version_dir, manifest = _published(root)
    if version_dir is None or manifest is None:
        return _fallback(root)
    verify.verify_version(version_dir, manifest, seen={})
    layers = manifest.layer_names()
    parts = list(manifest.partitions.values())
    summary = _kept_columns(version_dir / SUMMARY_FILE, lambda c: _summary_agrees(c, parts))
    total = sum(p.rows for p in parts)
    counts = (
        _kept_columns(version_dir / AREA_COUNTS_FILE, lambda c: _counts_agree(c, layers, total))
        if layers
        else {c: [] for c in _AREA_COUNT_COLUMNS}
    )
    tables = {n: _layer_columns(version_dir, n) for n in layers}
    if summary is None or counts is None or any(t is None for t in tables.values()):
        return _fallback(root)
    return _status_document(
        root, version_dir.name, manifest, _records(summary), _records(counts),
        {n: t for n, t in tables.items() if t is not None},
    )  # fmt: skip


def _published(root: Path) -> tuple[Path | None, Manifest | None]:
    """The published version's folder and manifest, or None where CURRENT or the manifest is
    missing or unreadable (what :class:`Store` judges: an empty store, or damage)."""
    try:
        name = (root / "CURRENT").read_text("utf-8").strip()
        if not name:
            return None, None
        version_dir = version_path(root, name)
        return version_dir, Manifest.from_json((version_dir / "manifest.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None, None


def _fallback(root: Path) -> dict[str, Any]:
    from geo_service.store.store import Store

    return store_status(Store(root))


def _kept_columns(
    path: Path, agrees: Callable[[Mapping[str, Sequence[Any]]], bool]
) -> dict[str, list[Any]] | None:
    """A kept table's columns (name -> values) while readable and ``agrees``, else None."""
    try:
        # ParquetFile rather than read_table, which imports pyarrow.dataset and with it pandas.
        columns = pq.ParquetFile(path).read().to_pydict()
    except (OSError, pa.ArrowException):
        return None
    return columns if agrees(columns) else None


def _layer_columns(version_dir: Path, name: str) -> dict[str, list[Any]] | None:
    try:
        path = version_dir / "layers" / f"{name}.parquet"
        return pq.ParquetFile(path).read(columns=list(_LAYER_READ)).to_pydict()
    except (OSError, ValueError, pa.ArrowException):
        return None


def _records(columns: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _status_document(
    root: Path,
    version: str | None,
    manifest: Manifest,
    summary: Sequence[SummaryRow],
    area_counts: Sequence[Mapping[str, Any]],
    layer_tables: Mapping[str, Mapping[str, Sequence[Any]]],
) -> dict[str, Any]:
    """The status document (see :func:`store_status`) from its inputs as plain rows."""
    rows = sorted(summary, key=lambda r: (str(r["source"]), str(r["month"]), str(r["category"])))
    by_source: dict[str, list[SummaryRow]] = {}
    for row in rows:
        by_source.setdefault(str(row["source"]), []).append(row)
    return {
        "store": str(root),
        "version": version,
        "created_at": manifest.created_at,
        "updated_at": manifest.published_at,
        "demo": manifest.is_demo(),
        "incidents": sum(int(r["rows"]) for r in rows),
        "without_location": sum(int(r["unlocated"]) for r in rows),
        "sources": {s: source_status(mine) for s, mine in sorted(by_source.items())},
        "counts": _counts(rows),
        "layers": {
            n: _layer_status(n, manifest.layers[n], area_counts, layer_tables[n])
            for n in manifest.layer_names()
        },
        "files": [_plain(asdict(f)) for f in manifest.files],
        "ingests": [_plain(asdict(i)) for i in manifest.ingests],
        "rejects": {
            "live_files": sum(f.rejects for f in manifest.live_files()),
            "files": [i.rejects_file for i in manifest.ingests if i.rejects_file],
        },
    }


def source_status(rows: Sequence[SummaryRow]) -> dict[str, Any]:
    """One source's part of the status, from its rows of the summary (sorted by month and
    category).

    ``first_month``..``last_month`` and the ``missing_months`` between them (months with no
    row of the source); per month and per category the rows (``months``, ``categories``); per
    month and category the rows, unlocated rows and their share (``by_month_category``); and
    per category whether the source carries subcategories and times of day (``detail``).
    """
    months = _sums(rows, "month", ("rows",))
    detail = _sums(rows, "category", ("rows", "with_subcategory", "with_time"))
    held = list(months)
    total, unlocated = sum(int(r["rows"]) for r in rows), sum(int(r["unlocated"]) for r in rows)
    return {
        "incidents": total,
        "without_location": unlocated,
        "unlocated_share": unlocated / total if total else None,
        "first_month": held[0],
        "last_month": held[-1],
        "missing_months": [m for m in _month_span(held[0], held[-1]) if m not in set(held)],
        "months": {m: sums[0] for m, sums in months.items()},
        "categories": {c: sums[0] for c, sums in detail.items()},
        "detail": {
            c: {"subcategories": sub > 0, "times": timed > 0}
            for c, (_, sub, timed) in detail.items()
        },
        "by_month_category": [_month_category(r) for r in rows],
    }


def _sums(rows: Sequence[SummaryRow], key: str, columns: Sequence[str]) -> dict[str, list[int]]:
    """Per value of ``key`` (sorted), the sums of ``columns``."""
    out: dict[str, list[int]] = {}
    for row in rows:
        sums = out.setdefault(str(row[key]), [0] * len(columns))
        for i, column in enumerate(columns):
            sums[i] += int(row[column])
    return dict(sorted(out.items()))


def _month_span(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` month from ``first`` to ``last``, both included."""
    year, month = int(first[:4]), int(first[5:7])
    end = (int(last[:4]), int(last[5:7]))
    span = []
    while (year, month) <= end:
        span.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return span


def _month_category(row: SummaryRow) -> dict[str, Any]:
    rows, unlocated = int(row["rows"]), int(row["unlocated"])
    return {
        "month": str(row["month"]),
        "category": str(row["category"]),
        "rows": rows,
        "unlocated": unlocated,
        "unlocated_share": unlocated / rows,
    }


def _counts(rows: Sequence[SummaryRow]) -> list[dict[str, Any]]:
    """Incidents and unlocated ones per (source, category, month), sorted."""
    ordered = sorted(rows, key=lambda r: (str(r["source"]), str(r["category"]), str(r["month"])))
    return [
        {
            "source": str(r["source"]),
            "category": str(r["category"]),
            "month": str(r["month"]),
            "incidents": int(r["rows"]),
            "unlocated": int(r["unlocated"]),
        }
        for r in ordered
    ]


#: Incidents per (layer, area) of a version, kept beside its manifest like :data:`SUMMARY_FILE`
#: (a derived file): ``layer``, ``code`` (null for no area), ``located`` and ``rows``.
AREA_COUNTS_FILE = "area_counts.parquet"
_AREA_COUNT_COLUMNS = ("layer", "code", "located", "rows")
#: The columns of a stored layer that the status reads.
_LAYER_READ = ("code", "population", "households")


def _counts_agree(kept: Mapping[str, Sequence[Any]], layers: Sequence[str], total: int) -> bool:
    """Whether kept area counts (column -> values) name exactly ``layers`` and hold ``total``
    rows for each (the manifest's rows)."""
    if list(kept) != list(_AREA_COUNT_COLUMNS):
        return False
    per_layer: dict[str, int] = {}
    try:
        for layer, rows in zip(kept["layer"], kept["rows"], strict=True):
            if _missing(layer):
                continue  # as a groupby leaves missing keys out
            per_layer[str(layer)] = per_layer.get(str(layer), 0) + int(rows)
    except (TypeError, ValueError):
        return False
    return sorted(per_layer) == sorted(layers) and all(n == total for n in per_layer.values())


def _stored_area_counts(store: Store, manifest: Manifest, layers: Sequence[str]) -> pd.DataFrame:
    """:func:`area_counts` of the published version, read from :data:`AREA_COUNTS_FILE` while
    it names the same layers and its rows per layer are the manifest's, else computed (reading
    every partition's area columns) and kept there, so ``status`` reads no partition again."""
    version_dir = version_path(store.root, str(store.version()))
    total = sum(p.rows for p in manifest.partitions.values())
    return kept_table(
        version_dir / AREA_COUNTS_FILE,
        lambda frame: _counts_agree(frame.to_dict("list"), layers, total),
        lambda: area_counts(store, layers),
    )


def area_counts(store: Store, layers: Sequence[str]) -> pd.DataFrame:
    """Incidents per layer, area code (null: in no area) and whether located, from the
    partitions' ``x``, ``y`` and area columns; one row per combination present."""
    import pandas as pd

    columns = ["x", "y", *(schema.area_column(n) for n in layers)]
    frame = store.incidents(columns=columns)
    located = pd.Series(schema.has_location(frame), index=frame.index)
    pieces = []
    for name in layers:
        counted = (
            pd.DataFrame(
                {"code": frame[schema.area_column(name)].astype("str"), "located": located}
            )
            .groupby(["code", "located"], dropna=False, sort=True)
            .size()
            .rename("rows")
            .reset_index()
        )
        counted.insert(0, "layer", name)
        pieces.append(counted)
    out = pd.concat(pieces, ignore_index=True)
    out["rows"] = out["rows"].astype("int64")
    return out[list(_AREA_COUNT_COLUMNS)]


def _layer_status(
    name: str,
    info: LayerInfo,
    counts: Sequence[Mapping[str, Any]],
    layer: Mapping[str, Sequence[Any]],
) -> dict[str, Any]:
    """One layer's part of the status, from the area counts and its stored codes and
    denominators (column -> values)."""
    by_area: dict[str, int] = {}
    outside = 0
    for row in counts:
        if row["layer"] != name:
            continue
        if _missing(row["code"]):
            outside += int(row["rows"]) if row["located"] else 0
        else:
            by_area[str(row["code"])] = by_area.get(str(row["code"]), 0) + int(row["rows"])
    return layer_record(info) | {
        "areas": len(layer["code"]),
        "with_population": sum(not _missing(v) for v in layer["population"]),
        "with_households": sum(not _missing(v) for v in layer["households"]),
        "incidents_in_an_area": sum(by_area.values()),
        "located_outside_every_area": outside,
        "incidents_by_area": {str(c): by_area.get(str(c), 0) for c in sorted(layer["code"])},
    }


def _missing(value: Any) -> bool:
    """Whether a value read from a table is missing (None, or NaN as pandas gives it)."""
    return value is None or (isinstance(value, float) and value != value)


def layer_record(info: LayerInfo) -> dict[str, Any]:
    """A layer's manifest record as JSON-ready values (unknown recorded keys included)."""
    out = {k: v for k, v in asdict(info).items() if k != "extra"}
    return _plain(dict(info.extra) | out)


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so a record reads as its JSON form."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
