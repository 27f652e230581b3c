"""Spark and Delta exceptions become lakehouse errors here, once, with the original chained."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from delta.exceptions.base import (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)
from py4j.protocol import Py4JError
from pyspark.errors import PySparkException

from lakehouse.errors import (
    CommitConflict,
    InvalidArgument,
    InvalidData,
    LakehouseError,
    SchemaMismatch,
    StorageError,
    TableNotFound,
    first_line,
)

CONFLICTS = (
    ConcurrentAppendException,
    ConcurrentDeleteDeleteException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    ConcurrentWriteException,
    DeltaConcurrentModificationException,
    MetadataChangedException,
    ProtocolChangedException,
)

_SCHEMA = ("DELTA_FAILED_TO_MERGE_FIELDS", "DELTA_MERGE_INCOMPATIBLE", "_LEGACY_ERROR_TEMP_DELTA_0007", "SCHEMA")
_DATA = (
    "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
    "DELTA_MULTIPLE_SOURCE_ROW_MATCHING_TARGET_ROW_IN_MERGE",
    "MALFORMED_RECORD_IN_PARSING",
    "CANNOT_PARSE",
    "CAST_INVALID_INPUT",
    "FAILED_READ_FILE",
    "CANNOT_READ_FILE_FOOTER",
    "CANNOT_MERGE_SCHEMAS",
    "PARQUET_COLUMN_DATA_TYPE_MISMATCH",
)


def condition(error: BaseException) -> str:
    """Spark's error condition (``PATH_NOT_FOUND``...) or an empty string."""
    if isinstance(error, PySparkException):
        return error.getCondition() or ""
    return ""


@contextmanager
def translated(what: str, path: str | os.PathLike[str] | None = None) -> Iterator[None]:
    """Translate Spark exceptions raised in the block into :mod:`lakehouse.errors`."""
    where = f" on {str(path)!r}" if path is not None else ""
    try:
        yield
    except LakehouseError:
        raise
    except CONFLICTS as e:
        msg = f"{what}{where} lost to a concurrent commit: {first_line(e)}"
        raise CommitConflict(msg) from e
    except PySparkException as e:
        code = condition(e)
        text = f"{what}{where} failed: {first_line(e)}"
        if code == "PATH_NOT_FOUND" or code.startswith("DELTA_TABLE_NOT_FOUND") or code == "DELTA_MISSING_DELTA_TABLE":
            raise TableNotFound(text) from e
        if any(code.startswith(c) for c in _SCHEMA):
            raise SchemaMismatch(text) from e
        if any(code.startswith(c) for c in _DATA):
            raise InvalidData(text) from e
        if code.startswith(("INVALID_", "UNRESOLVED_", "PARSE_SYNTAX")):
            raise InvalidArgument(text) from e
        raise StorageError(text) from e
    except Py4JError as e:
        msg = f"{what}{where} failed in the JVM: {first_line(e)}"
        raise StorageError(msg) from e
