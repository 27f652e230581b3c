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


@pytest.mark.parametrize(("kind", "value"), [(pa.binary(), "text"), (pa.binary(), 7), (pa.string(), b"x")])
def test_a_value_of_another_type_is_refused_for_the_general_path(kind: pa.DataType, value: object) -> None:
    with pytest.raises(TypeError):
        _buffers.column(kind, [b"" if kind == pa.binary() else "", value])


def test_the_general_path_joins_bytes_into_one_binary_column() -> None:
    values = [b"ab", None, b"", b"x" * 5000]
    built = _buffers.converted(pa.binary(), values)
    built.validate(full=True)
    assert built.equals(pa.array(values, type=pa.binary()))


def test_bytes_like_values_make_the_same_column_as_bytes() -> None:
    block = bytearray(b"headtail!")
    values = [memoryview(block)[:4], None, bytearray(b"mid"), memoryview(block)[4:]]
    built = _buffers.binary(values)
    built.validate(full=True)
    assert built.to_pylist() == [b"head", None, b"mid", b"tail!"]


def test_bytes_already_end_to_end_are_the_data_buffer_without_a_copy() -> None:
    block = bytearray(b"headtail!")
    whole = memoryview(block)
    built = _buffers.end_to_end([4, None, 5], whole)
    built.validate(full=True)
    assert built.to_pylist() == [b"head", None, b"tail!"]
    assert built.buffers()[2].address == pa.py_buffer(block).address  # the reader's block itself
    with pytest.raises(ValueError, match="data is 8 bytes long, the values 9"):
        _buffers.end_to_end([4, None, 5], whole[:8])
