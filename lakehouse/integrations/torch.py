"""Train from a file dataset version with torch: a map-style ``Dataset`` that reads straight from the version.

>>> from lakehouse.integrations.torch import FileDataset
>>> with lh.start_run(experiment="pets") as run:
...     data = FileDataset("pets:v2", lakehouse=lh, run=run, decode="image", transform=to_tensor)
...     loader = torch.utils.data.DataLoader(data, batch_size=64, shuffle=True, num_workers=4)

Each item is ``(sample, target)`` — ``target`` from the ``label`` column (``target=`` another column, or None
for samples alone); string labels become class indices into :attr:`FileDataset.classes` (sorted, as
torchvision's ``ImageFolder`` does). ``decode`` turns the bytes into a sample before ``transform``:
``"bytes"`` (as stored), ``"image"`` (a PIL image), ``"text"`` (UTF-8), ``"audio"`` (a float32 tensor of shape
``(channels, frames)`` and its sample rate, from a WAV).

The version is resolved once, when the dataset is made, and recorded as an input of ``run`` (context
``train`` unless told otherwise): ``lh.lineage("pets:v2")`` finds the run, and vacuum keeps the version
readable. Nothing is downloaded: workers read the row group holding each file (see
:mod:`lakehouse.datasets.file_reader`), and every file is verified against its sha256.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lakehouse._optional import import_optional
from lakehouse.datasets.file_reader import DECODES, Decode, VersionReader, open_version
from lakehouse.datasets.file_reader import decode as decode_file
from lakehouse.errors import InvalidArgument

if TYPE_CHECKING:
    from lakehouse.client import Lakehouse
    from lakehouse.tracking.run import Run

torch = import_optional("torch", extra="torch", purpose="lakehouse.integrations.torch")


class FileDataset(torch.utils.data.Dataset):  # type: ignore[misc,name-defined]
    """The files of one file dataset version as a map-style ``torch.utils.data.Dataset``.

    Args:
        ref: the version, e.g. ``"pets:v2"`` or ``"pets:prod"`` (resolved now to a fixed version).
        lakehouse: the lakehouse holding it (default: ``run``'s, else ``lakehouse.connect()``).
        run: the run to record the version as an input of (None: recorded nowhere).
        context: how the run uses it (``train``, ``validation``…).
        decode: what a sample is before ``transform``: ``bytes``, ``image``, ``text`` or ``audio``.
        transform: applied to each decoded sample (must pickle for ``num_workers > 0``).
        target: the label column (None: items are samples alone).
        target_transform: applied to each target.
    """

    def __init__(
        self,
        ref: str,
        *,
        lakehouse: Lakehouse | None = None,
        run: Run | None = None,
        context: str | None = "train",
        decode: Decode = "bytes",
        transform: Callable[[Any], Any] | None = None,
        target: str | None = "label",
        target_transform: Callable[[Any], Any] | None = None,
    ) -> None:
        if decode not in DECODES:
            msg = f"decode must be one of {', '.join(DECODES)}; got {decode!r}"
            raise InvalidArgument(msg)
        if lakehouse is None:
            import lakehouse as lakehouse_package

            lakehouse = run._lh if run is not None else lakehouse_package.connect()
        self.reader: VersionReader = open_version(lakehouse, ref)
        if run is not None:
            run.use_dataset(self.reader.ref, context=context)
        self.decode = decode
        self.transform = transform
        self.target_transform = target_transform
        self.target = target
        self.classes: list[Any] = []
        self._targets: list[Any] | None = None
        if target is not None:
            self._targets = _targets(self.reader, target)
            values = [t for t in self._targets if t is not None]
            if values and all(isinstance(t, str) for t in values):
                self.classes = sorted(set(values))
                index = {c: i for i, c in enumerate(self.classes)}
                self._targets = [None if t is None else index[t] for t in self._targets]
        if decode == "image":
            import_optional("PIL.Image", extra="torch", purpose="decode='image'")

    @property
    def ref(self) -> str:
        """The exact version read, e.g. ``pets:v2``."""
        return self.reader.ref

    @property
    def paths(self) -> list[str]:
        """The path of each item, by index."""
        return self.reader.paths

    def __len__(self) -> int:
        return len(self.reader)

    def __getitem__(self, index: int) -> Any:
        sample = decode_bytes(self.reader.read(index), self.decode)
        if self.transform is not None:
            sample = self.transform(sample)
        if self._targets is None:
            return sample
        label = self._targets[index]
        if self.target_transform is not None:
            label = self.target_transform(label)
        return sample, label


def _targets(reader: VersionReader, column: str) -> list[Any]:
    if column not in reader.columns:
        known = [c for c in reader.columns if c not in ("path", "object", "sha256", "size", "modified")]
        msg = f"{reader.ref} has no column {column!r} to take targets from; its columns include {known}"
        raise InvalidArgument(msg)
    return list(reader.columns[column])


def decode_bytes(data: bytes, decode: Decode) -> Any:
    """Turn a file's bytes into a sample (see :func:`lakehouse.datasets.file_reader.decode`); audio as a tensor."""
    sample = decode_file(data, decode)
    if decode == "audio":
        samples, rate = sample
        return torch.from_numpy(samples), rate
    return sample
