"""``lh.sql``: every name of the catalog, every ref form, the change rows against ``ds.diff``, pushdown to the
metrics partitions, and every refusal (which changes nothing)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import lakehouse
from lakehouse.errors import InvalidRef, QueryError, QueryRefused, StorageError, TagNotFound, VersionNotFound
from lakehouse.sql import catalog, embedded
from tests.roots import seam
from tests.s3_server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, S3Server
from tests.sql.conftest import Demo, snapshot

pytestmark = pytest.mark.roots  # every test reading the demo (or using lh) on a local root and on a bucket root

SHOWCASE = """
SELECT v.version, v.labelled_by, v.number_of_samples, MAX(s.max) AS best_accuracy
FROM dataset_versions v
JOIN inputs i ON i.dataset = v.dataset AND i.version = v.version
JOIN metric_summaries s ON s.run_id = i.run_id AND s.key = 'accuracy'
WHERE v.dataset = 'digits'
GROUP BY v.version, v.labelled_by, v.number_of_samples
ORDER BY v.version
"""


def test_runs_is_the_runs_read_model_with_struct_columns(demo: Demo) -> None:
    lh = demo.lh
    wide = lh.runs()
    got = lh.sql(
        "SELECT run_id, name, status, params.lr AS lr, tags.team AS team, metrics.loss.last AS loss, "
        "metrics.loss.min AS loss_min FROM runs ORDER BY name"
    )
    expected = wide.select(
        "run_id",
        "name",
        "status",
        pl.col("params.lr").alias("lr"),
        pl.col("tags.team").alias("team"),
        pl.col("metrics.loss.last").alias("loss"),
        pl.col("metrics.loss.min").alias("loss_min"),
    ).sort("name")
    assert_frame_equal(got, expected)
    assert got.height == 7
    assert lh.sql("SELECT * FROM runs").schema["params"] == pl.Struct(
        {"filters": pl.String, "lr": pl.String, "optimizer": pl.String, "units": pl.String}
    )


def test_long_names_hold_what_lh_run_says(demo: Demo) -> None:
    lh = demo.lh
    run = lh.run(demo.ids["cnn-base"])
    rid = run.id
    params = lh.sql(f"SELECT key, value FROM params WHERE run_id = '{rid}' ORDER BY key")
    assert dict(params.iter_rows()) == run.params
    tags = lh.sql(f"SELECT key, value FROM tags WHERE run_id = '{rid}'")
    assert dict(tags.iter_rows()) == run.tags
    summaries = lh.sql(f"SELECT key, count, min, max, last, last_step FROM metric_summaries WHERE run_id = '{rid}'")
    assert {r["key"]: (r["count"], r["min"], r["max"], r["last"], r["last_step"]) for r in summaries.to_dicts()} == {
        m.key: (m.count, m.min, m.max, m.last, m.last_step) for m in run.metrics.values()
    }
    inputs = lh.sql(f"SELECT dataset, version FROM inputs WHERE run_id = '{rid}' ORDER BY dataset")
    assert inputs.rows() == [("digits", 2), ("labels", 0)]
    points = lh.sql(f"SELECT step, value FROM metrics WHERE run_id = '{rid}' AND key = 'loss' ORDER BY step")
    assert points.rows() == [(m.step, m.value) for m in lh.metric_history(rid, "loss")]
    experiments = lh.sql("SELECT experiment, runs FROM experiments ORDER BY experiment")
    assert experiments.rows() == [("digits-cnn", 1), ("digits-mlp", 6)]


def test_datasets_and_versions_carry_the_cards(demo: Demo) -> None:
    lh = demo.lh
    registry = lh.sql("SELECT name, latest_version, num_rows, tags FROM datasets ORDER BY name")
    assert registry.rows() == [("digits", 2, 6, ["prod", "raw"]), ("labels", 0, 2, [])]
    versions = lh.sql(
        "SELECT version, created_by, labelled_by, number_of_samples, description, operation, rows_added, "
        "rows_removed, tags FROM dataset_versions WHERE dataset = 'digits' ORDER BY version"
    )
    assert versions.rows() == [
        (0, "alice", None, 4, "raw scan", "append", 4, 0, ["raw"]),
        (1, "tester", "bob", 4, "relabelled", "upsert", 0, 0, []),
        (2, "tester", None, 6, "augmented", "append", 2, 0, ["prod"]),
    ]
    card = lh.dataset("digits").version(0)
    created_on = lh.sql("SELECT created_on, metadata FROM dataset_versions WHERE ref = 'digits:v0'").row(0)
    assert created_on == (card.metadata["created_on"], '{"source": "sklearn"}')


def test_every_ref_form_reads_the_version_it_names(demo: Demo) -> None:
    lh = demo.lh
    v1 = lh.dataset("digits").version(1)
    forms = {
        "digits": "digits:v2",
        "digits:latest": "digits:v2",
        "digits:v1": "digits:v1",
        "digits:prod": "digits:v2",
        "digits:raw": "digits:v0",
        f"digits@{v1.created_at.isoformat().replace('+00:00', 'Z')}": "digits:v1",
    }
    for ref, version in forms.items():
        got = lh.sql(f'SELECT * FROM "{ref}" ORDER BY image_id')
        assert_frame_equal(got, lh.read(version).sort("image_id"), check_column_order=False)
    # A bare dataset name needs no quotes; versions of one dataset join each other.
    joined = lh.sql(
        'SELECT a.image_id, a.label AS before, b.label AS after FROM "digits:raw" a '
        "JOIN digits b USING (image_id) WHERE a.label <> b.label ORDER BY a.image_id"
    )
    assert joined.rows() == [(1, 1, 7), (3, 3, 9)]


def test_range_gives_the_rows_ds_diff_finds(demo: Demo) -> None:
    lh = demo.lh
    for text, (a, b) in {"digits:v0..v2": (0, 2), "digits:raw..prod": (0, 2), "digits:v1..v0": (1, 0)}.items():
        got = lh.sql(f'SELECT * FROM "{text}"')
        diff = lh.dataset("digits").diff(a, b)
        added = got.filter(pl.col("change_type") == "added").drop("change_type")
        removed = got.filter(pl.col("change_type") == "removed").drop("change_type")
        assert_frame_equal(added.select(diff.added.columns).sort(pl.all()), diff.added.sort(pl.all()))
        assert_frame_equal(removed.select(diff.removed.columns).sort(pl.all()), diff.removed.sort(pl.all()))
        assert got.height == diff.num_added + diff.num_removed > 0


def test_showcase_best_metric_per_version_with_its_card(demo: Demo) -> None:
    lh = demo.lh
    got = lh.sql(SHOWCASE)
    runs = lh.runs()
    best = {
        v: max(
            r["metrics.accuracy.max"]
            for r in runs.to_dicts()
            if f"digits:v{v}" in r["inputs"] and r["metrics.accuracy.max"] is not None
        )
        for v in (0, 1, 2)
    }
    assert got.rows() == [(0, None, 4, best[0]), (1, "bob", 4, best[1]), (2, None, 6, best[2])]


def test_lazy_returns_a_lazy_frame(demo: Demo) -> None:
    frame = demo.lh.sql("SELECT name FROM runs WHERE status = 'FAILED'", lazy=True)
    assert isinstance(frame, pl.LazyFrame)
    assert frame.collect().rows() == [("mlp-broken",)]


def test_ctes_and_keywords_inside_functions_are_not_tables(demo: Demo) -> None:
    got = demo.lh.sql(
        "WITH fast AS (SELECT run_id FROM runs WHERE CAST(params.lr AS DOUBLE) > 0.05) "
        "SELECT COUNT(*) AS n, MIN(EXTRACT(year FROM r.start_time)) AS y FROM fast JOIN runs r USING (run_id)"
    )
    assert got.row(0)[0] == 3  # mlp-fast (0.1), mlp-live (0.2), mlp-broken (10.0)
    quoted = demo.lh.sql("SELECT 'drop table runs; -- not a statement' AS s FROM runs LIMIT 1")
    assert quoted.item() == "drop table runs; -- not a statement"


def test_a_query_on_one_run_reads_only_that_runs_files(lh: lakehouse.Lakehouse) -> None:
    ids = []
    for name in ("kept", "gone"):
        with lh.start_run(name=name) as run:
            run.log({"loss": 1.0}, step=0)
            run.log({"loss": 0.5}, step=1)
            ids.append(run.id)
    lh.flush()
    kept, gone = ids
    metrics = seam(lh.layout.metrics)
    for found in list(metrics.list(f"run_id={gone}")):  # a query that opened this run's files would fail
        metrics.delete(found.path)
    plan = lh.sql(f"SELECT step, value FROM metrics WHERE run_id = '{kept}'", lazy=True).explain()
    assert f'SELECTION: col("run_id") == "{kept}"' in plan  # the filter reaches the source
    assert lh.sql(f"SELECT step, value FROM metrics WHERE run_id = '{kept}' ORDER BY step").rows() == [
        (0, 1.0),
        (1, 0.5),
    ]
    # Filters that do not name one run still read through the Delta scan, pruning partitions.
    assert lh.sql(f"SELECT COUNT(*) AS n FROM metrics WHERE run_id IN ('{kept}', 'x')").item() == 2
    with pytest.raises(StorageError, match="could not read a table file"):
        lh.sql(f"SELECT * FROM metrics WHERE run_id = '{gone}'")
    with pytest.raises(StorageError, match="could not read a table file"):
        lh.sql("SELECT * FROM metrics WHERE step = 0")


@pytest.mark.parametrize(
    ("where", "runs"),
    [
        ("run_id = 'a'", {"a"}),
        ("'a' = run_id AND key = 'loss'", {"a"}),
        ("key = 'loss' AND step > 3 AND run_id = 'a'", {"a"}),
        ("run_id = 'a' AND run_id = 'b'", set()),
        ("run_id = 'a' OR key = 'loss'", None),
        ("NOT (run_id = 'a')", None),
        ("run_id <> 'a'", None),
        ("key = 'loss'", None),
    ],
)
def test_runs_a_filter_requires(where: str, runs: set[str] | None) -> None:
    assert catalog._required_runs(pl.sql_expr(where)) == runs


REFUSED = {
    "CREATE TABLE x AS SELECT * FROM runs": "CREATE statements are refused",
    "INSERT INTO runs VALUES (1)": "INSERT statements are refused",
    "DELETE FROM metrics": "DELETE statements are refused",
    "UPDATE runs SET name = 'x'": "UPDATE statements are refused",
    "DROP TABLE runs": "DROP statements are refused",
    "TRUNCATE metrics": "TRUNCATE statements are refused",
    "COPY runs TO '/tmp/x.csv'": "COPY statements are refused",
    "EXPLAIN SELECT * FROM runs": "EXPLAIN statements are refused",
    "SHOW TABLES": "SHOW statements are refused",
    "SELECT * FROM runs; DROP TABLE runs": "one statement at a time",
    "WITH r AS (SELECT * FROM runs) INSERT INTO x SELECT * FROM r": "INSERT is refused",
    "SELECT * INTO copy_of_runs FROM runs": "INTO is refused",
    "SELECT * FROM read_parquet('/etc/passwd')": r"read_parquet\(\) is refused",
    "SELECT * FROM read_csv('/etc/passwd')": r"read_csv\(\) is refused",
    "SELECT * FROM read_json('/etc/x.json')": r"read_json\(\) is refused",
    "SELECT * FROM read_ipc('/etc/x.arrow')": r"read_ipc\(\) is refused",
    "SELECT * FROM scan_parquet('/etc/x')": r"scan_parquet\(\) is refused",
    "SELECT (SELECT COUNT(*) FROM read_csv('/etc/passwd')) AS n": r"read_csv\(\) is refused",
    "SELECT * FROM parquet.`/etc/passwd`": "never read files by path",
    "SELECT * FROM main.runs": "qualified names",
    "SELECT * FROM generate_series(1, 3)": r"table function generate_series\(\)",
}


@pytest.mark.local_only("the guard refuses before any table is opened: where the tables live plays no part")
@pytest.mark.parametrize(("query", "match"), list(REFUSED.items()))
def test_refusals_change_nothing(demo: Demo, query: str, match: str) -> None:
    lh = demo.lh
    before, versions = snapshot(demo.root), lh.table_versions()
    with pytest.raises(QueryRefused, match=match):
        lh.sql(query)
    assert snapshot(demo.root) == before
    assert lh.table_versions() == versions


@pytest.mark.parametrize(
    ("query", "error", "match"),
    [
        ("SELECT * FROM rusn", QueryError, "unknown table 'rusn'.*did you mean 'runs'"),
        ("SELECT * FROM digitz", QueryError, "unknown table 'digitz'.*did you mean 'digits'"),
        ("SELECT nme FROM runs", QueryError, "unknown column 'nme'.*did you mean 'name'"),
        ("SELECT params.lrr FROM runs", QueryError, "unknown field 'lrr'.*did you mean 'lr'"),
        ("SELECT metrics.los.max FROM runs", QueryError, "unknown field 'los'.*did you mean 'loss'"),
        ("SELECT diggest FROM artifacts", QueryError, "unknown column 'diggest'.*did you mean 'digest'"),
        ("SELECT run_idd FROM model_versions", QueryError, "unknown column 'run_idd'.*did you mean 'run_id'"),
        ("SELECT aliases.prod FROM models", QueryError, "unknown field .prod.*did you mean 'production'"),
        ("SELECT * FROM model_version", QueryError, "unknown table 'model_version'.*'model_versions'"),
        ('SELECT * FROM "digits:v9"', VersionNotFound, "no version 9; its versions are 0..2"),
        ('SELECT * FROM "digits:prd"', TagNotFound, "no tag 'prd'.*did you mean 'prod'"),
        ('SELECT * FROM "digits:v1:x"', InvalidRef, "neither a version"),
        ('SELECT * FROM "digits@yesterday"', InvalidRef, "invalid time 'yesterday'"),
        ('SELECT * FROM "digits:v0..v9"', VersionNotFound, "no version 9"),
        ("SELEC * FROM runs", QueryRefused, "SELEC statements are refused"),
        ("SELECT frobnicate(name) FROM runs", QueryError, "unsupported function 'frobnicate'"),
        ("SELECT 'unclosed FROM runs", QueryError, "never closed"),
        ("", QueryError, "the query is empty"),
    ],
)
def test_unknown_names_and_bad_refs_say_what_is_wrong(
    demo: Demo, query: str, error: type[Exception], match: str
) -> None:
    before = snapshot(demo.root)
    with pytest.raises(error, match=match):
        demo.lh.sql(query)
    assert snapshot(demo.root) == before


def test_columns_of_every_name(demo: Demo) -> None:
    lh = demo.lh
    names = catalog.table_names(lh)
    assert names == [*catalog.NAMES, "digits", "labels"]
    for name in names:
        assert catalog.columns(lh, name), name
    assert list(catalog.columns(lh, "dataset_versions")) == list(catalog.DATASET_VERSIONS_SCHEMA)


def test_an_empty_lakehouse_has_every_name(lh: lakehouse.Lakehouse) -> None:
    for name in catalog.NAMES:
        assert lh.sql(f"SELECT COUNT(*) AS n FROM {name}").item() == 0, name


def test_limit_and_timeout(demo: Demo) -> None:
    lh = demo.lh
    assert lh.sql("SELECT * FROM metrics", limit=5).height == 5
    assert lh.sql("SELECT * FROM metrics", limit=5, lazy=True).collect().height == 5
    assert lh.sql("SELECT COUNT(*) AS n FROM runs", timeout=30).item() == 7
    # A cross join of every point with every point: beyond a millisecond.
    slow = "SELECT COUNT(*) AS n FROM metrics a, metrics b WHERE a.value > b.value"
    with pytest.raises(QueryError, match=r"stopped after 0.001 s \(the time limit\)"):
        lh.sql(slow, timeout=0.001)
    # The cancelled query's handle is kept until its engine stops, then let go.
    deadline = time.monotonic() + 60
    while embedded._CANCELLED.prune() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert embedded._CANCELLED.prune() == 0


def test_sql_tables_lists_names_and_datasets(demo: Demo) -> None:
    tables = demo.lh.sql_tables()
    assert list(tables) == [*catalog.NAMES, "digits", "labels"]
    assert tables["digits"] == "dataset"
    assert "card" in tables["dataset_versions"]


def test_a_bucket_root_given_by_settings_alone(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """No AWS variable at all: the storage settings of ``connect`` reach every scan a query makes."""
    from lakehouse.tracking.writer import active_writers

    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = f"s3://{s3_server.new_bucket()}/lh"
    lh = lakehouse.connect(
        root,
        storage_endpoint=s3_server.endpoint,
        storage_region=REGION,
        storage_allow_http="true",
        storage_access_key_id=ACCESS_KEY_ID,
        storage_secret_access_key=SECRET_ACCESS_KEY,
    )
    lh.dataset("d").write(pl.DataFrame({"a": [1, 2]}))
    lh.dataset("d").write(pl.DataFrame({"a": [3]}))
    with lh.start_run(name="r", inputs=["d:v1"]) as run:
        run.log({"loss": 0.5}, step=0)
    lh.flush()
    for writer in active_writers():
        if str(writer.layout.root) == root:
            writer.close(timeout=30)
    assert lh.sql('SELECT a FROM "d:v0" ORDER BY a').rows() == [(1,), (2,)]
    assert lh.sql('SELECT a FROM "d:v0..v1"').rows() == [(3,)]
    assert lh.sql("SELECT name, inputs FROM runs").rows() == [("r", ["d:v1"])]
    assert lh.sql(f"SELECT value FROM metrics WHERE run_id = '{run.id}'").item() == 0.5
