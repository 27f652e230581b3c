"""Real folders of files for file dataset tests: PNGs made with Pillow, WAVs with ``wave``, text files."""

from __future__ import annotations

import os
import wave
from pathlib import Path

from PIL import Image

#: Colours of the test images, by label (ImageFolder layout: one folder per label).
COLOURS = {"cats": (200, 30, 30), "dogs": (30, 30, 200)}


def png(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def wav(path: Path, *, seconds: float, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\x01\x00" * int(seconds * rate))
    return path


def make_tree(folder: Path, *, images_per_label: int = 2, big: int = 0) -> Path:
    """``cats/0.png``… ``dogs/…png`` (sizes 4+i by 3+i), ``sounds/beep.wav`` (0.25 s), ``notes/readme.txt``,
    and with ``big`` one file ``blobs/big.bin`` of that many random bytes."""
    for label, colour in COLOURS.items():
        for i in range(images_per_label):
            png(folder / label / f"{i}.png", (4 + i, 3 + i), colour)
    wav(folder / "sounds" / "beep.wav", seconds=0.25)
    (folder / "notes").mkdir(parents=True, exist_ok=True)
    (folder / "notes" / "readme.txt").write_text("a small text file\n", encoding="utf-8")
    if big:
        (folder / "blobs").mkdir(parents=True, exist_ok=True)
        (folder / "blobs" / "big.bin").write_bytes(os.urandom(big))
    return folder


def tree_state(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``root`` with (inode, size, mtime_ns): equal results mean nothing was written."""
    root = Path(root)
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def parent_label(path: str) -> str | None:
    """The ImageFolder labeller: the first folder of the path (None for files at the top)."""
    return path.split("/")[0] if "/" in path else None
