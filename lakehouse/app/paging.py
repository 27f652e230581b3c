"""Big tables one page at a time: sorted on the server, so the browser only ever gets one page of rows.

Sending all 10,000 runs to the browser costs megabytes and seconds of decoding and layout there; a page
of a few hundred rows costs neither, and sorting the whole table on the server keeps "sort by" meaning
the whole table, not the page.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

PAGE_SIZES = (50, 100, 250, 1000)
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class Page:
    """Rows ``first``..``last`` (1-based, inclusive) of ``total``, as shown."""

    rows: pl.DataFrame
    number: int
    pages: int
    first: int
    last: int
    total: int


def page_count(total: int, size: int) -> int:
    """How many pages ``total`` rows fill (at least one, so an empty table still has page 1)."""
    return max(1, math.ceil(total / size))


def sorted_page(frame: pl.DataFrame, *, by: str, descending: bool, size: int, number: int) -> Page:
    """Page ``number`` (clamped to the pages there are) of ``frame`` sorted by ``by``, nulls last."""
    pages = page_count(frame.height, size)
    number = min(max(number, 1), pages)
    ordered = frame.sort(by, descending=descending, nulls_last=True, maintain_order=True)
    rows = ordered.slice((number - 1) * size, size)
    first = (number - 1) * size + 1 if rows.height else 0
    return Page(rows, number, pages, first, first + rows.height - 1 if rows.height else 0, frame.height)


def grid_key(base: str, ids: Sequence[str]) -> str:
    """A table key that changes whenever the rows shown change, so ticks never carry over to other rows."""
    digest = hashlib.blake2b("\n".join(ids).encode(), digest_size=8).hexdigest()
    return f"{base}_{digest}"


def merge_ticks(selected: Sequence[str], visible: Sequence[str], before: set[int], now: set[int]) -> list[str]:
    """The selection after the ticks on the visible rows went from ``before`` to ``now`` (row positions).

    Runs selected elsewhere (other pages, filtered out, picked by hand) stay selected; only the rows
    ticked or unticked here change.
    """
    added = [visible[i] for i in sorted(now - before) if i < len(visible)]
    removed = {visible[i] for i in before - now if i < len(visible)}
    kept = [r for r in selected if r not in removed]
    return kept + [r for r in added if r not in kept]
