"""Helpers for dataset tests: small frames and a comparison that ignores row order."""

from __future__ import annotations

from typing import Any

import polars as pl


def rows(frame: pl.DataFrame) -> list[tuple[Any, ...]]:
    """The frame's rows as sorted tuples (Delta does not keep row order across files)."""
    return sorted(frame.iter_rows(), key=repr)


def frame(ids: list[int], labels: list[str] | None = None) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "label": labels if labels is not None else [f"l{i}" for i in ids]})
