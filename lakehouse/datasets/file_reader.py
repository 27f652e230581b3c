"""Random access to the files of one file dataset version, for training loaders (torch, Keras).

A loader asks for file *i* in any order, from several worker processes. :class:`VersionReader` answers from
the version itself, without downloading it:

* built once in the parent: the version's data files (from the Delta log) and, per file, its row groups and its
  small columns (``path``, ``sha256``, ``object``, labels): an index from position to (data file, row group,
  row);
* in each worker: the ``content`` column of the one row group holding file *i* (about 100 files, see
  :data:`~lakehouse.datasets.files.BLOB_ROW_GROUP`), kept in a small cache so a sequential or batched reader
  reads each row group once; a file stored as an object is read from the object store. Each worker opens
  each data file once and keeps it open (its footer, a thousand row groups long, is parsed once).

Every file's bytes are verified against its sha256 before they are handed out. The reader holds only plain
values (paths, lists), so it pickles cheaply into ``DataLoader`` workers, forked or spawned.
"""

from __future__ import annotations

import io
import wave
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lakehouse import storage
from lakehouse.datasets import files as file_rows
from lakehouse.errors import InvalidArgument
from lakehouse.objects import ObjectStore

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse

Decode = Literal["bytes", "image", "text", "audio"]
DECODES: tuple[Decode, ...] = ("bytes", "image", "text", "audio")

#: Row groups a worker keeps decoded: enough for a batch that straddles two, small enough to never matter.
_CACHED_GROUPS = 4


@dataclass(frozen=True)
class _Slot:
    file: int  # index into VersionReader.data_files
    group: int
    row: int


@dataclass
class VersionReader:
    """The files of one file dataset version, addressable by position (0 … len-1, in storage order).

    Build it with :func:`open_version`. ``paths``, ``columns`` (the small columns by name) and ``len()`` need
    no I/O; :meth:`read` reads one file's bytes.
    """

    dataset: str
    version: int
    root: str
    data_files: list[str]
    slots: list[_Slot] = field(repr=False)
    columns: dict[str, list[Any]] = field(repr=False)
    _cache: OrderedDict[tuple[int, int], list[Any]] = field(default_factory=OrderedDict, repr=False)
    _open: dict[int, storage.OpenDataFile] = field(default_factory=dict, repr=False)
    _store: ObjectStore | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.slots)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()  # a worker starts with its own empty cache and opens its own files
        state["_open"] = {}
        state["_store"] = None
        return state

    @property
    def ref(self) -> str:
        return f"{self.dataset}:v{self.version}"

    @property
    def paths(self) -> list[str]:
        return list(self.columns[file_rows.KEY])

    def row_groups(self) -> list[range]:
        """The positions of the files, row group by row group in storage order: reading the positions of one
        range one after the other reads that row group once."""
        groups: list[range] = []
        start = 0
        for index in range(1, len(self.slots) + 1):
            if index == len(self.slots) or self.slots[index].row == 0:
                groups.append(range(start, index))
                start = index
        return groups if self.slots else []

    def read(self, index: int) -> bytes:
        """The bytes of file ``index``, verified against its sha256."""
        if not -len(self) <= index < len(self):
            msg = f"file index {index} is out of range for {self.ref}, which has {len(self)} files"
            raise IndexError(msg)
        index %= len(self)
        slot = self.slots[index]
        obj = self.columns["object"][index]
        row = {
            file_rows.KEY: self.columns[file_rows.KEY][index],
            "object": obj,
            "sha256": self.columns["sha256"][index],
            file_rows.CONTENT: None if obj is not None else self._group(slot.file, slot.group)[slot.row],
        }
        if self._store is None:
            self._store = ObjectStore(self.root)
        return file_rows.read_row_bytes(self._store, row, dataset=self.dataset)

    def _group(self, file: int, group: int) -> list[Any]:
        key = (file, group)
        found = self._cache.get(key)
        if found is None:
            opened = self._open.get(file)
            if opened is None:
                opened = self._open[file] = storage.open_data_file(self.data_files[file])
            table = opened.read_row_group(group, [file_rows.CONTENT])
            found = table.column(file_rows.CONTENT).to_pylist()
            self._cache[key] = found
            if len(self._cache) > _CACHED_GROUPS:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return found


def open_version(lakehouse: Lakehouse, ref: str) -> VersionReader:
    """A :class:`VersionReader` of the file dataset version ``ref`` names (resolved now, to a fixed version).

    Raises:
        InvalidArgument: the dataset is not a file dataset, or its files cannot be read one by one (partitioned,
            or written with deletion vectors or column mapping by another engine).
    """
    version = lakehouse.resolve(ref)
    ds = lakehouse.dataset(version.name)
    schema = ds.schema(version.version)
    if not file_rows.is_file_schema(schema):
        msg = f"dataset {version.name!r} is not a file dataset (it has no path/content/object/sha256 columns)"
        raise InvalidArgument(msg)
    fileset = storage.files_at(ds.path, version.version)
    if fileset.partition_columns or not fileset.plain_parquet:
        msg = (
            f"{version.ref} cannot be read file by file: its table is partitioned or uses deletion vectors or "
            "column mapping; rewrite it with `lakehouse datasets sync` or read it with lh.read()"
        )
        raise InvalidArgument(msg)
    small = [n for n in schema.names if n != file_rows.CONTENT]
    columns: dict[str, list[Any]] = {n: [] for n in small}
    slots: list[_Slot] = []
    data_files = [f.path for f in fileset.files]
    for i, data_file in enumerate(data_files):
        opened = storage.open_data_file(data_file)
        table = opened.read(small)
        for name in small:
            columns[name].extend(table.column(name).to_pylist())
        for group, rows in enumerate(opened.row_groups):
            slots.extend(_Slot(i, group, r) for r in range(rows))
    return VersionReader(
        dataset=version.name,
        version=version.version,
        root=str(lakehouse.root),
        data_files=data_files,
        slots=slots,
        columns=columns,
    )


def decode(data: bytes, kind: Decode) -> Any:
    """A file's bytes as a sample: the bytes, a PIL image (``image``), a str (``text``, UTF-8), or for ``audio``
    a float32 array of shape ``(channels, frames)`` in [-1, 1) and the sample rate, from a 16-bit PCM WAV."""
    if kind == "bytes":
        return data
    if kind == "text":
        return data.decode("utf-8")
    if kind == "image":
        from lakehouse._optional import import_optional

        image = import_optional("PIL.Image", extra="files", purpose="decode='image'")
        opened = image.open(io.BytesIO(data))
        opened.load()  # decode now: the buffer goes away with this call
        return opened
    import numpy as np

    with wave.open(io.BytesIO(data), "rb") as wav:
        width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
        frames = wav.readframes(wav.getnframes())
    if width != 2:
        msg = f"decode='audio' reads 16-bit PCM WAV files; this one has {8 * width}-bit samples"
        raise InvalidArgument(msg)
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    return np.ascontiguousarray(samples.reshape(-1, channels).T), rate
