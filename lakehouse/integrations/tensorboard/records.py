"""TFRecord framing of TensorBoard event files, read in bulk.

An event file is a sequence of records, each::

    uint64 length | uint32 masked crc32c of length | length bytes (an ``Event`` proto) | uint32 masked crc32c of data

A training process appends records as it goes, so the last record of a live file may be incomplete, and a
writer that was killed leaves one cut short for good. :func:`frame` walks the records from a byte offset and
stops before the first record that is incomplete or fails its data checksum; it says where and why, and the
caller resumes from :attr:`Framed.end` next time.

Every record's data checksum is checked; a length's own checksum only where a record runs past the end of the
file (a damaged length frames the wrong bytes, whose data checksum then fails, or runs past the end, where its
own checksum tells a damaged length from a file cut short). The walk from length to length guesses thousands
of records at a time from the repeating pattern of lengths (see :func:`_walk`), and the checksums are checked a
group of records at a time (see :func:`_first_bad`): no Python step per record in the common case.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import google_crc32c
import numpy as np

_HEADER = 12  # length + its crc
_FOOTER = 4  # data crc
_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")
_GUESS = 4096  # records guessed at once by the walk
_MAX_PERIOD = 64  # longest repeating pattern of record lengths the walk looks for (tags logged per step)


@dataclass(frozen=True)
class Framed:
    """The complete, intact records of a file from some offset on.

    ``starts``/``lengths``: where each record's data begins (a byte offset into the file) and how long it is.
    ``end``: the offset just past the last good record (where the next read resumes).
    ``damage``: why reading stopped before the end of the file (None when every byte was read).
    """

    starts: np.ndarray
    lengths: np.ndarray
    end: int
    damage: str | None


def unmask(masked: np.ndarray) -> np.ndarray:
    """TFRecord's masked crc back to the plain crc32c (``rotate_right(masked - delta, 17)``), vectorised."""
    rotated = (masked.astype(np.uint64) - _MASK_DELTA) & 0xFFFFFFFF
    return ((rotated >> 17) | (rotated << 15)) & 0xFFFFFFFF


def frame(data: bytes, offset: int = 0, *, origin: int = 0) -> Framed:
    """The records of ``data`` from ``offset``, up to the first damaged or partial one.

    ``origin``: where ``data`` begins in its file (when only the tail of a file was read), so that the damage
    message names the byte offset in the file.
    """
    size = len(data)
    raw = np.frombuffer(data, dtype=np.uint8)
    at, position = _walk(data, raw, offset)
    raw = np.frombuffer(data, dtype=np.uint8)
    lengths = _u64(raw, at).astype(np.int64) if at.size else np.zeros(0, np.int64)  # read again: cheap
    damage = None
    first = _first_bad(data, raw, at + _HEADER, lengths)
    if first is not None:
        damage = f"record at byte {origin + int(at[first])} fails its checksum (corrupt)"
        at, lengths = at[:first], lengths[:first]
        position = int(at[-1] + lengths[-1] + _HEADER + _FOOTER) if first else offset
    if damage is None and position < size:
        damage = _why_short(data, position, origin)
    return Framed(starts=at + _HEADER, lengths=lengths, end=position, damage=damage)


def _walk(data: bytes, raw: np.ndarray, offset: int) -> tuple[np.ndarray, int]:
    """Where each whole record starts, from ``offset``, and where the first one that is not whole starts.

    Each record's length says where the next begins, so the walk is sequential; but a writer's record lengths
    repeat (the same tags every step), so after a few records the walk guesses that the last period of lengths
    repeats, computes where a few thousand records would start if it did, and reads their lengths at once: the
    guess holds up to the first record whose length differs, and the walk goes on one record at a time there.
    """
    size = len(data)
    unpack = _LENGTH.unpack_from
    found: list[np.ndarray] = []
    lengths: list[int] = []
    position = offset
    while position + _HEADER <= size:
        period = _period(lengths)
        if period:
            pattern = np.asarray(lengths[-period:], dtype=np.int64) + (_HEADER + _FOOTER)
            steps = np.tile(pattern, max(1, _GUESS // period))
            starts = position + np.concatenate([[0], np.cumsum(steps[:-1])])
            fits = np.flatnonzero(starts + steps > size)
            held = int(fits[0]) if fits.size else starts.size
            actual = _u64(raw, starts[:held]).astype(np.int64) if held else np.zeros(0, np.int64)
            wrong = np.flatnonzero(actual != steps[:held] - (_HEADER + _FOOTER))
            held = int(wrong[0]) if wrong.size else held
            if held:
                found.append(starts[:held])
                position = int(starts[held - 1] + steps[held - 1])
                lengths = lengths[-period:] * 2  # the period goes on: the next guess starts from it
                continue
        length = unpack(data, position)[0]
        following = position + _HEADER + _FOOTER + length
        if following > size:
            break
        found.append(np.array([position], dtype=np.int64))
        lengths = [*lengths[-2 * _MAX_PERIOD + 1 :], length]
        position = following
    return (np.concatenate(found) if found else np.zeros(0, np.int64)), position


def _period(lengths: list[int]) -> int:
    """The shortest period the last lengths repeat with (seen twice over), or 0."""
    n = len(lengths)
    for period in range(1, min(_MAX_PERIOD, n // 2) + 1):
        if lengths[n - period :] == lengths[n - 2 * period : n - period]:
            return period
    return 0


def _first_bad(data: bytes, raw: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> int | None:
    """The index of the first record whose data fails its checksum, or None.

    crc32c is affine over GF(2): ``crc(a ^ b) = crc(a) ^ crc(b) ^ crc(zeros)`` for equal lengths. So the records
    of one length are checked together, one crc of the XOR of their bytes against the XOR of their stored crcs
    (one C call instead of one per record), for all of them and for two random halves (two damaged records with
    the very same error would cancel out in one XOR, hardly in three). Only a group that fails is checked record
    by record, to find where the damage begins.
    """
    if starts.size == 0:
        return None
    stored = unmask(_u32(raw, starts + lengths))
    suspects: list[np.ndarray] = []
    rng = np.random.default_rng(0)  # the same halves every time: a check that fails, fails again
    for length in np.unique(lengths).tolist():
        members = np.flatnonzero(lengths == length)
        cells = _gather(raw, starts[members], length)
        crcs = stored[members]
        for pick in (None, rng.random(members.size) < 0.5, rng.random(members.size) < 0.5):
            chosen, their = (cells, crcs) if pick is None else (cells[pick], crcs[pick])
            if their.size and not _xor_matches(chosen, their, length):
                suspects.append(members)
                break
    if not suspects:
        return None
    crc = google_crc32c.value
    for i in np.sort(np.concatenate(suspects)).tolist():
        a = int(starts[i])
        if crc(data[a : a + int(lengths[i])]) != int(stored[i]):
            return int(i)
    return None  # pragma: no cover - a group fails only when one of its records does


def _xor_matches(cells: np.ndarray, crcs: np.ndarray, length: int) -> bool:
    folded = np.bitwise_xor.reduce(cells, axis=0).tobytes() if length else b""
    expected = int(np.bitwise_xor.reduce(crcs))
    if crcs.size % 2 == 0:
        expected ^= google_crc32c.value(bytes(length))
    return int(google_crc32c.value(folded)) == expected


def _why_short(data: bytes, position: int, origin: int) -> str:
    """Why the record at ``position`` could not be read whole: its length is damaged, or the file ends early."""
    where = f"record at byte {origin + position}"
    if position + _HEADER <= len(data):
        stored = int(unmask(np.frombuffer(data, dtype="<u4", count=1, offset=position + 8))[0])
        if google_crc32c.value(data[position : position + 8]) != stored:
            return f"{where} has a damaged length (its checksum fails: corrupt)"
    return f"{where} is cut short: only {len(data) - position} of its bytes are in the file"


def _gather(raw: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    return raw[at[:, None] + np.arange(width, dtype=np.int64)]


def _u64(raw: np.ndarray, at: np.ndarray) -> np.ndarray:
    return _gather(raw, at, 8).view("<u8").ravel()


def _u32(raw: np.ndarray, at: np.ndarray) -> np.ndarray:
    return _gather(raw, at, 4).view("<u4").ravel()
