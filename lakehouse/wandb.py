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
step lower than the current one is dropped with a warning. Only numbers can be logged.

Artifacts (``Artifact`` + ``add_file`` / ``add_dir``, ``log_artifact``, ``use_artifact``, ``download``) are run
artifacts of the logging run under ``wandb-artifacts/<name>/v<N>/``, their versions and aliases events of
``tracking/wandb_artifacts`` (:mod:`lakehouse.tracking.wandb_artifacts`); a use is an input of the using run,
so ``lh.lineage("wandb-artifacts/<name>:v0")`` lists the runs that used a version. ``Api().artifact(ref)``
reads a version without recording a use (``logged_by()``, ``used_by()``, ``download()``). Anything else W&B
offers (media, ``define_metric``, ``watch``, ``save``, ``link_artifact``...) raises :class:`NotImplementedError`
naming it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse
    from lakehouse.tracking.run import Run as LakehouseRun
    from lakehouse.tracking.wandb_artifacts import Version

__all__ = [
    "Api",
    "Artifact",
    "Config",
    "Run",
    "Summary",
    "config",
    "finish",
    "init",
    "log",
    "log_artifact",
    "run",
    "summary",
    "use_artifact",
]


def _unsupported(call: str) -> NotImplementedError:
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


class Artifact:
    """``wandb.Artifact(name, type, description=None, metadata=None)``: files to log as one versioned artifact.

    Before logging, :meth:`add_file` and :meth:`add_dir` collect files (checked as they are added: a missing
    file, a folder given as a file, a path leaving the artifact raise :class:`~lakehouse.errors.InvalidArgument`).
    Once logged or used, :attr:`name` is ``name:v<N>``, :attr:`version`, :attr:`aliases`, :attr:`digest` are set
    and :meth:`download` writes its files.
    """

    def __init__(
        self,
        name: str,
        type: str,  # noqa: A002 - W&B's own keyword
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **others: Any,
    ) -> None:
        from lakehouse.refs import validate_name
        from lakehouse.tracking import wandb_artifacts

        for key in others:
            msg = f"wandb.Artifact({key}=...)"
            raise _unsupported(msg)
        self._name = wandb_artifacts.check_name(name)
        self.type = validate_name(type, kind="artifact type")
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self._entries: list[tuple[Path, str]] = []
        self._lh: Lakehouse | None = None
        self._version: Version | None = None

    def __repr__(self) -> str:
        return f"Artifact({self.name!r}, type={self.type!r}, files={len(self._entries)})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # copy, pickle and friends probe for hooks and expect AttributeError
            raise AttributeError(name)
        msg = f"wandb.Artifact.{name}"
        raise _unsupported(msg)

    # --- building --------------------------------------------------------------------------------------------

    def add_file(self, local_path: str | Path, name: str | None = None, **others: Any) -> str:
        """Add the file at ``local_path`` as ``name`` (default: its file name); returns the path in the artifact."""
        from lakehouse.tracking import wandb_artifacts

        self._unlogged("add_file", others)
        source = Path(local_path)
        entry = (source, name if name is not None else source.name)
        wandb_artifacts.check_sources([*self._entries, entry])
        self._entries.append(entry)
        return entry[1]

    def add_dir(self, local_path: str | Path, name: str | None = None, **others: Any) -> list[str]:
        """Add every file under the folder ``local_path``, under ``name/`` if given; returns the paths added."""
        from lakehouse.tracking import artifacts, wandb_artifacts

        self._unlogged("add_dir", others)
        planned = artifacts.plan_folder(local_path, prefix=name)
        wandb_artifacts.check_sources([*self._entries, *planned])
        self._entries.extend(planned)
        return [path for _, path in planned]

    def _unlogged(self, call: str, others: Mapping[str, Any]) -> None:
        for key in others:
            msg = f"wandb.Artifact.{call}({key}=...)"
            raise _unsupported(msg)
        if self._version is not None:
            msg = f"wandb.Artifact.{call} on {self.name}, which is logged already; make a new Artifact"
            raise _unsupported(msg)

    # --- once logged or used -----------------------------------------------------------------------------

    def _bind(self, lh: Lakehouse, version: Version) -> None:
        self._lh = lh
        self._version = version

    @property
    def name(self) -> str:
        """``name:v<N>`` once logged or used, else the name given."""
        return self._version.ref if self._version is not None else self._name

    @property
    def version(self) -> str | None:
        """``v<N>`` once logged or used."""
        return None if self._version is None else f"v{self._version.version}"

    @property
    def aliases(self) -> list[str]:
        """The version's aliases (``latest`` included when it is the newest) when it was logged or used."""
        return [] if self._version is None else list(self._version.aliases)

    @property
    def digest(self) -> str | None:
        """The sha256 of the version's manifest (every file's path, sha256 and size)."""
        return None if self._version is None else self._version.digest

    def logged_by(self) -> str | None:
        """The id of the run that logged this version."""
        return None if self._version is None else self._version.run_id

    def used_by(self) -> list[str]:
        """Ids of the runs that used this version, sorted: the runs of ``lh.lineage`` of
        ``wandb-artifacts/<name>:v<N>``."""
        if self._version is None or self._lh is None:
            return []
        return sorted(self._lh.lineage(self._version.lineage_ref).get_column("run_id").to_list())

    def download(self, root: str | Path | None = None, **others: Any) -> str:
        """Write the version's files into ``root`` (default ``./artifacts/<name>:v<N>``) and return that folder.

        Every file is verified against its sha256 before it appears, and the set of files against the version's
        manifest. Files already in ``root`` that the artifact does not hold are left alone.
        """
        from lakehouse.errors import InvalidArgument
        from lakehouse.tracking import wandb_artifacts

        for key in others:
            msg = f"wandb.Artifact.download({key}=...)"
            raise _unsupported(msg)
        if self._version is None or self._lh is None:
            msg = f"artifact {self._name!r} is neither logged nor used yet: log_artifact or use_artifact it first"
            raise InvalidArgument(msg)
        version = self._version
        folder = Path(root) if root is not None else Path("artifacts") / version.ref
        if folder.exists() and not folder.is_dir():
            msg = f"cannot download artifact {version.ref} into {str(folder)!r}: it is a file, not a folder"
            raise InvalidArgument(msg)
        held = wandb_artifacts.files(self._lh.layout, version)
        start = len(version.prefix) + 1
        for item in held:
            target = folder / item.path[start:]
            if target.is_dir():
                msg = f"cannot download {item.path[start:]!r} of artifact {version.ref}: {str(target)!r} is a folder"
                raise InvalidArgument(msg)
            item.download(target)
        return str(folder)


def _path_artifact(path: str | Path, *, name: str | None, type_: str | None) -> Artifact:
    """W&B's ``log_artifact(path, name=, type=)``: a file or folder as an artifact (type ``unspecified``)."""
    source = Path(path)
    artifact = Artifact(name if name is not None else source.name.lower(), type_ or "unspecified")
    if source.is_dir():
        artifact.add_dir(source)
    else:
        artifact.add_file(source)
    return artifact


class Run:
    """What ``wandb.init`` returns: ``log``, ``config``, ``summary``, ``finish`` and the run's ``id`` / ``name``."""

    def __init__(
        self, target: LakehouseRun, *, lh: Lakehouse, project: str, config_: Config, summary_: Summary
    ) -> None:
        self._run = target
        self._lh = lh
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

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | Path,
        name: str | None = None,
        type: str | None = None,  # noqa: A002 - W&B's own keyword
        aliases: Sequence[str] | None = None,
    ) -> Artifact:
        """Log an :class:`Artifact` (or a file / folder, as an artifact named ``name`` of ``type``) as a new
        version, or, when its files are those of a version already logged, set ``aliases`` on that one."""
        from lakehouse.tracking import wandb_artifacts

        if self._finished:
            msg = "wandb.log_artifact after wandb.finish"
            raise _unsupported(msg)
        artifact = (
            artifact_or_path
            if isinstance(artifact_or_path, Artifact)
            else _path_artifact(artifact_or_path, name=name, type_=type)
        )
        logged = wandb_artifacts.log(
            self._lh.layout,
            self._lh.settings,
            self._run.id,
            name=artifact._name,
            type_=artifact.type,
            entries=artifact._entries,
            aliases=list(aliases or ()),
            description=artifact.description,
            metadata=artifact.metadata,
            actor=self._lh.actor,
        )
        artifact._bind(self._lh, logged)
        return artifact

    def use_artifact(
        self,
        artifact_or_name: Artifact | str,
        type: str | None = None,  # noqa: A002 - W&B's own keyword
    ) -> Artifact:
        """Resolve ``name:v<N>`` / ``name:latest`` / ``name:<alias>`` (or a logged :class:`Artifact`), record it
        as an input of this run, and return it to :meth:`Artifact.download`."""
        from lakehouse.tracking import wandb_artifacts
        from lakehouse.tracking.run import now_utc

        if self._finished:
            msg = "wandb.use_artifact after wandb.finish"
            raise _unsupported(msg)
        ref = artifact_or_name.name if isinstance(artifact_or_name, Artifact) else artifact_or_name
        found = _resolve(self._lh, ref, type)
        self._run.record_input(
            {
                "dataset": found.input_dataset,
                "version": found.version,
                "ref": ref,
                "context": wandb_artifacts.INPUT_CONTEXT,
                "at": now_utc(),
            }
        )
        return _bound(self._lh, found)

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


class Api:
    """``wandb.Api()``: W&B's read side, for :meth:`artifact` only (``Api(root=...)`` picks the root as
    :func:`init` does)."""

    def __init__(
        self, overrides: Mapping[str, Any] | None = None, *, root: str | Path | None = None, **others: Any
    ) -> None:
        import lakehouse

        for key in [*others, *(["overrides"] if overrides else [])]:
            msg = f"wandb.Api({key}=...)"
            raise _unsupported(msg)
        self._lh = lakehouse.connect(root)

    def artifact(self, name: str, type: str | None = None) -> Artifact:  # noqa: A002 - W&B's own keyword
        """The version ``name:v<N>`` / ``name:latest`` / ``name:<alias>`` names, to :meth:`Artifact.download`,
        :meth:`Artifact.logged_by` or :meth:`Artifact.used_by`; unlike :meth:`Run.use_artifact` it records no
        use."""
        return _bound(self._lh, _resolve(self._lh, name, type))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        msg = f"wandb.Api.{name}"
        raise _unsupported(msg)


def _resolve(lh: Lakehouse, ref: str, type_: str | None) -> Version:
    """The artifact version ``ref`` names, checked to be of ``type_`` if given."""
    from lakehouse.errors import InvalidArgument
    from lakehouse.tracking import wandb_artifacts

    found = wandb_artifacts.resolve(lh.layout, ref)
    if type_ is not None and type_ != found.type:
        msg = f"artifact {found.ref} is of type {found.type!r}, not {type_!r}"
        raise InvalidArgument(msg)
    return found


def _bound(lh: Lakehouse, found: Version) -> Artifact:
    """``found`` as an :class:`Artifact` ready to download."""
    artifact = Artifact(found.name, found.type, description=found.description, metadata=dict(found.metadata))
    artifact._bind(lh, found)
    return artifact


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
    run = Run(target, lh=lh, project=experiment, config_=fresh, summary_=summary)
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


def log_artifact(
    artifact_or_path: Artifact | str | Path,
    name: str | None = None,
    type: str | None = None,  # noqa: A002 - W&B's own keyword
    aliases: Sequence[str] | None = None,
) -> Artifact:
    """``wandb.log_artifact`` on the current run (see :meth:`Run.log_artifact`)."""
    if run is None:
        msg = "wandb.log_artifact before wandb.init"
        raise _unsupported(msg)
    return run.log_artifact(artifact_or_path, name=name, type=type, aliases=aliases)


def use_artifact(
    artifact_or_name: Artifact | str,
    type: str | None = None,  # noqa: A002 - W&B's own keyword
) -> Artifact:
    """``wandb.use_artifact`` on the current run (see :meth:`Run.use_artifact`)."""
    if run is None:
        msg = "wandb.use_artifact before wandb.init"
        raise _unsupported(msg)
    return run.use_artifact(artifact_or_name, type=type)


def __getattr__(name: str) -> Any:
    msg = f"wandb.{name}"
    raise _unsupported(msg)
