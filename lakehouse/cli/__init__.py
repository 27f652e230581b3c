"""The ``lakehouse`` command line. Errors print as one message, never a traceback."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer

from lakehouse.cli import _common
from lakehouse.cli.app import app_command
from lakehouse.cli.artifacts import artifacts_app
from lakehouse.cli.datasets import datasets_app
from lakehouse.cli.demo import demo_command
from lakehouse.cli.ingest import ingest
from lakehouse.cli.maintain import maintain_command
from lakehouse.cli.mlflow import import_mlflow
from lakehouse.cli.models import models_app
from lakehouse.cli.runs import runs_app
from lakehouse.cli.sql import sql_command
from lakehouse.cli.tensorboard import import_tensorboard
from lakehouse.cli.wandb import import_wandb
from lakehouse.errors import LakehouseError

app = typer.Typer(
    name="lakehouse",
    help="Versioned datasets, ML run metrics and registered models in Delta Lake tables.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(datasets_app, name="datasets")
app.add_typer(runs_app, name="runs")
app.add_typer(models_app, name="models")
app.add_typer(artifacts_app, name="artifacts")
app.command("ingest")(ingest)
app.command("maintain")(maintain_command)
app.command("sql")(sql_command)
app.command("demo")(demo_command)
app.command("app")(app_command)
app.command("import-mlflow")(import_mlflow)
app.command("import-tensorboard")(import_tensorboard)
app.command("import-wandb")(import_wandb)


@app.callback()
def _main(
    root: Annotated[
        str | None,
        typer.Option(
            "--root",
            help="Lakehouse root: a folder or s3://bucket/prefix (default: LAKEHOUSE_ROOT, then conf/lakehouse.toml).",
        ),
    ] = None,
) -> None:
    _common.set_global_root(root)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: run the CLI and turn lakehouse errors into one-line messages."""
    try:
        # Without standalone mode click returns (rather than raises) the code of a typer.Exit.
        result = app(args=argv, standalone_mode=False)
    except LakehouseError as e:
        _common.err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        return 1
    except click.exceptions.Exit as e:
        return int(e.exit_code or 0)
    except click.exceptions.Abort:
        _common.err_console.print("aborted")
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
