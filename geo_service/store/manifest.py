"""The manifest of a store version, typed: files, ingests, layers, partitions, and its JSON form.

Every published version holds one ``manifest.json``; :class:`Manifest` is its content. Reading
accepts every manifest written since the store existed: keys an older writer did not record take
their defaults (``created_at``, a layer's ``synthetic``, ``held``), and keys of a layer's record
this version does not know are kept in :attr:`LayerInfo.extra` and written back unchanged, so a
rewrite never loses what a newer writer recorded.

The JSON layout (unchanged from the untyped manifest)::

    {"version": 7, "created_at": "...", "published_at": "...",
     "files": [{"path", "key", "source", "sha256", "rows", "rejects", "duplicates", "months",
                "stored", "ingest_id", "ingested_at", "transformation", "superseded_by"}, ...],
     "ingests": [{"id", "time", "kind", "files", "unchanged_files", "stored", "rejected",
                  "rejects_file"}, ...],
     "layers": {"ward": {"path", "report", "denominators", "synthetic", "features", ...}},
     "partitions": {"police_uk/2021-01": {"source", "month", "rows", "path"}},
     "held": {...as partitions...},
     "checksums": {"incidents/source=police_uk/month=2021-01/part.parquet":
                   {"bytes", "rows", "footer_sha256", "sha256"}, ...}}

``checksums`` (one per partition, held and layer file, keyed by path relative to the version)
is added by :func:`geo_service.store.verify.seal` just before a version is published; a manifest
written before checksums were recorded has none, and is checked by its row counts alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from geo_service.store.layout import FileRecord, now_iso

__all__ = [
    "Denominators",
    "FileChecksum",
    "IngestRecord",
    "LayerInfo",
    "Manifest",
    "Partition",
    "StoredFile",
]


@dataclass(frozen=True)
class StoredFile(FileRecord):
    """A file as the store holds it: its :class:`FileRecord` and what the store did with it.

    ``stored`` counts its rows in the partitions (rows promoted from held ones included);
    ``superseded_by`` is the id of the ingest whose newer file of the same name replaced it.
    """

    stored: int
    ingest_id: str
    ingested_at: str
    transformation: str | None = None
    superseded_by: str | None = None

    @property
    def live(self) -> bool:
        """Whether its rows are in the store (it has not been superseded)."""
        return self.superseded_by is None

    @classmethod
    def from_record(
        cls,
        record: FileRecord,
        *,
        stored: int,
        ingest_id: str,
        ingested_at: str,
        transformation: str | None,
    ) -> StoredFile:
        """The stored form of ``record``, written by ingest ``ingest_id``."""
        return cls(
            **{f.name: getattr(record, f.name) for f in fields(FileRecord)},
            stored=stored,
            ingest_id=ingest_id,
            ingested_at=ingested_at,
            transformation=transformation,
        )


@dataclass(frozen=True)
class IngestRecord:
    """One ingest that changed the store: its files, rows stored and rejected, rejects file."""

    id: str
    time: str
    kind: str
    files: tuple[str, ...]
    unchanged_files: tuple[str, ...]
    stored: int
    rejected: int
    rejects_file: str | None = None


@dataclass(frozen=True)
class Partition:
    """One (source, month) Parquet file of a version: ``rows`` rows at ``path`` (relative)."""

    source: str
    month: str
    rows: int
    path: str

    @property
    def key(self) -> tuple[str, str]:
        """``(source, month)``."""
        return (self.source, self.month)


@dataclass(frozen=True)
class FileChecksum:
    """What a stored file must be: its size, rows, the SHA-256 of its Parquet footer and of all.

    The size and the footer (the last few kB of a Parquet file: its schema, row counts, column
    statistics and the byte offset of every page) are checked on every open at the cost of one
    small read; the whole-file ``sha256`` by ``geo-service check``. ``rows`` (the footer's) must
    equal the rows the manifest lists for the file, so neither can be edited alone.
    """

    bytes: int
    rows: int
    footer_sha256: str
    sha256: str


@dataclass(frozen=True)
class Denominators:
    """Where a layer's population, households and parents came from, and how many areas got them."""

    path: str
    with_population: int
    with_households: int
    with_parent: int


@dataclass(frozen=True)
class LayerInfo:
    """What the store records about an area layer.

    Attributes
    ----------
    path
        The boundary file(s) read (``"; "``-joined); None for a dissolved layer.
    report
        The read report (:class:`geo_service.boundaries.LayerReport` as JSON); None if dissolved.
    denominators
        Where population/households came from; None until ``boundaries denominators``.
    parent_from_filename
        Whether each area's parent was taken from its file's name.
    dissolved_from, names
        For a dissolved layer: the layer it was made from and the names CSV, if any.
    area_m2
        Total area of a dissolved layer, square metres.
    synthetic
        True for the demo's invented areas: set explicitly by the code that writes them
        (``add_layer(..., synthetic=True)``), never guessed from names or paths.
    features
        Number of areas; set by the store when it writes the layer.
    updated_at
        When the store last wrote the layer (UTC, ISO 8601).
    extra
        Keys of the recorded entry this version does not know, kept as read.
    """

    path: str | None = None
    report: Mapping[str, Any] | None = None
    denominators: Denominators | None = None
    parent_from_filename: bool = False
    dissolved_from: str | None = None
    names: str | None = None
    area_m2: float | None = None
    synthetic: bool = False
    features: int = 0
    updated_at: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """What one published version of a store holds (an empty store: the defaults).

    ``partitions`` and ``held`` are keyed by ``(source, month)``; ``checksums`` by a file's
    path relative to the version directory (empty for versions written before they were
    recorded); ``created_at`` is when the
    store's first version was published (for stores written before it was recorded: the
    earliest time their manifest still holds), ``published_at`` when this one was.
    """

    version: int = 0
    files: tuple[StoredFile, ...] = ()
    ingests: tuple[IngestRecord, ...] = ()
    layers: Mapping[str, LayerInfo] = field(default_factory=dict)
    partitions: Mapping[tuple[str, str], Partition] = field(default_factory=dict)
    held: Mapping[tuple[str, str], Partition] = field(default_factory=dict)
    created_at: str | None = None
    published_at: str | None = None
    checksums: Mapping[str, FileChecksum] = field(default_factory=dict)

    # ------------------------------------------------------------------------- questions
    def live_files(self, source: str | None = None) -> tuple[StoredFile, ...]:
        """The files whose rows are stored, of ``source`` when given, in ingest order."""
        return tuple(f for f in self.files if f.live and (source is None or f.source == source))

    def files_by_source(self) -> dict[str, tuple[StoredFile, ...]]:
        """Live files grouped by source (sources sorted)."""
        return {s: self.live_files(s) for s in sorted({f.source for f in self.live_files()})}

    def months(self) -> list[str]:
        """Every month with stored incidents, sorted."""
        return sorted({month for _, month in self.partitions})

    def sources(self) -> list[str]:
        """Every source with stored incidents, sorted."""
        return sorted({source for source, _ in self.partitions})

    def layer_names(self) -> list[str]:
        """Names of the stored layers, sorted."""
        return sorted(self.layers)

    def stored_paths(self) -> dict[str, int]:
        """Every file the version lists (partitions, held rows, layers), relative path -> rows.

        A layer's rows are its areas (``features``).
        """
        paths = {p.path: p.rows for p in (*self.partitions.values(), *self.held.values())}
        return paths | {
            f"layers/{name}.parquet": info.features for name, info in self.layers.items()
        }

    def is_demo(self) -> bool:
        """Whether any stored layer is the demo's synthetic geography."""
        return any(info.synthetic for info in self.layers.values())

    def next_version(self, **changes: Any) -> Manifest:
        """The manifest of the version after this one, with ``changes`` (field -> new value)."""
        when = now_iso()
        return replace(
            self,
            version=self.version + 1,
            created_at=self.created_at or when,
            published_at=when,
            **changes,
        )

    # ------------------------------------------------------------------------------ JSON
    def to_json(self) -> str:
        """The ``manifest.json`` text."""
        return json.dumps(_to_plain(self), indent=1, default=str)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Read ``manifest.json`` text, of this or any earlier layout.

        Raises
        ------
        ValueError
            The text is not JSON or lacks a part every manifest has (the message says which).
        """
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the manifest is not a JSON object")
        try:
            return _from_plain(data)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"the manifest does not have the expected parts ({exc!r})") from exc


# ------------------------------------------------------------------------------ to JSON
def _to_plain(manifest: Manifest) -> dict[str, Any]:
    return {
        "version": manifest.version,
        "created_at": manifest.created_at,
        "published_at": manifest.published_at,
        "files": [_file_plain(f) for f in manifest.files],
        "ingests": [_ingest_plain(i) for i in manifest.ingests],
        "layers": {name: _layer_plain(info) for name, info in manifest.layers.items()},
        "partitions": _partitions_plain(manifest.partitions),
        "held": _partitions_plain(manifest.held),
        "checksums": {path: asdict(c) for path, c in sorted(manifest.checksums.items())},
    }


def _file_plain(record: StoredFile) -> dict[str, Any]:
    out = asdict(record)
    out["months"] = list(record.months)
    if record.excluded_forces:  # recorded only when asked (older manifests have no key)
        out["excluded_forces"] = list(record.excluded_forces)
    else:
        del out["excluded_forces"]
    return out


def _ingest_plain(record: IngestRecord) -> dict[str, Any]:
    out = asdict(record)
    out["files"], out["unchanged_files"] = list(record.files), list(record.unchanged_files)
    return out


def _layer_plain(info: LayerInfo) -> dict[str, Any]:
    out = {f.name: getattr(info, f.name) for f in fields(LayerInfo) if f.name != "extra"}
    out["denominators"] = asdict(info.denominators) if info.denominators else None
    return dict(info.extra) | out


def _partitions_plain(parts: Mapping[tuple[str, str], Partition]) -> dict[str, Any]:
    return {f"{p.source}/{p.month}": asdict(p) for _, p in sorted(parts.items())}


# ---------------------------------------------------------------------------- from JSON
def _from_plain(data: Mapping[str, Any]) -> Manifest:
    return Manifest(
        version=int(data["version"]),
        files=tuple(_file(r) for r in data["files"]),
        ingests=tuple(_ingest(r) for r in data["ingests"]),
        layers={str(n): _layer(info) for n, info in data["layers"].items()},
        partitions=_partitions(data["partitions"].values()),
        held=_partitions(data.get("held", {}).values()),
        created_at=data.get("created_at") or _earliest_time(data),
        published_at=data.get("published_at"),
        checksums={
            str(path): FileChecksum(
                bytes=int(c["bytes"]),
                rows=int(c["rows"]),
                footer_sha256=str(c["footer_sha256"]),
                sha256=str(c["sha256"]),
            )
            for path, c in data.get("checksums", {}).items()
        },
    )


def _file(r: Mapping[str, Any]) -> StoredFile:
    return StoredFile(
        path=str(r["path"]),
        key=str(r["key"]),
        source=str(r["source"]),
        sha256=str(r["sha256"]),
        rows=int(r["rows"]),
        rejects=int(r["rejects"]),
        duplicates=int(r["duplicates"]),
        months=tuple(str(m) for m in r["months"]),
        stored=int(r["stored"]),
        ingest_id=str(r["ingest_id"]),
        ingested_at=str(r["ingested_at"]),
        transformation=r.get("transformation"),
        superseded_by=r.get("superseded_by"),
        excluded_forces=tuple(str(f) for f in r.get("excluded_forces", ())),
    )


def _ingest(r: Mapping[str, Any]) -> IngestRecord:
    return IngestRecord(
        id=str(r["id"]),
        time=str(r["time"]),
        kind=str(r["kind"]),
        files=tuple(str(p) for p in r["files"]),
        unchanged_files=tuple(str(p) for p in r.get("unchanged_files", ())),
        stored=int(r["stored"]),
        rejected=int(r["rejected"]),
        rejects_file=r.get("rejects_file"),
    )


_LAYER_KEYS = {f.name for f in fields(LayerInfo)} - {"extra"}


def _layer(entry: Mapping[str, Any]) -> LayerInfo:
    known = {k: v for k, v in entry.items() if k in _LAYER_KEYS}
    denominators = known.pop("denominators", None)
    area = known.pop("area_m2", None)
    return LayerInfo(
        **known,
        denominators=Denominators(**denominators) if denominators else None,
        area_m2=None if area is None else float(area),
        extra={k: v for k, v in entry.items() if k not in _LAYER_KEYS},
    )


def _partitions(entries: Sequence[Mapping[str, Any]] | Any) -> dict[tuple[str, str], Partition]:
    parts = [
        Partition(source=str(p["source"]), month=str(p["month"]), rows=int(p["rows"]),
                  path=str(p["path"]))
        for p in entries
    ]  # fmt: skip
    return {p.key: p for p in parts}


def _earliest_time(data: Mapping[str, Any]) -> str | None:
    times = [str(i["time"]) for i in data.get("ingests", ()) if i.get("time")]
    times += [str(v["updated_at"]) for v in data.get("layers", {}).values() if v.get("updated_at")]
    if data.get("published_at"):
        times.append(str(data["published_at"]))
    return min(times) if times else None
