"""Optional progress bars over input files (tqdm on stderr)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress_over(items: Iterable[T], *, enabled: bool, what: str) -> Iterator[T]:
    """Iterate ``items``, with a progress bar labelled ``what`` when ``enabled``."""
    if not enabled:
        yield from items
        return
    yield from tqdm(list(items), desc=what, unit="file")
