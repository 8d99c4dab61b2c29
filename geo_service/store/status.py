"""What a store holds: status, coverage and the kept summary of each version.

Private to :class:`geo_service.store.Store`, which caches what these read per version.

* :func:`summarise` reads five columns of each partition file and counts, per source, month and
  category, the rows, the rows without coordinates (``unlocated``) and the rows carrying a
  subcategory or a known time; :func:`coverage_from_summary` turns that into a
  :class:`~geo_service.coverage.Coverage`.
* :func:`stored_summary` keeps that count beside the version's manifest and reads it back,
  trusting it only while its rows per (source, month) equal the manifest's partitions.
* :func:`store_status` is the document ``geo-service status --json`` prints.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from geo_service import schema
from geo_service.coverage import Coverage, partial_months
from geo_service.errors import StoreDamagedError
from geo_service.store.layout import version_path
from geo_service.store.manifest import LayerInfo, Manifest, Partition

if TYPE_CHECKING:
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
        lambda frame: list(frame.columns) == list(SUMMARY_COLUMNS) and _agrees(frame, parts),
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
            logger.warning("%s disagrees with the manifest; counting the partitions again", path)
        except (OSError, pa.ArrowException):
            pass  # an unreadable copy is computed again below
    frame = compute()
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), staging)
        os.replace(staging, path)
    except OSError:
        staging.unlink(missing_ok=True)
    return frame


def _agrees(frame: pd.DataFrame, parts: Sequence[Partition]) -> bool:
    """Whether a kept summary's rows per (source, month) are the listed partitions' rows.

    A summary copied from another version or edited by hand would otherwise give its figures.
    """
    kept = frame.groupby(["source", "month"])["rows"].sum()
    listed = {(p.source, p.month): p.rows for p in parts}
    return {(str(s), str(m)): int(n) for (s, m), n in kept.items()} == listed


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
    if not parts:
        return pd.DataFrame(
            {c: pd.Series(dtype="str" if i < 3 else "int64") for i, c in enumerate(SUMMARY_COLUMNS)}
        )
    tables = [_counted(version_dir / part.path, part) for part in parts]
    frame = typed_summary(pa.concat_tables(tables).to_pandas())
    return frame[list(SUMMARY_COLUMNS)].sort_values(
        ["source", "month", "category"], ignore_index=True
    )


def _counted(path: Path, part: Partition) -> pa.Table:
    """One partition's counts per category (Arrow), with its source and month."""
    try:
        table = pq.read_table(path, columns=_READ, page_checksum_verification=True)
    except (OSError, pa.ArrowException) as exc:
        raise StoreDamagedError(
            f"{path}: partition unreadable ({one_line(exc)}); the store is damaged: "
            "`geo-service check` lists every problem, `geo-service repair` fixes what can be fixed"
        ) from exc
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
def store_status(store: Store) -> dict[str, Any]:
    """What ``store`` holds, JSON-ready.

    Keys: ``store``, ``version``, ``created_at``, ``updated_at``, ``demo``, ``incidents``,
    ``without_location``, ``sources`` (per source: :func:`source_status`), ``counts`` (one
    record per source, category and month), ``layers`` (per layer: its record, areas,
    denominators filled, incidents in an area, located outside every area, per area),
    ``files`` and ``ingests`` (as the manifest records them) and ``rejects``.
    """
    manifest = store.manifest()
    summary = store.summary()
    return {
        "store": str(store.root),
        "version": store.version(),
        "created_at": manifest.created_at,
        "updated_at": manifest.published_at,
        "demo": manifest.is_demo(),
        "incidents": int(summary["rows"].sum()),
        "without_location": int(summary["unlocated"].sum()),
        "sources": {
            str(s): source_status(rows) for s, rows in summary.groupby("source", sort=True)
        },
        "counts": _counts(summary),
        "layers": _layers_status(store, manifest),
        "files": [_plain(asdict(f)) for f in manifest.files],
        "ingests": [_plain(asdict(i)) for i in manifest.ingests],
        "rejects": {
            "live_files": sum(f.rejects for f in manifest.live_files()),
            "files": [i.rejects_file for i in manifest.ingests if i.rejects_file],
        },
    }


def source_status(rows: pd.DataFrame) -> dict[str, Any]:
    """One source's part of the status, from its rows of the summary.

    ``first_month``..``last_month`` and the ``missing_months`` between them (months with no
    row of the source); per month and per category the rows (``months``, ``categories``); per
    month and category the rows, unlocated rows and their share (``by_month_category``); and
    per category whether the source carries subcategories and times of day (``detail``).
    """
    months = rows.groupby("month", sort=True)["rows"].sum()
    held = [str(m) for m in months.index]
    span = pd.period_range(held[0], held[-1], freq="M").strftime("%Y-%m").tolist()
    detail = rows.groupby("category", sort=True)[["rows", "with_subcategory", "with_time"]].sum()
    total, unlocated = int(rows["rows"].sum()), int(rows["unlocated"].sum())
    return {
        "incidents": total,
        "without_location": unlocated,
        "unlocated_share": unlocated / total if total else None,
        "first_month": held[0],
        "last_month": held[-1],
        "missing_months": [m for m in span if m not in set(held)],
        "months": {str(k): int(v) for k, v in months.items()},
        "categories": {str(k): int(v) for k, v in detail["rows"].items()},
        "detail": {
            str(c): {"subcategories": bool(sub > 0), "times": bool(timed > 0)}
            for c, sub, timed in zip(
                detail.index, detail["with_subcategory"], detail["with_time"], strict=True
            )
        },
        "by_month_category": [_month_category(r) for r in rows.itertuples(index=False)],
    }


def _month_category(row: Any) -> dict[str, Any]:
    rows, unlocated = int(row.rows), int(row.unlocated)
    return {
        "month": str(row.month),
        "category": str(row.category),
        "rows": rows,
        "unlocated": unlocated,
        "unlocated_share": unlocated / rows,
    }


def _counts(summary: pd.DataFrame) -> list[dict[str, Any]]:
    """Incidents and unlocated ones per (source, category, month), sorted."""
    ordered = summary.sort_values(["source", "category", "month"])
    return [
        {
            "source": str(r.source),
            "category": str(r.category),
            "month": str(r.month),
            "incidents": int(r.rows),
            "unlocated": int(r.unlocated),
        }
        for r in ordered.itertuples(index=False)
    ]


def _layers_status(store: Store, manifest: Manifest) -> dict[str, Any]:
    layers = manifest.layer_names()
    if not layers:
        return {}
    counts = _stored_area_counts(store, manifest, layers)
    return {n: _layer_status(store, n, manifest.layers[n], counts) for n in layers}


#: Incidents per (layer, area) of a version, kept beside its manifest like :data:`SUMMARY_FILE`
#: (a derived file): ``layer``, ``code`` (null for no area), ``located`` and ``rows``.
AREA_COUNTS_FILE = "area_counts.parquet"
_AREA_COUNT_COLUMNS = ("layer", "code", "located", "rows")


def _stored_area_counts(store: Store, manifest: Manifest, layers: Sequence[str]) -> pd.DataFrame:
    """:func:`area_counts` of the published version, read from :data:`AREA_COUNTS_FILE` while
    it names the same layers and its rows per layer are the manifest's, else computed (reading
    every partition's area columns) and kept there, so ``status`` reads no partition again."""
    version_dir = version_path(store.root, str(store.version()))
    total = sum(p.rows for p in manifest.partitions.values())

    def agrees(frame: pd.DataFrame) -> bool:
        per_layer = frame.groupby("layer")["rows"].sum()
        return (
            list(frame.columns) == list(_AREA_COUNT_COLUMNS)
            and sorted(map(str, per_layer.index)) == sorted(layers)
            and all(int(n) == total for n in per_layer)
        )

    return kept_table(version_dir / AREA_COUNTS_FILE, agrees, lambda: area_counts(store, layers))


def area_counts(store: Store, layers: Sequence[str]) -> pd.DataFrame:
    """Incidents per layer, area code (null: in no area) and whether located, from the
    partitions' ``x``, ``y`` and area columns; one row per combination present."""
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


def _layer_status(store: Store, name: str, info: LayerInfo, counts: pd.DataFrame) -> dict[str, Any]:
    layer = store.layer_table(name, ["code", "population", "households"])
    mine = counts[counts["layer"] == name]
    in_area = mine[mine["code"].notna()]
    by_area = in_area.groupby("code")["rows"].sum()
    outside = mine.loc[mine["code"].isna() & mine["located"].astype(bool), "rows"].sum()
    return layer_record(info) | {
        "areas": len(layer),
        "with_population": int(layer["population"].notna().sum()),
        "with_households": int(layer["households"].notna().sum()),
        "incidents_in_an_area": int(in_area["rows"].sum()),
        "located_outside_every_area": int(outside),
        "incidents_by_area": {
            str(code): int(n)
            for code, n in by_area.reindex(sorted(layer["code"]), fill_value=0).items()
        },
    }


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
