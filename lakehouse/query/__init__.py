"""Polars read models over the tracking tables: runs (folded), metric histories, comparisons, lineage.

:mod:`~lakehouse.query.frames` keeps the small tables warm and reads only a run's partition of the fact
table; :mod:`~lakehouse.query.runs` folds run events; :mod:`~lakehouse.query.metrics` reads and downsamples
histories; :mod:`~lakehouse.query.compare` puts runs side by side.
"""
