"""lakehouse: versioned datasets and ML run metrics in Delta Lake tables.

>>> import lakehouse
>>> lh = lakehouse.connect("/tmp/lh")
>>> v = lh.dataset("mnist-train").write(frame, created_by="data-eng")
>>> lh.read("mnist-train:v0")
>>> with lh.start_run(experiment="mnist", params={"lr": 1e-3}, inputs=["mnist-train:v0"]) as run:
...     run.log({"loss": 0.3}, step=1)
>>> lh.runs(experiment="mnist")
"""

from lakehouse.catalog.tags import TagEvent
from lakehouse.client import Lakehouse, connect
from lakehouse.config import Settings, load_settings
from lakehouse.datasets import Dataset, DatasetDiff, DatasetInfo, DatasetVersion, SchemaChange
from lakehouse.errors import (
    CommitConflict,
    ConfigError,
    DatasetNotFound,
    InvalidArgument,
    InvalidData,
    InvalidMetadata,
    InvalidName,
    InvalidRef,
    LakehouseError,
    NotFound,
    NotInstalled,
    ParamConflict,
    RunNotActive,
    RunNotFound,
    SchemaMismatch,
    StorageError,
    TagExists,
    TagNotFound,
    TrackingWarning,
    VersionNotFound,
)
from lakehouse.refs import Ref, parse_ref
from lakehouse.tracking import (
    MaintenanceReport,
    Metric,
    MetricSummary,
    RecoveryReport,
    Run,
    RunComparison,
    RunInfo,
    RunInput,
    RunStatus,
)

__version__ = "0.1.0"

__all__ = [
    # entry point
    "connect",
    "Lakehouse",
    "Settings",
    "load_settings",
    # datasets
    "Dataset",
    "DatasetVersion",
    "DatasetInfo",
    "DatasetDiff",
    "SchemaChange",
    "TagEvent",
    # runs and metrics
    "Run",
    "RunInfo",
    "RunStatus",
    "RunInput",
    "Metric",
    "MetricSummary",
    "RunComparison",
    "RecoveryReport",
    "MaintenanceReport",
    # references
    "Ref",
    "parse_ref",
    # errors
    "LakehouseError",
    "ConfigError",
    "InvalidName",
    "InvalidRef",
    "InvalidArgument",
    "InvalidData",
    "InvalidMetadata",
    "NotFound",
    "DatasetNotFound",
    "VersionNotFound",
    "TagNotFound",
    "TagExists",
    "SchemaMismatch",
    "CommitConflict",
    "StorageError",
    "NotInstalled",
    "RunNotFound",
    "RunNotActive",
    "ParamConflict",
    "TrackingWarning",
]
