"""Keras runs on the torch backend in these tests: the variable must be set before keras is first imported."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "torch"


def tracking_state(root: Path) -> dict[str, tuple[int, int]]:
    """Version and row count of every tracking table of ``root``: equal before and after means nothing changed."""
    import lakehouse
    from lakehouse import storage

    lh = lakehouse.connect(root)
    return {
        name: (storage.latest_version(path), storage.snapshot(path, storage.latest_version(path)).num_rows)
        for name, path in lh.layout.tracking_tables.items()
        if storage.exists(path)
    }
