"""Bad input is refused at call time with a clear error, and nothing reaches the tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl
import pytest

import lakehouse
from lakehouse.errors import (
    DatasetNotFound,
    InvalidArgument,
    InvalidData,
    InvalidName,
    InvalidRef,
    LakehouseError,
    ParamConflict,
    RunNotActive,
)
from tests.tracking.conftest import tables_state

Case = Callable[[lakehouse.Run], Any]

RUN_CASES: list[tuple[str, Case, type[LakehouseError], str]] = [
    ("empty key", lambda r: r.log({"": 1.0}), InvalidName, "must not be empty"),
    ("key too long", lambda r: r.log({"k" * 251: 1.0}), InvalidName, "251 characters"),
    ("key not a string", lambda r: r.log({3: 1.0}), InvalidName, "must be a string"),
    ("key with spaces around", lambda r: r.log({" loss": 1.0}), InvalidName, "spaces"),
    ("key with newline", lambda r: r.log({"lo\nss": 1.0}), InvalidName, "control characters"),
    ("string value", lambda r: r.log({"loss": "high"}), InvalidArgument, "'loss' must be a number"),
    ("bool value", lambda r: r.log({"loss": True}), InvalidArgument, "bool"),
    ("numpy bool value", lambda r: r.log({"loss": np.bool_(True)}), InvalidArgument, "bool"),
    ("None value", lambda r: r.log({"loss": None}), InvalidArgument, "must be a number"),
    ("array value", lambda r: r.log({"loss": np.array([1.0, 2.0])}), InvalidArgument, "cannot convert"),
    ("one bad value spoils the call", lambda r: r.log({"ok": 1.0, "bad": "x"}), InvalidArgument, "'bad'"),
    ("float step", lambda r: r.log({"loss": 1.0}, step=1.5), InvalidArgument, "step must be an integer"),
    ("step beyond int64", lambda r: r.log({"loss": 1.0}, step=2**63), InvalidArgument, "64-bit"),
    ("text timestamp", lambda r: r.log({"loss": 1.0}, timestamp="now"), InvalidArgument, "timestamp must be"),
    ("infinite timestamp", lambda r: r.log({"loss": 1.0}, timestamp=float("inf")), InvalidArgument, "finite"),
    ("not a mapping", lambda r: r.log(["loss", 1.0]), InvalidArgument, "mapping"),  # type: ignore[arg-type]
    ("param changed", lambda r: r.log_params({"lr": 0.5}), ParamConflict, "immutable"),
    ("empty param key", lambda r: r.log_params({"": 1}), InvalidName, "param key"),
    ("param value too long", lambda r: r.log_params({"p": "x" * 6001}), InvalidArgument, "6001 characters"),
    ("tag set to None", lambda r: r.set_tags({"t": None}), InvalidArgument, "delete_tag"),
    ("unknown dataset", lambda r: r.use_dataset("nope:v0"), DatasetNotFound, "'nope'"),
    ("bad reference", lambda r: r.use_dataset("Bad Name"), InvalidRef, "Bad Name"),
    (
        "frame with text values",
        lambda r: r.log_frame(pl.DataFrame({"key": ["a"], "value": ["x"]})),
        InvalidData,
        "numeric",
    ),
    ("frame without key", lambda r: r.log_frame(pl.DataFrame({"value": [1.0]})), InvalidData, "'key' column"),
    ("frame with bad key", lambda r: r.log_frame(pl.DataFrame({"key": [""], "value": [1.0]})), InvalidName, "empty"),
    ("bad status", lambda r: r.finish("DONE"), InvalidArgument, "invalid run status"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("case", "call", "error", "match"), RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_bad_call_raises_and_writes_nothing(
    lh: lakehouse.Lakehouse, case: str, call: Case, error: type[LakehouseError], match: str
) -> None:
    run = lh.start_run(params={"lr": 0.1})
    run.log({"loss": 1.0}, step=0)
    assert run.flush()
    before = tables_state(lh)
    step_before = run.step
    with pytest.raises(error, match=match):
        call(run)
    assert run.flush()
    assert tables_state(lh) == before, f"{case}: something was written"
    assert run.step == step_before
    assert lh.metrics(run.id).height == 1
    assert lh.run(run.id).params == {"lr": "0.1"}


START_CASES: list[tuple[str, dict[str, Any], type[LakehouseError], str]] = [
    ("empty experiment", {"experiment": ""}, InvalidName, "experiment name"),
    ("long run name", {"name": "n" * 300}, InvalidName, "run name"),
    ("params not a mapping", {"params": [("lr", 1)]}, InvalidArgument, "params must be a mapping"),
    ("bad param key", {"params": {"": 1}}, InvalidName, "param key"),
    ("unknown input", {"inputs": ["ghost:v0"]}, DatasetNotFound, "'ghost'"),
    ("missing version", {"inputs": ["data:v9"]}, LakehouseError, "no version 9"),
    ("bad tag", {"tags": {"t": None}}, InvalidArgument, "tag 't'"),
]


@pytest.mark.parametrize(("case", "kwargs", "error", "match"), START_CASES, ids=[c[0] for c in START_CASES])
def test_bad_start_raises_and_records_no_run(
    lh: lakehouse.Lakehouse, case: str, kwargs: dict[str, Any], error: type[LakehouseError], match: str
) -> None:
    lh.dataset("data").write(pl.DataFrame({"x": [1]}))
    with lh.start_run(name="before") as before_run:
        before_run.log({"a": 1.0})
    before = tables_state(lh)
    with pytest.raises(error, match=match):
        lh.start_run(**kwargs)
    assert lh.flush()
    assert tables_state(lh) == before, f"{case}: something was written"
    assert lh.runs().height == 1


def test_logging_to_a_finished_run_is_refused(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run() as run:
        run.log({"a": 1.0})
    before = tables_state(lh)
    for call in (lambda: run.log({"a": 2.0}), lambda: run.log_params({"x": 1}), lambda: run.set_tags({"t": "v"})):
        with pytest.raises(RunNotActive, match=run.id):
            call()
    assert lh.flush()
    assert tables_state(lh) == before


def test_bad_query_arguments(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run() as run:
        run.log({"a": 1.0})
    with pytest.raises(InvalidArgument, match="max_points"):
        lh.metrics(run.id, max_points=2)
    with pytest.raises(InvalidArgument, match="invalid status filter 'DONE'"):
        lh.runs(status="DONE")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="at least one run"):
        lh.compare([])
