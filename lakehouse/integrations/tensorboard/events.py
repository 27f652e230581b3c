"""Decoding the ``Event`` records of an event file: scalars as columns, HParams as params, the rest counted.

Most records of a log dir are scalars written by ``SummaryWriter.add_scalar`` (PyTorch, Lightning) as
``Event(wall_time, step, summary=Summary(value=[Value(tag, simple_value)]))``. Their bytes always have the same
layout, so :func:`_simple_scalars` reads the wall time, step, tag and value of all of them at once with numpy,
without making a protobuf object per record. Every other record (TF2 tensor scalars, HParams, histograms,
images, text, the file's version record...) is parsed with the ``tensorboard`` package's compiled ``Event``
class, and decoded as TensorBoard itself does it: tensors with ``tensor_util.make_ndarray``, a tag's plugin
taken from the first value of the tag that carries metadata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData
from tensorboard.util.tensor_util import make_ndarray

from lakehouse.integrations.tensorboard.records import Framed

#: What is skipped, by TensorBoard plugin (and the oneof field of old-style summaries).
_SKIPPED_KINDS = {
    "histo": "histograms",
    "histograms": "histograms",
    "image": "images",
    "images": "images",
    "audio": "audio",
    "text": "text",
}
#: Wire bytes of the fixed parts of a simple-value scalar event.
_WALL, _STEP, _SUMMARY, _VALUE, _TAG, _SIMPLE = 0x09, 0x10, 0x2A, 0x0A, 0x0A, 0x15
_PAD = 512  # every index the layout check may compute stays inside the padded buffer


@dataclass
class Decoded:
    """What the records of one file hold. Scalars are columns (``tag_ids`` index ``tags``)."""

    tags: list[str] = field(default_factory=list)
    tag_ids: list[np.ndarray] = field(default_factory=list)
    steps: list[np.ndarray] = field(default_factory=list)
    walls: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    hparam_metrics: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    first_wall: float | None = None
    last_wall: float | None = None

    def tag_id(self, tag: str, index: dict[str, int]) -> int:
        found = index.get(tag)
        if found is None:
            found = index[tag] = len(self.tags)
            self.tags.append(tag)
        return found


def decode(data: bytes, framed: Framed, plugins: dict[str, str]) -> Decoded:
    """Decode the records ``framed`` found in ``data``. ``plugins`` (tag -> plugin name) carries over between
    calls on the files of a run, since only a tag's first value names its plugin."""
    out = Decoded()
    if framed.starts.size == 0:
        return out
    raw = np.concatenate([np.frombuffer(data, dtype=np.uint8), np.zeros(_PAD, np.uint8)])
    fast, wall, step, value, tag_at, tag_len = _simple_scalars(raw, framed.starts, framed.lengths)
    index: dict[str, int] = {}
    if fast.any():
        tags, ids = _tag_ids(raw, tag_at[fast], tag_len[fast])
        remap = np.array([out.tag_id(t, index) for t in tags], dtype=np.int64)
        _add(out, remap[ids], step[fast], wall[fast], value[fast])
    slow = np.flatnonzero(~fast)
    starts, lengths = framed.starts.tolist(), framed.lengths.tolist()
    rows: tuple[list[int], list[int], list[float], list[float]] = ([], [], [], [])
    for i in slow.tolist():
        a = starts[i]
        _decode_event(Event.FromString(data[a : a + lengths[i]]), out, plugins, index, rows)
    if rows[0]:
        _add(
            out,
            np.array(rows[0], np.int64),
            np.array(rows[1], np.int64),
            np.array(rows[2], np.float64),
            np.array(rows[3], np.float64),
        )
    walls = [w for w in out.walls if w.size]
    if walls:
        out.first_wall = float(min(w.min() for w in walls))
        out.last_wall = float(max(w.max() for w in walls))
    return out


def _add(out: Decoded, ids: np.ndarray, steps: np.ndarray, walls: np.ndarray, values: np.ndarray) -> None:
    out.tag_ids.append(ids)
    out.steps.append(steps)
    out.walls.append(walls)
    out.values.append(values)


def _simple_scalars(
    raw: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which records are exactly one simple-value scalar, and their wall time, step, value and tag position.

    The layout (field numbers in order, as protobuf writes them)::

        09 <f64 wall_time> [10 <varint step>] 2a <len> 0a <len> 0a <len> <tag> 15 <f32 value>

    (a step of 0 is not written). Any record that differs in any byte of the layout goes to the slow path.
    """
    p = starts
    ok = raw[p] == _WALL
    wall = _gather(raw, p + 1, 8).view("<f8").ravel()
    q = p + 9
    has_step = raw[q] == _STEP
    varint = _gather(raw, q + 1, 10)
    ends = (varint & 0x80) == 0
    width = np.argmax(ends, axis=1) + 1
    ok &= ~has_step | ends.any(axis=1)
    shifts = (7 * np.arange(10, dtype=np.uint64))[None, :]
    used = np.arange(10)[None, :] < width[:, None]
    step = np.where(used, (varint & 0x7F).astype(np.uint64) << shifts, 0).sum(axis=1, dtype=np.uint64)
    step = np.where(has_step, step.view(np.int64), 0)
    r = np.where(has_step, q + 1 + width, q)
    summary_len, value_len, tag_len = raw[r + 1].astype(np.int64), raw[r + 3].astype(np.int64), raw[r + 5]
    ok &= (raw[r] == _SUMMARY) & (raw[r + 2] == _VALUE) & (raw[r + 4] == _TAG)
    ok &= (summary_len < 128) & (value_len < 128) & (tag_len < 128)
    tag_at = r + 6
    value_at = tag_at + tag_len
    ok &= raw[value_at] == _SIMPLE
    ok &= (value_len == tag_len + 7) & (summary_len == value_len + 2) & (value_at + 5 == p + lengths)
    value = _gather(raw, value_at + 1, 4).view("<f4").ravel().astype(np.float64)
    return ok, wall, step, value, tag_at, tag_len.astype(np.int64)


def _gather(raw: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    return raw[at[:, None] + np.arange(width, dtype=np.int64)]


def _tag_ids(raw: np.ndarray, tag_at: np.ndarray, tag_len: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct tags (first-seen order) and each record's index into them, compared as whole byte strings.

    Each tag is read with its length byte in front, padded with zeros to the longest: equal rows are equal tags.
    """
    width = int(tag_len.max()) + 1
    cells = _gather(raw, tag_at - 1, width)
    cells[np.arange(width)[None, :] > tag_len[:, None]] = 0
    keys = np.ascontiguousarray(cells).view(np.dtype((np.void, width))).ravel()
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    names = [bytes(unique[i])[1 : 1 + bytes(unique[i])[0]].decode("utf-8", "replace") for i in order.tolist()]
    return names, rank[inverse.ravel()]


def _decode_event(
    event: Event,
    out: Decoded,
    plugins: dict[str, str],
    index: dict[str, int],
    rows: tuple[list[int], list[int], list[float], list[float]],
) -> None:
    kind = event.WhichOneof("what")
    if kind != "summary":
        if kind not in (None, "file_version"):
            out.skipped[_kind_name(kind)] = out.skipped.get(_kind_name(kind), 0) + 1
        return
    for value in event.summary.value:
        if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
            plugins[value.tag] = value.metadata.plugin_data.plugin_name
        plugin = plugins.get(value.tag, "")
        what = value.WhichOneof("value")
        number = _scalar(value, what, plugin)
        if number is not None:
            rows[0].append(out.tag_id(value.tag, index))
            rows[1].append(event.step)
            rows[2].append(event.wall_time)
            rows[3].append(number)
        elif plugin == "hparams":
            _hparams(value.metadata.plugin_data.content, out)
        else:
            name = _SKIPPED_KINDS.get(plugin) or _SKIPPED_KINDS.get(what or "", plugin or what or "other")
            out.skipped[name] = out.skipped.get(name, 0) + 1


def _kind_name(kind: str) -> str:
    return {"graph_def": "graphs", "meta_graph_def": "graphs", "tagged_run_metadata": "run metadata"}.get(kind, kind)


def _scalar(value: Summary.Value, what: str | None, plugin: str) -> float | None:
    if what == "simple_value":
        return float(value.simple_value)
    if what == "tensor" and plugin == "scalars":
        array = make_ndarray(value.tensor)
        if array.size == 1 and array.dtype.kind in "fiub":
            return float(array.reshape(()))
    return None


def _hparams(content: bytes, out: Decoded) -> None:
    data = HParamsPluginData.FromString(content)
    which = data.WhichOneof("data")
    if which == "session_start_info":
        for name, item in data.session_start_info.hparams.items():
            out.params[name] = _param(item)
    elif which == "experiment":
        for info in data.experiment.metric_infos:
            tag = info.name.tag
            if tag and tag not in out.hparam_metrics:
                out.hparam_metrics.append(tag)


def _param(item: Any) -> str:
    """A ``google.protobuf.Value`` of an hparam as the text a param holds (integral numbers without ``.0``)."""
    which = item.WhichOneof("kind")
    if which == "number_value":
        number = float(item.number_value)
        return str(int(number)) if number.is_integer() else repr(number)
    if which == "bool_value":
        return str(bool(item.bool_value))
    if which == "string_value":
        return str(item.string_value)
    return ""
