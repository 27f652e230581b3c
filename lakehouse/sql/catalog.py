"""The names a SQL query sees, and how each becomes a polars frame (docs/SQL.md lists their columns).

Tracking: ``runs`` (one row per run, the runs read model of ``lh.runs()``, with ``params``, ``tags`` and
``metrics`` as struct columns), ``params``, ``tags``, ``metric_summaries``, ``inputs``, ``experiments`` and
``metrics`` (the fact table, scanned lazily: a filter on ``run_id`` reads that run's partition only).
Run artifacts and the model registry: ``artifacts`` (each run's current files, as the artifact index folds),
``models``, ``model_versions`` and ``model_aliases`` (the registry's fold: models, their versions, the alias
history). Datasets: ``datasets`` (the registry) and ``dataset_versions`` (every version with its card). Any other name
is a dataset reference in the one grammar of :mod:`lakehouse.refs` (``"digits"``, ``"digits:v2"``,
``"digits:prod"``, ``"digits@2026-11-01T12:00:00Z"``), or a range ``"digits:v2..v3"``: the rows that changed
between two versions (:func:`changes`), computed by ``Dataset.diff``.

Only the names a query uses are built (:func:`plan` resolves them first, so a bad name or ref fails before
anything is read). Every engine gets its frames from here: embedded polars directly, Spark as views.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import polars as pl
from polars.io.plugins import register_io_source

from lakehouse.catalog import datasets_catalog
from lakehouse.catalog.tables import METRICS, scan_or_empty
from lakehouse.datasets.versions import CARD_FIELDS
from lakehouse.errors import QueryError, closest
from lakehouse.query import frames, summaries
from lakehouse.query import models as registry_model
from lakehouse.query import runs as runs_model
from lakehouse.refs import Ref, is_range, parse_range, parse_ref, validate_name
from lakehouse.tracking import artifacts as run_artifacts

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

#: The change-type column of a range (``"digits:v2..v3"``): ``added`` or ``removed``.
CHANGE_TYPE = "change_type"
_STATS = runs_model.STATS


def _runs(lh: Lakehouse) -> pl.LazyFrame:
    """``lh.runs()`` with the ``params.*``, ``tags.*`` and ``metrics.<key>.<stat>`` columns as structs."""
    wide = lh.runs()
    fixed = [c for c in wide.columns if not c.startswith(("params.", "tags.", "metrics."))]
    out = [pl.col(c) for c in fixed]
    for prefix in ("params", "tags"):
        columns = [c for c in wide.columns if c.startswith(prefix + ".")]
        if columns:
            out.append(pl.struct([pl.col(c).alias(c.removeprefix(prefix + ".")) for c in columns]).alias(prefix))
    keys = sorted({c.removeprefix("metrics.").rsplit(".", 1)[0] for c in wide.columns if c.startswith("metrics.")})
    if keys:
        per_key = [
            pl.struct(
                [pl.col(f"metrics.{k}.{s}").alias(s) for s in _STATS if f"metrics.{k}.{s}" in wide.columns]
            ).alias(k)
            for k in keys
        ]
        out.append(pl.struct(per_key).alias("metrics"))
    return wide.select(out).lazy()


def _long(lh: Lakehouse, prefix: str) -> pl.LazyFrame:
    """``params`` / ``tags`` long: (run_id, key, value), from the same runs read model as ``runs``."""
    wide = lh.runs()
    columns = [c for c in wide.columns if c.startswith(prefix + ".")]
    empty = pl.LazyFrame(schema={"run_id": pl.String(), "key": pl.String(), "value": pl.String})
    if not columns:
        return empty
    return (
        wide.lazy()
        .unpivot(on=columns, index="run_id", variable_name="key", value_name="value")
        .drop_nulls("value")
        .with_columns(pl.col("key").str.slice(len(prefix) + 1))
        .sort("run_id", "key")
    )


def _metric_summaries(lh: Lakehouse) -> pl.LazyFrame:
    tables = runs_model.Tables.load(lh.layout)
    return (
        summaries.merged(tables.summaries)
        .with_columns(pl.col("run_id").cast(pl.String), pl.col("key").cast(pl.String))
        .sort("run_id", "key")
        .lazy()
    )


def _inputs(lh: Lakehouse) -> pl.LazyFrame:
    inputs = runs_model.Tables.load(lh.layout).inputs
    return inputs.with_columns(pl.col("run_id").cast(pl.String)).sort("at").lazy()


def _experiments(lh: Lakehouse) -> pl.LazyFrame:
    # Counts as Int64, a type every engine has (Spark has no unsigned integers).
    return runs_model.experiments(lh.layout).with_columns(pl.col("runs", "running").cast(pl.Int64)).lazy()


def _metrics(lh: Lakehouse) -> pl.LazyFrame:
    """The fact table as a lazy source that reads only the runs a query's filter names.

    Polars pushes a query's filter down to this source. When the filter requires ``run_id = '<id>'`` (alone or
    ANDed with other conditions), only those runs' partitions are read, through the warm partition index of
    :func:`lakehouse.query.frames.partition_scan` (no Delta log replay per query); any other filter scans the
    Delta table, whose partition pruning polars does itself.
    """
    layout = lh.layout

    def read(
        columns: list[str] | None, predicate: pl.Expr | None, n_rows: int | None, batch_size: int | None
    ) -> Iterator[pl.DataFrame]:
        runs = _required_runs(predicate) if predicate is not None else None
        if runs is not None:
            scan = frames.partition_scan(layout.metrics, METRICS, "run_id", sorted(runs))
        else:
            scan = scan_or_empty(layout.metrics, METRICS)
        if predicate is not None:
            scan = scan.filter(predicate)
        if columns is not None:
            scan = scan.select(columns)
        if n_rows is not None:
            scan = scan.head(n_rows)
        yield from scan.collect_batches(chunk_size=batch_size)

    return register_io_source(read, schema=METRICS.polars_schema, explain_name="lakehouse tracking/metrics")


def _required_runs(predicate: pl.Expr) -> set[str] | None:
    """The run ids a filter allows, when it is a conjunction holding ``run_id == '<id>'``; else None (any run).

    Read from the expression's JSON form: only an AND chain is walked, so a run id under OR or NOT never narrows
    the read. Two different ids ANDed allow none.
    """
    try:
        tree = json.loads(predicate.meta.serialize(format="json"))
    except (pl.exceptions.PolarsError, ValueError):  # a form this polars cannot write as JSON: read every run
        return None
    allowed: set[str] | None = None
    for term in _conjuncts(tree):
        value = _run_equals(term)
        if value is not None:
            allowed = {value} if allowed is None else allowed & {value}
    return allowed


def _conjuncts(node: Any) -> Iterator[Any]:
    binary = node.get("BinaryExpr") if isinstance(node, dict) else None
    if isinstance(binary, dict) and binary.get("op") == "And":
        yield from _conjuncts(binary.get("left"))
        yield from _conjuncts(binary.get("right"))
    else:
        yield node


def _run_equals(node: Any) -> str | None:
    """``'<id>'`` if ``node`` is ``run_id == '<id>'`` (either way round)."""
    binary = node.get("BinaryExpr") if isinstance(node, dict) else None
    if not isinstance(binary, dict) or binary.get("op") != "Eq":
        return None
    for column, literal in ((binary.get("left"), binary.get("right")), (binary.get("right"), binary.get("left"))):
        if column == {"Column": "run_id"} and isinstance(literal, dict):
            value = literal.get("Literal", {}).get("Scalar", {}).get("String")
            if isinstance(value, str):
                return value
    return None


def _datasets(lh: Lakehouse) -> pl.LazyFrame:
    rows = [
        {
            "name": info.name,
            "latest_version": info.latest_version,
            "num_rows": info.num_rows,
            "updated_at": info.updated_at,
            "last_writer": info.last_writer,
            "description": info.description,
            "tags": sorted(info.tags),
        }
        for info in lh.datasets()
    ]
    return pl.DataFrame(rows, schema=DATASETS_SCHEMA).lazy()


DATASETS_SCHEMA = pl.Schema(
    {
        "name": pl.String(),
        "latest_version": pl.Int64(),
        "num_rows": pl.Int64(),
        "updated_at": pl.Datetime("us", "UTC"),
        "last_writer": pl.String(),
        "description": pl.String(),
        "tags": pl.List(pl.String()),
    }
)


def _dataset_versions(lh: Lakehouse) -> pl.LazyFrame:
    rows = []
    for name in datasets_catalog.dataset_names(lh.layout):
        ds = lh.dataset(name)
        tagged: dict[int, list[str]] = {}
        for tag, version in ds.tags().items():
            tagged.setdefault(version, []).append(tag)
        for v in reversed(ds.history()):
            meta = v.metadata
            rows.append(
                {
                    "dataset": name,
                    "version": v.version,
                    "ref": v.ref,
                    "created_at": v.created_at,
                    "created_by": v.created_by,
                    "created_on": _text(meta.get("created_on")),
                    "labelled_by": _text(meta.get("labelled_by")),
                    "number_of_samples": v.num_rows,
                    "description": v.description,
                    "operation": v.operation,
                    "rows_added": v.rows_added,
                    "rows_removed": v.rows_removed,
                    "rows_updated": v.rows_updated,
                    "data_change": v.data_change,
                    "tags": sorted(tagged.get(v.version, [])),
                    "metadata": json.dumps(
                        {k: x for k, x in meta.items() if k not in CARD_FIELDS}, sort_keys=True, default=str
                    ),
                }
            )
    return pl.DataFrame(rows, schema=DATASET_VERSIONS_SCHEMA).lazy()


def _text(value: object) -> str | None:
    return None if value is None else str(value)


DATASET_VERSIONS_SCHEMA = pl.Schema(
    {
        "dataset": pl.String(),
        "version": pl.Int64(),
        "ref": pl.String(),
        "created_at": pl.Datetime("us", "UTC"),
        "created_by": pl.String(),
        "created_on": pl.String(),
        "labelled_by": pl.String(),
        "number_of_samples": pl.Int64(),
        "description": pl.String(),
        "operation": pl.String(),
        "rows_added": pl.Int64(),
        "rows_removed": pl.Int64(),
        "rows_updated": pl.Int64(),
        "data_change": pl.Boolean(),
        "tags": pl.List(pl.String()),
        "metadata": pl.String(),
    }
)


def _artifacts(lh: Lakehouse) -> pl.LazyFrame:
    """Every run's current artifacts: the one fold of the artifact index (deleted paths left out)."""
    return run_artifacts.current(lh.layout).lazy()


def _models(lh: Lakehouse) -> pl.LazyFrame:
    """One row per live registered model (as ``lh.models()``); ``aliases`` (alias -> version) and ``tags`` are
    struct columns, present once some model has one."""
    rows = [asdict(m) for m in registry_model.registry(lh.layout).models()]
    return _with_structs(rows, MODELS_SCHEMA, aliases=pl.Int64(), tags=pl.String())


MODELS_SCHEMA = pl.Schema(
    {
        "name": pl.String(),
        "description": pl.String(),
        "latest_version": pl.Int64(),
        "version_count": pl.Int64(),
        "created_at": pl.Datetime("us", "UTC"),
        "updated_at": pl.Datetime("us", "UTC"),
        "created_by": pl.String(),
    }
)


def _model_versions(lh: Lakehouse) -> pl.LazyFrame:
    """Every version of every live model, deleted versions included (``status``: ``active`` or ``deleted``),
    with the aliases pointing at it (a list) and its tags (a struct column, present once a version has one)."""
    registry = registry_model.registry(lh.layout)
    rows = [
        {**asdict(v), "ref": v.ref, "status": v.lifecycle, "aliases": list(v.aliases)}
        for m in registry.models()
        for v in registry.versions(m.model_id, include_deleted=True)
    ]
    return _with_structs(rows, MODEL_VERSIONS_SCHEMA, tags=pl.String())


MODEL_VERSIONS_SCHEMA = pl.Schema(
    {
        "name": pl.String(),
        "version": pl.Int64(),
        "ref": pl.String(),
        "run_id": pl.String(),
        "source": pl.String(),
        "status": pl.String(),
        "description": pl.String(),
        "created_at": pl.Datetime("us", "UTC"),
        "updated_at": pl.Datetime("us", "UTC"),
        "created_by": pl.String(),
        "aliases": pl.List(pl.String()),
    }
)


def _model_aliases(lh: Lakehouse) -> pl.LazyFrame:
    """Every alias change of every live model, oldest first: set, moved (from ``previous_version``), deleted."""
    registry = registry_model.registry(lh.layout)
    rows = [asdict(c) for m in registry.models() for c in registry.alias_history(m.model_id)]
    return pl.DataFrame(rows, schema=MODEL_ALIASES_SCHEMA).sort("at", maintain_order=True).lazy()


MODEL_ALIASES_SCHEMA = pl.Schema(
    {
        "name": pl.String(),
        "alias": pl.String(),
        "change": pl.String(),
        "version": pl.Int64(),
        "previous_version": pl.Int64(),
        "actor": pl.String(),
        "at": pl.Datetime("us", "UTC"),
        "reason": pl.String(),
    }
)


def _with_structs(rows: list[dict[str, Any]], schema: pl.Schema, **structs: pl.DataType) -> pl.LazyFrame:
    """``rows`` as a frame of ``schema``, plus each mapping column in ``structs`` as a struct with one field per
    key any row has (null where a row lacks it), like ``runs.params``; a column no row has a key of is left out
    (a struct needs a field), as ``runs`` leaves out ``params`` when no run has one."""
    out = pl.DataFrame([{c: r[c] for c in schema} for r in rows], schema=schema)
    for column, dtype in structs.items():
        keys = sorted({k for r in rows for k in r[column]})
        if keys:
            struct = pl.Struct(dict.fromkeys(keys, dtype))
            out = out.with_columns(pl.Series(column, [r[column] for r in rows], dtype=struct))
    return out.lazy()


@dataclass(frozen=True)
class Name:
    """A table name of the catalog: what it holds, and how to build it."""

    name: str
    about: str
    build: Callable[[Lakehouse], pl.LazyFrame]


NAMES: dict[str, Name] = {
    n.name: n
    for n in (
        Name("runs", "one row per run (as lh.runs()); params, tags, metrics as struct columns", _runs),
        Name("params", "run_id, key, value: every run's parameters", partial(_long, prefix="params")),
        Name("tags", "run_id, key, value: every run's tags", partial(_long, prefix="tags")),
        Name("metrics", "run_id, key, step, timestamp, value: every logged point (the fact table)", _metrics),
        Name("metric_summaries", "run_id, key, count, min, max, last, last_step, last_timestamp", _metric_summaries),
        Name("inputs", "run_id, dataset, version, ref, context, at: the dataset versions runs used", _inputs),
        Name("experiments", "experiment, runs, running, last_start", _experiments),
        Name("artifacts", "run_id, path, size, digest, logged_at: every run's current files", _artifacts),
        Name("models", "one row per registered model: latest_version, aliases and tags as structs", _models),
        Name("model_versions", "every version of every model: run_id, source, status, aliases, tags", _model_versions),
        Name("model_aliases", "alias history: name, alias, change, version, actor, at, reason", _model_aliases),
        Name("datasets", "the dataset registry: name, latest_version, num_rows, tags...", _datasets),
        Name("dataset_versions", "every version of every dataset with its card", _dataset_versions),
    )
}

SourceKind = Literal["name", "ref", "range"]


@dataclass(frozen=True)
class Source:
    """One table a query reads, resolved: a catalog name, a dataset version, or a range of two versions.

    ``text`` is the name as the query writes it (``digits:prod``); for refs, ``version`` (and for ranges
    ``start``) is the concrete version number it resolved to when the query was planned.
    """

    text: str
    kind: SourceKind
    dataset: str | None = None
    version: int | None = None
    start: int | None = None


def plan(lh: Lakehouse, names: Iterable[str], ctes: Iterable[str] = ()) -> list[Source]:
    """Resolve the table names a query reads (each once), refusing unknown names and bad refs.

    Raises:
        QueryError: a name that is neither a catalog name, a dataset nor a reference, with the closest names.
        InvalidRef / DatasetNotFound / VersionNotFound / TagNotFound: a reference that does not resolve.
    """
    local = set(ctes)
    sources: list[Source] = []
    for text in dict.fromkeys(names):
        if text in local:
            continue
        if text in NAMES:
            sources.append(Source(text, "name"))
        elif is_range(text):
            start, end = parse_range(text)
            sources.append(Source(text, "range", start.name, _resolve(lh, end), _resolve(lh, start)))
        elif ":" in text or "@" in text:
            ref = parse_ref(text)
            sources.append(Source(text, "ref", ref.name, _resolve(lh, ref)))
        else:
            datasets = datasets_catalog.dataset_names(lh.layout)
            if text in datasets:
                sources.append(Source(text, "ref", text, _resolve(lh, parse_ref(text))))
                continue
            choices = [*NAMES, *datasets]
            msg = f"unknown table {text!r}: it is neither a lakehouse name nor a dataset{closest(text, choices)}"
            raise QueryError(msg)
    return sources


def _resolve(lh: Lakehouse, ref: Ref) -> int:
    validate_name(ref.name)
    return lh.dataset(ref.name).resolve(ref.version, tag=ref.tag, as_of=ref.as_of)


def frame(lh: Lakehouse, source: Source) -> pl.LazyFrame:
    """The polars frame of a planned source."""
    if source.kind == "name":
        return NAMES[source.text].build(lh)
    assert source.dataset is not None
    assert source.version is not None
    ds = lh.dataset(source.dataset)
    if source.kind == "ref":
        return ds.scan(source.version)
    assert source.start is not None
    return changes(lh, source.dataset, source.start, source.version).lazy()


def changes(lh: Lakehouse, dataset: str, start: int, end: int) -> pl.DataFrame:
    """The rows that differ between two versions: ``change_type`` (``added``/``removed``), then the columns of
    both versions (a column only one version has is null in the other's rows). ``Dataset.diff`` computes it."""
    diff = lh.dataset(dataset).diff(start, end)
    parts = [
        diff.added.select(pl.lit("added").alias(CHANGE_TYPE), pl.all()),
        diff.removed.select(pl.lit("removed").alias(CHANGE_TYPE), pl.all()),
    ]
    return pl.concat(parts, how="diagonal_relaxed")


def table_names(lh: Lakehouse) -> list[str]:
    """Every name a query can use without quoting a ref: the catalog's names, then the datasets."""
    return [*NAMES, *datasets_catalog.dataset_names(lh.layout)]


def columns(lh: Lakehouse, name: str) -> dict[str, pl.DataType]:
    """The columns of a catalog name or dataset (at its latest version), for listings and completion."""
    source = plan(lh, [name])[0]
    return dict(frame(lh, source).collect_schema())
