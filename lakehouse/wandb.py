"""W&B's logging verbs on the lakehouse: ``import lakehouse.wandb as wandb`` and the training code stays as it is.

>>> import lakehouse.wandb as wandb
>>> run = wandb.init(project="vision", name="resnet", config={"lr": 0.1, "opt": {"name": "sgd"}})
>>> for step in range(3):
...     wandb.log({"loss": 1.0 / (step + 1)})
>>> wandb.summary["best"] = 0.9
>>> wandb.finish()

The run is a lakehouse run in the experiment named by ``project`` (the root: ``root=``, else ``LAKEHOUSE_ROOT`` /
``conf/lakehouse.toml``). Config becomes params (nested keys joined with ``.``, as ``import-wandb`` does), tags,
group and job type become tags (``wandb.tags``, ``wandb.group``, ``wandb.job_type``), explicit summary values
tags ``wandb.summary.<key>``. ``log`` follows W&B's step rules: each call without ``step=`` is a new step; with
``step=`` the row stays open until a later step (or ``commit=True``); ``commit=False`` adds to the open row; a
step lower than the current one is dropped with a warning. Only numbers can be logged. Anything else W&B offers
(artifacts, media, ``define_metric``, ``watch``, ``save``...) raises :class:`NotImplementedError` naming it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.tracking.run import Run as LakehouseRun

__all__ = ["Config", "Run", "Summary", "config", "finish", "init", "log", "run", "summary"]

_ARTIFACT_CALLS = ("Artifact", "log_artifact", "use_artifact", "download", "link_artifact")


def _unsupported(call: str) -> NotImplementedError:
    if call.split(".")[-1] in _ARTIFACT_CALLS or call.startswith("Artifact"):
        return NotImplementedError(f"lakehouse.wandb does not support {call} yet: artifacts are not available here")
    return NotImplementedError(f"lakehouse.wandb does not support {call}")


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


class Config(MutableMapping[str, Any]):
    """``wandb.config``: attribute and item access; every key set is recorded as a param of the run."""

    def __init__(self) -> None:
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_run", None)

    def _bind(self, target: LakehouseRun | None) -> None:
        object.__setattr__(self, "_run", target)
        if target is not None and self._values:
            target.log_params(self._flat(self._values))

    @staticmethod
    def _flat(values: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        _flatten("", values, out)
        return {k: v if isinstance(v, str | int | float | bool) else repr(v) for k, v in out.items()}

    def update(self, values: Any = (), /, **more: Any) -> None:
        """Set many keys at once (W&B's ``allow_val_change`` is not supported: params never change)."""
        merged = {**dict(values), **more}
        self._values.update(merged)
        if self._run is not None and merged:
            self._run.log_params(self._flat(merged))

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        msg = "del wandb.config[...]"
        raise _unsupported(msg)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            msg = f"wandb.config has no key {key!r}"
            raise AttributeError(msg) from None

    def __setattr__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __repr__(self) -> str:
        return f"Config({self._values!r})"


class Summary(MutableMapping[str, Any]):
    """``wandb.summary``: the last logged value of each key, or what was set explicitly (recorded at finish as
    tags ``wandb.summary.<key>``)."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._explicit: set[str] = set()

    def _logged(self, values: Mapping[str, Any]) -> None:
        self._values.update(values)

    def update(self, values: Any = (), /, **more: Any) -> None:
        for key, value in {**dict(values), **more}.items():
            self[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value
        self._explicit.add(key)

    def __delitem__(self, key: str) -> None:
        del self._values[key]
        self._explicit.discard(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Summary({self._values!r})"


class Run:
    """What ``wandb.init`` returns: ``log``, ``config``, ``summary``, ``finish`` and the run's ``id`` / ``name``."""

    def __init__(self, target: LakehouseRun, *, project: str, config_: Config, summary_: Summary) -> None:
        self._run = target
        self.id = target.id
        self.name = target.name
        self.project = project
        self.config = config_
        self.summary = summary_
        self._step = 0
        self._row: dict[str, float] = {}
        self._finished = False

    @property
    def step(self) -> int:
        """The step the next committed row is logged at."""
        return self._step

    def log(self, data: Any, step: int | None = None, commit: bool | None = None) -> None:
        """Log numbers with W&B's step rules (see the module docstring)."""
        if self._finished:
            msg = "wandb.log after wandb.finish"
            raise _unsupported(msg)
        if not isinstance(data, Mapping):
            msg = f"wandb.log takes a dict of metric names to values, got {type(data).__name__}"
            raise TypeError(msg)
        values = {}
        for key, value in data.items():
            if isinstance(value, bool) or not isinstance(value, int | float) and not hasattr(value, "__float__"):
                msg = f"wandb.log of a {type(value).__name__} value ({key!r}); log numbers"
                raise _unsupported(msg)
            values[str(key)] = float(value)
        if step is not None:
            if step < self._step:
                warnings.warn(
                    f"wandb.log: step {step} is lower than the current step {self._step}; this data is ignored",
                    UserWarning,
                    stacklevel=2,
                )
                return
            if step > self._step:
                self._commit()
                self._step = step
        self._row.update(values)
        self.summary._logged(values)
        if commit or (commit is None and step is None):
            self._commit()

    def _commit(self) -> None:
        if self._row:
            self._run.log(self._row, step=self._step)
            self._row = {}
            self._step += 1

    def finish(self, exit_code: int | None = None) -> None:
        """Commit the open row, record explicit summary values, end the run (FAILED for a non-zero exit code)."""
        if self._finished:
            return
        self._commit()
        explicit = {
            f"wandb.summary.{k}": repr(v) for k, v in self.summary._values.items() if k in self.summary._explicit
        }
        if explicit:
            self._run.set_tags(explicit)
        self._run.finish("FAILED" if exit_code else "FINISHED")
        self._finished = True

    def __getattr__(self, name: str) -> Any:
        msg = f"wandb.Run.{name}"
        raise _unsupported(msg)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.finish(exit_code=1 if kind is not None else None)


run: Run | None = None
config = Config()
summary = Summary()


def init(
    project: str | None = None,
    name: str | None = None,
    id: str | None = None,  # noqa: A002 - W&B's own keyword
    resume: bool | str | None = None,
    job_type: str | None = None,
    tags: Sequence[str] | None = None,
    group: str | None = None,
    config: Mapping[str, Any] | None = None,
    root: str | Path | None = None,
    **others: Any,
) -> Run:
    """Start (or with ``id`` + ``resume``, resume) a lakehouse run the W&B way; returns it as ``wandb.run``."""
    import lakehouse
    from lakehouse.errors import InvalidArgument, RunNotFound
    from lakehouse.tracking import starting

    global run, summary
    for key in others:
        msg = f"wandb.init({key}=...)"
        raise _unsupported(msg)
    if run is not None:
        run.finish()
    lh = lakehouse.connect(root)
    experiment = project or "uncategorized"
    run_tags: dict[str, str] = {}
    if tags:
        run_tags["wandb.tags"] = ",".join(tags)
    if group:
        run_tags["wandb.group"] = group
    if job_type:
        run_tags["wandb.job_type"] = job_type
    target: LakehouseRun
    if id is not None:
        try:
            lh.run(id)
            exists = True
        except RunNotFound:
            exists = False
        if exists and resume in (None, False, "never"):
            msg = f"run {id!r} exists already; pass resume='allow' (or 'must') to go on with it"
            raise InvalidArgument(msg)
        if not exists and resume == "must":
            msg = f"run {id!r} does not exist, and resume='must' asks for an existing one"
            raise InvalidArgument(msg)
        if exists:
            target = lh.start_run(resume=id, name=name, tags=run_tags)
        else:
            target = starting.create_run(lh, experiment=experiment, run_id=id, name=name, tags=run_tags)
    else:
        target = lh.start_run(experiment=experiment, name=name, tags=run_tags, job_type=job_type)
    fresh = Config()
    globals()["config"] = fresh
    summary = Summary()
    if config:
        fresh.update(config)
    fresh._bind(target)
    run = Run(target, project=experiment, config_=fresh, summary_=summary)
    return run


def log(data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
    """``wandb.log`` on the current run (see :meth:`Run.log`)."""
    if run is None:
        msg = "wandb.log before wandb.init"
        raise _unsupported(msg)
    run.log(data, step=step, commit=commit)


def finish(exit_code: int | None = None) -> None:
    """End the current run (see :meth:`Run.finish`)."""
    global run
    if run is not None:
        run.finish(exit_code=exit_code)
        run = None


def __getattr__(name: str) -> Any:
    msg = f"wandb.{name}"
    raise _unsupported(msg)
