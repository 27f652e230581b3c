"""SQL over every table and every version: the catalog of names, the read-only guard, the embedded engine.

``lh.sql(query)`` runs on polars (:mod:`lakehouse.sql.embedded`); ``lakehouse.spark.sql`` runs the same query
on Spark over the same names. Docs: docs/SQL.md.
"""
