"""``lakehouse models ...``: tables for humans, --json for machines, one-line errors that change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lakehouse.cli import main
from lakehouse.tracking.writer import get_writer
from tests.registry.conftest import Trained, registry_state, train


@pytest.fixture
def runs(root: Path) -> Trained:
    trained = train(root)
    # As if another process had logged them: the CLI's connection gets a writer of its own.
    get_writer(trained.lh.layout, trained.lh.settings).close()
    return trained


def cli(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> tuple[int, str, str]:
    code = main([*args, "--root", str(root)])
    out, err = capsys.readouterr()
    return code, out, err


def test_register_alias_and_read_back(runs: Trained, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, root, "models", "register", "clf", f"runs:/{runs.first}/model", "-d", "baseline")
    assert code == 0
    assert "clf:v1" in out
    code, out, _ = cli(capsys, root, "models", "register", "clf", "--run", "second", "--path", "model", "--json")
    made = json.loads(out)
    assert (code, made["version"], made["run_id"], made["ref"]) == (0, 2, runs.second, "clf:v2")
    assert cli(capsys, root, "models", "alias", "clf", "1", "production", "--reason", "first")[0] == 0
    code, out, _ = cli(capsys, root, "models", "alias", "clf", "v2", "production", "--json")
    change = json.loads(out)
    assert (code, change["change"], change["previous_version"], change["version"]) == (0, "moved", 1, 2)
    code, out, _ = cli(capsys, root, "models", "list")
    assert code == 0
    assert "production→v2" in out
    code, out, _ = cli(capsys, root, "models", "list", "--json")
    assert [(m["name"], m["latest_version"], m["aliases"]) for m in json.loads(out)] == [("clf", 2, {"production": 2})]
    code, out, _ = cli(capsys, root, "models", "show", "clf")
    assert code == 0
    assert "baseline" in out
    assert "production" in out
    code, out, _ = cli(capsys, root, "models", "versions", "clf", "--json")
    assert [(v["version"], v["aliases"]) for v in json.loads(out)] == [(1, []), (2, ["production"])]
    code, out, _ = cli(capsys, root, "models", "version", "clf:v1")
    assert code == 0
    assert "digits:v0" in out
    assert "0.8" in out
    code, out, _ = cli(capsys, root, "models", "version", "clf:production", "--json")
    assert json.loads(out)["version"]["version"] == 2
    assert cli(capsys, root, "models", "unalias", "clf", "production", "--reason", "rollback")[0] == 0
    code, out, _ = cli(capsys, root, "models", "history", "clf", "--json")
    assert [(h["change"], h["reason"]) for h in json.loads(out)] == [
        ("set", "first"),
        ("moved", None),
        ("deleted", "rollback"),
    ]
    code, out, _ = cli(capsys, root, "models", "history", "clf")
    assert code == 0
    assert "rollback" in out


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("models", "register", "Bad Name", "--run", "first", "--path", "m"), "'Bad Name'"),
        (("models", "register", "latest", "--run", "first", "--path", "m"), "reserved"),
        (("models", "register", "clf", "runs:/nosuchrun/m"), "'nosuchrun'"),
        (("models", "register", "clf", "--run", "first"), "needs a source"),
        (("models", "register", "clf", "--run", "first", "--path", "m", "--tag", "x"), "key=value"),
        (("models", "alias", "clf", "9", "production"), "no version 9"),
        (("models", "alias", "clf", "1", "latest"), "reserved"),
        (("models", "alias", "nope", "1", "production"), "'nope'"),
        (("models", "unalias", "clf", "staging"), "'staging'"),
        (("models", "show", "nope"), "'nope'"),
        (("models", "version", "clf:v7"), "no version 7"),
        (("models", "history", "nope"), "'nope'"),
    ],
)
def test_errors_are_one_line_and_write_nothing(
    runs: Trained, root: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], named: str
) -> None:
    assert cli(capsys, root, "models", "register", "clf", "--run", "first", "--path", "m")[0] == 0
    before = registry_state(runs.lh)
    code, out, err = cli(capsys, root, *args)
    assert code != 0
    assert named in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert registry_state(runs.lh) == before
