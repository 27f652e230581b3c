"""Experiment tracking: runs, their params/tags/inputs, and the metrics fact table.

Modules: :mod:`~lakehouse.tracking.run` (the handle training code holds), :mod:`~lakehouse.tracking.starting`
(start / resume / attach / lifecycle), :mod:`~lakehouse.tracking.writer` (buffer, spool, commit thread),
:mod:`~lakehouse.tracking.spool` (segment format and locks), :mod:`~lakehouse.tracking.recovery`,
:mod:`~lakehouse.tracking.maintenance`, :mod:`~lakehouse.query.summaries`,
:mod:`~lakehouse.tracking.environment`, :mod:`~lakehouse.tracking.validate`. The values it returns are in
:mod:`lakehouse.entities`; reading is in :mod:`lakehouse.query`. See docs/TRACKING.md.
"""

from lakehouse.entities import (
    RUN_STATUSES,
    TERMINAL_STATUSES,
    Metric,
    MetricSummary,
    RecoveryReport,
    RunComparison,
    RunInfo,
    RunInput,
    RunStatus,
    TableMaintenance,
)
from lakehouse.tracking.run import Run

__all__ = [
    "RUN_STATUSES",
    "TERMINAL_STATUSES",
    "Metric",
    "MetricSummary",
    "RecoveryReport",
    "Run",
    "RunComparison",
    "RunInfo",
    "RunInput",
    "RunStatus",
    "TableMaintenance",
]
