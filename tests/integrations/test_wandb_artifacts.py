"""W&B artifacts through ``import lakehouse.wandb as wandb``: versions, aliases, use as lineage, verified downloads."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import polars as pl
import pytest

import lakehouse
import lakehouse.wandb as wandb
from lakehouse import storage
from lakehouse.cli import main
from lakehouse.errors import ArtifactNotFound, InvalidArgument, InvalidName, InvalidRef
from lakehouse.tracking import wandb_artifacts


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _state(root: Path) -> dict[str, object]:
    """Every table's version and row count, and the objects stored: equal before and after means nothing written."""
    lh = lakehouse.connect(root)
    lh.flush()
    tables = {**lh.layout.tracking_tables, **lh.layout.synchronous_tables}
    out: dict[str, object] = {
        name: (storage.latest_version(path), storage.snapshot(path, storage.latest_version(path)).num_rows)
        for name, path in tables.items()
        if storage.exists(path)
    }
    out["objects"] = sorted(o.digest for o in lh.layout.objects.objects())
    return out


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A model file and a data folder with a subfolder."""
    base = tmp_path / "src"
    (base / "data" / "labels").mkdir(parents=True)
    (base / "model.bin").write_bytes(bytes(range(256)) * 40)
    (base / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")
    (base / "data" / "labels" / "names.txt").write_text("cat\ndog\n")
    return base


def test_the_snippet_logs_uses_and_downloads_an_artifact(
    root: Path, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    producer = wandb.init(project="mnist", name="train", config={"lr": 0.01, "epochs": 3}, root=root)
    for epoch in range(wandb.config.epochs):
        wandb.log({"loss": 1.0 / (epoch + 1), "epoch": epoch})
    artifact = wandb.Artifact("mnist-model", type="model", description="a CNN", metadata={"acc": 0.98})
    artifact.add_file(str(source / "model.bin"))
    artifact.add_dir(str(source / "data"), name="data")
    wandb.log_artifact(artifact, aliases=["best"])
    assert (artifact.name, artifact.version, artifact.aliases) == ("mnist-model:v0", "v0", ["latest", "best"])
    wandb.finish()

    consumer = wandb.init(project="mnist", name="eval", job_type="eval", root=root)
    used = wandb.use_artifact("mnist-model:latest")
    folder = Path(used.download(root=tmp_path / "dl"))
    assert _files(folder) == _files(source)  # model.bin, data/train.csv, data/labels/names.txt
    assert len(_files(folder)) == 3
    monkeypatch.chdir(tmp_path)
    default = wandb.use_artifact("mnist-model:best").download()
    assert default == str(Path("artifacts") / "mnist-model:v0")
    assert _files(tmp_path / default) == _files(source)
    assert wandb.use_artifact("mnist-model:v0").digest == used.digest == artifact.digest
    assert used.metadata == {"acc": 0.98}
    assert used.description == "a CNN"
    wandb.finish()

    lh = lakehouse.connect(root)
    runs = lh.runs().sort("name")
    assert runs.get_column("name").to_list() == ["eval", "train"]
    assert runs.get_column("inputs").to_list() == [["wandb-artifacts/mnist-model:v0"], []]
    inputs = lh.run(consumer.id).inputs
    assert [(i.dataset, i.version, i.context) for i in inputs] == [("wandb-artifacts/mnist-model", 0, "wandb.artifact")]
    assert used.logged_by() == producer.id
    assert used.used_by() == [consumer.id]
    assert sorted(lh.artifacts(producer.id).get_column("path").to_list()) == [
        "wandb-artifacts/mnist-model/v0/data/labels/names.txt",
        "wandb-artifacts/mnist-model/v0/data/train.csv",
        "wandb-artifacts/mnist-model/v0/model.bin",
    ]


def test_a_new_version_only_when_the_files_change(root: Path, source: Path, tmp_path: Path) -> None:
    def log(aliases: list[str] | None = None) -> wandb.Artifact:
        art = wandb.Artifact("digits", type="dataset")
        art.add_dir(source / "data")
        return wandb.log_artifact(art, aliases=aliases)

    wandb.init(project="p", root=root)
    assert log().version == "v0"
    before = _state(root)
    again = log(aliases=["latest"])  # unchanged: the same version, nothing written
    assert (again.version, again.aliases) == ("v0", ["latest"])
    assert _state(root) == before
    first_bytes = _files(source / "data")
    (source / "data" / "train.csv").write_text("x,y\n5,6\n")
    changed = log(aliases=["prod"])
    assert (changed.version, changed.aliases) == ("v1", ["latest", "prod"])
    reverted = wandb.use_artifact("digits:v0")
    assert reverted.aliases == []
    assert _files(Path(reverted.download(tmp_path / "old"))) == first_bytes
    assert _files(Path(wandb.use_artifact("digits:prod").download(tmp_path / "new"))) == _files(source / "data")
    (source / "data" / "train.csv").write_text("x,y\n1,2\n3,4\n")  # back to v0's files: v0 again, prod moves
    back = log(aliases=["prod"])
    assert (back.version, back.aliases) == ("v0", ["prod"])
    assert wandb.use_artifact("digits").version == "v1"  # latest stays the highest version
    wandb.finish()


def test_bad_input_names_the_thing_and_writes_nothing(root: Path, source: Path, tmp_path: Path) -> None:
    wandb.init(project="p", root=root)
    art = wandb.Artifact("good", type="model")
    art.add_file(source / "model.bin")
    wandb.log_artifact(art)
    before = _state(root)

    with pytest.raises(InvalidName, match="'Bad Name'"):
        wandb.Artifact("Bad Name", type="model")
    fresh = wandb.Artifact("fresh", type="model")
    with pytest.raises(InvalidArgument, match="missing.bin"):
        fresh.add_file(source / "missing.bin")
    with pytest.raises(InvalidArgument, match="is a folder, not a file; add a folder with add_dir"):
        fresh.add_file(source / "data")
    with pytest.raises(InvalidArgument, match=r"'\.\./escape\.bin' leaves the run"):
        fresh.add_file(source / "model.bin", name="../escape.bin")
    with pytest.raises(InvalidArgument, match="is a file, not a folder"):
        fresh.add_dir(source / "model.bin")
    fresh.add_file(source / "model.bin", name="m.bin")
    with pytest.raises(InvalidArgument, match="'m.bin' is added twice"):
        fresh.add_file(source / "model.bin", name="m.bin")
    with pytest.raises(InvalidName, match="'v3' is reserved"):
        wandb.log_artifact(fresh, aliases=["v3"])
    unique = tmp_path / "unique.bin"
    unique.write_bytes(b"stored by no one yet")
    fresh.add_file(unique)
    gone = tmp_path / "gone.bin"
    gone.write_bytes(b"soon gone")
    fresh.add_file(gone)
    gone.unlink()
    with pytest.raises(InvalidArgument, match="gone.bin' does not exist"):
        wandb.log_artifact(fresh)  # checked before unique.bin is stored: the objects are unchanged

    with pytest.raises(ArtifactNotFound, match=r"no artifact named 'god'; did you mean 'good'"):
        wandb.use_artifact("god:latest")
    with pytest.raises(ArtifactNotFound, match=r"artifact .good. has no version v9 \(it has v0\)"):
        wandb.use_artifact("good:v9")
    with pytest.raises(ArtifactNotFound, match="artifact 'good' has no alias 'prod'"):
        wandb.use_artifact("good:prod")
    with pytest.raises(InvalidRef, match="not a time"):
        wandb.use_artifact("good@2026-01-01")
    with pytest.raises(InvalidArgument, match="is of type 'model', not 'dataset'"):
        wandb.use_artifact("good:v0", type="dataset")
    assert _state(root) == before

    used = wandb.use_artifact("good:v0")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    with pytest.raises(InvalidArgument, match="into '.*blocker': it is a file, not a folder"):
        used.download(root=blocker)
    assert blocker.read_text() == "a file"
    with pytest.raises(InvalidArgument, match="neither logged nor used"):
        wandb.Artifact("unlogged", type="model").download()
    wandb.finish()


@pytest.mark.parametrize("table_exists", [False, True])
def test_two_logs_racing_for_the_next_version_get_one_each(
    root: Path, source: Path, monkeypatch: pytest.MonkeyPatch, table_exists: bool
) -> None:
    lh = lakehouse.connect(root)
    first, second = lh.start_run(experiment="p"), lh.start_run(experiment="p")
    if table_exists:
        wandb_artifacts.log(lh.layout, lh.settings, first.id, name="other", type_="model", entries=[])
    read = wandb_artifacts._state
    raced: list[str] = []

    def read_then_lose_the_race(layout: object) -> object:
        """The first read returns the state from before a real concurrent log of the same name commits."""
        seen = read(lh.layout)
        if not raced:
            raced.append(second.id)
            wandb_artifacts.log(
                lh.layout, lh.settings, second.id, name="race", type_="model", entries=[(source / "model.bin", "m")]
            )
        return seen

    monkeypatch.setattr(wandb_artifacts, "_state", read_then_lose_the_race)
    mine = wandb_artifacts.log(
        lh.layout, lh.settings, first.id, name="race", type_="model", entries=[(source / "data" / "train.csv", "t")]
    )
    monkeypatch.undo()
    found = wandb_artifacts.versions(lh.layout, "race")
    assert [(v.version, v.run_id) for v in found] == [(0, second.id), (1, first.id)]
    assert mine.version == 1
    assert [f.read_bytes() for f in wandb_artifacts.files(lh.layout, found[1])] == [
        (source / "data" / "train.csv").read_bytes()
    ]
    first.finish()
    second.finish()


def test_log_artifact_of_a_path(root: Path, source: Path, tmp_path: Path) -> None:
    wandb.init(project="p", root=root)
    single = wandb.log_artifact(source / "model.bin", name="weights", type="model")
    folder = wandb.log_artifact(str(source / "data"), name="data-set", type="dataset")
    assert (single.name, folder.name, folder.type) == ("weights:v0", "data-set:v0", "dataset")
    assert copy.copy(single).name == "weights:v0"
    assert _files(Path(wandb.use_artifact("data-set").download(tmp_path / "d"))) == _files(source / "data")
    assert _files(Path(wandb.use_artifact("weights:v0").download(tmp_path / "w"))) == {
        "model.bin": (source / "model.bin").read_bytes()
    }
    wandb.finish()


def _used(artifact: str, root: Path, name: str | None = None) -> str:
    """A run that uses ``artifact`` (a W&B reference) and nothing else; returns its id."""
    consumer = wandb.init(project="mnist", name=name, job_type="eval", root=root)
    wandb.use_artifact(artifact)
    wandb.finish()
    return consumer.id


def test_lineage_of_an_artifact_version_is_the_runs_that_used_it(root: Path, source: Path) -> None:
    lh = lakehouse.connect(root)
    lh.dataset("digits").write(pl.DataFrame({"x": [1, 2]}))
    with lh.start_run(experiment="mnist", inputs=["digits:v0"]) as reader:
        pass
    producer = wandb.init(project="mnist", name="train", root=root)
    first = wandb.Artifact("mnist-model", type="model")
    first.add_file(source / "model.bin")
    wandb.log_artifact(first, aliases=["best"])
    wandb.finish()
    v0_users = sorted(_used(ref, root) for ref in ["mnist-model:latest", "mnist-model:v0", "mnist-model:best"])
    retrain = wandb.init(project="mnist", name="retrain", root=root)
    second = wandb.Artifact("mnist-model", type="model")
    second.add_file(source / "data" / "train.csv")
    wandb.log_artifact(second, aliases=["prod"])
    wandb.finish()
    v1_user = _used("mnist-model:prod", root)

    def users(ref: str) -> list[str]:
        return sorted(lh.lineage(ref).get_column("run_id").to_list())

    assert users("wandb-artifacts/mnist-model:v0") == v0_users  # the producer logged it; it is no user
    assert users("wandb-artifacts/mnist-model:best") == v0_users
    assert users("wandb-artifacts/mnist-model:v1") == [v1_user]
    assert users("wandb-artifacts/mnist-model:latest") == users("wandb-artifacts/mnist-model") == [v1_user]
    assert users("wandb-artifacts/mnist-model:prod") == [v1_user]
    assert lh.lineage("wandb-artifacts/mnist-model:v0").columns == lh.lineage("digits:v0").columns
    assert users("digits:v0") == [reader.id]
    assert lh.wandb_artifacts().select("ref", "aliases", "logged_by").rows() == [
        ("wandb-artifacts/mnist-model:v0", ["best"], producer.id),
        ("wandb-artifacts/mnist-model:v1", ["latest", "prod"], retrain.id),
    ]
    # the inputs lh.runs() lists are lineage references as they stand
    listed = lh.runs().filter(pl.col("run_id") == v1_user).get_column("inputs").to_list()
    assert listed == [["wandb-artifacts/mnist-model:v1"]]
    assert users(listed[0][0]) == [v1_user]

    api = wandb.Api(root=root)
    before = _state(root)
    old = api.artifact("mnist-model:best")  # reading records no use
    assert (old.name, old.logged_by(), old.used_by()) == ("mnist-model:v0", producer.id, v0_users)
    assert api.artifact("mnist-model:latest", type="model").logged_by() == retrain.id
    assert _state(root) == before
    with pytest.raises(InvalidArgument, match="is of type 'model', not 'dataset'"):
        api.artifact("mnist-model:v0", type="dataset")
    with pytest.raises(NotImplementedError, match=r"wandb\.Api\.runs"):
        api.runs("mnist")


def test_lineage_of_an_unknown_artifact_names_it_and_changes_nothing(root: Path, source: Path) -> None:
    lh = lakehouse.connect(root)
    with pytest.raises(ArtifactNotFound, match="no artifact named 'mnist-model'; no artifact has been logged"):
        lh.lineage("wandb-artifacts/mnist-model:v0")
    wandb.init(project="p", root=root)
    wandb.log_artifact(source / "model.bin", name="mnist-model", type="model")
    wandb.finish()
    _used("mnist-model:v0", root)
    before = _state(root)
    refused: list[tuple[str, type[Exception], str]] = [
        ("wandb-artifacts/mnist-mdl:v0", ArtifactNotFound, "no artifact named 'mnist-mdl'; did you mean 'mnist-model'"),
        ("wandb-artifacts/mnist-model:v3", ArtifactNotFound, r"artifact 'mnist-model' has no version v3 \(it has v0\)"),
        ("wandb-artifacts/mnist-model:prod", ArtifactNotFound, "artifact 'mnist-model' has no alias 'prod'"),
        ("wandb-artifacts/mnist-model@2026-01-01", InvalidRef, "not a time"),
        ("wandb-artifacts/Bad:v0", InvalidRef, "artifact name 'Bad' must use"),
        # only the wandb-artifacts/ prefix names an artifact
        ("other/mnist-model:v0", InvalidRef, "dataset name 'other/mnist-model' must use"),
    ]
    for ref, error, message in refused:
        with pytest.raises(error, match=message):
            lh.lineage(ref)
    with pytest.raises(ArtifactNotFound, match="no artifact named 'mnist-mdl'; did you mean 'mnist-model'"):
        wandb.Api(root=root).artifact("mnist-mdl:v0")
    assert _state(root) == before


def test_the_cli_lists_an_artifact_versions_users_and_refuses_an_unknown_one(
    root: Path, source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wandb.init(project="p", name="train", root=root)
    wandb.log_artifact(source / "model.bin", name="mnist-model", type="model", aliases=["best"])
    wandb.finish()
    consumer = _used("mnist-model:best", root, name="eval")
    lakehouse.connect(root).flush()
    capsys.readouterr()

    assert main(["runs", "lineage", "wandb-artifacts/mnist-model:latest", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "runs that used wandb-artifacts/mnist-model:latest" in out
    assert "eval" in out
    assert "train" not in out  # the run that logged it did not use it
    assert main(["runs", "lineage", "wandb-artifacts/mnist-model:v0", "--root", str(root), "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [consumer]

    before = _state(root)
    for ref, message in [
        ("wandb-artifacts/mnist-modl:v0", "error: no artifact named 'mnist-modl'; did you mean 'mnist-model'"),
        ("wandb-artifacts/mnist-model:v7", r"error: artifact 'mnist-model' has no version v7 (it has v0, best)"),
    ]:
        assert main(["runs", "lineage", ref, "--root", str(root)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.strip().replace("\n", " ").startswith(message)
        assert "Traceback" not in captured.err
    assert _state(root) == before
