"""The JSON file every benchmark script can leave behind (``--json-out``): date, machine, mode, results."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def write_json(path: Path, *, machine: Any, quick: bool, results: Sequence[Mapping[str, Any]]) -> None:
    payload = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "mode": "quick" if quick else "full",
        "results": list(results),
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
