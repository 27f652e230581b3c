"""Write W&B offline runs with the real client (run as a script: the client starts its own service).

Four runs: a loop of ``wandb.log`` calls, a run that fails, a Lightning fit logged by ``WandbLogger`` and a Keras fit
logging each epoch with ``wandb.log`` (W&B's own Keras callback imports TensorFlow). The last line printed is
JSON: the runs' ids and the losses the Lightning module and the Keras model computed, step by step.
"""

from __future__ import annotations

import json
import os
import sys

os.environ["WANDB_MODE"] = "offline"
os.environ["WANDB_SILENT"] = "true"
os.environ["KERAS_BACKEND"] = "torch"

import warnings  # noqa: E402

import wandb  # noqa: E402
from lightning.pytorch.loggers import WandbLogger  # noqa: E402

from tests.integrations.tiny_fit import fit  # noqa: E402

# Lightning's advice for real workloads (more dataloader workers) is noise for a tiny CPU fit.
warnings.filterwarnings("ignore", message=".*does not have many workers.*")


def lightning_fit(folder: str) -> tuple[str, list[float]]:
    logger = WandbLogger(project="lit", name="tiny", save_dir=folder, offline=True)
    losses = fit(logger)
    run_id = logger.experiment.id
    wandb.finish()
    return run_id, losses


def keras_fit(folder: str) -> tuple[str, list[float]]:
    import keras
    import numpy as np

    run = wandb.init(project="keras", name="mlp", config={"units": 4}, dir=folder)
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(64, 3)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    log_epoch = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: wandb.log({"loss": float(logs["loss"])}, step=epoch)
    )
    history = model.fit(x, x.sum(axis=1), epochs=3, batch_size=16, verbose=0, callbacks=[log_epoch])
    run.finish()
    return run.id, [float(v) for v in history.history["loss"]]


def main(folder: str) -> None:
    run = wandb.init(
        project="vision",
        name="resnet-a",
        config={"lr": 0.1, "opt": {"name": "sgd", "momentum": 0.9}, "layers": [1, 2]},
        tags=["baseline", "cpu"],
        group="sweep-1",
        job_type="train",
        notes="first try",
        dir=folder,
    )
    run.config.update({"batch": 32})
    for i in range(20):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 20})
    run.log({"val_loss": 0.5}, step=25)
    run.log({"partial": 1.0}, commit=False)
    run.log({"lr_now": 0.01, "text": "not a number"})
    run.summary["best_acc"] = 0.95
    ids = {"finished": run.id}
    run.finish()
    failed = wandb.init(project="vision", name="broken", dir=folder)
    failed.log({"loss": 3.0})
    ids["failed"] = failed.id
    failed.finish(exit_code=1)
    ids["lightning"], losses = lightning_fit(folder)
    ids["keras"], keras_losses = keras_fit(folder)
    sys.stdout.write("\n" + json.dumps({"ids": ids, "lightning_losses": losses, "keras_losses": keras_losses}))


if __name__ == "__main__":
    main(sys.argv[1])
