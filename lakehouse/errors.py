"""One error tree for everything lakehouse raises.

Engine exceptions (delta-rs, Spark, MLflow) are translated into these at the boundary that talks to the
engine, with the original chained as ``__cause__``. Messages name the object and the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


class LakehouseError(Exception):
    """Root of every error lakehouse raises on purpose."""


class ConfigError(LakehouseError):
    """A setting, config file or environment variable has an invalid value."""


class InvalidName(LakehouseError, ValueError):
    """A dataset, tag, column or key name breaks the naming rules."""


class InvalidRef(LakehouseError, ValueError):
    """A reference string (``name:v3``, ``name:prod``, ``name@2026-11-01``) cannot be parsed."""


class InvalidArgument(LakehouseError, ValueError):
    """An argument has a value the operation cannot accept."""


class InvalidData(LakehouseError, ValueError):
    """Input rows cannot be written as they are (unsupported type, duplicate keys, nulls in keys...)."""


class InvalidMetadata(LakehouseError, ValueError):
    """Version metadata is not JSON-serialisable or uses a reserved key."""


class NotFound(LakehouseError, LookupError):
    """Something looked up by name or number does not exist."""


class TableNotFound(NotFound):
    """No Delta table at a location."""


class DatasetNotFound(TableNotFound):
    """No dataset of that name under the root."""


class VersionNotFound(NotFound):
    """A dataset has no such version, or the version is no longer readable."""


class TagNotFound(NotFound):
    """A dataset has no such tag."""


class TagExists(LakehouseError):
    """A tag already points at another version and ``force`` was not given."""


class SchemaMismatch(LakehouseError, ValueError):
    """Written data does not match the table's schema."""


class CommitConflict(LakehouseError):
    """A commit lost against a concurrent writer and could not be retried."""


class CommitRefused(LakehouseError, PermissionError):
    """A table on object storage is committed to by the other engine (see :mod:`lakehouse.commit_rule`)."""


class StorageError(LakehouseError):
    """The storage engine failed for a reason not covered by a more specific error."""


class RootUnavailable(StorageError):
    """A bucket root cannot be used: its bucket is missing, its endpoint unreachable, or the credentials refused."""


class ObjectNotFound(NotFound):
    """No object with that digest in the object store."""


class CorruptObject(StorageError):
    """A stored object's bytes do not hash to its digest (they are never handed out)."""


class ArtifactNotFound(NotFound):
    """A run has no artifact at that path."""


class RunNotFound(NotFound):
    """No run with that id under the root."""


class ExperimentNotFound(NotFound):
    """No experiment with that id or name in the experiment registry."""


class ExperimentExists(LakehouseError):
    """An experiment of that name is already registered (names are unique, deleted experiments included)."""


class ModelNotFound(NotFound):
    """No registered model of that name (or it is deleted), or no logged MLflow model of that id."""


class ModelVersionNotFound(NotFound):
    """A registered model has no such version, or the version is deleted."""


class AliasNotFound(NotFound):
    """A registered model has no such alias."""


class ModelExists(LakehouseError):
    """A live registered model of that name exists already."""


class RunNotActive(LakehouseError):
    """A run handle was used after :meth:`Run.finish`; resume the run to log more."""


class ParamConflict(LakehouseError, ValueError):
    """A run parameter was logged again with a different value (parameters are immutable)."""


class QueryRefused(LakehouseError, ValueError):
    """A SQL statement is not a read-only query over the lakehouse's names (a write, DDL, a file read...)."""


class QueryError(LakehouseError, ValueError):
    """A SQL query names an unknown table or column, or cannot be parsed or planned."""


class NotInstalled(LakehouseError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


class TrackingWarning(UserWarning):
    """Logging is degraded (a commit failed, the spool is unwritable); data is kept and retried.

    Emitted once per writer and kind of problem: training code never sees an exception from logging.
    """


_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def first_line(error: BaseException | str) -> str:
    """The first non-empty line of an error's text, without terminal colour codes (the engines' errors run over
    several lines; a warning or a CLI message has one), or the error's type when it has no text."""
    text = _TERMINAL_CODES.sub("", error if isinstance(error, str) else str(error))
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__ if isinstance(error, BaseException) else ""


def closest(word: str, choices: Iterable[str], *, limit: int = 3) -> str:
    """A ``; did you mean ...?`` hint listing the nearest valid choices, or an empty string."""
    import difflib

    options = sorted(set(choices))
    near = difflib.get_close_matches(word, options, n=limit, cutoff=0.5)
    if near:
        return "; did you mean " + " or ".join(repr(n) for n in near) + "?"
    if options and len(options) <= 8:
        return "; valid choices: " + ", ".join(repr(o) for o in options)
    return ""
