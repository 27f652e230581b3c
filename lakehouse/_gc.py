"""Python's cycle collector, paused while a folder's files become a few hundred thousand small objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """Run the block with the cycle collector off (as it was before, after).

    A folder's listing and reads make tuples, strings and bytes that hold no cycles: a collection during the
    burst frees nothing, and every full pass walks each object of the process. With torch, polars and pyarrow
    loaded that was a fifth of a 100,000-file listing (docs/BENCHMARKS.md, "One reader").
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
