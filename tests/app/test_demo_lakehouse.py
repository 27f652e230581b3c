"""The sample lakehouse (``lakehouse demo``): its training runs, and every page of the app on it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse.demo import training
from tests.app.conftest import OpenApp, errors, frames, html_table, metrics


def test_the_runs_are_real_fits_with_lineage(demo_lakehouse: Path) -> None:
    lh = lakehouse.connect(demo_lakehouse)
    runs = lh.runs(training.EXPERIMENT)
    by_name = {r["name"]: r for r in runs.iter_rows(named=True)}
    assert set(by_name) == {r.name for r in training.RECIPES}
    assert {r["status"] for r in by_name.values()} == {"FINISHED"}
    # Inputs are the versions the refs named when the run started: prod -> v1, candidate -> v2.
    assert by_name["baseline"]["inputs"] == ["digits-test:v0", "digits-train:v1"]
    assert by_name["raw-labels"]["inputs"] == ["digits-test:v0", "digits-train:v0"]
    assert by_name["augmented"]["inputs"] == ["digits-test:v0", "digits-train:v2"]
    assert by_name["wide"]["params.units"] == "256"
    assert by_name["baseline"]["params.optimizer.learning_rate"].startswith("0.001")
    for name, row in by_name.items():
        assert 0.0 < row["metrics.test_accuracy.last"] <= 1.0, name
    assert by_name["baseline"]["metrics.test_accuracy.last"] > 0.85  # a real model that learned the digits
    assert by_name["slow-lr"]["metrics.test_accuracy.last"] < by_name["baseline"]["metrics.test_accuracy.last"]
    # The overfitting run: validation loss bottoms out early, then climbs while training loss keeps falling.
    points = lh.metrics(by_name["overfit"]["run_id"], keys=["loss", "val_loss"])
    val = points.filter(pl.col("key") == "val_loss").sort("step").get_column("value")
    train = points.filter(pl.col("key") == "loss").sort("step").get_column("value")
    assert val.arg_min() < len(val) - 10
    assert val[-1] > val.min() * 1.1
    assert train[-1] < train[int(val.arg_min())]
    used = lh.lineage("digits-train:prod")
    assert set(used.get_column("name")) == {"baseline", "wide", "fast-lr", "slow-lr", "overfit"}


def test_every_runs_model_is_registered_and_production_is_the_best(demo_lakehouse: Path, tmp_path: Path) -> None:
    lh = lakehouse.connect(demo_lakehouse)
    names = {r.id: r.name for r in map(lh.run, lh.runs(training.EXPERIMENT).get_column("run_id"))}
    versions = lh.model(training.MODEL).versions()
    assert [names[v.run_id or ""] for v in versions] == [r.name for r in training.RECIPES]
    accuracy = {v.version: lh.run(v.run_id or "").metrics["test_accuracy"].last for v in versions}
    production = lh.model_version(f"{training.MODEL}:production")
    assert accuracy[production.version] == max(accuracy.values())
    (change,) = lh.model(training.MODEL).alias_history()
    assert names[production.run_id or ""] in (change.reason or "")
    # The version's file is the Keras model its run trained: it loads and scores what the run logged.
    assert lh.model_files(production.ref).get_column("path").to_list() == [training.MODEL_PATH]
    keras = training._keras()
    saved = lh.artifact(production.run_id or "", training.MODEL_PATH).download(tmp_path)
    net = keras.saving.load_model(saved)
    x_test, y_test = training.arrays(lh.read(f"{training.TEST}:prod"))
    _, score = net.evaluate(x_test, y_test, verbose=0)
    assert score == pytest.approx(accuracy[production.version], abs=1e-6)


def test_every_page_on_the_sample(demo_lakehouse: Path, open_app: OpenApp) -> None:
    lh = lakehouse.connect(demo_lakehouse)
    ids = dict(lh.runs().select("name", "run_id").rows())
    at = open_app(demo_lakehouse)
    assert at.selectbox(key="dataset").value == "digits-train"
    history = frames(at)["history_table"]
    assert history.select("version", "created_by", "labelled_by").rows() == [
        (2, "ml-eng", None),
        (1, "alice", "annotation-team"),
        (0, "data-eng", "uci-original-annotators"),
    ]
    at = open_app(demo_lakehouse, tab="Diff", a="v0", b="v1")
    assert metrics(at)["Changed rows"] == "36"
    assert frames(at)["diff_changed"].columns[:4] == ["id", "changed_columns", "label", "label_before"]
    at = open_app(demo_lakehouse, dataset="digits-images", tab="Files", files_label="7")
    grid = next(e for e in at.get("image"))
    assert len(grid.proto.imgs) == 48  # a page of the sevens, as thumbnails with their label under them
    assert {i.caption.split(" · ")[0] for i in grid.proto.imgs} == {"7"}
    at = open_app(demo_lakehouse, dataset="digits-images", tab="Diff", a="v0", b="v1")
    assert (metrics(at)["Added rows"], metrics(at)["Removed rows"]) == ("36", "36")  # moved to the right folder
    at = open_app(demo_lakehouse, tab="Runs")
    assert at.selectbox(key="runs_version").value == 1  # the version most runs trained on (prod)
    assert set(frames(at)["lineage_table"].get_column("name")) == {"baseline", "wide", "fast-lr", "slow-lr", "overfit"}

    at = open_app(demo_lakehouse, "views/experiments.py")
    assert frames(at)["runs_table"].height == len(training.RECIPES)
    picked = [ids["baseline"], ids["augmented"], ids["fast-lr"]]
    at = open_app(demo_lakehouse, "views/compare.py", runs=",".join(picked))
    assert not errors(at)
    assert at.multiselect(key="compare_keys").value == ["loss", "val_loss", "accuracy", "val_accuracy"]
    params = {r[0]: r[1:] for r in html_table(at, "params_table").rows}
    assert [float(v) for v in params["optimizer.learning_rate"]] == pytest.approx([1e-3, 1e-3, 1e-2])
    at = open_app(demo_lakehouse, "views/compare.py", runs=",".join(picked), compare_inputs="true")
    inputs = frames(at)["inputs_table"]
    assert inputs.filter(pl.col("dataset") == "digits-train").row(0)[1:] == ("v1", "v2", "v1")

    at = open_app(demo_lakehouse, "views/run.py", run="overfit")
    assert metrics(at)["Status"] == "FINISHED"
    assert dict(frames(at)["run_params_table"].rows())["train_limit"] == "200"
    assert len(at.get("bidi_component")) == len(lh.run(ids["overfit"]).metrics)

    assert frames(at)["run_artifacts_table"].get_column("path").to_list() == [training.MODEL_PATH]

    at = open_app(demo_lakehouse, "views/models.py")
    assert not errors(at)
    production = lh.model_version(f"{training.MODEL}:production")
    assert frames(at)["models_table"].select("model", "aliases").rows() == [
        (training.MODEL, f"production → v{production.version}")
    ]
    assert frames(at)["version_files_table"].get_column("path").to_list() == [training.MODEL_PATH]

    at = open_app(demo_lakehouse, "views/live.py")
    assert "No run is running right now" in at.info[0].value


@pytest.mark.slow
def test_the_live_trainer_of_make_demo_stops_cleanly(demo_lakehouse: Path, tmp_path: Path) -> None:
    """``make demo`` trains a slow run next to the app and kills it with SIGTERM when the app stops."""
    root = tmp_path / "lh"
    subprocess.run(["cp", "-a", str(demo_lakehouse), str(root)], check=True)  # keep the shared sample as it is
    lh = lakehouse.connect(root)
    env = {**os.environ, "LAKEHOUSE_ROOT": str(root)}
    trainer = subprocess.Popen([sys.executable, "-m", "lakehouse.demo.training"], env=env)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            live = lh.runs(status="RUNNING")
            if live.height and (live.row(0, named=True).get("metrics.val_loss.last") is not None):
                break
            assert trainer.poll() is None, "the live trainer exited early"
            time.sleep(0.5)
        else:
            pytest.fail("the live run never showed a validation loss")
        trainer.send_signal(signal.SIGTERM)
        assert trainer.wait(timeout=60) == 0
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
    (run,) = lh.runs().filter(pl.col("name") == "live").iter_rows(named=True)
    assert run["status"] == "KILLED"
    assert json.dumps(run["inputs"]) == json.dumps(["digits-test:v0", "digits-train:v2"])
