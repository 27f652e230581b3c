"""``lakehouse artifacts ...`` and ``lakehouse runs artifacts``: list a run's files and fetch one."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lakehouse._units import human_size
from lakehouse.cli import _common as c

if TYPE_CHECKING:
    import polars as pl

artifacts_app = typer.Typer(help="Files runs logged: fetch them (verified against their digest).", no_args_is_help=True)

RunArg = Annotated[str, typer.Argument(help="Run id, unique id prefix (4+ characters) or unique run name.")]
#: Downloads smaller than this finish before a progress bar would be readable.
PROGRESS_FROM = 16 << 20


def list_artifacts(run: RunArg, root: c.RootOpt = None, json_out: c.JsonOpt = False) -> None:
    """List the files a run holds: path, size, digest (sha256), when logged."""
    lh = c.connect(root)
    run_id = lh.run(run).id
    frame = lh.artifacts(run_id)

    def render() -> Any:
        if frame.height == 0:
            return f"Run {run_id} has no artifacts. Log some with run.log_artifact(path)."
        return _table(run_id, frame)

    c.emit({"run_id": run_id, "artifacts": frame}, json_out, render)


def _table(run_id: str, frame: pl.DataFrame) -> Any:
    rows = [
        [r["path"], human_size(r["size"]), r["digest"][:12], c.when(r["logged_at"])]
        for r in frame.iter_rows(named=True)
    ]
    out = c.table(f"artifacts of run {run_id}", ["path", "size", "sha256", "logged at"], rows)
    out.caption = f"{frame.height} files, {human_size(int(frame.get_column('size').sum()))}"
    return out


@artifacts_app.command("get")
def get(
    run: RunArg,
    path: Annotated[str, typer.Argument(help="The artifact's path within the run (see `lakehouse runs artifacts`).")],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="File to write, or an existing folder to put the file in under its name."),
    ],
    root: c.RootOpt = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Download one artifact of a run; the file appears only once its bytes match their digest."""
    from lakehouse.cli import _files  # polars and pyarrow: loaded only by commands that use them

    lh = c.connect(root)
    artifact = lh.artifact(lh.run(run).id, path)
    dest = out / artifact.name if out.is_dir() else out
    _files.output_location(dest)
    show = not json_out and artifact.size >= PROGRESS_FROM and c.err_console.is_terminal
    progress = _files.progress_bar(show)
    if progress is None:
        written = artifact.download(dest)
    else:
        with progress:
            task = progress.add_task(f"downloading {artifact.name}", total=artifact.size)
            written = artifact.download(dest, progress=lambda n: progress.advance(task, n))
    result = {**artifact.to_dict(), "written": str(written)}
    c.emit(result, json_out, lambda: f"wrote {written} ({human_size(artifact.size)}, sha256 {artifact.digest[:12]}…)")
