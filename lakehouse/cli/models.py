"""``lakehouse models ...``: registered models, their versions, aliases and the aliases' history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel

from lakehouse.cli import _common as c

if TYPE_CHECKING:
    from lakehouse.entities import AliasChange, ModelLineage, ModelVersion

models_app = typer.Typer(
    help="The model registry: models, versions, aliases (production, staging...) and their history.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Registered model name.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the alias history).")]
DeletedOpt = Annotated[bool, typer.Option("--deleted", help="Include deleted ones.")]


@models_app.command("list")
def list_models(deleted: DeletedOpt = False, root: c.RootOpt = None, json_out: c.JsonOpt = False) -> None:
    """List registered models: latest version, aliases, description."""
    found = c.connect(root).models(include_deleted=deleted)

    def render() -> Any:
        if not found:
            return "No registered models yet. Register one with `lakehouse models register NAME --run RUN --path P`."
        rows = [
            [
                m.name + (" (deleted)" if m.lifecycle == "deleted" else ""),
                "" if m.latest_version is None else f"v{m.latest_version}",
                m.version_count,
                _aliases(m.aliases),
                m.description,
                c.when(m.updated_at),
            ]
            for m in found
        ]
        return c.table("models", ["name", "latest", "versions", "aliases", "description", "updated"], rows)

    c.emit(found, json_out, render)


@models_app.command("show")
def show(name: NameArg, root: c.RootOpt = None, json_out: c.JsonOpt = False) -> None:
    """Show one model: description, tags, aliases and versions."""
    model = c.connect(root).model(name)
    info, versions = model.info(), model.versions()

    def render() -> list[Any]:
        facts = c.table(
            None,
            ["field", "value"],
            [
                ["name", info.name],
                ["id", info.model_id],
                ["description", info.description],
                ["latest", "" if info.latest_version is None else f"v{info.latest_version}"],
                ["aliases", _aliases(info.aliases)],
                ["created", f"{c.when(info.created_at)} by {info.created_by or '?'}"],
                ["updated", c.when(info.updated_at)],
            ],
        )
        out: list[Any] = [Panel(Group(facts), title=f"model {info.name}")]
        if info.tags:
            out.append(c.table("tags", ["tag", "value"], sorted(info.tags.items())))
        out.append(_versions_table(versions))
        return out

    c.emit({"model": info, "versions": versions}, json_out, render)


@models_app.command("versions")
def versions(name: NameArg, deleted: DeletedOpt = False, root: c.RootOpt = None, json_out: c.JsonOpt = False) -> None:
    """List a model's versions, oldest first, with their aliases and the runs they came from."""
    found = c.connect(root).model(name).versions(include_deleted=deleted)
    c.emit(found, json_out, lambda: _versions_table(found))


@models_app.command("version")
def version(
    ref: Annotated[str, typer.Argument(help="A model version: NAME:v3, NAME:production, NAME (latest).")],
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Show one model version with its lineage: the run, its params, final metrics and dataset versions."""
    lineage = c.connect(root).model_lineage(ref)
    c.emit(lineage, json_out, lambda: _render_lineage(lineage))


@models_app.command("register")
def register(
    name: NameArg,
    source: Annotated[
        str | None, typer.Argument(help="runs:/<run id>/<path> or models:/<model id> (or use --run and --path).")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Run id, unique prefix or unique run name.")] = None,
    path: Annotated[str | None, typer.Option("--path", help="The model's path among the run's artifacts.")] = None,
    description: Annotated[str | None, typer.Option("--description", "-d", help="The version's description.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="A version tag key=value (repeatable).")] = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Register a new version of model NAME (created on first use) from a run's artifact."""
    tags = dict(c.pair(t, "--tag") for t in tag or [])
    made = c.connect(root).register_model(name, source, run=run, path=path, description=description, tags=tags)
    c.emit(made, json_out, lambda: f"registered [bold]{made.ref}[/] from {made.source}")


@models_app.command("alias")
def alias(
    name: NameArg,
    version: Annotated[str, typer.Argument(help="The version the alias points at: 3 or v3.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="Alias name: production, staging, champion...")],
    reason: ReasonOpt = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Point ALIAS at a version of model NAME (moving it if it points elsewhere)."""
    model = c.connect(root).model(name)
    target = model.set_alias(alias_name, version, reason=reason)
    change = model.alias_history(alias_name)[-1]
    c.emit(change, json_out, lambda: f"{name}:{alias_name} → v{target.version}")


@models_app.command("unalias")
def unalias(
    name: NameArg,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="The alias to delete.")],
    reason: ReasonOpt = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Delete an alias of model NAME (kept in its history)."""
    model = c.connect(root).model(name)
    model.delete_alias(alias_name, reason=reason)
    change = model.alias_history(alias_name)[-1]
    c.emit(change, json_out, lambda: f"deleted {name}:{alias_name} (was v{change.previous_version})")


@models_app.command("history")
def history(
    name: NameArg,
    alias_name: Annotated[str | None, typer.Option("--alias", help="Only this alias.")] = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Every change of a model's aliases, oldest first: who moved what, when and why."""
    changes = c.connect(root).model(name).alias_history(alias_name)
    c.emit(changes, json_out, lambda: _history_table(name, changes))


# --- rendering --------------------------------------------------------------------------------------------------


def _aliases(aliases: Any) -> str:
    return ", ".join(f"{a}→v{v}" for a, v in sorted(aliases.items()))


def _versions_table(found: list[ModelVersion]) -> Any:
    if not found:
        return "No versions."
    rows = [
        [
            f"v{v.version}" + (" (deleted)" if v.lifecycle == "deleted" else ""),
            ", ".join(v.aliases),
            (v.run_id or "")[:12],
            v.source,
            v.description,
            c.when(v.created_at),
            v.created_by,
        ]
        for v in found
    ]
    return c.table("versions", ["version", "aliases", "run", "source", "description", "registered", "by"], rows)


def _history_table(name: str, changes: list[AliasChange]) -> Any:
    if not changes:
        return f"No alias of {name!r} was ever set."
    rows = [
        [
            c.when(ch.at),
            ch.alias,
            ch.change,
            "" if ch.previous_version is None else f"v{ch.previous_version}",
            "" if ch.version is None else f"v{ch.version}",
            ch.actor,
            ch.reason,
        ]
        for ch in changes
    ]
    return c.table(f"alias history of {name}", ["when", "alias", "change", "from", "to", "by", "reason"], rows)


def _render_lineage(lineage: ModelLineage) -> list[Any]:
    v = lineage.version
    facts: list[list[Any]] = [
        ["version", v.ref],
        ["aliases", ", ".join(v.aliases)],
        ["source", v.source],
        ["description", v.description],
        ["registered", f"{c.when(v.created_at)} by {v.created_by or '?'}"],
        ["run", "" if lineage.run is None else f"{lineage.run.name} ({lineage.run.id})"],
        ["run status", "" if lineage.run is None else lineage.run.status],
    ]
    out: list[Any] = [Panel(Group(c.table(None, ["field", "value"], facts)), title=f"model version {v.ref}")]
    if v.tags:
        out.append(c.table("tags", ["tag", "value"], sorted(v.tags.items())))
    if lineage.params:
        out.append(c.table("run params", ["param", "value"], sorted(lineage.params.items())))
    if lineage.metrics:
        out.append(c.table("final metrics", ["metric", "last"], [[k, f"{x:.6g}"] for k, x in lineage.metrics.items()]))
    if lineage.inputs:
        rows = [[i.version_ref, i.ref, i.context] for i in lineage.inputs]
        out.append(c.table("dataset versions used", ["dataset version", "asked for", "context"], rows))
    return out
