"""Lakehouse errors as MLflow exceptions, translated once at the store's boundary.

MLflow clients and the MLflow server act on ``MlflowException.error_code`` (the server turns it into the HTTP
status), so every store method raises MlflowExceptions only: a lakehouse error keeps its message and gets the
code MLflow's own stores use for the same situation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar, cast

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    NOT_IMPLEMENTED,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)

from lakehouse.errors import (
    CommitConflict,
    ExperimentExists,
    InvalidArgument,
    InvalidData,
    InvalidName,
    InvalidRef,
    LakehouseError,
    ModelExists,
    NotFound,
    ParamConflict,
    RunNotActive,
    StorageError,
)

F = TypeVar("F", bound=Callable[..., Any])

_CODES: tuple[tuple[type[LakehouseError], int], ...] = (
    (NotFound, RESOURCE_DOES_NOT_EXIST),
    (ExperimentExists, RESOURCE_ALREADY_EXISTS),
    (ModelExists, RESOURCE_ALREADY_EXISTS),
    (ParamConflict, INVALID_PARAMETER_VALUE),
    (InvalidName, INVALID_PARAMETER_VALUE),
    (InvalidRef, INVALID_PARAMETER_VALUE),
    (InvalidArgument, INVALID_PARAMETER_VALUE),
    (InvalidData, INVALID_PARAMETER_VALUE),
    (RunNotActive, INVALID_PARAMETER_VALUE),
    # A commit that kept losing to concurrent writers, or storage trouble: worth a retry by the client.
    (CommitConflict, TEMPORARILY_UNAVAILABLE),
    (StorageError, TEMPORARILY_UNAVAILABLE),
)


def to_mlflow(error: LakehouseError) -> MlflowException:
    """The MlflowException for a lakehouse error (same message, MLflow's error code for the situation)."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return MlflowException(str(error), error_code=code)
    return MlflowException(str(error), error_code=INTERNAL_ERROR)


def translated(method: F) -> F:
    """Decorate a store method so lakehouse errors leave it as MlflowExceptions (cause chained)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except LakehouseError as e:
            raise to_mlflow(e) from e

    return cast(F, wrapper)


def invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def not_found(message: str) -> MlflowException:
    return MlflowException(message, error_code=RESOURCE_DOES_NOT_EXIST)


UNSUPPORTED_HINT = (
    "the lakehouse tracking store keeps experiments, runs, params, tags, metrics and dataset inputs; "
    "use a SQL tracking store (e.g. sqlite:///mlflow.db) for this feature"
)


def unsupported(feature: str) -> NoReturn:
    """Raise the clear 'not implemented' error (HTTP 501 from the server, never a 500) for a 3.x feature."""
    msg = f"{feature} is not supported by the lakehouse tracking store: {UNSUPPORTED_HINT}"
    raise MlflowException(msg, error_code=NOT_IMPLEMENTED)
