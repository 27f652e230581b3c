"""Arrow columns built straight from Python values: the same arrays pyarrow's own conversion gives."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from lakehouse import _buffers


@pytest.mark.parametrize(
    ("kind", "values"),
    [
        (pa.string(), ["a", None, "", "é"]),
        (pa.binary(), [b"\x00\xff", None, b"", b"bytes of a file"]),
        (pa.binary(), [b"x" * 5000 for _ in range(300)]),
        (pa.int64(), [1, None, -(2**63)]),
        (pa.float64(), [1.5, None, float("inf")]),
        (pa.timestamp("us", tz="UTC"), [datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC), None]),
    ],
)
def test_a_column_equals_pyarrows_conversion(kind: pa.DataType, values: list[object]) -> None:
    built = _buffers.column(kind, values)
    built.validate(full=True)
    assert built.equals(pa.array(values, type=kind))
    assert built.null_count == sum(v is None for v in values)


@pytest.mark.parametrize(
    ("kind", "value"), [(pa.binary(), "text"), (pa.binary(), bytearray(b"x")), (pa.string(), b"x")]
)
def test_a_value_of_another_type_is_refused_for_the_general_path(kind: pa.DataType, value: object) -> None:
    with pytest.raises(TypeError):
        _buffers.column(kind, [b"" if kind == pa.binary() else "", value])


def test_the_general_path_joins_bytes_into_one_binary_column() -> None:
    values = [b"ab", None, b"", b"x" * 5000]
    built = _buffers.converted(pa.binary(), values)
    built.validate(full=True)
    assert built.equals(pa.array(values, type=pa.binary()))
