"""The training runs of the sample lakehouse: real, short Keras fits on the digits datasets.

Each run trains a small dense network on one version of ``digits-train`` (by tag or version, recorded as the
run's inputs, so lineage shows which runs used which version), validates on ``digits-test:prod`` and logs
through :class:`lakehouse.integrations.keras.LakehouseCallback`, which also logs the trained model when the
fit ends (``model/last.keras``; "last" rather than "best", which saves at every improving epoch and would make
one measured build of the demo 57 s instead of 37 s). Hyperparameters differ between runs so the Compare page has
something to compare; one run is deliberately too big for its data and overfits. Every run's model is then
registered as a version of :data:`MODEL`, and ``production`` points at the one with the best test accuracy.

Keras runs on the torch backend (CPU) unless ``KERAS_BACKEND`` says otherwise. Seeds are fixed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

import lakehouse
from lakehouse._optional import import_optional

EXPERIMENT = "digits-mlp"
MODEL = "digits-classifier"
#: Where the callback logs a run's trained model (``log_model="last"``): what each model version holds.
MODEL_PATH = "model/last.keras"
TRAIN, TEST = "digits-train", "digits-test"
BATCH_SIZE = 64

Report = Callable[[str], None]


@dataclass(frozen=True)
class Recipe:
    """One training run: its name, the training data it asks for and its hyperparameters."""

    name: str
    train_ref: str
    units: int
    learning_rate: float
    dropout: float
    epochs: int
    limit: int | None = None  # train on the first ``limit`` rows only (the overfitting run)
    batch_size: int = BATCH_SIZE

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"units": self.units, "dropout": self.dropout, "batch_size": self.batch_size}
        if self.limit is not None:
            out["train_limit"] = self.limit
        return out


RECIPES = (
    Recipe("baseline", f"{TRAIN}:prod", units=64, learning_rate=1e-3, dropout=0.2, epochs=15),
    Recipe("raw-labels", f"{TRAIN}:v0", units=64, learning_rate=1e-3, dropout=0.2, epochs=15),
    Recipe("augmented", f"{TRAIN}:candidate", units=64, learning_rate=1e-3, dropout=0.2, epochs=15),
    Recipe("wide", f"{TRAIN}:prod", units=256, learning_rate=1e-3, dropout=0.3, epochs=15),
    Recipe("fast-lr", f"{TRAIN}:prod", units=64, learning_rate=1e-2, dropout=0.2, epochs=15),
    Recipe("slow-lr", f"{TRAIN}:prod", units=64, learning_rate=1e-4, dropout=0.2, epochs=15),
    # 200 digits, no dropout, small batches: validation loss bottoms out around epoch 10, then climbs.
    Recipe("overfit", f"{TRAIN}:prod", units=512, learning_rate=3e-3, dropout=0.0, epochs=40, limit=200, batch_size=16),
)


def _keras() -> Any:
    # Keras reads its backend once, at import; the demo needs no GPU stack beyond CPU torch.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = import_optional("keras", extra="demo", purpose="the sample training runs")
    if keras.backend.backend() == "torch":
        import torch

        # These networks are tiny: one thread is several times faster than two fighting over every batch,
        # and on a busy machine the difference is an order of magnitude (measured: 2.4 s vs 19.6 s of CPU).
        torch.set_num_threads(1)
    return keras


def arrays(frame: pl.DataFrame) -> tuple[Any, Any]:
    """Pixels scaled to 0..1 as ``(n, 64)`` float32 and labels as int64."""
    import numpy as np

    pixels = np.asarray(frame.get_column("pixels").to_list(), dtype="float32") / 16.0
    labels = frame.get_column("label").to_numpy().astype("int64")
    return pixels, labels


def model(keras: Any, recipe: Recipe) -> Any:
    net = keras.Sequential(
        [
            keras.Input(shape=(64,)),
            keras.layers.Dense(recipe.units, activation="relu"),
            keras.layers.Dropout(recipe.dropout),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    net.compile(
        optimizer=keras.optimizers.Adam(learning_rate=recipe.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return net


def train(lh: lakehouse.Lakehouse, recipe: Recipe, *, seed: int = 7, epoch_pause: float = 0.0) -> str:
    """Fit ``recipe`` as one run and return its id. ``epoch_pause`` slows training down (the live demo).

    The run ends FINISHED, or KILLED on Ctrl-C / SIGTERM (see ``__main__``), FAILED on an error.
    """
    keras = _keras()
    from lakehouse.integrations.keras import LakehouseCallback

    keras.utils.set_random_seed(seed)
    train_frame = lh.read(recipe.train_ref)
    if recipe.limit is not None:
        train_frame = train_frame.sort("id").head(recipe.limit)
    x, y = arrays(train_frame)
    x_test, y_test = arrays(lh.read(f"{TEST}:prod"))
    with lh.start_run(
        experiment=EXPERIMENT,
        name=recipe.name,
        params=recipe.params(),
        tags={"model": "mlp", "data": recipe.train_ref.split(":", 1)[1]},
        job_type="train",
        inputs=[recipe.train_ref, f"{TEST}:prod"],
    ) as run:
        callbacks: list[Any] = [LakehouseCallback(run=run, log_every_n_steps=5, log_model="last")]
        if epoch_pause > 0:

            def pause(epoch: int, logs: Any = None) -> None:
                run.flush()  # commit now, so the Live page sees this epoch
                time.sleep(epoch_pause)

            callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=pause))
        net = model(keras, recipe)
        net.fit(
            x,
            y,
            validation_data=(x_test, y_test),
            epochs=recipe.epochs,
            batch_size=recipe.batch_size,
            callbacks=callbacks,
            verbose=0,
        )
        loss, accuracy = net.evaluate(x_test, y_test, verbose=0)
        run.log({"test_loss": float(loss), "test_accuracy": float(accuracy)}, step=recipe.epochs)
    return run.id


def train_runs(lh: lakehouse.Lakehouse, report: Report) -> None:
    """The demo step: every recipe as a finished run, each run's model registered (see :func:`register`)."""
    ids = []
    for recipe in RECIPES:
        report(f"training run '{recipe.name}' on {recipe.train_ref} ({recipe.epochs} epochs)")
        ids.append(train(lh, recipe))
    lh.flush()
    register(lh, ids, report)


def register(lh: lakehouse.Lakehouse, run_ids: list[str], report: Report) -> None:
    """Register each run's trained model as a version of :data:`MODEL` (in training order) and point
    ``production`` at the version whose run scored the best ``test_accuracy``."""
    scores = {}
    for run_id in run_ids:
        run = lh.run(run_id)
        version = lh.register_model(
            MODEL,
            run=run_id,
            path=MODEL_PATH,
            description=f"trained by run '{run.name}'",
            tags={"data": run.tags.get("data", "")},
        )
        scores[version.version] = (run.metrics["test_accuracy"].last, run.name)
    best = max(scores, key=lambda v: scores[v][0])
    accuracy, name = scores[best]
    reason = f"best test_accuracy ({accuracy:.3f}, run '{name}') of the demo's runs"
    lh.model(MODEL).set_alias("production", best, reason=reason)
    report(f"registered {len(scores)} versions of model '{MODEL}'; production → v{best} ({name})")


LIVE = Recipe(
    "live", f"{TRAIN}:candidate", units=512, learning_rate=3e-3, dropout=0.0, epochs=60, limit=200, batch_size=16
)


def train_live(lh: lakehouse.Lakehouse, *, epoch_pause: float = 2.0) -> str:
    """A slow run to watch on the Live page while it trains (``make demo`` starts it next to the app)."""
    return train(lh, LIVE, seed=11, epoch_pause=epoch_pause)


def _stop_on_sigterm() -> None:
    """Let ``kill`` (what ``make demo`` sends when the app stops) end the run as KILLED, not leave it RUNNING."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":  # pragma: no cover - `python -m lakehouse.demo.training [ROOT]`, used by `make demo`
    import contextlib
    import sys

    _stop_on_sigterm()
    with contextlib.suppress(KeyboardInterrupt):
        train_live(lakehouse.connect(sys.argv[1] if len(sys.argv) > 1 else None))
