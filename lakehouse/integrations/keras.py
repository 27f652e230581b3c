"""A Keras 3 callback that logs ``model.fit`` to a lakehouse run (any backend: JAX, torch, TensorFlow).

>>> from lakehouse.integrations.keras import LakehouseCallback
>>> with lh.start_run(experiment="mnist", inputs=["mnist-train:v3"]) as run:
...     model.fit(x, y, validation_split=0.1, epochs=5, callbacks=[LakehouseCallback(run=run)])

Logged: the optimizer's config as params (``optimizer.name``, ``optimizer.learning_rate``...) plus ``epochs``
and ``steps_per_epoch``; every ``log_every_n_steps`` batches the running batch metrics as ``batch/<name>`` at
the global batch step; at each epoch end the epoch metrics under Keras' own names (validation ones with their
``val_`` prefix) and ``learning_rate``, at step = epoch. ``fit`` never fails because of logging.

With ``log_model`` the model itself is logged as a run artifact (a ``.keras`` file ``keras.saving.load_model``
reads): ``"best"`` at every epoch where ``monitor`` improved (``model/best.keras``), ``"last"`` when training
ends (``model/last.keras``), ``"both"``; each recorded with the metric's value in the tag
``lakehouse.model.best`` / ``.last`` (see :mod:`lakehouse.integrations._models`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lakehouse._optional import import_optional
from lakehouse.errors import InvalidArgument
from lakehouse.integrations._guard import Guard, flatten, scalar
from lakehouse.integrations._models import LogModel, Mode, check_log_model, improved, log_model_file, wants

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse
    from lakehouse.tracking.run import Run

keras = import_optional("keras", extra="keras", purpose="lakehouse.integrations.keras")

BATCH_PREFIX = "batch/"


class LakehouseCallback(keras.callbacks.Callback):  # type: ignore[misc,name-defined]
    """Log a Keras ``fit`` into ``run`` (or into a new run of ``lakehouse``, finished when training ends).

    Args:
        run: the run to log into; the callback flushes it when training ends but does not finish it.
        lakehouse: used instead of ``run``: a run is started at ``on_train_begin`` (``experiment``,
            ``run_name``, ``params``, ``inputs`` as for :meth:`Lakehouse.start_run`) and finished at the end.
        log_every_n_steps: log batch metrics every this many batches (epoch metrics are always logged).
        log_optimizer: record the optimizer's configuration as params.
        log_model: ``"last"``, ``"best"`` or ``"both"`` to log the model as an artifact (None: not at all).
        monitor: the epoch metric that decides the best model (default ``val_loss``, else ``loss`` if there is
            no validation).
        mode: ``"min"``, ``"max"``, or ``"auto"`` (max for accuracies, AUC, F1, precision, recall).
        model_folder: artifact folder of the model files.
    """

    def __init__(
        self,
        run: Run | None = None,
        *,
        lakehouse: Lakehouse | None = None,
        experiment: str | None = None,
        run_name: str | None = None,
        params: dict[str, Any] | None = None,
        inputs: tuple[str, ...] | list[str] = (),
        log_every_n_steps: int = 1,
        log_optimizer: bool = True,
        log_model: LogModel | None = None,
        monitor: str = "val_loss",
        mode: Mode = "auto",
        model_folder: str = "model",
    ) -> None:
        super().__init__()
        if (run is None) == (lakehouse is None):
            msg = "LakehouseCallback needs exactly one of run= (an active run) or lakehouse= (to start one)"
            raise InvalidArgument(msg)
        if isinstance(log_every_n_steps, bool) or not isinstance(log_every_n_steps, int) or log_every_n_steps < 1:
            msg = f"log_every_n_steps must be a positive integer, got {log_every_n_steps!r}"
            raise InvalidArgument(msg)
        self.run = run
        self._lakehouse = lakehouse
        self._start: dict[str, Any] = {
            "experiment": experiment,
            "name": run_name,
            "params": params,
            "inputs": tuple(inputs),
        }
        self._owns_run = run is None
        self.log_every_n_steps = log_every_n_steps
        self.log_optimizer = log_optimizer
        self.log_model, self.mode = check_log_model(log_model, mode)
        self.monitor = monitor
        self.model_folder = model_folder.strip("/") or "model"
        self.best: float | None = None
        self._last_epoch: tuple[int, str, float | None] | None = None
        self.global_step = 0
        self._guard = Guard("LakehouseCallback")

    # --- Keras hooks -------------------------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.run is None and self._lakehouse is not None:
            lakehouse = self._lakehouse
            self.run = self._guard("starting the run", lambda: lakehouse.start_run(job_type="train", **self._start))
        if self.run is not None and self.log_optimizer:
            self._guard("logging optimizer params", self._log_optimizer_params)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.global_step += 1
        if self.run is None or not logs or self.global_step % self.log_every_n_steps:
            return
        values = _numeric(logs, BATCH_PREFIX)
        if values:
            self._guard("logging batch metrics", self.run.log, values, step=self.global_step)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.run is None:
            return
        values = _numeric(logs or {}, "")
        if "learning_rate" not in values:
            lr = self._guard("reading the learning rate", self._learning_rate)
            if lr is not None:
                values["learning_rate"] = lr
        if values:
            self._guard("logging epoch metrics", self.run.log, values, step=epoch)
        # Without validation data there is no val_loss: the default then falls back to the training loss.
        key = "loss" if self.monitor == "val_loss" and "val_loss" not in values else self.monitor
        monitored = values.get(key)
        self._last_epoch = (epoch, key, monitored)
        if wants(self.log_model, "best") and monitored is not None:
            if improved(monitored, self.best, monitor=key, mode=self.mode):
                self.best = monitored
                self._guard("logging the best model", self._log_model, "best", epoch, key, monitored)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.run is None:
            return
        if wants(self.log_model, "last") and self._last_epoch is not None:
            self._guard("logging the last model", self._log_model, "last", *self._last_epoch)
        if self._owns_run:
            self._guard("finishing the run", self.run.finish)
        else:
            self._guard("flushing the run", self.run.flush)

    # --- helpers -----------------------------------------------------------------------------------------

    def _log_optimizer_params(self) -> None:
        assert self.run is not None
        optimizer = self.model.optimizer
        params: dict[str, Any] = {"optimizer.class": type(optimizer).__name__}
        for key, value in flatten(optimizer.get_config()).items():
            if value is not None:
                params[f"optimizer.{key}"] = value
        for key, name in (("epochs", "epochs"), ("steps", "steps_per_epoch")):
            if self.params and self.params.get(key) is not None:
                params[name] = self.params[key]
        self.run.log_params(params)

    def _log_model(self, kind: Literal["last", "best"], epoch: int, monitor: str, value: float | None) -> None:
        assert self.run is not None
        with tempfile.TemporaryDirectory(prefix="lakehouse-keras-") as folder:
            file = Path(folder) / f"{kind}.keras"
            self.model.save(file)
            log_model_file(
                self.run,
                file,
                f"{self.model_folder}/{kind}.keras",
                kind=kind,
                monitor=monitor,
                value=value,
                epoch=epoch,
                step=self.global_step,
            )

    def _learning_rate(self) -> float | None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is None:
            return None
        rate = optimizer.learning_rate
        # The backend tensor behind the variable converts to float directly (no numpy round trip).
        return scalar(getattr(rate, "value", rate))


def _numeric(logs: dict[str, Any], prefix: str) -> dict[str, float]:
    out = {}
    for key, value in logs.items():
        number = scalar(value)
        if number is not None:
            out[prefix + key] = number
    return out


__all__ = ["LakehouseCallback"]
