"""A real Keras 3 ``model.fit`` (torch backend, CPU) logged through LakehouseCallback."""

from __future__ import annotations

from pathlib import Path

import keras  # the backend (torch) is chosen in conftest.py, before this import
import numpy as np
import polars as pl
import pytest

import lakehouse
from lakehouse.errors import InvalidArgument, TrackingWarning
from lakehouse.integrations.keras import LakehouseCallback


def _model() -> keras.Model:
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01), loss="mse", metrics=["mae"])
    return model


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]


def test_fit_logs_batch_epoch_and_validation_metrics_and_optimizer_params(root: Path) -> None:
    assert keras.backend.backend() == "torch"
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    lh.dataset("toy").write(pl.DataFrame({"x": [1.0]}))
    x, y = _data()
    with lh.start_run(experiment="keras", inputs=["toy:v0"]) as run:
        _model().fit(
            x,
            y,
            validation_split=0.25,
            epochs=3,
            batch_size=8,
            verbose=0,
            callbacks=[LakehouseCallback(run=run, log_every_n_steps=2)],
        )
        assert run.active  # the callback flushes a run it was given, it does not finish it
    info = lh.run(run.id)
    assert info.status == "FINISHED"
    assert info.params["optimizer.class"] == "Adam"
    assert float(info.params["optimizer.learning_rate"]) == pytest.approx(0.01)
    assert info.params["epochs"] == "3"
    assert info.params["steps_per_epoch"] == "6"
    points = lh.metrics(run.id)
    keys = set(points.get_column("key"))
    assert {"loss", "mae", "val_loss", "val_mae", "learning_rate", "batch/loss", "batch/mae"} <= keys
    epochs = points.filter(pl.col("key") == "val_loss").get_column("step").to_list()
    assert epochs == [0, 1, 2]
    batch_steps = points.filter(pl.col("key") == "batch/loss").get_column("step").to_list()
    assert batch_steps == list(range(2, 19, 2))  # 6 batches x 3 epochs, every 2nd
    assert info.metrics["loss"].count == 3
    assert info.metrics["loss"].last < info.metrics["loss"].max
    assert info.metrics["learning_rate"].last == pytest.approx(0.01)


def test_callback_can_own_its_run(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    x, y = _data()
    callback = LakehouseCallback(lakehouse=lh, experiment="keras", run_name="owned", params={"seed": 0})
    _model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    runs = lh.runs(experiment="keras")
    assert runs.get_column("name").to_list() == ["owned"]
    assert runs.get_column("status").item() == "FINISHED"
    assert runs.get_column("params.seed").item() == "0"
    assert runs.get_column("job_type").item() == "train"
    assert lh.metrics(runs.get_column("run_id").item(), keys="loss").height == 2


# pytest.warns re-emits the other warnings it saw under the file name, which the module filter in pyproject
# (keras.*) no longer matches; this is the same numpy-2 notice from Keras' Optimizer.get_config().
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
def test_a_logging_failure_never_stops_fit(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    x, y = _data()
    run = lh.start_run(params={"optimizer.learning_rate": "something else"})  # the callback's param will clash
    with pytest.warns(TrackingWarning, match="logging optimizer params failed"):
        history = _model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[LakehouseCallback(run=run)])
    assert len(history.history["loss"]) == 2  # training went on
    run.finish()
    assert lh.metrics(run.id, keys="loss").height == 2


def test_callback_arguments_are_checked() -> None:
    with pytest.raises(InvalidArgument, match="exactly one of"):
        LakehouseCallback()
    with pytest.raises(InvalidArgument, match="log_every_n_steps"):
        LakehouseCallback(lakehouse=lakehouse.connect("unused"), log_every_n_steps=0)


def test_log_model_best_and_last_load_back_from_the_artifacts(root: Path, tmp_path: Path) -> None:
    import json

    lh = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    x, y = _data()
    model = _model()
    callback = LakehouseCallback(lakehouse=lh, experiment="keras", log_model="both", monitor="val_loss")
    history = model.fit(x, y, validation_split=0.25, epochs=4, batch_size=8, verbose=0, callbacks=[callback])
    run_id = callback.run.id
    assert lh.artifacts(run_id).get_column("path").to_list() == ["model/best.keras", "model/last.keras"]
    info = lh.run(run_id)
    best = json.loads(info.tags["lakehouse.model.best"])
    val_losses = history.history["val_loss"]
    assert best["monitor"] == "val_loss"
    assert best["value"] == pytest.approx(min(val_losses))
    assert best["epoch"] == val_losses.index(min(val_losses))
    assert best["digest"] == lh.artifact(run_id, "model/best.keras").digest
    last = json.loads(info.tags["lakehouse.model.last"])
    assert (last["epoch"], last["path"]) == (3, "model/last.keras")
    downloaded = lh.artifact(run_id, "model/last.keras").download(tmp_path)
    loaded = keras.saving.load_model(downloaded)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_log_model_arguments_are_checked(root: Path) -> None:
    lh = lakehouse.connect(root)
    with pytest.raises(InvalidArgument, match="log_model"):
        LakehouseCallback(lakehouse=lh, log_model="all")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="mode"):
        LakehouseCallback(lakehouse=lh, log_model="best", mode="up")  # type: ignore[arg-type]
