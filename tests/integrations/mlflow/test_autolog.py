"""MLflow's autologging into the lakehouse: ``mlflow.keras.autolog`` over a real ``model.fit`` (Keras 3 on torch)
and ``mlflow.pytorch.autolog`` over a real Lightning ``Trainer.fit`` — params, metrics, datasets and the model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pytest

import lakehouse
from lakehouse.integrations.mlflow import uri_for

pytestmark = pytest.mark.slow


@contextmanager
def autologged_run(flavor: Any, root: Path, experiment: str) -> Iterator[mlflow.ActiveRun]:
    """One run named "fit" in ``experiment`` of the lakehouse at ``root``, with ``flavor.autolog()`` on at its
    defaults (params, metrics, datasets where the flavor logs them, and the model)."""
    mlflow.set_tracking_uri(uri_for(root))
    mlflow.set_experiment(experiment)
    flavor.autolog()
    try:
        with mlflow.start_run(run_name="fit") as active:
            yield active
    finally:
        flavor.autolog(disable=True)


def test_keras_autolog_fit_lands_in_the_tables(root: Path) -> None:
    import keras  # on torch: tests/integrations/conftest.py sets KERAS_BACKEND

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.random((96, 4), dtype=np.float32)
    y = (x.sum(axis=1) > 2).astype("float32")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])

    with autologged_run(mlflow.keras, root, "keras-autolog") as active:
        history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0)

    run_id = active.info.run_id
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["epochs"] == "3"
    assert run.data.params["optimizer_name"] == "adam"
    losses = client.get_metric_history(run_id, "loss")
    assert [m.step for m in losses] == [0, 1, 2]
    assert [m.value for m in losses] == pytest.approx(history.history["loss"])
    assert run.data.metrics["val_accuracy"] == pytest.approx(history.history["val_accuracy"][-1])
    assert {(i.dataset.source_type, i.tags[0].value) for i in run.inputs.dataset_inputs} >= {("code", "train")}

    # The logged model: an output of the run, READY, and it loads back and predicts as the trained one.
    (output,) = run.outputs.model_outputs
    logged = client.get_logged_model(output.model_id)
    assert str(logged.status) == "READY"
    assert logged.source_run_id == run_id
    assert [m.model_id for m in client.search_logged_models([run.info.experiment_id])] == [output.model_id]
    loaded = mlflow.keras.load_model(f"models:/{output.model_id}")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)

    # The same run, read with the lakehouse API from the Delta tables.
    lh = lakehouse.connect(root)
    info = lh.run(run_id)
    assert info.experiment == "keras-autolog"
    assert info.metrics["loss"].count == 3
    assert info.metrics["loss"].last == pytest.approx(history.history["loss"][-1])
    points = lh.metrics(run_id, "val_loss")
    assert points.get_column("value").to_list() == pytest.approx(history.history["val_loss"])


def test_pytorch_autolog_of_a_lightning_fit_lands_in_the_tables(root: Path) -> None:
    import lightning.pytorch as lightning
    import torch

    class Regressor(lightning.LightningModule):
        def __init__(self, lr: float = 0.05) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Linear(4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x).squeeze(-1)

        def training_step(self, batch: list[torch.Tensor], _: int) -> torch.Tensor:
            x, y = batch
            loss = torch.nn.functional.mse_loss(self(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def validation_step(self, batch: list[torch.Tensor], _: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self(x), y))

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    torch.manual_seed(7)
    x = torch.rand(64, 4)
    data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, x.sum(1)), batch_size=16)
    model = Regressor()
    trainer = lightning.Trainer(
        max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )

    with autologged_run(mlflow.pytorch, root, "lightning-autolog") as active:
        trainer.fit(model, data, data)

    run_id = active.info.run_id
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert (run.data.params["epochs"], run.data.params["optimizer_name"], run.data.params["lr"]) == ("3", "SGD", "0.05")
    val = client.get_metric_history(run_id, "val_loss")
    assert [m.step for m in val] == [0, 1, 2]
    assert val[-1].value == pytest.approx(float(trainer.callback_metrics["val_loss"]))
    (output,) = run.outputs.model_outputs
    assert str(client.get_logged_model(output.model_id).status) == "READY"
    loaded = mlflow.pytorch.load_model(f"models:/{output.model_id}")
    with torch.no_grad():
        np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)

    lh = lakehouse.connect(root)
    info = lh.run(run_id)
    assert info.experiment == "lightning-autolog"
    assert (info.metrics["val_loss"].count, info.metrics["train_loss"].count) == (3, 3)
    assert lh.metrics(run_id, "val_loss").get_column("value").to_list() == pytest.approx([m.value for m in val])
