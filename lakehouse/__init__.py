"""lakehouse: versioned datasets and ML run metrics in Delta Lake tables.

>>> import lakehouse
>>> lh = lakehouse.connect("/tmp/lh")
>>> v = lh.dataset("mnist-train").write(frame, created_by="data-eng")
>>> lh.read("mnist-train:v0")
>>> with lh.start_run(experiment="mnist", params={"lr": 1e-3}, inputs=["mnist-train:v0"]) as run:
...     run.log({"loss": 0.3}, step=1)
>>> lh.runs(experiment="mnist")
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

# Light modules (no polars, pyarrow or delta-rs) load at once; the rest on first use, below.
from lakehouse.config import Settings, load_settings
from lakehouse.errors import (
    AliasNotFound,
    ArtifactNotFound,
    CommitConflict,
    CommitRefused,
    ConfigError,
    CorruptObject,
    DatasetNotFound,
    ExperimentExists,
    ExperimentNotFound,
    InvalidArgument,
    InvalidData,
    InvalidMetadata,
    InvalidName,
    InvalidRef,
    LakehouseError,
    ModelExists,
    ModelNotFound,
    ModelVersionNotFound,
    NotFound,
    NotInstalled,
    ObjectNotFound,
    ParamConflict,
    QueryError,
    QueryRefused,
    RootUnavailable,
    RunNotActive,
    RunNotFound,
    SchemaMismatch,
    StorageError,
    TableNotFound,
    TagExists,
    TagNotFound,
    TrackingWarning,
    VersionNotFound,
)
from lakehouse.refs import Ref, parse_ref

if TYPE_CHECKING:
    from lakehouse.catalog.tags import TagEvent
    from lakehouse.client import Lakehouse, connect
    from lakehouse.datasets import Dataset, DatasetDiff, DatasetInfo, DatasetVersion, SchemaChange
    from lakehouse.entities import AliasChange, ModelLineage, ModelVersion, RegisteredModel
    from lakehouse.location import Location
    from lakehouse.maintenance import MaintenanceReport
    from lakehouse.objects import ObjectRef, ObjectStore
    from lakehouse.registry import Model
    from lakehouse.tracking import (
        Metric,
        MetricSummary,
        RecoveryReport,
        Run,
        RunComparison,
        RunInfo,
        RunInput,
        RunStatus,
    )
    from lakehouse.tracking.artifacts import Artifact

__version__ = "0.1.0"

# Names load on first use (PEP 562): ``import lakehouse`` stays cheap, so ``lakehouse --help`` and other
# commands that never touch a table do not pay for polars, pyarrow and delta-rs (1.5 s of imports).
_HOMES = {
    "TagEvent": "lakehouse.catalog.tags",
    "Lakehouse": "lakehouse.client",
    "Location": "lakehouse.location",
    "connect": "lakehouse.client",
    "MaintenanceReport": "lakehouse.maintenance",
    **dict.fromkeys(("AliasChange", "ModelLineage", "ModelVersion", "RegisteredModel"), "lakehouse.entities"),
    "Model": "lakehouse.registry",
    "ObjectRef": "lakehouse.objects",
    "ObjectStore": "lakehouse.objects",
    "Artifact": "lakehouse.tracking.artifacts",
    **dict.fromkeys(("Dataset", "DatasetDiff", "DatasetInfo", "DatasetVersion", "SchemaChange"), "lakehouse.datasets"),
    **dict.fromkeys(
        (
            "Metric",
            "MetricSummary",
            "RecoveryReport",
            "Run",
            "RunComparison",
            "RunInfo",
            "RunInput",
            "RunStatus",
        ),
        "lakehouse.tracking",
    ),
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        # ``lakehouse.storage`` and other submodules, as an eager package would have them after its imports.
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            return importlib.import_module(f"{__name__}.{name}")
        msg = f"module 'lakehouse' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    # entry point
    "connect",
    "Lakehouse",
    "Location",
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
    # the model registry
    "Model",
    "RegisteredModel",
    "ModelVersion",
    "AliasChange",
    "ModelLineage",
    # artifacts and the object store
    "Artifact",
    "ObjectRef",
    "ObjectStore",
    # references
    "Ref",
    "parse_ref",
    # errors
    "LakehouseError",
    "ConfigError",
    "InvalidName",
    "InvalidRef",
    "QueryRefused",
    "QueryError",
    "InvalidArgument",
    "InvalidData",
    "InvalidMetadata",
    "NotFound",
    "TableNotFound",
    "RootUnavailable",
    "DatasetNotFound",
    "VersionNotFound",
    "TagNotFound",
    "TagExists",
    "SchemaMismatch",
    "CommitConflict",
    "CommitRefused",
    "StorageError",
    "NotInstalled",
    "RunNotFound",
    "RunNotActive",
    "ExperimentNotFound",
    "ExperimentExists",
    "ParamConflict",
    "ModelNotFound",
    "ModelVersionNotFound",
    "AliasNotFound",
    "ModelExists",
    "TrackingWarning",
    "ArtifactNotFound",
    "ObjectNotFound",
    "CorruptObject",
]
