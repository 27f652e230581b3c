"""``lakehouse datasets ...``: list, write, read, history, show, tag, untag, tags, diff, vacuum (and, from
:mod:`lakehouse.cli.file_datasets`, add-files, sync, download, files)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Group
from rich.panel import Panel

from lakehouse.cli import _common as c

if TYPE_CHECKING:
    from lakehouse.datasets import DatasetVersion

datasets_app = typer.Typer(help="Versioned datasets: write, read, history, tags, diff, vacuum.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="Dataset name.")]


def _version_rows(versions: list[DatasetVersion]) -> list[list[Any]]:
    return [
        [
            v.version,
            c.when(v.created_at),
            v.operation,
            v.created_by,
            v.num_rows,
            f"+{v.rows_added} -{v.rows_removed}" + (f" ~{v.rows_updated}" if v.rows_updated else ""),
            v.metadata.get("labelled_by"),
            v.description,
        ]
        for v in versions
    ]


_VERSION_COLUMNS = [
    "version",
    "created",
    "operation",
    "created by",
    "rows",
    "change",
    "labelled by",
    "description",
]


@datasets_app.command("list")
def list_datasets(root: c.RootOpt = None, json_out: c.JsonOpt = False) -> None:
    """List datasets with their latest version, rows, last writer and tags."""
    infos = c.connect(root).datasets()
    c.emit(
        infos,
        json_out,
        lambda: (
            c.table(
                "datasets",
                ["name", "latest", "rows", "updated", "last writer", "tags", "description"],
                [
                    [
                        i.name,
                        f"v{i.latest_version}",
                        i.num_rows,
                        c.when(i.updated_at),
                        i.last_writer,
                        ", ".join(f"{t}→v{v}" for t, v in i.tags.items()),
                        i.description,
                    ]
                    for i in infos
                ],
            )
            if infos
            else "No datasets yet. Write one with: lakehouse datasets write NAME FILE (or run `make demo`)."
        ),
    )


@datasets_app.command("write")
def write(
    name: NameArg,
    file: Annotated[Path, typer.Argument(help="Data file: .parquet, .csv, .json/.ndjson or .arrow.")],
    mode: Annotated[str, typer.Option(help="append, overwrite or upsert.")] = "append",
    key: Annotated[list[str] | None, typer.Option("--key", help="Key column for upsert (repeatable).")] = None,
    meta: Annotated[list[str] | None, typer.Option("--meta", help="Metadata key=value (repeatable).")] = None,
    created_by: Annotated[str | None, typer.Option(help="Who created this version.")] = None,
    labelled_by: Annotated[str | None, typer.Option(help="Who labelled the data.")] = None,
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    schema_mode: Annotated[str | None, typer.Option(help="merge (add columns) or overwrite (replace schema).")] = None,
    partition_by: Annotated[list[str] | None, typer.Option(help="Partition column on creation (repeatable).")] = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Write FILE as a new version of dataset NAME."""
    from lakehouse.cli._files import input_file, open_batches, parse_meta, progress_bar

    input_file(file)
    lh = c.connect(root)
    ds = lh.dataset(name)

    metadata = parse_meta(meta)
    progress = progress_bar(not json_out and c.err_console.is_terminal)
    with ExitStack() as stack:
        if progress is not None:
            stack.enter_context(progress)
        version = ds.write(
            stack.enter_context(open_batches(file, progress)),
            mode=mode,  # type: ignore[arg-type]  # validated by Dataset.write
            key=key or None,
            schema_mode=schema_mode,  # type: ignore[arg-type]
            partition_by=partition_by or None,
            metadata=metadata,
            created_by=created_by,
            labelled_by=labelled_by,
            description=description,
        )
    c.emit(
        version,
        json_out,
        lambda: (
            f"wrote [bold]{version.ref}[/]: {version.operation}, +{version.rows_added} -{version.rows_removed}"
            f"{f' ~{version.rows_updated}' if version.rows_updated else ''} rows, {version.num_rows} in total"
        ),
    )


@datasets_app.command("read")
def read(
    ref: Annotated[str, typer.Argument(help="Reference: name, name:v3, name:<tag> or name@<time>.")],
    out: Annotated[Path, typer.Option("--out", help="Output file (.parquet, .csv, .json, .ndjson).")],
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Read a dataset version into a file."""
    from lakehouse.cli._files import output_file, write_frame

    output_file(out)
    lh = c.connect(root)
    version = lh.resolve(ref)
    frame = lh.read(f"{version.name}:v{version.version}")
    write_frame(frame, out)
    result = {"ref": version.ref, "rows": frame.height, "out": str(out)}
    c.emit(result, json_out, lambda: f"wrote {frame.height} rows of [bold]{version.ref}[/] to {out}")


@datasets_app.command("history")
def history(
    name: NameArg,
    limit: Annotated[int | None, typer.Option(help="Show at most this many versions.")] = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Show the versions of a dataset, newest first, with their metadata."""
    versions = c.connect(root).dataset(name).history(limit=limit)
    c.emit(versions, json_out, lambda: c.table(f"history of {name}", _VERSION_COLUMNS, _version_rows(versions)))


@datasets_app.command("show")
def show(
    ref: Annotated[str, typer.Argument(help="Reference: name, name:v3, name:<tag> or name@<time>.")],
    rows: Annotated[int, typer.Option(help="Preview this many rows.")] = 10,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Show one version: metadata, schema and a preview of its rows."""
    lh = c.connect(root)
    version = lh.resolve(ref)
    ds = lh.dataset(version.name)
    schema = ds.schema(version.version)
    preview = ds.scan(version.version).head(rows).collect()
    tags = [t for t, v in ds.tags().items() if v == version.version]
    value = {
        **version.to_dict(),
        "tags": tags,
        "schema": [{"name": f.name, "type": str(f.type), "nullable": f.nullable} for f in schema],
        "preview": preview,
    }

    def render() -> list[Any]:
        facts = c.table(
            None,
            ["field", "value"],
            [
                ["ref", version.ref],
                ["tags", ", ".join(tags)],
                ["created", c.when(version.created_at)],
                ["operation", version.operation],
                ["rows", version.num_rows],
                ["files", f"{version.num_files} ({version.size_bytes} bytes)"],
                ["digest", version.digest],
                *[[k, v] for k, v in sorted(version.metadata.items())],
            ],
        )
        fields = c.table("schema", ["column", "type", "nullable"], [[f.name, f.type, f.nullable] for f in schema])
        return [
            Panel(Group(facts), title=version.ref),
            fields,
            c.frame_table("preview", preview, limit=rows, total=version.num_rows),
        ]

    c.emit(value, json_out, render)


@datasets_app.command("tag")
def tag(
    name: NameArg,
    tag_name: Annotated[str, typer.Argument(metavar="TAG", help="Tag name (not 'latest' or v<N>).")],
    version: Annotated[int | None, typer.Option(help="Version to tag (default: latest).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Move the tag if it points elsewhere.")] = False,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Point TAG at a version of dataset NAME."""
    event = c.connect(root).dataset(name).tag(tag_name, version, force=force)
    c.emit(event, json_out, lambda: f"{name}:{tag_name} → v{event.version}")


@datasets_app.command("untag")
def untag(
    name: NameArg,
    tag_name: Annotated[str, typer.Argument(metavar="TAG", help="Tag to delete.")],
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Delete a tag (its history is kept)."""
    event = c.connect(root).dataset(name).untag(tag_name)
    c.emit(event, json_out, lambda: f"deleted tag {name}:{tag_name} (was v{event.previous_version})")


@datasets_app.command("tags")
def tags(
    name: NameArg,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Show live tags and the history of every tag change."""
    ds = c.connect(root).dataset(name)
    live, events = ds.tags(), ds.tag_history()
    c.emit(
        {"tags": live, "history": events},
        json_out,
        lambda: [
            c.table(f"tags of {name}", ["tag", "version"], [[t, f"v{v}"] for t, v in live.items()]),
            c.table(
                "tag history",
                ["when", "tag", "event", "from", "to", "by"],
                [[c.when(e.at), e.tag, e.event, e.previous_version, e.version, e.actor] for e in events],
            ),
        ],
    )


@datasets_app.command("diff")
def diff(
    name: NameArg,
    a: Annotated[str, typer.Argument(help="Older version: number, v<N>, tag or 'latest'.")],
    b: Annotated[str, typer.Argument(help="Newer version: number, v<N>, tag or 'latest'.")],
    key: Annotated[list[str] | None, typer.Option("--key", help="Key column to match rows (repeatable).")] = None,
    rows: Annotated[int, typer.Option(help="Show at most this many rows of each kind.")] = 20,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Show schema changes and rows added, removed and changed between two versions."""
    ds = c.connect(root).dataset(name)
    result = ds.diff(_selector(a), _selector(b), key=key or None)
    value = {
        **result.summary(),
        "added_rows": result.added.head(rows),
        "removed_rows": result.removed.head(rows),
        "changed_rows": result.changed.head(rows),
    }
    c.emit(
        value,
        json_out,
        lambda: [
            f"[bold]{name}[/] v{result.from_version} → v{result.to_version} ({result.method}): "
            f"+{result.num_added} added, -{result.num_removed} removed, ~{result.num_changed} changed",
            *(["schema: " + "; ".join(str(s) for s in result.schema_changes)] if result.schema_changes else []),
            *[
                c.frame_table(title, frame, limit=rows)
                for title, frame in (
                    ("added", result.added),
                    ("removed", result.removed),
                    ("changed", result.changed),
                )
                if frame.height
            ],
        ],
    )


def _selector(text: str) -> int | str:
    return int(text) if text.isdigit() else text


@datasets_app.command("vacuum")
def vacuum(
    name: NameArg,
    retention_hours: Annotated[int | None, typer.Option(help="Keep files removed less than this long ago.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the files without deleting them.")] = False,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Delete files no version needs any more; tagged versions and versions used by runs are kept."""
    ds = c.connect(root).dataset(name)
    pins = ds.pinned_versions()
    files = ds.vacuum(retention_hours=retention_hours, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    kept = ", ".join(f"v{v} ({'/'.join(why)})" for v, why in pins.items()) or "none"
    c.emit(
        {"dataset": name, "dry_run": dry_run, "files": files, "pinned_versions": pins},
        json_out,
        lambda: f"{verb} {len(files)} file(s) from {name}; pinned versions kept: {kept}",
    )


def _register_file_commands() -> None:
    from lakehouse.cli import file_datasets

    file_datasets.register(datasets_app)


_register_file_commands()
