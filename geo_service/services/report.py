"""The strategic-assessment document for a comparison: the same HTML from the CLI and the web.

The report reads every stored month (its long-run sentences look back five years), the
settings' category groups (its looking-back table has exactly those rows) and the study layer
of the options, and calls :func:`geo_service.report.build_report`.

From a :class:`~geo_service.store.Store` it reads the version's area cube
(:func:`geo_service.store.cubes.counted_incidents`), not the partitions: the study layer's
counted rows (with the collisions' severity) and, for a peer comparison, the peer layer's.
Only the repeat-collision sites of the collision section read rows: the located collisions of
the rule's window, from the partitions of the sources that supply them. From any other store
(test doubles, in-memory stores) it reads the rows. Both give the same document, byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from geo_service.categories import CategoryGroup
from geo_service.errors import DataError, InputError, NotFoundError
from geo_service.progress import Progress
from geo_service.report import DEFAULT_PRIORITIES, Peers, build_report
from geo_service.risk_matrix import load_risk_matrix
from geo_service.schema import area_column
from geo_service.services.context import StoreLike, require_incidents
from geo_service.services.options import RuleOptions, ViewOptions
from geo_service.services.tables import exclusion_notes, required_layer, without_forces
from geo_service.store import Store, cubes

#: Title of the document when none is given.
DEFAULT_TITLE = "Strategic assessment"


@dataclass(frozen=True)
class ReportOptions:
    """The report's comparison, title, peer comparison and risk matrix.

    Parameters
    ----------
    view
        Period end, months, comparison, study layer and forces left out.
    title
        Title of the document (default :data:`DEFAULT_TITLE`).
    peer_layer, peer_code
        Optional peer comparison: a layer of areas such as districts, and the partnership's own
        area in it; both or neither.
    highest_first
        Write the highest peer as "1st of M" instead of the iQuanta "Mth of M" (default False).
    risk
        A partnership's own risk matrix file (None: the packaged one).
    """

    view: ViewOptions
    title: str = DEFAULT_TITLE
    peer_layer: str | None = None
    peer_code: str | None = None
    highest_first: bool = False
    risk: Path | None = None


def report_document(
    store: StoreLike,
    groups: Sequence[CategoryGroup],
    opts: ReportOptions,
    *,
    progress: Progress | None = None,
) -> str:
    """The strategic-assessment HTML document (inline CSS and SVG, no script).

    Parameters
    ----------
    store
        The store read (every stored month): from a :class:`~geo_service.store.Store`, its area
        cube and the rows of its collision sources (module docstring); else its rows.
    groups
        The settings' category groups: the rows of its looking-back table and its priorities.
    opts
        The comparison, title, peers and risk matrix.
    progress
        Shows progress over its sections (:mod:`geo_service.progress`).

    Returns
    -------
    str
        The HTML document.

    Raises
    ------
    InputError
        When only one of ``peer_layer`` and ``peer_code`` is given, or the risk matrix file is
        not usable.
    NotFoundError
        When the store holds no incidents or layer, or ``peer_code`` is not in ``peer_layer``.
    """
    require_incidents(store)
    layer = required_layer(store, opts.view)
    peers = _peers(store, opts)
    if isinstance(store, Store):
        read = _from_cube(store, opts, layer=layer, peers=peers)
    else:
        read = _Inputs(without_forces(_read(store, opts), opts.view.exclude_forces), peers)
    return build_report(
        read.incidents,
        layer=layer,
        areas=store.layer(layer),
        groups=tuple(groups),
        period_end=opts.view.period_end,
        months=opts.view.months,
        priorities=priorities(groups),
        title=opts.title,
        peers=read.peers,
        coverage=store.coverage(),
        against=opts.view.against,
        highest_first=opts.highest_first,
        notes=exclusion_notes(store, opts.view),
        matrix=load_risk_matrix(opts.risk),
        progress=progress,
        collision_sites=_collision_sites(store, layer),
    )


@dataclass(frozen=True)
class _Inputs:
    """What :func:`build_report` counts: the study layer's incidents (rows or counted rows)
    and the peers (with the peer layer's own incidents, or None: ``incidents``)."""

    incidents: pd.DataFrame
    peers: Peers | None


def _from_cube(
    store: Store,
    opts: ReportOptions,
    *,
    layer: str,
    peers: Peers | None,
) -> _Inputs:
    """The cube's counted rows of the study layer and of the peer layer, forces left out from
    each."""
    forces = opts.view.exclude_forces

    def counted(name: str) -> pd.DataFrame:
        return without_forces(cubes.counted_incidents(store, layer=name), forces)

    incidents = counted(layer)
    if peers is not None:
        own = incidents if peers.layer == layer else counted(peers.layer)
        peers = replace(peers, incidents=own)
    return _Inputs(incidents, peers)


def _collision_sites(store: StoreLike, layer: str) -> pd.DataFrame | None:
    """The ranked repeat-collision sites of the default rule for the report's collision section
    (None when the store holds no collisions)."""
    from geo_service.services.collisions import collision_sites

    try:
        return collision_sites(store, RuleOptions(), period_end=None, layer=layer).sites
    except (DataError, NotFoundError):
        return None


#: The stored columns the document reads (then every layer's area column, and ``reported_by``
#: when forces are left out).
REPORT_COLUMNS: tuple[str, ...] = (
    "source", "category", "subcategory", "month", "occurred_at", "time_known", "x", "y", "severity",
)  # fmt: skip


def _read(store: StoreLike, opts: ReportOptions) -> pd.DataFrame:
    """Every stored month (the document looks back years), only the columns it reads."""
    areas = [area_column(name) for name in store.layer_names()]
    forces = ["reported_by"] if opts.view.exclude_forces else []
    return store.incidents(columns=[*REPORT_COLUMNS, *areas, *forces])


def priorities(groups: Sequence[CategoryGroup]) -> tuple[str, ...]:
    """The groups given a ``priority`` number, in its order.

    A groups file that gives none gets the packaged priorities it names.

    Parameters
    ----------
    groups
        The settings' category groups.

    Returns
    -------
    tuple of str
        Group names, by ``priority`` (ties in the given order), else those of
        :data:`~geo_service.report.DEFAULT_PRIORITIES` present in ``groups``.
    """
    marked = sorted((g.priority, i, g.name) for i, g in enumerate(groups) if g.priority)
    if marked:
        return tuple(name for _p, _i, name in marked)
    names = {g.name for g in groups}
    return tuple(name for name in DEFAULT_PRIORITIES if name in names)


def _peers(store: StoreLike, opts: ReportOptions) -> Peers | None:
    if bool(opts.peer_layer) != bool(opts.peer_code):
        raise InputError("peer layer and peer code go together; give both or neither")
    if not opts.peer_layer or not opts.peer_code:
        return None
    areas = store.layer(opts.peer_layer)
    if opts.peer_code not in set(areas["code"].astype("str")):
        raise NotFoundError(
            f"peer code {opts.peer_code!r} is not an area of layer {opts.peer_layer!r}; "
            f"its codes: {', '.join(areas['code'].astype('str'))}"
        )
    return Peers(layer=opts.peer_layer, areas=areas, code=opts.peer_code)
