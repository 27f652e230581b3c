"""Versioned datasets: write, read, history, tags, diff and retention."""

from lakehouse.datasets.dataset import Dataset
from lakehouse.datasets.diff import DatasetDiff
from lakehouse.datasets.versions import DatasetInfo, DatasetVersion, SchemaChange

__all__ = ["Dataset", "DatasetDiff", "DatasetInfo", "DatasetVersion", "SchemaChange"]
