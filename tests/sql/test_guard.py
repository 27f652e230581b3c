"""The guard's tokenizer and table finder, and the rewrite of a query into Spark's dialect."""

from __future__ import annotations

import pytest

from lakehouse.errors import QueryError, QueryRefused
from lakehouse.spark.query import spark_text
from lakehouse.sql import guard


def test_tables_ctes_and_text() -> None:
    found = guard.inspect(
        'WITH best AS (SELECT * FROM metric_summaries), "odd name" (x) AS (SELECT 1) '
        'SELECT * FROM best, "digits:v2" AS d JOIN runs r ON r.run_id = d.x '
        "LEFT JOIN (SELECT * FROM tags) t ON TRUE WHERE TRIM(BOTH ' ' FROM r.name) = 'a' /* FROM x */ -- FROM y\n;"
    )
    assert [t.value for t in found.tables] == ["metric_summaries", "best", "digits:v2", "runs", "tags"]
    assert found.ctes == {"best", "odd name"}
    assert found.text.endswith("= 'a'")  # what follows the last token (comments, ';') is dropped


def test_quotes_double_to_escape() -> None:
    tokens = guard.tokenize('SELECT \'it\'\'s\', "a ""b""", `c``d` FROM x')
    assert [(t.kind, t.value) for t in tokens[1:6]] == [
        ("string", "it's"),
        ("symbol", ","),
        ("name", 'a "b"'),
        ("symbol", ","),
        ("name", "c`d"),
    ]


@pytest.mark.parametrize(
    ("query", "error", "match"),
    [
        ("SELECT 1 /* never closed", QueryError, "comment opened at character 10 is never closed"),
        ('SELECT "x FROM runs', QueryError, "quoted name opened at character 8 is never closed"),
        ("  ;  ", QueryError, "the query is empty"),
        (42, QueryError, "a query must be a string"),
        ("VACUUM runs", QueryRefused, "VACUUM statements are refused"),
        ("SELECT * FROM runs WHERE name IN (SELECT name FROM x) ; ; DELETE FROM runs", QueryRefused, "one statement"),
    ],
)
def test_malformed_and_refused(query: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        guard.inspect(query)


def test_spark_dialect_back_quotes_names_and_renames_refs() -> None:
    inspected = guard.inspect(
        'SELECT r.metrics."val/loss".max, \'"kept"\' FROM "digits:v2" d JOIN runs r ON d.x = r.run_id'
    )
    assert spark_text(inspected, {"digits:v2": "lakehouse_ref_0", "runs": "runs"}) == (
        "SELECT r.metrics.`val/loss`.max, '\"kept\"' FROM `lakehouse_ref_0` d JOIN `runs` r ON d.x = r.run_id"
    )
