"""Every path the CLI takes, given wrong: a missing input, an output it cannot write, a folder where a file is
meant (or a file where a folder is). Each is one line of error, a non-zero exit, no traceback, and nothing
changes anywhere: every table keeps its version and no file appears, moves or grows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import typer

import lakehouse
from lakehouse.cli import app, main

# Parameters typed as text that hold a path (the others are typed ``Path``, found below).
TEXT_PATHS = {("import-mlflow", "source"), ("ingest", "paths")}


def _commands() -> dict[str, Any]:
    """Every command of the CLI by its words ("datasets write"; the top level is "lakehouse")."""
    found: dict[str, Any] = {}

    def walk(command: Any, prefix: str) -> None:
        found[prefix or "lakehouse"] = command
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{prefix} {name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def _path_params() -> set[tuple[str, str]]:
    """(command, parameter) for every parameter of the CLI that names a file or folder."""
    typed = {
        (name, str(param.name))
        for name, command in _commands().items()
        for param in command.params
        # --root is text (a folder or s3://bucket/prefix), and a path all the same
        if param.type_descriptor.annotation is Path or param.name == "root"
    }
    return typed | TEXT_PATHS


def _state(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folder`` (Delta logs and data included) with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    lh = lakehouse.connect(tmp_path / "lh")
    lh.dataset("good").write(pl.DataFrame({"id": [1, 2], "label": ["a", "b"]}))
    good = tmp_path / "good.csv"
    good.write_text("id,label\n3,c\n", encoding="utf-8")
    with lh.start_run(experiment="e", name="r") as run:
        run.log({"loss": 0.5}, step=0)
        run.log_artifact(good)
    # A folder of files and a file dataset made of it.
    (tmp_path / "files" / "cats").mkdir(parents=True)
    (tmp_path / "files" / "cats" / "1.txt").write_text("meow", encoding="utf-8")
    lh.dataset("pics").add_files(tmp_path / "files")
    # A TensorBoard log dir of one empty event file and a W&B offline run of just its header: valid inputs.
    (tmp_path / "tb" / "run").mkdir(parents=True)
    (tmp_path / "tb" / "run" / "events.out.tfevents.1.host").write_bytes(b"")
    (tmp_path / "wandb" / "offline-run-1-abc").mkdir(parents=True)
    (tmp_path / "wandb" / "offline-run-1-abc" / "run-abc.wandb").write_bytes(b":W&B\xe1\xbe\x00")
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "a-file").write_text("not a folder", encoding="utf-8")
    return {"tmp": tmp_path, "root": lh.root, "good": good}


def _cases(w: dict[str, Path]) -> list[tuple[tuple[str, str], list[str]]]:
    tmp, good, files = w["tmp"], str(w["good"]), w["tmp"] / "files"
    missing, folder, file = tmp / "no" / "such", tmp / "a-folder", tmp / "a-file"
    return [
        # missing inputs
        (("datasets write", "file"), ["datasets", "write", "good", str(missing / "x.csv")]),
        (("ingest", "paths"), ["ingest", "good", str(missing / "x.csv")]),
        (("ingest", "schema_file"), ["ingest", "good", good, "--schema-file", str(missing / "s.ddl")]),
        (("import-mlflow", "source"), ["import-mlflow", "--from", f"sqlite:///{missing}/mlflow.db"]),
        (("import-mlflow", "source"), ["import-mlflow", "--from", f"file://{missing}/mlruns"]),
        (("import-mlflow", "source"), ["import-mlflow", "--from", str(missing / "mlruns")]),
        (("import-tensorboard", "logdir"), ["import-tensorboard", str(missing)]),
        (("import-wandb", "path"), ["import-wandb", str(missing)]),
        (("datasets add-files", "folder"), ["datasets", "add-files", "pics", str(missing)]),
        (("datasets sync", "folder"), ["datasets", "sync", "pics", str(missing)]),
        (("datasets add-files", "labels"), ["datasets", "add-files", "pics", str(files), "--labels", str(missing)]),
        (("datasets sync", "labels"), ["datasets", "sync", "pics", str(files), "--labels", str(missing / "l.csv")]),
        # outputs that cannot be written
        (("datasets read", "out"), ["datasets", "read", "good:v0", "--out", str(file / "x.parquet")]),
        (("datasets read", "out"), ["datasets", "read", "good:v0", "--out", str(file / "sub" / "x.parquet")]),
        (("datasets read", "out"), ["datasets", "read", "good:v0", "--out", "/proc/lakehouse-x.parquet"]),
        (("datasets read", "out"), ["datasets", "read", "good:v0", "--out", "/proc/no/such/lakehouse-x.parquet"]),
        (("datasets read", "out"), ["datasets", "read", "good:v0", "--out", str(tmp / "x.xlsx")]),
        (("datasets download", "dest"), ["datasets", "download", "pics:v0", str(file / "sub")]),
        (("datasets download", "dest"), ["datasets", "download", "pics:v0", "/proc/lakehouse-files"]),
        (("artifacts get", "out"), ["artifacts", "get", "r", "good.csv", "--out", str(file / "x.csv")]),
        (("artifacts get", "out"), ["artifacts", "get", "r", "good.csv", "--out", "/proc/lakehouse-x.csv"]),
        (("sql", "out"), ["sql", "SELECT 1 AS one", "--out", str(file / "x.parquet")]),
        (("sql", "out"), ["sql", "SELECT 1 AS one", "--out", str(tmp / "x.xlsx")]),
        # a folder where a file is meant, a file where a folder is
        (("datasets write", "file"), ["datasets", "write", "good", str(folder)]),
        (("datasets read", "out"), ["datasets", "read", "good:v0", "--out", str(folder)]),
        (("ingest", "paths"), ["ingest", "good", str(folder)]),  # a folder of no data files
        (("ingest", "schema_file"), ["ingest", "good", good, "--schema-file", str(folder)]),
        (("import-mlflow", "source"), ["import-mlflow", "--from", f"sqlite:///{folder}"]),
        (("import-mlflow", "source"), ["import-mlflow", "--from", str(file)]),
        (("import-tensorboard", "logdir"), ["import-tensorboard", str(folder)]),  # no event file
        (("import-tensorboard", "logdir"), ["import-tensorboard", str(file)]),
        (("import-wandb", "path"), ["import-wandb", str(folder)]),  # no offline run
        (("import-wandb", "path"), ["import-wandb", str(file)]),
        (("datasets add-files", "folder"), ["datasets", "add-files", "pics", str(file)]),
        (("datasets sync", "folder"), ["datasets", "sync", "pics", str(file)]),
        (("datasets add-files", "labels"), ["datasets", "add-files", "pics", str(files), "--labels", str(folder)]),
        (("datasets sync", "labels"), ["datasets", "sync", "pics", str(files), "--labels", str(folder)]),
        (("datasets download", "dest"), ["datasets", "download", "pics:v0", str(file)]),
        (("sql", "out"), ["sql", "SELECT 1 AS one", "--out", str(folder)]),
    ]


def _root_cases(w: dict[str, Path]) -> list[tuple[tuple[str, str], list[str]]]:
    """Every command given a file as its lakehouse root (``--root`` of the command, or of ``lakehouse``)."""
    file, good = str(w["tmp"] / "a-file"), str(w["good"])
    arguments = {
        "datasets write": ["good", good],
        "datasets read": ["good:v0", "--out", str(w["tmp"] / "out.parquet")],
        "ingest": ["good", good],
        "import-mlflow": ["--from", f"sqlite:///{w['tmp'] / 'a-file'}"],
        "import-tensorboard": [str(w["tmp"] / "tb")],
        "import-wandb": [str(w["tmp"] / "wandb")],
        "datasets add-files": ["pics", str(w["tmp"] / "files")],
        "datasets sync": ["pics", str(w["tmp"] / "files")],
        "datasets download": ["pics:v0", str(w["tmp"] / "out")],
        "artifacts get": ["r", "good.csv", "--out", str(w["tmp"] / "out.csv")],
        "sql": ["SELECT 1 AS one"],
    }
    out: list[tuple[tuple[str, str], list[str]]] = [(("lakehouse", "root"), ["--root", file, "datasets", "list"])]
    for command, param in sorted(_path_params()):
        if param != "root" or command == "lakehouse":
            continue
        words = command.split()
        rest = arguments.get(command) or ["good" for _ in _required(command)]
        out.append(((command, param), [*words, *rest, "--root", file]))
    return out


def _required(command: str) -> list[str]:
    """The names of the required arguments of ``command`` (``a`` and ``b`` of diff, a run, a name...)."""
    params = _commands()[command].params
    return [str(p.name) for p in params if p.param_type_name == "argument" and p.required]


def test_every_path_of_the_cli_given_wrong_is_one_line_and_changes_nothing(
    world: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    root, tmp = world["root"], world["tmp"]
    cases = _cases(world) + _root_cases(world)
    assert {param for param, _ in cases} == _path_params()  # a new path option needs its cases here
    before = _state(tmp)
    for (command, param), argv in cases:
        args = argv if "--root" in argv else [*argv, "--root", str(root)]
        code = main(args)
        out, err = capsys.readouterr()
        where = f"{command} {param}: {args}"
        assert code != 0, where
        assert out == "", (where, out)
        assert err.startswith("error: "), (where, err)
        assert err.count("\n") == 1, (where, err)  # one message, one line
        assert "Traceback" not in err, (where, err)
        assert _state(tmp) == before, where
    assert not (tmp / "no").exists()
