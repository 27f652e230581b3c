"""Run and input events as Arrow tables, built straight from buffers: the cheap path of a run's start.

A run's start events must be in the spool within milliseconds of ``start_run``, even in a process that has
not used polars or pyarrow yet (a fresh or forked training process on a loaded machine). Building their
table with polars (:meth:`TableSpec.from_rows`) costs 6-20 ms of CPU the first time in a process, pyarrow's
conversion of Python objects imports pandas (a second); writing the few columns' buffers directly costs
about 1 ms cold and a tenth of that warm, with the same result. The tracking tables' event schemas hold
only strings, 64-bit integers and UTC microsecond timestamps; any other type, or a value that does not fit
its column, takes the general path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from lakehouse import _buffers
from lakehouse.catalog.tables import TableSpec


def events_table(spec: TableSpec, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """``rows`` (dicts; a missing key is null) as an Arrow table of ``spec``'s schema."""
    try:
        return _buffers.table(spec.schema, [[row.get(field.name) for row in rows] for field in spec.schema])
    except (TypeError, OverflowError):
        return spec.from_rows(list(rows))
