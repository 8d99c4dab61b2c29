"""Optional progress bars over input files (tqdm on stderr)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_over(
    items: Iterable[T], *, enabled: bool, what: str, total: int | None = None
) -> Iterator[T]:
    """Iterate ``items`` lazily, with a progress bar (``what``, of ``total``) when ``enabled``."""
    if not enabled:
        yield from items
        return
    yield from tqdm(items, desc=what, unit="file", total=total)
