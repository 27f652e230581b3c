"""W&B offline runs into the lakehouse (``import_offline``); reads with wandb's own ``Record`` protos.

Needs the ``wandb`` package (``pip install 'lakehouse[wandb]'``).
"""

from __future__ import annotations

from lakehouse._optional import import_optional

import_optional("wandb.proto.wandb_internal_pb2", extra="wandb", purpose="reading W&B offline runs")

from lakehouse.integrations.wandb.importer import WandbReport, import_offline, run_files  # noqa: E402

__all__ = ["WandbReport", "import_offline", "run_files"]
