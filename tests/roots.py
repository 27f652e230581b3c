"""Looking at the files of a root, local or in a bucket, the way the lakehouse does: through the file seam."""

from __future__ import annotations

import json
import os
from typing import Any

from lakehouse.fileio import Files


def seam(where: str | os.PathLike[str]) -> Files:
    """The files under ``where`` (a root, a table...), wherever it is."""
    return Files(str(where))


def log_entries(table: str | os.PathLike[str]) -> list[str]:
    """The names of the commit entries (``<version>.json``) in the table's log, sorted."""
    names = [f.path.removeprefix("_delta_log/") for f in seam(table).list("_delta_log")]
    return sorted(n for n in names if n.endswith(".json") and n.partition(".")[0].isdigit())


def log_actions(table: str | os.PathLike[str], entry: str) -> list[dict[str, Any]]:
    """The actions of one commit entry of the table's log."""
    with seam(table).open_read(f"_delta_log/{entry}") as stream:
        return [json.loads(line) for line in stream.read().splitlines() if line.strip()]
