"""``artifacts``, ``models``, ``model_versions`` and ``model_aliases``: each holds what the Python API says
(the artifact index's and the registry's folds), the showcase spanning them, and a lazy query collected on
the streaming engine."""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse.sql import examples
from tests.sql.conftest import Demo

pytestmark = pytest.mark.roots  # every test on the demo in a local root and in a bucket root


def test_artifacts_are_each_runs_current_files(demo: Demo) -> None:
    lh = demo.lh
    got = lh.sql("SELECT * FROM artifacts ORDER BY run_id, path")
    assert got.columns == ["run_id", "path", "size", "digest", "logged_at"]
    for run in ("mlp-slow", "cnn-base"):
        rid = demo.ids[run]
        mine = got.filter(pl.col("run_id") == rid).drop("run_id")
        assert_frame_equal(mine, lh.artifacts(rid))
    # notes.txt was logged, then deleted: the fold leaves it out.
    assert got.get_column("path").to_list() == ["model/model.bin", "model/model.bin"]
    assert got.get_column("size").sort().to_list() == [21, 70]


def test_models_one_row_per_model_with_aliases_and_tags_as_structs(demo: Demo) -> None:
    lh = demo.lh
    got = lh.sql(
        "SELECT name, latest_version, version_count, aliases.production AS production, tags.team AS team, "
        "created_at, updated_at FROM models ORDER BY name"
    )
    expected = pl.DataFrame(
        [
            {
                "name": m.name,
                "latest_version": m.latest_version,
                "version_count": m.version_count,
                "production": m.aliases.get("production"),
                "team": m.tags.get("team"),
                "created_at": m.created_at,
                "updated_at": m.updated_at,
            }
            for m in lh.models()
        ],
        schema=got.schema,
    )
    assert_frame_equal(got, expected)
    assert got.get_column("production").to_list() == [2, None]
    assert lh.sql("SELECT * FROM models").schema["aliases"] == pl.Struct({"production": pl.Int64})


def test_model_versions_hold_what_the_registry_says(demo: Demo) -> None:
    lh = demo.lh
    got = lh.sql("SELECT * FROM model_versions ORDER BY name, version")
    versions = [v for m in lh.models() for v in lh.model(m.name).versions()]
    assert got.select("name", "version", "ref", "run_id", "source", "status", "description").rows() == [
        (v.name, v.version, v.ref, v.run_id, v.source, v.lifecycle, v.description) for v in versions
    ]
    assert got.get_column("aliases").to_list() == [list(v.aliases) for v in versions]
    assert got.get_column("tags").struct.field("stage").to_list() == [None, "candidate", None]
    production = lh.sql("SELECT ref FROM model_versions WHERE ARRAY_CONTAINS(aliases, 'production')").item()
    assert production == lh.model_version("digits-classifier:production").ref


def test_model_aliases_is_the_alias_history(demo: Demo) -> None:
    lh = demo.lh
    got = lh.sql("SELECT name, alias, change, version, previous_version, actor, at, reason FROM model_aliases")
    history = lh.model("digits-classifier").alias_history()
    assert got.rows() == [
        (c.name, c.alias, c.change, c.version, c.previous_version, c.actor, c.at, c.reason) for c in history
    ]
    assert got.select("alias", "change").rows() == [
        ("production", "set"),
        ("staging", "set"),
        ("production", "moved"),
        ("staging", "deleted"),
    ]


def test_showcase_production_version_with_its_run_files_and_data(demo: Demo) -> None:
    lh = demo.lh
    got = lh.sql(examples.aliased_models("production", "accuracy"))
    run = lh.run(demo.ids["cnn-base"])
    assert got.select("name", "version", "run", "files", "bytes", "dataset", "dataset_version").rows() == [
        ("digits-classifier", 2, "cnn-base", 1, 21, "digits", 2),
        ("digits-classifier", 2, "cnn-base", 1, 21, "labels", 0),
    ]
    assert got.get_column("final_accuracy").to_list() == [run.metrics["accuracy"].last] * 2
    titles = [e.title for e in examples.for_lakehouse(lh)]
    assert "The production version of each model, its run and data" in titles


def test_a_lazy_query_collects_on_the_streaming_engine(demo: Demo) -> None:
    lh = demo.lh
    query = "SELECT run_id, step, value FROM metrics WHERE key = 'loss' AND step >= 10 ORDER BY run_id, step"
    streamed = lh.sql(query, lazy=True).collect(engine="streaming")
    assert_frame_equal(streamed, lh.sql(query))
    assert streamed.height == 5 * 20 + 2  # five runs' steps 10..29, the live run's steps 10 and 11
