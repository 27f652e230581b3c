"""Runs end to end on real Delta tables: logging, read-your-writes, statuses, params, tags, queries."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
import torch

import lakehouse
from lakehouse import storage
from lakehouse.errors import ParamConflict, RunNotActive, RunNotFound
from tests.tracking.conftest import points, table_rows

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


def test_with_block_leaves_run_finished_with_every_point_visible(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run(
        experiment="resnet", name="run-1", params={"lr": 1e-3}, tags={"team": "cv"}, job_type="train"
    ) as run:
        for step in range(100):
            run.log({"loss": 1.0 / (step + 1), "acc": step / 100}, step=step)
    runs = lh.runs(experiment="resnet")
    assert runs.height == 1
    row = runs.row(0, named=True)
    assert (row["run_id"], row["name"], row["status"], row["job_type"]) == (run.id, "run-1", "FINISHED", "train")
    assert row["params.lr"] == "0.001"
    assert row["tags.team"] == "cv"
    assert row["metrics.loss.last"] == pytest.approx(0.01)
    assert row["metrics.loss.max"] == 1.0
    assert row["metrics.acc.min"] == 0.0
    assert row["metrics.acc.last"] == 0.99
    assert row["end_time"] >= row["start_time"]
    history = lh.metrics(run.id)
    assert history.columns == ["run_id", "key", "step", "timestamp", "value"]
    assert history.height == 200
    assert history.filter(pl.col("key") == "loss").get_column("step").to_list() == list(range(100))
    assert history.schema["timestamp"] == pl.Datetime("us", "UTC")


def test_fact_table_schema_and_partitioning(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run() as run:
        run.log({"x": 1.0})
    schema = storage.arrow_schema(lh.layout.metrics)
    assert [(f.name, str(f.type)) for f in schema] == [
        ("run_id", "string"),
        ("key", "string"),
        ("step", "int64"),
        ("timestamp", "timestamp[us, tz=UTC]"),
        ("value", "double"),
    ]
    assert storage.partition_columns(lh.layout.metrics) == ["run_id"]
    protocol = storage.protocol(lh.layout.metrics)
    assert protocol["min_reader_version"] == 1
    assert protocol["min_writer_version"] <= 4


def test_auto_step_explicit_step_and_timestamps(lh: lakehouse.Lakehouse) -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    with lh.start_run() as run:
        run.log({"a": 1.0})  # step 0
        run.log({"a": 2.0})  # step 1
        run.log({"a": 3.0}, step=10)
        run.log({"a": 4.0})  # step 11
        run.log({"a": 5.0}, step=5)  # going back does not move the counter
        assert run.step == 12
        run.log({"b": 1.0}, timestamp=when)
        run.log({"b": 2.0}, timestamp=when.timestamp() + 1.5)  # seconds since the epoch, as time.time()
        run.log({"b": 3.0}, timestamp=datetime(2026, 1, 2, 3, 4, 5))  # naive = UTC
    frame = points(lh)
    assert frame.filter(pl.col("key") == "a").get_column("step").to_list() == [0, 1, 5, 10, 11]
    stamps = frame.filter(pl.col("key") == "b").sort("value").get_column("timestamp").to_list()
    assert stamps == [when, when + timedelta(seconds=1.5), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)]


def test_nan_and_infinities_round_trip(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run() as run:
        run.log({"x": math.nan}, step=0)
        run.log({"x": math.inf}, step=1)
        run.log({"x": -math.inf}, step=2)
        run.log({"x": 1.5}, step=3)
        run.log({"y": math.nan}, step=0)
    values = lh.metrics(run.id, keys="x").get_column("value").to_list()
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf, 1.5]
    raw = table_rows(lh.layout.metrics)
    assert raw is not None
    assert raw.filter(pl.col("key") == "x").get_column("value").is_nan().sum() == 1
    info = lh.run(run.id)
    assert (info.metrics["x"].min, info.metrics["x"].max, info.metrics["x"].last) == (-math.inf, math.inf, 1.5)
    # A metric that is NaN everywhere has no min/max but keeps its last value.
    assert info.metrics["y"].min is None
    assert math.isnan(info.metrics["y"].last)


def test_numeric_types_from_numpy_and_torch_are_accepted(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run() as run:
        run.log({"np32": np.float32(0.5), "np_int": np.int64(3), "py_int": 7, "torch": torch.tensor(0.25)}, step=0)
        run.log({"step_np": 1.0}, step=np.int64(4))
    got = dict(points(lh).filter(pl.col("step") == 0).select("key", "value").iter_rows())
    assert got == {"np32": 0.5, "np_int": 3.0, "py_int": 7.0, "torch": 0.25}
    assert points(lh).filter(pl.col("key") == "step_np").get_column("step").to_list() == [4]


def test_exception_marks_failed_and_keyboard_interrupt_marks_killed(lh: lakehouse.Lakehouse) -> None:
    def diverge(run: lakehouse.Run) -> None:
        run.log({"loss": 1.0})
        raise ValueError("diverged")

    def interrupt(run: lakehouse.Run) -> None:
        raise KeyboardInterrupt

    bad = lh.start_run(name="bad")
    with pytest.raises(ValueError, match="diverged"), bad:
        diverge(bad)
    stopped = lh.start_run(name="stopped")
    with pytest.raises(KeyboardInterrupt), stopped:
        interrupt(stopped)
    assert lh.run(bad.id).status == "FAILED"
    assert lh.run(bad.id).tags["lakehouse.error"] == "ValueError: diverged"
    assert lh.run(stopped.id).status == "KILLED"
    assert lh.metrics(bad.id).height == 1


def test_unfinished_run_shows_running_and_logging_after_finish_is_refused(lh: lakehouse.Lakehouse) -> None:
    run = lh.start_run(name="open")
    run.log({"a": 1.0})
    run.flush()
    assert lh.run(run.id).status == "RUNNING"
    assert lh.run(run.id).end_time is None
    assert run.finish()
    with pytest.raises(RunNotActive, match="resume"):
        run.log({"a": 2.0})
    assert run.finish() is True  # finishing twice is harmless


def test_params_are_immutable_tags_are_mutable(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run(params={"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam"}}) as run:
        run.log_params({"lr": 0.01})  # same value: fine
        with pytest.raises(ParamConflict, match="'lr'.*0.01.*0.02"):
            run.log_params({"lr": 0.02, "new": 1})
        run.set_tags({"stage": "dev", "owner": "ana"})
        run.set_tag("stage", "prod")
        run.delete_tag("owner")
        run.rename("renamed")
    info = lh.run(run.id)
    assert info.params == {"lr": "0.01", "layers": "[64, 32]", "opt": '{"name": "adam"}'}  # "new" was not kept
    assert info.tags == {"stage": "prod"}
    assert info.name == "renamed"


def test_runs_filters_lifecycle_and_experiments(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run(experiment="a", tags={"t": "1"}) as r1:
        r1.log({"m": 1.0})
    with pytest.raises(RuntimeError), lh.start_run(experiment="a", tags={"t": "2"}) as r2:
        raise RuntimeError("boom")
    with lh.start_run(experiment="b") as r3:
        pass
    assert set(lh.runs().get_column("run_id")) == {r1.id, r2.id, r3.id}
    assert lh.runs().get_column("run_id").to_list()[0] == r3.id  # newest first
    assert lh.runs("a", status="FAILED").get_column("run_id").to_list() == [r2.id]
    assert lh.runs(tags={"t": "1"}).get_column("run_id").to_list() == [r1.id]
    assert lh.runs(where=pl.col("metrics.m.last") == 1.0).get_column("run_id").to_list() == [r1.id]
    lh.delete_run(r1.id)
    assert set(lh.runs().get_column("run_id")) == {r2.id, r3.id}
    assert lh.runs(include_deleted=True).filter(pl.col("run_id") == r1.id).get_column("lifecycle").item() == "deleted"
    lh.restore_run(r1.id[:8])  # a unique prefix is enough
    assert set(lh.runs().get_column("run_id")) == {r1.id, r2.id, r3.id}
    experiments = lh.experiments()
    assert dict(experiments.select("experiment", "runs").iter_rows()) == {"a": 2, "b": 1}


def test_environment_is_recorded(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run() as run:
        pass
    env = lh.run(run.id).environment
    assert env["user"] == "tester"
    assert env["host"]
    assert env["python"]
    assert env["packages"]["polars"] == pl.__version__
    assert env["command"]
    assert env["cwd"]
    # Inside this repository the git commit is recorded (the tests run from the worktree).
    assert len(env["git_commit"]) == 40
    assert isinstance(env["git_dirty"], bool)
    assert lh.runs().get_column("git_commit").item() == env["git_commit"]


def test_metrics_downsampling_keeps_extremes_and_ends(lh: lakehouse.Lakehouse) -> None:
    values = [math.sin(i / 50) for i in range(2_000)]
    values[777] = 50.0  # a spike
    values[1234] = -60.0  # a dip
    values[1500] = math.nan
    with lh.start_run() as run:
        for step, v in enumerate(values):
            run.log({"wave": v, "flat": 1.0}, step=step)
    full = lh.metrics(run.id)
    small = lh.metrics(run.id, keys=["wave"], max_points=100)
    assert 0 < small.height <= 100
    steps = small.get_column("step").to_list()
    assert steps == sorted(steps)
    assert {0, 777, 1234, 1999} <= set(steps)
    assert small.get_column("value").max() == 50.0
    assert small.get_column("value").min() == -60.0
    assert full.height == 4_000
    both = dict(lh.metrics(run.id, max_points=8).group_by("key").len().iter_rows())
    # Each series keeps at most 8 points; a flat one needs only each bucket's two ends.
    assert both == {"wave": 8, "flat": 4}


def test_metrics_of_several_runs_and_unknown_run(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run(name="one") as one:
        one.log({"a": 1.0, "b": 2.0})
    with lh.start_run(name="two") as two:
        two.log({"a": 3.0})
    both = lh.metrics([one.id, two.id], keys="a")
    assert both.select("run_id", "value").rows() == sorted([(one.id, 1.0), (two.id, 3.0)])
    assert lh.metrics("two").height == 1  # a unique run name works too
    history = lh.metric_history(one.id, "b")
    assert [(m.key, m.value, m.step) for m in history] == [("b", 2.0, 0)]
    with pytest.raises(RunNotFound, match="no run 'nope'"):
        lh.metrics("nope")


def test_log_frame_records_many_points_at_once(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run() as run:
        n = run.log_frame(pl.DataFrame({"key": ["a", "a", "b"], "value": [1, 2, 3], "step": [0, 1, 0]}))
        assert n == 3
        assert run.step == 2
        run.log_frame({"key": ["c"], "value": [0.5]} and [{"key": "c", "value": 0.5}])
    got = points(lh).select("key", "step", "value").rows()
    assert got == [("a", 0, 1.0), ("a", 1, 2.0), ("b", 0, 3.0), ("c", 2, 0.5)]
    assert lh.run(run.id).metrics["a"].last == 2.0


def test_compare_shows_differing_params_metrics_and_inputs(lh: lakehouse.Lakehouse) -> None:
    lh.dataset("data").write(pl.DataFrame({"x": [1]}))
    lh.dataset("data").write(pl.DataFrame({"x": [2]}))
    with lh.start_run(name="a", params={"lr": 0.1, "bs": 32}, inputs=["data:v0"]) as a:
        a.log({"loss": 0.5})
    with lh.start_run(name="b", params={"lr": 0.2, "bs": 32}, inputs=["data:v1"]) as b:
        b.log({"loss": 0.4})
    result = lh.compare(["a", "b"])
    assert result.run_ids == (a.id, b.id)
    assert result.labels == {a.id: "a", b.id: "b"}
    assert result.params.rows() == [("lr", "0.1", "0.2")]
    assert result.same_params == {"bs": "32"}
    assert result.metrics.filter(pl.col("stat") == "last").rows() == [("loss", "last", 0.5, 0.4)]
    assert result.inputs.rows() == [("data", "v0", "v1")]
    assert result.to_dict()["params"] == [{"param": "lr", a.id: "0.1", b.id: "0.2"}]


def test_cached_runs_model_matches_a_fresh_fold_after_every_change(lh: lakehouse.Lakehouse) -> None:
    from lakehouse.query.runs import Tables, fold

    def check() -> None:
        cached = lh.runs(include_deleted=True)
        fresh = fold(Tables.load(lh.layout), include_deleted=True)
        assert cached.equals(fresh)

    with lh.start_run(name="a", params={"p": 1}) as a:
        a.log({"m": 1.0})
    check()
    with lh.start_run(name="b", tags={"t": "x"}) as b:
        b.log({"m": 2.0, "n": 3.0})
    check()
    lh.attach_run(a.id).set_tag("late", "1")
    lh.flush()
    check()
    lh.delete_run(b.id)
    check()
    lh.maintain()  # compaction and pruning remove files: the model starts over
    check()
    with lh.start_run(resume=a.id) as again:
        again.log({"m": 0.5})
    check()
    assert lh.runs().select("name", "metrics.m.last").rows() == [("a", 0.5)]
