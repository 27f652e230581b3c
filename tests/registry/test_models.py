"""The model registry through the Python API: versions per name, aliases and their history, refs, lineage."""

from __future__ import annotations

import polars as pl
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.errors import (
    AliasNotFound,
    InvalidArgument,
    InvalidName,
    InvalidRef,
    ModelExists,
    ModelNotFound,
    ModelVersionNotFound,
    RunNotFound,
)
from lakehouse.query.events import COUNTER_LIMIT, in_order
from tests.registry.conftest import Trained, registry_state


def test_versions_count_per_name_and_record_the_run(trained: Trained) -> None:
    lh = trained.lh
    v1 = lh.register_model("digits-classifier", f"runs:/{trained.first}/model", description="baseline", tags={"a": 1})
    v2 = lh.register_model("digits-classifier", run="second", path="model/")
    other = lh.register_model("other", run=trained.first[:6], path="exported/model.keras")
    assert (v1.version, v2.version, other.version) == (1, 2, 1)
    assert v1.source == f"runs:/{trained.first}/model"
    assert v2.source == f"runs:/{trained.second}/model"
    assert v2.run_id == trained.second
    assert other.source == f"runs:/{trained.first}/exported/model.keras"
    assert (v1.description, dict(v1.tags), v1.created_by) == ("baseline", {"a": "1"}, lh.actor)
    assert [m.name for m in lh.models()] == ["digits-classifier", "other"]
    info = lh.model("digits-classifier").info()
    assert (info.latest_version, info.version_count, info.lifecycle) == (2, 2, "active")
    assert [v.ref for v in lh.model("digits-classifier").versions()] == ["digits-classifier:v1", "digits-classifier:v2"]
    # Another process (a fresh connection with cold caches) reads the same.
    assert lakehouse.connect(lh.root).model_version("digits-classifier:v2") == v2


def test_aliases_move_with_history_and_stages_are_aliases(trained: Trained) -> None:
    lh = trained.lh
    for run in (trained.first, trained.second, trained.second):
        lh.register_model("clf", run=run, path="model")
    model = lh.model("clf")
    model.set_alias("staging", 1)
    model.set_alias("production", 1, reason="first release")
    model.set_alias("production", 2, reason="better accuracy")
    model.set_alias("production", 2)  # no change: no history entry
    model.delete_alias("staging", reason="done testing")
    assert model.aliases() == {"production": 2}
    changes = [(c.alias, c.change, c.version, c.previous_version, c.reason) for c in model.alias_history()]
    assert changes == [
        ("staging", "set", 1, None, None),
        ("production", "set", 1, None, "first release"),
        ("production", "moved", 2, 1, "better accuracy"),
        ("staging", "deleted", None, 1, "done testing"),
    ]
    assert [c.change for c in model.alias_history("production")] == ["set", "moved"]
    assert all(c.actor == lh.actor and c.name == "clf" for c in model.alias_history())
    assert lh.model_version("clf:production").version == 2
    assert lh.model_version("clf:v2").aliases == ("production",)
    assert lh.model_version("clf:latest").version == 3 == lh.model_version("clf").version
    assert lh.model_version(lakehouse.Ref("clf", tag="production")).version == 2


def test_a_version_as_of_a_time_is_the_newest_registered_by_then(trained: Trained) -> None:
    lh = trained.lh
    first = lh.register_model("clf", run=trained.first, path="m")
    lh.register_model("clf", run=trained.second, path="m")
    when = first.created_at.isoformat().replace("+00:00", "Z")
    assert lh.model_version(f"clf@{when}").version == 1
    with pytest.raises(ModelVersionNotFound, match="registered by"):
        lh.model_version("clf@2000-01-01T00:00:00Z")


def test_deleting_a_version_deletes_its_aliases_and_is_restorable(trained: Trained) -> None:
    lh = trained.lh
    lh.register_model("clf", run=trained.first, path="m")
    lh.register_model("clf", run=trained.second, path="m")
    model = lh.model("clf")
    model.set_alias("production", 2)
    model.delete_version(2, reason="regression")
    assert model.aliases() == {}
    assert model.alias_history()[-1].change == "deleted"
    assert model.alias_history()[-1].reason == "regression"
    assert [v.version for v in model.versions()] == [1]
    assert lh.model_version("clf:latest").version == 1
    with pytest.raises(ModelVersionNotFound, match="deleted"):
        lh.model_version("clf:v2")
    assert model.restore_version(2).lifecycle == "active"
    assert lh.model_version("clf").version == 2
    # A deleted number is never reused.
    model.delete_version(2)
    assert lh.register_model("clf", run=trained.first, path="m").version == 3


def test_deleting_a_model_is_recorded_and_restorable(trained: Trained) -> None:
    lh = trained.lh
    lh.register_model("clf", run=trained.first, path="m")
    lh.model("clf").set_alias("production", 1)
    lh.model("clf").delete(reason="retired")
    assert lh.models() == []
    assert [m.lifecycle for m in lh.models(include_deleted=True)] == ["deleted"]
    with pytest.raises(ModelNotFound, match="deleted"):
        lh.model_version("clf:production")
    restored = lh.model("clf").restore()
    assert (restored.lifecycle, dict(restored.aliases), restored.latest_version) == ("active", {"production": 1}, 1)
    with pytest.raises(ModelExists, match="live already"):
        lh.model("clf").restore()


def test_rename_tags_and_descriptions(trained: Trained) -> None:
    lh = trained.lh
    lh.register_model("clf", run=trained.first, path="m")
    model = lh.model("clf")
    model.set_description("digits")
    model.set_tag("team", "vision")
    model.set_tag("checked", True, version=1)
    model.set_description("the baseline", version="v1")
    model.delete_tag("team")
    model.set_alias("production", 1)
    renamed = model.rename("digits-clf")
    info = renamed.info()
    assert (info.name, info.description, dict(info.tags), dict(info.aliases)) == (
        "digits-clf",
        "digits",
        {},
        {"production": 1},
    )
    version = lh.model_version("digits-clf:production")
    assert (version.description, dict(version.tags)) == ("the baseline", {"checked": "True"})
    with pytest.raises(ModelNotFound, match="no registered model 'clf'"):
        lh.model("clf").info()
    lh.register_model("clf", run=trained.first, path="m")  # the old name is free again
    with pytest.raises(ModelExists, match="a model of that name exists"):
        lh.model("clf").rename("digits-clf")


def test_model_lineage_reaches_the_run_params_metrics_and_datasets(trained: Trained) -> None:
    lh = trained.lh
    lh.register_model("clf", run=trained.first, path="m")
    lh.register_model("clf", run=trained.second, path="m")
    lineage = lh.model_lineage("clf:v1")
    assert lineage.run is not None
    assert lineage.run.id == trained.first
    assert (dict(lineage.params), dict(lineage.metrics)) == ({"lr": "0.1"}, {"acc": 0.8})
    assert [i.version_ref for i in lineage.inputs] == ["digits:v0"]
    assert lineage.to_dict()["inputs"] == ["digits:v0"]
    # ... and the other way: the dataset version reaches the runs and the model versions built from them.
    used = lh.lineage("digits:v0")
    assert used.select("run_id", "model_versions").to_dicts() == [
        {"run_id": trained.first, "model_versions": ["clf:v1"]}
    ]
    assert used.schema["model_versions"] == pl.List(pl.String)


@pytest.mark.parametrize(
    ("call", "error", "named"),
    [
        (lambda lh, t: lh.register_model("Bad Name", run=t.first, path="m"), InvalidName, "'Bad Name'"),
        (lambda lh, t: lh.register_model("latest", run=t.first, path="m"), InvalidName, "reserved"),
        (lambda lh, t: lh.register_model("v7", run=t.first, path="m"), InvalidName, "'v7'"),
        (lambda lh, t: lh.register_model("../up", run=t.first, path="m"), InvalidName, "'../up'"),
        (lambda lh, t: lh.register_model("clf", "runs:/nosuchrun/m"), RunNotFound, "'nosuchrun'"),
        (lambda lh, t: lh.register_model("clf", run="nosuchrun", path="m"), RunNotFound, "'nosuchrun'"),
        (lambda lh, t: lh.register_model("clf", f"runs:/{t.first}/../x"), InvalidArgument, "'../x'"),
        (lambda lh, t: lh.register_model("clf", f"runs:/{t.first}"), InvalidArgument, "artifact path"),
        (lambda lh, t: lh.register_model("clf", run=t.first, path="/etc/passwd"), InvalidArgument, "'/etc/passwd'"),
        (lambda lh, t: lh.register_model("clf", "s3://b/m"), InvalidArgument, "'s3://b/m'"),
        (lambda lh, t: lh.register_model("clf", "models:/m-nosuch"), ModelNotFound, "'m-nosuch'"),
        (lambda lh, t: lh.register_model("clf"), InvalidArgument, "needs a source"),
        (lambda lh, t: lh.register_model("clf", f"runs:/{t.first}/m", run=t.first), InvalidArgument, "not both"),
        (lambda lh, t: lh.register_model("clf", run=t.first, path="m", tags=["x"]), InvalidArgument, "mapping"),
        (lambda lh, t: lh.model("clf").set_alias("production", 9), ModelVersionNotFound, "no version 9"),
        (lambda lh, t: lh.model("clf").set_alias("latest", 1), InvalidName, "alias name 'latest' is reserved"),
        (lambda lh, t: lh.model("clf").set_alias("v2", 1), InvalidName, "alias name 'v2'"),
        (lambda lh, t: lh.model("clf").set_alias("Prod!", 1), InvalidName, "'Prod!'"),
        (lambda lh, t: lh.model("clf").set_alias("prod", 0), InvalidArgument, "0"),
        (lambda lh, t: lh.model("nope").set_alias("prod", 1), ModelNotFound, "'nope'"),
        (lambda lh, t: lh.model("clf").delete_alias("nope"), AliasNotFound, "'nope'"),
        (lambda lh, t: lh.model("clf").delete_version(4), ModelVersionNotFound, "no version 4"),
        (lambda lh, t: lh.model("clf").restore(), ModelExists, "'clf'"),
        (lambda lh, t: lh.model("clf").rename("latest"), InvalidName, "reserved"),
        (lambda lh, t: lh.model_version("clf:nope"), AliasNotFound, "'nope'"),
        (lambda lh, t: lh.model_version("clf:v5"), ModelVersionNotFound, "no version 5"),
        (lambda lh, t: lh.model_version("Clf:v1"), InvalidRef, "model name 'Clf'"),
        (lambda lh, t: lh.model_version("clff"), ModelNotFound, "did you mean 'clf'"),
    ],
)
def test_bad_input_is_refused_naming_the_thing_and_writes_nothing(trained: Trained, call, error, named) -> None:  # type: ignore[no-untyped-def]
    lh = trained.lh
    lh.register_model("clf", run=trained.first, path="m")
    lh.model("clf").set_alias("production", 1)
    before = registry_state(lh)
    with pytest.raises(error, match=named.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        call(lh, trained)
    assert registry_state(lh) == before


def test_registering_into_a_fresh_root_from_a_missing_run_creates_no_table(root) -> None:  # type: ignore[no-untyped-def]
    lh = lakehouse.connect(root)
    with pytest.raises(RunNotFound):
        lh.register_model("clf", "runs:/0123456789abcdef/model")
    assert not storage.exists(lh.layout.models)


def test_the_events_are_a_delta_table_in_the_one_event_order(trained: Trained) -> None:
    lh = trained.lh
    lh.register_model("clf", run=trained.first, path="m")
    lh.model("clf").set_alias("production", 1, reason="why")
    events = in_order(storage.scan(lh.layout.models).collect())
    assert events.get_column("kind").to_list() == ["model_created", "version_created", "alias_set"]
    assert events.row(2, named=True)["reason"] == "why"
    assert events.get_column("at").dtype == pl.Datetime("us", "UTC")
    assert events.get_column("seq").min() > COUNTER_LIMIT  # the writer's application clock
    protocol = storage.protocol(lh.layout.models)
    assert (protocol["min_reader_version"], protocol["min_writer_version"]) == (1, 2)
    assert storage.properties(lh.layout.models)["delta.enableDeletionVectors"] == "false"
