"""``lakehouse runs ...``: list, lineage, show, compare, metrics, recover, delete, restore."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel

from lakehouse.cli import _common as c
from lakehouse.cli.artifacts import list_artifacts

if TYPE_CHECKING:
    import polars as pl

    from lakehouse.tracking import RunInfo

runs_app = typer.Typer(
    help="Runs and their metrics: list, lineage, show, compare, metrics, recover.", no_args_is_help=True
)

RunArg = Annotated[str, typer.Argument(help="Run id, unique id prefix (4+ characters) or unique run name.")]


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@runs_app.command("list")
def list_runs(
    experiment: Annotated[
        list[str] | None, typer.Option("--experiment", "-e", help="Only this experiment (repeatable).")
    ] = None,
    status: Annotated[list[str] | None, typer.Option("--status", help="Only this status (repeatable).")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only runs with tag key=value (repeatable).")] = None,
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted runs.")] = False,
    limit: Annotated[int, typer.Option(help="Show at most this many runs (newest first).")] = 50,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """List runs, newest first, with their params and last metric values."""
    tags = dict(c.pair(t, "--tag") for t in tag or [])
    frame = c.connect(root).runs(
        experiment or None,
        status=status or None,  # type: ignore[arg-type]  # validated by Lakehouse.runs
        tags=tags or None,
        include_deleted=deleted,
    )
    shown = frame.head(limit)

    def render() -> Any:
        if frame.height == 0:
            return "No runs yet. Start one with lakehouse.connect(root).start_run(...)."
        return _runs_table("runs", frame, limit)

    c.emit(shown, json_out, render)


@runs_app.command("lineage")
def lineage(
    ref: Annotated[
        str,
        typer.Argument(
            help="A dataset version (name:v3, name:<tag>, name@<time>) or a W&B artifact version "
            "(wandb-artifacts/<name>:v0, :latest or :<alias>)."
        ),
    ],
    deleted: Annotated[bool, typer.Option("--deleted", help="Include deleted runs.")] = False,
    limit: Annotated[int, typer.Option(help="Show at most this many runs (newest first).")] = 50,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """List the runs that used a dataset or W&B artifact version, with the model versions built from each."""
    frame = c.connect(root).lineage(ref, include_deleted=deleted)
    shown = frame.head(limit)

    def render() -> Any:
        if frame.height == 0:
            return f"No run used {ref}."
        return _runs_table(f"runs that used {ref}", frame, limit, extra=["model_versions"])

    c.emit(shown, json_out, render)


def _runs_table(title: str, frame: pl.DataFrame, limit: int, *, extra: Sequence[str] = ()) -> Any:
    """The first ``limit`` runs of ``frame`` (as ``Lakehouse.runs``): status, start, params, last metric values
    and the ``extra`` columns."""
    shown = frame.head(limit)
    params = [col for col in shown.columns if col.startswith("params.")]
    lasts = [col for col in shown.columns if col.startswith("metrics.") and col.endswith(".last")]
    columns = ["run_id", "name", "experiment", "status", "start_time", *params, *lasts, *extra]
    rows = [
        [
            r["run_id"][:12],
            r["name"],
            r["experiment"],
            _status(r["status"], lost=r["lost"], deleted=r["lifecycle"] == "deleted"),
            c.when(r["start_time"]),
            *[_fmt(r[p]) for p in params],
            *[_fmt(r[m]) for m in lasts],
            *[_fmt(r[e]) for e in extra],
        ]
        for r in shown.iter_rows(named=True)
    ]
    headers = [h.removeprefix("params.").removeprefix("metrics.").removesuffix(".last") for h in columns]
    out = c.table(title, headers, rows)
    captions = [f"{limit} of {frame.height} runs shown"] if frame.height > limit else []
    if shown.get_column("lost").any():
        captions.append("lost: no sign of life for tracking.lost_after (`runs recover --stale` fails them)")
    out.caption = "; ".join(captions) or None
    return out


@runs_app.command("show")
def show(run: RunArg, root: c.RootOpt = None, json_out: c.JsonOpt = False) -> None:
    """Show one run: status, times, params, tags, metric summaries, inputs and environment."""
    info = c.connect(root).run(run)
    c.emit(info, json_out, lambda: _render_run(info))


def _render_run(info: RunInfo) -> list[Any]:
    env = info.environment
    facts = c.table(
        None,
        ["field", "value"],
        [
            ["id", info.id],
            ["name", info.name],
            ["experiment", info.experiment],
            ["status", _status(info.status, lost=info.lost, deleted=info.lifecycle == "deleted")],
            ["started", c.when(info.start_time)],
            ["ended", c.when(info.end_time)],
            ["last seen", c.when(info.last_seen)],
            ["duration", "" if info.duration_s is None else f"{info.duration_s:.1f} s"],
            ["job type", info.job_type],
            ["user@host", f"{env.get('user', '')}@{env.get('host', '')}" if env else ""],
            ["git", f"{env.get('git_commit', '')[:12]}{' (dirty)' if env.get('git_dirty') else ''}" if env else ""],
            ["command", " ".join(env.get("command", [])) if env else ""],
        ],
    )
    out: list[Any] = [Panel(Group(facts), title=f"run {info.name}")]
    if info.params:
        out.append(c.table("params", ["param", "value"], sorted(info.params.items())))
    if info.tags:
        out.append(c.table("tags", ["tag", "value"], sorted(info.tags.items())))
    if info.metrics:
        out.append(
            c.table(
                "metrics",
                ["metric", "last", "min", "max", "points", "last step"],
                [[m.key, _fmt(m.last), _fmt(m.min), _fmt(m.max), m.count, m.last_step] for m in info.metrics.values()],
            )
        )
    if info.inputs:
        out.append(
            c.table(
                "inputs",
                ["dataset version", "asked for", "context"],
                [[i.version_ref, i.ref, i.context] for i in info.inputs],
            )
        )
    return out


runs_app.command("artifacts")(list_artifacts)


@runs_app.command("compare")
def compare(
    runs: Annotated[list[str], typer.Argument(help="Two or more runs (ids, prefixes or names).")],
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Compare runs: params that differ, metric summaries side by side, dataset versions used."""
    result = c.connect(root).compare(runs)
    labels = [result.labels[i] for i in result.run_ids]

    def render() -> list[Any]:
        def rows(frame: pl.DataFrame, lead: list[str]) -> list[list[str]]:
            return [[*(r[k] for k in lead), *(_fmt(r[i]) for i in result.run_ids)] for r in frame.iter_rows(named=True)]

        out: list[Any] = [
            c.table("params that differ", ["param", *labels], rows(result.params, ["param"]))
            if result.params.height
            else "All params are equal.",
            c.table("metrics", ["metric", "stat", *labels], rows(result.metrics, ["metric", "stat"])),
        ]
        if result.inputs.height:
            out.append(c.table("dataset versions", ["dataset", *labels], rows(result.inputs, ["dataset"])))
        return out

    c.emit(result, json_out, render)


@runs_app.command("metrics")
def metrics(
    run: RunArg,
    key: Annotated[list[str] | None, typer.Option("--key", "-k", help="Only this metric (repeatable).")] = None,
    max_points: Annotated[
        int | None, typer.Option(help="Downsample each metric to at most this many points (keeps extremes).")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows to print in the table view.")] = 50,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Print the metric history of a run (step, time, value per key)."""
    lh = c.connect(root)
    run_id = lh.run(run).id
    frame = lh.metrics(run_id, keys=key or None, max_points=max_points)
    c.emit(frame, json_out, lambda: c.frame_table(f"metrics of {run_id[:12]}", frame.drop("run_id"), limit=limit))


@runs_app.command("recover")
def recover(
    stale: Annotated[
        str | None,
        typer.Option(
            "--stale",
            help="Also mark FAILED every RUNNING run, from any machine, silent for this long (e.g. 10m, 2h, 90s).",
        ),
    ] = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Commit what dead writers on this machine left in the spool (exactly once); fail the runs they left RUNNING."""
    lh = c.connect(root)
    with _working(json_out, "committing leftover spool segments..."):
        report = lh.recover(stale=stale)

    def render() -> Any:
        lines = [
            f"spool: {report.spool}",
            f"recovered writers: {len(report.writers_recovered)}, segments committed: {report.segments_committed} "
            f"({report.points_committed} points), already committed: {report.segments_already_committed}, "
            f"corrupt (moved aside): {report.segments_quarantined}",
        ]
        if report.runs_failed:
            lines.append(f"runs left RUNNING by a dead process, now FAILED: {', '.join(report.runs_failed)}")
        if report.stale_runs_failed:
            lines.append(f"runs silent for longer than {stale}, now FAILED: {', '.join(report.stale_runs_failed)}")
        if report.writers_alive:
            lines.append(f"left alone (writer still running): {', '.join(report.writers_alive)}")
        lines.extend(f"[red]error:[/] {e}" for e in report.errors)
        return "\n".join(lines)

    c.emit(report, json_out, render)
    if report.errors:
        raise typer.Exit(1)


@runs_app.command("delete")
def delete(run: RunArg, root: c.RootOpt = None, json_out: c.JsonOpt = False) -> None:
    """Mark a run deleted (hidden from lists; restorable)."""
    run_id = c.connect(root).delete_run(run)
    c.emit({"run_id": run_id, "lifecycle": "deleted"}, json_out, lambda: f"deleted run {run_id}")


@runs_app.command("restore")
def restore(run: RunArg, root: c.RootOpt = None, json_out: c.JsonOpt = False) -> None:
    """Restore a deleted run."""
    run_id = c.connect(root).restore_run(run)
    c.emit({"run_id": run_id, "lifecycle": "active"}, json_out, lambda: f"restored run {run_id}")


def _status(status: str, *, lost: bool, deleted: bool) -> str:
    return status + (" (lost)" if lost else "") + (" (deleted)" if deleted else "")


def _working(json_out: bool, message: str) -> contextlib.AbstractContextManager[object]:
    """A spinner on stderr for long work, when a human is watching."""
    if json_out or not c.err_console.is_terminal:
        return contextlib.nullcontext()
    return c.err_console.status(message)
