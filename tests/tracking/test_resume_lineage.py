"""Resuming runs, attaching to them, dataset lineage both ways, and vacuum keeping versions runs used."""

from __future__ import annotations

import polars as pl
import pytest

import lakehouse
from lakehouse.errors import InvalidArgument, ParamConflict, RunNotFound
from tests.tracking.conftest import points

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


def test_resume_continues_steps_keeps_params_and_status(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run(experiment="e", name="long", params={"lr": 0.1}) as run:
        for step in range(5):
            run.log({"loss": 1.0 - step / 10}, step=step)
    with lh.start_run(resume=run.id, params={"lr": 0.1, "phase": 2}) as again:
        assert again.id == run.id
        assert again.name == "long"
        assert again.experiment == "e"
        assert again.step == 5
        again.log({"loss": 0.1})
        with pytest.raises(ParamConflict):
            again.log_params({"lr": 0.2})
        assert lh.run(run.id).status == "FINISHED"  # nothing flushed yet: the RUNNING event is still buffered
        again.flush()
        assert lh.run(run.id).status == "RUNNING"
    info = lh.run(run.id)
    assert info.status == "FINISHED"
    assert info.params == {"lr": "0.1", "phase": "2"}
    assert info.metrics["loss"].count == 6
    assert info.metrics["loss"].last == 0.1
    assert info.metrics["loss"].last_step == 5
    assert points(lh).get_column("step").to_list() == [0, 1, 2, 3, 4, 5]
    assert lh.runs().height == 1


def test_resume_errors(lh: lakehouse.Lakehouse) -> None:
    with pytest.raises(RunNotFound):
        lh.start_run(resume="0123456789abcdef")
    run = lh.start_run(experiment="e")
    with pytest.raises(InvalidArgument, match="still active"):
        lh.start_run(resume=run.id)
    run.finish()
    with pytest.raises(InvalidArgument, match="experiment 'e'"):
        lh.start_run(resume=run.id, experiment="other")


def test_attach_logs_without_changing_status(lh: lakehouse.Lakehouse) -> None:
    with lh.start_run(params={"a": 1}) as run:
        run.log({"m": 1.0})
    handle = lh.attach_run(run.id)
    assert handle.step == 1
    assert handle.params == {"a": "1"}
    handle.log({"m": 2.0})
    handle.set_tag("late", "yes")
    handle.flush()
    info = lh.run(run.id)
    assert info.status == "FINISHED"
    assert info.tags == {"late": "yes"}
    assert info.metrics["m"].count == 2


def test_lineage_both_ways_and_refs_resolve_to_versions(lh: lakehouse.Lakehouse) -> None:
    train = lh.dataset("mnist-train")
    train.write(pl.DataFrame({"x": [1, 2]}))
    train.write(pl.DataFrame({"x": [3]}))
    train.tag("prod", version=0)
    lh.dataset("mnist-val").write(pl.DataFrame({"x": [9]}))
    with lh.start_run(name="uses-prod", inputs=["mnist-train:prod"]) as a:
        a.use_dataset("mnist-val", context="validation")
    with lh.start_run(name="uses-latest", inputs=["mnist-train"]) as b:
        pass
    assert [i.version_ref for i in a.inputs] == ["mnist-train:v0", "mnist-val:v0"]
    assert [(i.ref, i.context) for i in lh.run(a.id).inputs] == [
        ("mnist-train:prod", None),
        ("mnist-val", "validation"),
    ]
    assert lh.lineage("mnist-train:v0").get_column("run_id").to_list() == [a.id]
    assert lh.lineage("mnist-train:prod").get_column("run_id").to_list() == [a.id]
    assert lh.lineage("mnist-train:v1").get_column("run_id").to_list() == [b.id]
    assert lh.lineage("mnist-train").get_column("run_id").to_list() == [b.id]  # latest = v1
    assert lh.lineage("mnist-val:v0").get_column("inputs").to_list() == [["mnist-train:v0", "mnist-val:v0"]]
    # Moving the tag later does not change what the run used.
    train.tag("prod", version=1, force=True)
    assert lh.lineage("mnist-train:v0").get_column("run_id").to_list() == [a.id]


def test_vacuum_keeps_a_version_a_run_used(lh: lakehouse.Lakehouse) -> None:
    ds = lh.dataset("features")
    ds.write(pl.DataFrame({"x": [1, 2, 3]}))
    ds.write(pl.DataFrame({"x": [4]}), mode="overwrite")
    ds.write(pl.DataFrame({"x": [5]}), mode="overwrite")
    with lh.start_run(inputs=["features:v0"]):
        pass
    assert ds.pinned_versions() == {0: ["run"]}
    removed = ds.vacuum(retention_hours=0)
    assert removed  # v1's files are gone...
    assert lh.read("features:v0").get_column("x").to_list() == [1, 2, 3]  # ...but v0, used by a run, stays readable
    with pytest.raises(lakehouse.LakehouseError):
        lh.read("features:v1").height  # noqa: B018 - unpinned and vacuumed
