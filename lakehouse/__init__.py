"""lakehouse: versioned datasets and ML run metrics in Delta Lake tables.

>>> import lakehouse
>>> lh = lakehouse.connect("/tmp/lh")
>>> v = lh.dataset("mnist-train").write(frame, created_by="data-eng")
>>> lh.read("mnist-train:v0")
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
    SchemaMismatch,
    StorageError,
    TagExists,
    TagNotFound,
    VersionNotFound,
)
from lakehouse.refs import Ref, parse_ref

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
]
