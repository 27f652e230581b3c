"""The one run fold: ``lh.runs()``, ``lh.run()`` and the MLflow view agree, events apply in the order they were
applied, and the latest value of a metric is MLflow's."""

from __future__ import annotations

import math
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from mlflow import MlflowClient

import lakehouse
from lakehouse import storage
from lakehouse.catalog.tables import RUN_EVENTS
from lakehouse.integrations.mlflow.uri import uri_for

T0 = 1_700_000_000_000  # ms
TIED = T0 + 10  # the end time both writers give, to the millisecond

# Another process (its own writer) ends and tags the runs the test process created, at the same given times.
pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root

OTHER_WRITER = """
import sys
from mlflow import MlflowClient
uri, first, second, tied = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
client = MlflowClient(uri)
client.set_tag(first, "stage", "other")
client.log_param(first, "batch", "32")
client.set_terminated(first, "FINISHED", end_time=tied)
client.set_tag(second, "stage", "other")
client.set_terminated(second, "KILLED", end_time=tied)
"""


def _views(lh: lakehouse.Lakehouse, client: MlflowClient, run_id: str) -> list[dict[str, Any]]:
    """Status, end time (ms), tags and params of one run as lh.runs(), lh.run() and MLflow's get_run show it."""
    row = lh.runs(run_ids=run_id).row(0, named=True)
    info = lh.run(run_id)
    run = client.get_run(run_id)

    def ms(at: datetime | None) -> int | None:
        return None if at is None else int(at.timestamp() * 1000)

    def prefixed(prefix: str) -> dict[str, str]:
        return {k.removeprefix(prefix): v for k, v in row.items() if k.startswith(prefix) and v is not None}

    mlflow_tags = {k: v for k, v in run.data.tags.items() if k != "mlflow.runName"}
    return [
        {"status": row["status"], "end": ms(row["end_time"]), "tags": prefixed("tags."), "params": prefixed("params.")},
        {"status": info.status, "end": ms(info.end_time), "tags": info.tags, "params": info.params},
        {"status": run.info.status, "end": run.info.end_time, "tags": mlflow_tags, "params": run.data.params},
    ]


@pytest.mark.local_only("MLflow's lakehouse: URIs name local roots only so far")
def test_views_agree_on_events_of_two_writers_at_the_same_times(root: Path) -> None:
    uri = uri_for(root)
    client = MlflowClient(uri)
    exp = client.create_experiment("tied")
    first = client.create_run(exp, start_time=T0, run_name="first").info.run_id
    second = client.create_run(exp, start_time=T0, run_name="second").info.run_id
    for run_id in (first, second):
        client.set_tag(run_id, "stage", "this")
        client.log_param(run_id, "lr", "0.1")
    client.set_terminated(first, "FAILED", end_time=TIED)

    done = subprocess.run(
        [sys.executable, "-c", OTHER_WRITER, uri, first, second, str(TIED)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr

    client.set_tag(second, "stage", "this again")
    client.set_terminated(second, "FINISHED", end_time=TIED)  # applied last, with the same time as the other's
    lh = lakehouse.connect(root)
    lh.flush()
    events = storage.scan(lh.layout.runs).filter(pl.col("kind") == "status").collect()
    assert events.filter(pl.col("at") == datetime.fromtimestamp(TIED / 1000, UTC)).get_column("writer").n_unique() == 2

    # The newest event is the one applied last, whichever writer applied it and whatever its number there.
    expected = {
        first: {"status": "FINISHED", "end": TIED, "tags": {"stage": "other"}, "params": {"lr": "0.1", "batch": "32"}},
        second: {"status": "FINISHED", "end": TIED, "tags": {"stage": "this again"}, "params": {"lr": "0.1"}},
    }
    for run_id, want in expected.items():
        assert _views(lh, client, run_id) == [want, want, want]
    for status, names in (("FINISHED", ["first", "second"]), ("FAILED", []), ("KILLED", [])):
        found = client.search_runs([exp], f"attributes.status = '{status}'", order_by=["attributes.run_name"])
        assert [r.info.run_name for r in found] == names
        assert sorted(lh.runs(status=status).get_column("name").to_list()) == names


def _old_row(run_id: str, kind: str, at_ms: int, writer: str, seq: int, **fields: Any) -> dict[str, Any]:
    at = datetime.fromtimestamp(at_ms / 1000, UTC)
    return {"run_id": run_id, "kind": kind, "at": at, "writer": writer, "seq": seq, **fields}


@pytest.mark.local_only("checked against MLflow, whose lakehouse: URIs name local roots only so far")
def test_rows_numbered_by_a_counter_still_fold_by_their_times(lh: lakehouse.Lakehouse) -> None:
    # Rows as writers numbered them before the application clock: seq counts from 1 per writer, and the
    # order is (at, writer, seq). Two writers tie at T0 + 5: writer "b" sorts after "a".
    run_id = "0" * 31 + "1"
    rows = [
        _old_row(run_id, "created", T0, "a", 1, experiment="default", name="old"),
        _old_row(run_id, "status", T0, "a", 2, value="RUNNING"),
        _old_row(run_id, "tag", T0 + 5, "b", 1, key="stage", value="from b"),
        _old_row(run_id, "tag", T0 + 5, "a", 7, key="stage", value="from a"),
        _old_row(run_id, "status", T0 + 5, "a", 8, value="FAILED"),
        _old_row(run_id, "status", T0 + 5, "b", 2, value="FINISHED"),
        _old_row(run_id, "param", T0 + 1, "a", 3, key="lr", value="0.1"),
    ]
    storage.append(lh.layout.runs, RUN_EVENTS.from_rows(rows), configuration=RUN_EVENTS.properties(lh.settings))
    info = lh.run(run_id)
    assert (info.status, info.tags, info.params) == ("FINISHED", {"stage": "from b"}, {"lr": "0.1"})
    assert info.end_time == datetime.fromtimestamp((T0 + 5) / 1000, UTC)
    run = MlflowClient(uri_for(lh.root)).get_run(run_id)
    assert (run.info.status, run.info.end_time, run.data.tags["stage"]) == ("FINISHED", T0 + 5, "from b")

    # Resumed by today's writer: its events come after every older one, though their times are earlier.
    resumed = lh.start_run(resume=run_id, start_time=datetime.fromtimestamp(T0 / 1000, UTC))
    resumed.set_tags({"stage": "resumed"})
    resumed.flush()
    row = lh.runs(run_ids=run_id).row(0, named=True)
    assert (row["status"], row["end_time"], row["tags.stage"]) == ("RUNNING", None, "resumed")
    resumed.finish()
    assert lh.run(run_id).status == "FINISHED"


@pytest.mark.local_only("checked against MLflow, whose lakehouse: URIs name local roots only so far")
@pytest.mark.parametrize("flushes", [1, 2])
def test_latest_value_among_points_of_one_step_and_time_is_the_greatest(lh: lakehouse.Lakehouse, flushes: int) -> None:
    at = datetime.fromtimestamp(T0 / 1000, UTC)
    with lh.start_run(name="ties") as run:
        for value in (0.9, 0.3, float("nan"), -1.0):
            run.log({"loss": value, "nan_wins": -abs(value)}, step=4, timestamp=at)
            if flushes == 2:
                run.flush()
        run.log({"loss": 5.0}, step=3, timestamp=at)  # an earlier step never wins
    row = lh.runs(run_ids=run.id).row(0, named=True)
    summary = lh.run(run.id).metrics
    assert row["metrics.loss.last"] == summary["loss"].last == 0.9
    # NaN ranks as 0 (as MLflow's SQL store keeps it): above -0.9, -0.3 and -1.0.
    assert math.isnan(row["metrics.nan_wins.last"])
    assert math.isnan(summary["nan_wins"].last)
    mlflow_run = MlflowClient(uri_for(lh.root)).get_run(run.id)
    assert mlflow_run.data.metrics["loss"] == 0.9


def test_one_run_and_the_runs_frame_agree_on_last_seen(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    # Two writers: the newest point by time is not the last by step. last_seen is the newest sign of life.
    later = datetime.now(UTC).replace(microsecond=0).timestamp() + 3600
    run = lh.start_run(experiment="seen")
    run.log_frame(pl.DataFrame({"key": ["m"], "value": [1.0], "step": [10], "timestamp": [later]}))
    run.flush()
    other = lakehouse.connect(lh.root, spool_dir=str(tmp_path / "other-writer"))
    other.attach_run(run.id).log_frame(
        pl.DataFrame({"key": ["m"], "value": [2.0], "step": [1], "timestamp": [later + 60]})
    )
    other.flush()
    shown = lh.runs().filter(pl.col("run_id") == run.id).get_column("last_seen")[0]
    assert shown == datetime.fromtimestamp(later + 60, UTC)
    assert lh.run(run.id).last_seen == shown
    assert lh.run(run.id).metrics["m"].last_step == 10  # the summary's last point is still the last by step


def test_keys_named_like_the_frame_s_own_columns_become_their_own_columns(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run(experiment="names", params={"run_id": "p", "value": 1}, tags={"key": "t"}) as run:
        run.log({"run_id": 0.5, "last": 2.0}, step=3)
    shown = lh.runs().row(0, named=True)
    assert shown["run_id"] == run.id
    assert (shown["params.run_id"], shown["params.value"], shown["tags.key"]) == ("p", "1", "t")
    assert (shown["metrics.run_id.last"], shown["metrics.last.max"]) == (0.5, 2.0)
