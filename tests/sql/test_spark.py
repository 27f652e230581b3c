"""The same queries on both engines give the same rows: ``lh.sql`` (polars) and ``lakehouse.spark.sql`` (Spark,
delta-spark reading the same Delta tables), and Spark refuses what the embedded engine refuses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from lakehouse.errors import QueryError, QueryRefused, TagNotFound
from lakehouse.sql import examples
from tests.sql.conftest import Demo, snapshot

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.spark


def queries(demo: Demo) -> dict[str, str]:
    lh = demo.lh
    v1 = lh.dataset("digits").version(1).created_at.isoformat().replace("+00:00", "Z")
    return {
        "showcase": examples.best_metric_per_version("digits", "accuracy"),
        "loss went up": examples.loss_went_up("val_loss", "lr", 0.01),
        "one run's points": examples.run_points(demo.ids["mlp-fast"], "loss"),
        "changed rows": examples.changed_rows("digits", "v0", "v2"),
        "structs": "SELECT name, CAST(params.lr AS DOUBLE) AS lr, metrics.loss.min AS best, tags.team AS team, "
        "status FROM runs WHERE CAST(params.lr AS DOUBLE) >= 0.01",
        "tag ref": 'SELECT * FROM "digits:prod"',
        "version ref": 'SELECT image_id, label FROM "digits:v1" WHERE label > 2',
        "time ref": f'SELECT COUNT(*) AS n FROM "digits@{v1}"',
        "bare dataset": "SELECT l.name, COUNT(*) AS n FROM digits d JOIN labels l ON d.label = l.label GROUP BY l.name",
        "versions joined": 'SELECT a.image_id, a.label AS was, b.label AS now FROM "digits:raw" a '
        'JOIN "digits:latest" b ON a.image_id = b.image_id WHERE a.label <> b.label',
        "long tables": "SELECT p.key, p.value, t.value AS team FROM params p JOIN tags t ON p.run_id = t.run_id "
        "WHERE t.key = 'team' AND p.key = 'optimizer'",
        "summaries": "SELECT key, COUNT(*) AS runs, MAX(max) AS best FROM metric_summaries GROUP BY key",
        "experiments": "SELECT experiment, runs, running FROM experiments",
        "registry": "SELECT name, latest_version, num_rows FROM datasets",
        "cards": "SELECT dataset, version, created_by, labelled_by, number_of_samples, operation, rows_added, "
        "rows_removed FROM dataset_versions",
        "artifacts": "SELECT run_id, path, size, digest, logged_at FROM artifacts",
        "models": "SELECT name, latest_version, version_count, aliases.production AS production, tags.team AS team, "
        "created_at, updated_at FROM models",
        "model versions": "SELECT name, version, ref, run_id, source, status, description, created_at, aliases, "
        "tags.stage AS stage FROM model_versions",
        "alias history": "SELECT * FROM model_aliases",
        "aliased models": examples.aliased_models("production", "accuracy"),
        "cte": "WITH best AS (SELECT run_id, MIN(value) AS low FROM metrics WHERE key = 'loss' GROUP BY run_id) "
        "SELECT r.name, b.low FROM best b JOIN runs r ON r.run_id = b.run_id WHERE b.low < 0.5",
    }


def _same(embedded: pl.DataFrame, spark: pl.DataFrame) -> None:
    assert embedded.columns == spark.columns
    key = [c for c, t in embedded.schema.items() if not t.is_nested()]
    assert_frame_equal(
        embedded.sort(key, nulls_last=True),
        spark.sort(key, nulls_last=True),
        check_dtypes=False,
        rel_tol=1e-9,
    )


def test_the_same_query_gives_the_same_rows_on_both_engines(demo: Demo, spark: SparkSession) -> None:
    from lakehouse.spark import sql

    lh = demo.lh
    for title, query in queries(demo).items():
        embedded = lh.sql(query)
        on_spark = pl.from_arrow(sql(query, spark=spark, root=demo.root).toArrow())
        assert isinstance(on_spark, pl.DataFrame)
        assert embedded.height > 0, title
        try:
            _same(embedded, on_spark)
        except AssertionError as e:
            raise AssertionError(f"{title}: {e}") from e


@pytest.mark.parametrize(
    ("query", "error", "match"),
    [
        ("SELECT * FROM parquet.`/etc/passwd`", QueryRefused, "never read files by path"),
        ("SELECT * FROM delta.`/tmp/lh/tracking/metrics`", QueryRefused, "never read files by path"),
        ("SELECT * FROM read_files('/etc/passwd')", QueryRefused, r"read_files\(\) is refused"),
        ("SELECT reflect('java.lang.System', 'exit', '0') FROM runs", QueryRefused, r"reflect\(\) is refused"),
        ("INSERT INTO runs SELECT * FROM runs", QueryRefused, "INSERT statements are refused"),
        ("SET spark.sql.ansi.enabled = false", QueryRefused, "SET statements are refused"),
        ("CACHE TABLE runs", QueryRefused, "CACHE statements are refused"),
        ("SELECT * FROM default.runs", QueryRefused, "qualified names"),
        ("SELECT nme FROM runs", QueryError, "unknown column or field"),
        ('SELECT * FROM "digits:prd"', TagNotFound, "did you mean 'prod'"),
    ],
)
def test_spark_refuses_what_the_embedded_engine_refuses(
    demo: Demo, spark: SparkSession, query: str, error: type[Exception], match: str
) -> None:
    from lakehouse.spark import sql

    before = snapshot(demo.root)
    with pytest.raises(error, match=match):
        sql(query, spark=spark, root=demo.root)
    assert snapshot(demo.root) == before
