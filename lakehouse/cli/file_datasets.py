"""``lakehouse datasets add-files | sync | download | files``: folders of files as versioned datasets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse.cli import _common as c

if TYPE_CHECKING:
    from lakehouse.datasets import DatasetVersion
    from lakehouse.datasets.files import Labels

NameArg = Annotated[str, typer.Argument(help="Dataset name.")]
RefArg = Annotated[str, typer.Argument(help="Reference: name, name:v3, name:<tag> or name@<time>.")]
FolderArg = Annotated[Path, typer.Argument(help="Local folder of files.")]
PatternOpt = Annotated[str, typer.Option(help="Glob of the files to take, relative to FOLDER.")]
LabelsOpt = Annotated[
    Path | None, typer.Option("--labels", help="CSV/Parquet sidecar with a 'path' column and label columns.")
]
FolderLabelsOpt = Annotated[
    bool, typer.Option("--label-folders", help="Label each file by its first folder (ImageFolder layout).")
]
MetaOpt = Annotated[list[str] | None, typer.Option("--meta", help="Metadata key=value (repeatable).")]
CreatedByOpt = Annotated[str | None, typer.Option(help="Who created this version.")]
LabelledByOpt = Annotated[str | None, typer.Option(help="Who labelled the files.")]
DescriptionOpt = Annotated[str | None, typer.Option(help="What this version is.")]


def register(app: typer.Typer) -> None:
    """Add the file dataset commands to ``lakehouse datasets``."""
    app.command("add-files")(add_files)
    app.command("sync")(sync)
    app.command("download")(download)
    app.command("files")(files)


def _first_folder(path: str) -> str | None:
    return path.split("/", 1)[0] if "/" in path else None


def _labels(sidecar: Path | None, label_folders: bool) -> Labels:
    from lakehouse.cli._files import input_file
    from lakehouse.errors import InvalidArgument

    if sidecar is not None and label_folders:
        msg = "give either --labels or --label-folders, not both"
        raise InvalidArgument(msg)
    if sidecar is not None:
        return input_file(sidecar, what="labels sidecar")
    return _first_folder if label_folders else None


@contextmanager
def _counting(enabled: bool, what: str, total: int | None = None) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr counting files (None with --json or when stderr is not a terminal)."""
    from lakehouse.cli._files import progress_bar

    progress = progress_bar(enabled and c.err_console.is_terminal)
    if progress is None:
        yield None
        return
    with progress:
        task = progress.add_task(what, total=total)
        yield lambda n: progress.advance(task, n)


def _written(version: DatasetVersion) -> str:
    return (
        f"wrote [bold]{version.ref}[/]: +{version.rows_added} -{version.rows_removed}"
        f"{f' ~{version.rows_updated}' if version.rows_updated else ''} files, {version.num_rows} in total"
    )


def _write(
    kind: str, name: str, folder: Path, options: dict[str, Any], root: str | None, json_out: bool
) -> DatasetVersion | None:
    """Check the inputs, then run ``Dataset.add_files`` or ``Dataset.sync_files`` with a progress bar."""
    from lakehouse.cli._files import input_folder, parse_meta

    input_folder(folder)
    labels = _labels(options.pop("labels"), options.pop("label_folders"))
    ds = c.connect(root).dataset(name)
    write = ds.add_files if kind == "add" else ds.sync_files
    what = "reading" if kind == "add" else "reading changed files of"
    with _counting(not json_out, f"{what} {folder.name or folder}") as progress:
        return write(folder, labels=labels, metadata=parse_meta(options.pop("meta")), progress=progress, **options)


def add_files(
    name: NameArg,
    folder: FolderArg,
    pattern: PatternOpt = "**/*",
    labels: LabelsOpt = None,
    label_folders: FolderLabelsOpt = False,
    meta: MetaOpt = None,
    created_by: CreatedByOpt = None,
    labelled_by: LabelledByOpt = None,
    description: DescriptionOpt = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Add the files of FOLDER to file dataset NAME as a new version (a file replaces the one at its path)."""
    options = {"pattern": pattern, "labels": labels, "label_folders": label_folders, "meta": meta}
    options |= {"created_by": created_by, "labelled_by": labelled_by, "description": description}
    version = _write("add", name, folder, options, root, json_out)
    assert version is not None  # an add always writes a version
    c.emit(version, json_out, lambda: _written(version))


def sync(
    name: NameArg,
    folder: FolderArg,
    pattern: PatternOpt = "**/*",
    labels: LabelsOpt = None,
    label_folders: FolderLabelsOpt = False,
    meta: MetaOpt = None,
    created_by: CreatedByOpt = None,
    labelled_by: LabelledByOpt = None,
    description: DescriptionOpt = None,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Make the next version of NAME equal FOLDER: new files added, changed replaced, deleted removed.

    Files whose size and modification time are unchanged are not read; an unchanged folder writes nothing.
    """
    options = {"pattern": pattern, "labels": labels, "label_folders": label_folders, "meta": meta}
    options |= {"created_by": created_by, "labelled_by": labelled_by, "description": description}
    version = _write("sync", name, folder, options, root, json_out)
    if version is None:
        latest = c.connect(root).dataset(name).version()
        c.emit(
            {"dataset": name, "changed": False, "version": latest.version},
            json_out,
            lambda: f"{folder} is unchanged: {latest.ref} already holds it, no version written",
        )
        return
    c.emit({"changed": True, **version.to_dict()}, json_out, lambda: _written(version))


def download(
    ref: RefArg,
    dest: Annotated[Path, typer.Argument(help="Local folder to write the files under (created if missing).")],
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace files in DEST that differ from the version's.")
    ] = False,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Write the exact files of a version under DEST, each verified against its digest.

    Files already in DEST with the right digest are skipped; other files at the same paths are refused
    unless --overwrite.
    """
    from lakehouse.cli._files import output_folder

    output_folder(dest)
    lh = c.connect(root)
    version = lh.resolve(ref)
    with _counting(not json_out, f"downloading {version.ref}", total=version.num_rows) as progress:
        report = lh.download(version.ref, dest, overwrite=overwrite, progress=progress)
    c.emit(
        {"ref": version.ref, **report.to_dict()},
        json_out,
        lambda: (
            f"{version.ref} → {report.dest}: {report.written} file(s) written ({report.bytes_written} bytes), "
            f"{report.skipped} already there"
        ),
    )


def files(
    ref: RefArg,
    limit: Annotated[int, typer.Option(help="Show at most this many files (--json lists them all).")] = 50,
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """List the files of a version: path, size, media type, image size, duration, digest and labels."""
    lh = c.connect(root)
    version = lh.resolve(ref)
    listing = lh.dataset(version.name).files(version.version)
    extra = [col for col in listing.columns if col not in _FILE_FACTS]

    def render() -> Any:
        shown = listing.head(limit)
        rows = [
            [
                r["path"],
                r["size"],
                r["media_type"],
                f"{r['width']}×{r['height']}" if r["width"] is not None else "",
                f"{r['duration']:.2f} s" if r["duration"] is not None else "",
                r["sha256"][:12],
                "object" if r["object"] is not None else "inline",
                *[r[col] for col in extra],
            ]
            for r in shown.iter_rows(named=True)
        ]
        out = c.table(
            f"files of {version.ref}",
            ["path", "bytes", "media type", "size", "duration", "sha256", "stored", *extra],
            rows,
        )
        if listing.height > shown.height:
            out.caption = f"{shown.height} of {listing.height} files shown"
        return out

    c.emit(listing, json_out, render)


_FILE_FACTS = ("path", "object", "size", "sha256", "media_type", "modified", "width", "height", "duration")
