"""``lakehouse demo``: build the sample lakehouse and say what to try next."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from lakehouse.cli import _common as c


def demo_command(
    root: c.RootOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Delete the sample (only a root the demo created) and build it again.")
    ] = False,
    json_out: c.JsonOpt = False,
) -> None:
    """Build a sample lakehouse (handwritten digits in several versions, with tags) on the local default."""
    from lakehouse.demo import sample

    chosen = root if root is not None else c.global_root()
    lh = c.connect(chosen)
    say = (lambda _: None) if json_out else (lambda line: c.err_console.print(f"  {line}", highlight=False))
    result = sample.build(lh.root.local_folder("the demo"), rebuild=rebuild, report=say)
    steps = sample.next_steps(f"--root {chosen} " if chosen is not None else "", _program())
    if json_out:
        c.print_json({**result.to_dict(), "next": steps})
        return
    if result.built:
        c.console.print(f"Built the sample lakehouse in [bold]{result.root}[/].", highlight=False)
    else:
        c.console.print(
            f"The sample lakehouse in [bold]{result.root}[/] is already complete; skipped "
            "(pass --rebuild to build it again).",
            highlight=False,
        )
    c.console.print(
        c.table(
            "datasets",
            ["name", "latest", "tags"],
            [
                [name, f"v{latest}", ", ".join(f"{t}→v{v}" for t, v in result.tags.get(name, {}).items())]
                for name, latest in result.datasets.items()
            ],
        )
    )
    c.console.print("Try next:")
    for step in steps:
        c.console.print(f"  {step}", highlight=False, soft_wrap=True)


def _program() -> str:
    """How to call the CLI again: ``lakehouse`` if that is on PATH, else the path this run was started with
    (``make demo`` runs ``.venv/bin/lakehouse``, which a fresh shell does not find by name)."""
    started = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if started is None or started.name != "lakehouse":
        return "lakehouse"
    on_path = shutil.which("lakehouse")
    if on_path and Path(on_path).resolve() == started.resolve():
        return "lakehouse"
    return str(started)
