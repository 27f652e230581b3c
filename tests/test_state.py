"""The state a process keeps in memory: one owner per root, one way to drop it, one fork hook."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

import lakehouse
from lakehouse import state, storage
from lakehouse.catalog.tables import RUN_EVENTS
from lakehouse.integrations.mlflow import models as logged_models
from lakehouse.query import frames
from lakehouse.tracking.writer import active_writers

# Every cache kind the package keeps, by the class that holds it.
CACHES = {"_LoadedTables", "_Frames", "_Models", "_Snapshots", "_Folded", "_Folds"}


def fill(lh: lakehouse.Lakehouse) -> str:
    """Write a dataset and a run, then read them through every cached path; returns the run id."""
    lh.dataset("points").write(pl.DataFrame({"x": [1, 2, 3]}), metadata={"description": "three points"})
    with lh.start_run(experiment="exp", params={"lr": 0.1}) as run:
        run.log({"loss": 0.5}, step=1)
    lh.flush()
    lh.dataset("points").version()  # snapshots
    lh.runs()  # loaded tables, frames, the runs model
    lh.experiments()  # folded experiments
    lh.models()  # the folded model registry
    logged_models.read(lh.layout)  # folded logged models
    logged_models.metrics_of(lh.layout, frames.table_frame(lh.layout.runs, RUN_EVENTS))
    lh.metrics(run.id, "loss")  # partition index
    return run.id


def caches(lh: lakehouse.Lakehouse) -> set[str]:
    return set(lh.state.held()) - {"_Writers"}


def test_one_drop_function_drops_every_cache_and_keeps_the_writer(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    run_id = fill(lh)
    assert caches(lh) == CACHES
    assert "_Writers" in lh.state.held()
    warm = storage.live_files(lh.layout.runs)

    lh.forget()

    assert lh.state.held() == ["_Writers"]  # every cache gone, the writer kept
    assert storage.live_files(lh.layout.runs) is not warm  # loaded afresh
    assert lh.runs().get_column("run_id").to_list() == [run_id]  # and read the same
    assert lh.dataset("points").version().num_rows == 3


def test_two_roots_keep_separate_state(tmp_path: Path) -> None:
    a = lakehouse.connect(tmp_path / "a", flush_interval=60, maintenance_commits=0)
    b = lakehouse.connect(tmp_path / "b", flush_interval=60, maintenance_commits=0)
    run_a, run_b = fill(a), fill(b)
    assert a.state is not b.state
    assert state.owner(a.layout.runs) is a.state
    assert state.owner(b.layout.dataset("points")) is b.state
    assert lakehouse.connect(tmp_path / "a").state is a.state  # one owner per root, whoever connects

    a.forget()

    assert caches(a) == set()
    assert caches(b) == CACHES  # the other root's caches stay
    assert a.runs().get_column("run_id").to_list() == [run_a]
    assert b.runs().get_column("run_id").to_list() == [run_b]


def test_a_table_outside_any_root_has_its_own_state(tmp_path: Path) -> None:
    path = tmp_path / "loose" / "table"
    storage.write(path, pl.DataFrame({"x": [1]}).to_arrow(), mode="append")
    assert storage.live_files(path).version == 0
    loose = state.owner(path)
    assert loose.root == str(path)
    assert "_LoadedTables" in loose.held()
    state.forget()  # every root and loose table
    assert loose.held() == []


def test_a_forked_child_starts_with_empty_state(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    fill(lh)
    with lh.start_run(experiment="exp") as parent:
        parent.log({"p": 1.0}, step=0)  # buffered in the parent's writer at fork time
        assert caches(lh) == CACHES
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 3
            try:
                held = lh.state.held()
                writers = [w for w in active_writers() if w.layout.root == lh.root]
                buffers_empty = len(writers) == 1 and not writers[0].has_pending_work() and not writers[0].open_run_ids
                code = 0 if held == ["_Writers"] and buffers_empty else 4 if held != ["_Writers"] else 5
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert caches(lh) == CACHES  # the parent's state is its own
