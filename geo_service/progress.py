"""Progress over long steps: a wrapper the caller passes in, so analysis stays free of output.

A :data:`Progress` takes an iterable, what it is (``"backtest origins"``) and how many items it
holds, and yields the same items; the CLI passes :func:`bar` (a tqdm bar on stderr), everything
else passes nothing (:func:`quiet`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Progress(Protocol):
    """Wrap ``items`` (``total`` of them, each one ``unit``) to show progress labelled ``what``."""

    def __call__(
        self, items: Iterable[T], *, what: str, total: int | None = None, unit: str = "step"
    ) -> Iterable[T]: ...


def quiet(
    items: Iterable[T], *, what: str, total: int | None = None, unit: str = "step"
) -> Iterable[T]:
    """The items, unchanged (no progress shown)."""
    return items


def bar(
    items: Iterable[T], *, what: str, total: int | None = None, unit: str = "step"
) -> Iterator[T]:
    """The items, with a tqdm progress bar on standard error (removed when done)."""
    from tqdm import tqdm

    yield from tqdm(items, desc=what, total=total, unit=unit, file=sys.stderr, leave=False)
