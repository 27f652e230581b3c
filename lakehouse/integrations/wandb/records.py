"""The records of a W&B offline run file (``run-<id>.wandb``), framed as the W&B client writes them.

The file is a LevelDB-style log: a 7-byte header (``:W&B``, the magic ``0xBEE1``, format version 0), then
32 KiB blocks of chunks, each ``uint32 crc32 (IEEE) of type + data | uint16 length | uint8 type | data``, where
type 1 is a whole record and 2/3/4 the first, middle and last pieces of one split over blocks; a block's tail
too short for a chunk header is zero padding. Each record is a protobuf ``Record`` of the ``wandb`` package
(``wandb.proto.wandb_internal_pb2``), which parses them here. wandb 0.31 reads these files in its Go core
(``wandb-core``) and ships no Python reader, so the framing is read here and the protos are wandb's own.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

from wandb.proto import wandb_internal_pb2

from lakehouse.errors import InvalidArgument

# The module re-exports the classes of the protobuf major version installed (a star import mypy cannot follow).
Record = wandb_internal_pb2.Record  # type: ignore[attr-defined]

HEADER = b":W&B" + struct.pack("<H", 0xBEE1)
VERSION = 0
_BLOCK = 32 * 1024
_CHUNK = struct.Struct("<IHB")
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass(frozen=True)
class Read:
    """The whole records of a file from some offset on, where the next read resumes, and why reading stopped
    early (None when the file was read to its end)."""

    records: list[Any]
    end: int
    damage: str | None


def check_header(data: bytes, name: str) -> None:
    """Refuse a file that is not a W&B run log of the format version this reader knows."""
    if len(data) < 7 or data[:6] != HEADER:
        msg = f"{name!r} is not a W&B offline run file (no ':W&B' header)"
        raise InvalidArgument(msg)
    if data[6] != VERSION:
        msg = f"{name!r} is a W&B run file of format version {data[6]}; this import reads version {VERSION}"
        raise InvalidArgument(msg)


def read(data: bytes, offset: int = 7) -> Read:
    """The records of ``data`` (a whole ``.wandb`` file, header checked) from ``offset``."""
    records: list[Any] = []
    position = end = max(offset, 7)
    pieces: list[bytes] = []
    damage = None
    while position < len(data):
        left = _BLOCK - position % _BLOCK
        if left < _CHUNK.size:
            position += left
            continue
        if position + _CHUNK.size > len(data):
            damage = f"chunk header at byte {position} is cut short"
            break
        crc, length, kind = _CHUNK.unpack_from(data, position)
        if kind == 0 and length == 0:  # the zero padding a writer leaves at a block's end
            position += left
            continue
        body = data[position + _CHUNK.size : position + _CHUNK.size + length]
        if len(body) < length:
            damage = f"record at byte {position} is cut short"
            break
        if zlib.crc32(bytes([kind]) + body) != crc:
            damage = f"record at byte {position} fails its checksum (corrupt)"
            break
        position += _CHUNK.size + length
        if kind == _FULL:
            pieces = [body]
        elif kind == _FIRST:
            pieces = [body]
            continue
        elif kind == _MIDDLE:
            pieces.append(body)
            continue
        elif kind == _LAST:
            pieces.append(body)
        else:
            damage = f"record at byte {position} has an unknown chunk type {kind}"
            break
        records.append(Record.FromString(b"".join(pieces)))
        pieces = []
        end = position
    if damage is None and pieces:
        damage = f"the last record (from before byte {position}) is incomplete"
    return Read(records=records, end=end, damage=damage)
