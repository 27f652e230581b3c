"""A Lightning logger that records hyperparameters, metrics and the final status in a lakehouse run.

>>> from lakehouse.integrations.lightning import LakehouseLogger
>>> trainer = Trainer(logger=LakehouseLogger(lakehouse=lh, experiment="mnist", inputs=["mnist-train:v3"]))
>>> trainer.fit(model, datamodule)

Hyperparameters (``save_hyperparameters`` / ``log_hyperparams``) become params (nested keys dotted);
``self.log(...)`` values become metrics at Lightning's global step; ``finalize`` marks the run FINISHED
(``success``) or FAILED (``failed``). A later ``trainer.test`` resumes the run. Logging never stops training.

With ``log_model`` the checkpoints Lightning's ``ModelCheckpoint`` saves are logged as run artifacts:
``"best"`` each time the callback's best checkpoint changes (``checkpoints/best.ckpt``, with the callback's
``monitor`` and ``best_model_score``), ``"last"`` when training ends successfully (``checkpoints/last.ckpt``:
its ``last_model_path``, else the newest checkpoint it kept), ``"both"``; recorded in the tags
``lakehouse.model.best`` / ``.last`` (see :mod:`lakehouse.integrations._models`).
"""

from __future__ import annotations

from argparse import Namespace
from typing import TYPE_CHECKING, Any, Literal

from lakehouse._optional import import_optional
from lakehouse.errors import InvalidArgument
from lakehouse.integrations._guard import Guard, flatten, scalar
from lakehouse.integrations._models import LogModel, check_log_model, log_model_file, wants

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse
    from lakehouse.entities import RunStatus
    from lakehouse.tracking.run import Run

_loggers = import_optional("lightning.pytorch.loggers", extra="lightning", purpose="lakehouse.integrations.lightning")
_rank_zero = import_optional("lightning.pytorch.utilities.rank_zero", extra="lightning")
_fabric_logger = import_optional("lightning.fabric.utilities.logger", extra="lightning")
rank_zero_only = _rank_zero.rank_zero_only

#: Lightning's finalize() statuses and the run status each means.
STATUSES: dict[str, RunStatus] = {"success": "FINISHED", "finished": "FINISHED", "failed": "FAILED"}


class LakehouseLogger(_loggers.Logger):  # type: ignore[misc,name-defined]
    """Log a Lightning ``Trainer`` into a lakehouse run.

    Args:
        lakehouse: where to start the run (at the first thing logged), with ``experiment``, ``run_name``,
            ``tags`` and ``inputs`` as for :meth:`Lakehouse.start_run`.
        run: an existing active run to log into instead; it is flushed, not finished, at the end.
        prefix: prepended to every metric key.
        log_model: ``"last"``, ``"best"`` or ``"both"`` to log checkpoints as artifacts (None: not at all).
    """

    def __init__(
        self,
        lakehouse: Lakehouse | None = None,
        *,
        run: Run | None = None,
        experiment: str = "default",
        run_name: str | None = None,
        tags: dict[str, Any] | None = None,
        inputs: tuple[str, ...] | list[str] = (),
        prefix: str = "",
        log_model: LogModel | None = None,
    ) -> None:
        super().__init__()
        if (run is None) == (lakehouse is None):
            msg = "LakehouseLogger needs exactly one of lakehouse= (to start a run) or run= (an active run)"
            raise InvalidArgument(msg)
        self._lakehouse = lakehouse
        self._run = run
        self._owns_run = run is None
        self._experiment_name = run.experiment if run is not None else experiment
        self._start: dict[str, Any] = {"name": run_name, "tags": tags, "inputs": tuple(inputs)}
        self._prefix = prefix
        self.log_model, _ = check_log_model(log_model, "auto")
        self._checkpointing: Any = None  # the ModelCheckpoint that saved last
        self._best_logged: str | None = None
        self._step: int | None = None
        self._guard = Guard("LakehouseLogger")

    # --- Logger API --------------------------------------------------------------------------------------

    @property
    def name(self) -> str | None:
        return self._experiment_name

    @property
    def version(self) -> str | None:
        run = self._active_run()
        return None if run is None else run.id

    @property
    @_loggers.logger.rank_zero_experiment  # type: ignore[untyped-decorator]
    def experiment(self) -> Run | None:
        """The lakehouse :class:`~lakehouse.Run` (Lightning's name for a logger's underlying object)."""
        return self._active_run()

    @rank_zero_only  # type: ignore[untyped-decorator]
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        converted = _fabric_logger._convert_params(params)
        converted = _fabric_logger._sanitize_callable_params(converted)
        flat = {k: v for k, v in flatten(converted).items() if v is not None}
        run = self._active_run()
        if run is not None and flat:
            self._guard("logging hyperparameters", run.log_params, flat)

    @rank_zero_only  # type: ignore[untyped-decorator]
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        values = {}
        for key, value in metrics.items():
            number = scalar(value)
            if number is not None:
                values[self._prefix + key] = number
        run = self._active_run()
        self._step = step if step is not None else self._step
        if run is not None and values:
            self._guard("logging metrics", run.log, values, step=step)

    @rank_zero_only  # type: ignore[untyped-decorator]
    def after_save_checkpoint(self, checkpoint_callback: Any) -> None:
        """Lightning's hook after a checkpoint was written: log the best one when it changed."""
        self._checkpointing = checkpoint_callback
        best = getattr(checkpoint_callback, "best_model_path", "")
        run = self._active_run()
        if run is None or not wants(self.log_model, "best") or not best or best == self._best_logged:
            return
        self._best_logged = best
        self._guard("logging the best checkpoint", self._log_checkpoint, run, best, "best")

    @rank_zero_only  # type: ignore[untyped-decorator]
    def finalize(self, status: str) -> None:
        run = self._run
        if run is None or not run.active:
            return
        callback = self._checkpointing
        if wants(self.log_model, "last") and callback is not None and STATUSES.get(status) == "FINISHED":
            last = getattr(callback, "last_model_path", "") or getattr(callback, "best_model_path", "")
            if last:
                self._guard("logging the last checkpoint", self._log_checkpoint, run, last, "last")
        if self._owns_run:
            self._guard("finishing the run", run.finish, STATUSES.get(status, "FAILED"))
        else:
            self._guard("flushing the run", run.flush)

    def save(self) -> None:
        """Nothing to do: the background writer commits continuously."""

    # --- helpers -----------------------------------------------------------------------------------------

    def _log_checkpoint(self, run: Run, path: str, kind: Literal["last", "best"]) -> None:
        callback = self._checkpointing
        score = getattr(callback, "best_model_score", None) if kind == "best" else None
        log_model_file(
            run,
            path,
            f"checkpoints/{kind}.ckpt",
            kind=kind,
            monitor=getattr(callback, "monitor", None),
            value=scalar(score) if score is not None else None,
            epoch=None,
            step=self._step,
        )

    def _active_run(self) -> Run | None:
        """The run, started on first use, and resumed if ``finalize`` ended it (e.g. ``test`` after ``fit``)."""
        if self._run is not None and self._run.active:
            return self._run
        lakehouse = self._lakehouse
        if lakehouse is None:
            return self._run
        if self._run is None:
            self._run = self._guard(
                "starting the run",
                lambda: lakehouse.start_run(experiment=self._experiment_name, job_type="train", **self._start),
            )
        else:
            finished = self._run
            self._run = self._guard("resuming the run", lambda: lakehouse.start_run(resume=finished.id)) or finished
        return self._run


__all__ = ["LakehouseLogger"]
