"""Where a model version comes from: a run's artifact (``runs:/<run id>/<path>``) or a logged MLflow model
(``models:/<model id>``), as MLflow's registry records it. Resolving the files is the artifact store's job;
here a source is checked for shape and for the run it names, and normalized (the full run id)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import polars as pl

from lakehouse.catalog.layout import Layout
from lakehouse.catalog.tables import LOGGED_MODEL_EVENTS, scan_or_empty
from lakehouse.errors import InvalidArgument, ModelNotFound
from lakehouse.query.runs import Tables, resolve_run_id
from lakehouse.tracking import artifacts

RUNS_SCHEME = "runs:/"
MODELS_SCHEME = "models:/"


@dataclass(frozen=True)
class Source:
    """A checked source: the URI recorded with the version and the run that built it."""

    uri: str
    run_id: str | None


def artifact_path(path: object) -> str:
    """A relative artifact path inside a run (``model``, ``checkpoints/best.keras``): never absolute, no ``..``."""
    if not isinstance(path, str) or not path.strip("/"):
        msg = f"an artifact path must be a non-empty string like 'model', got {path!r}"
        raise InvalidArgument(msg)
    pure = PurePosixPath(path)
    if path.startswith("/") or "\\" in path or any(p in ("..", ".") for p in pure.parts):
        msg = f"artifact path {path!r} must stay inside the run: relative, with no '.', '..' or backslash parts"
        raise InvalidArgument(msg)
    return pure.as_posix()


def parse(layout: Layout, source: object = None, *, run: str | None = None, path: str | None = None) -> Source:
    """Check ``source`` (or ``run`` + ``path``) against the runs and logged models under the root."""
    if source is not None and (run is not None or path is not None):
        msg = f"give a source URI or run= and path=, not both (source {source!r}, run {run!r}, path {path!r})"
        raise InvalidArgument(msg)
    if source is None:
        if run is None or path is None:
            msg = "a model version needs a source: 'runs:/<run id>/<path>', 'models:/<model id>', or run= and path="
            raise InvalidArgument(msg)
        return _from_run(layout, run, path)
    if not isinstance(source, str):
        msg = f"a model source must be a string URI, got {type(source).__name__} {source!r}"
        raise InvalidArgument(msg)
    if source.startswith(RUNS_SCHEME):
        run_id, _, rest = source[len(RUNS_SCHEME) :].partition("/")
        return _from_run(layout, run_id, rest)
    if source.startswith(MODELS_SCHEME):
        return _from_logged_model(layout, source[len(MODELS_SCHEME) :])
    msg = f"unsupported model source {source!r}: use 'runs:/<run id>/<path>' or 'models:/<model id>'"
    raise InvalidArgument(msg)


def _from_run(layout: Layout, run: str, path: str) -> Source:
    relative = artifact_path(path)
    run_id = resolve_run_id(Tables.load(layout), run)
    return Source(f"{RUNS_SCHEME}{run_id}/{relative}", run_id)


def _from_logged_model(layout: Layout, model_id: str) -> Source:
    if not model_id or "/" in model_id:
        msg = f"invalid logged model source 'models:/{model_id}': expected 'models:/<model id>'"
        raise InvalidArgument(msg)
    created = (
        scan_or_empty(layout.logged_models, LOGGED_MODEL_EVENTS)
        .filter((pl.col("model_id") == model_id) & (pl.col("kind") == "created"))
        .select("run_id")
        .collect()
    )
    if created.height == 0:
        msg = f"no logged model {model_id!r} under {str(layout.root)!r} (source 'models:/{model_id}')"
        raise ModelNotFound(msg)
    return Source(f"{MODELS_SCHEME}{model_id}", created.item(0, "run_id"))


def files(layout: Layout, source: str) -> pl.DataFrame:
    """The files a recorded source names now: ``path, size, digest, logged_at``, by path.

    For ``runs:/<run id>/<path>`` the run's artifact at ``path`` or under the folder ``path/`` (paths stay as the
    run logged them); for ``models:/<model id>`` every file of the logged model. Empty when nothing is there.
    """
    if source.startswith(RUNS_SCHEME):
        owner, _, prefix = source[len(RUNS_SCHEME) :].partition("/")
        found = artifacts.listing(layout, owner)
        path = pl.col("path")
        return found.filter((path == prefix) | path.str.starts_with(prefix.rstrip("/") + "/"))
    if source.startswith(MODELS_SCHEME):
        return artifacts.listing(layout, source[len(MODELS_SCHEME) :])
    return artifacts.listing(layout, "")
