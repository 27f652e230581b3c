"""Shared by the Keras callback and the Lightning logger: logging the trained model as a run artifact.

``log_model="last"`` logs the model when training ends, ``"best"`` every time the monitored metric improves
(so a crash keeps the best so far), ``"both"`` does both. Each logged file is recorded in a run tag,
``lakehouse.model.last`` / ``lakehouse.model.best``, as JSON: the artifact path, the monitored metric, its value
and the epoch and step, so the run says which file holds which model and why.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from lakehouse.errors import InvalidArgument

if TYPE_CHECKING:
    from lakehouse.tracking.run import Run

LogModel = Literal["last", "best", "both"]
Mode = Literal["min", "max", "auto"]
TAG_PREFIX = "lakehouse.model."


def check_log_model(value: object, mode: object) -> tuple[LogModel | None, Mode]:
    """``log_model`` and ``mode`` if valid, else :class:`InvalidArgument` naming the bad one."""
    if value is not None and value not in get_args(LogModel):
        msg = f"log_model must be one of {', '.join(map(repr, get_args(LogModel)))} or None, got {value!r}"
        raise InvalidArgument(msg)
    if mode not in get_args(Mode):
        msg = f"mode must be one of {', '.join(map(repr, get_args(Mode)))}, got {mode!r}"
        raise InvalidArgument(msg)
    return value, mode  # type: ignore[return-value]


def wants(log_model: LogModel | None, kind: Literal["last", "best"]) -> bool:
    return log_model == kind or log_model == "both"


def improved(value: float, best: float | None, *, monitor: str, mode: Mode) -> bool:
    """True if ``value`` beats ``best`` (``auto``: larger is better for accuracies, AUCs, F1; else smaller)."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    if mode == "auto":
        mode = "max" if any(word in monitor for word in ("acc", "auc", "f1", "precision", "recall")) else "min"
    return value > best if mode == "max" else value < best


def log_model_file(
    run: Run,
    file: str | Path,
    name: str,
    *,
    kind: Literal["last", "best"],
    monitor: str | None,
    value: float | None,
    epoch: int | None,
    step: int | None,
) -> None:
    """Log ``file`` as artifact ``name`` of ``run`` and record it in the tag ``lakehouse.model.<kind>``."""
    logged = run.log_artifact(file, name=name)
    note = {
        "path": logged.path,
        "digest": logged.digest,
        "monitor": monitor,
        "value": value,
        "epoch": epoch,
        "step": step,
    }
    run.set_tag(TAG_PREFIX + kind, json.dumps(note, sort_keys=True))
