"""Image files: listing a folder or manifest, and decoding with Pillow to (C, H, W) uint8.

Pillow reads every common format (PNG, JPEG, BMP, GIF, TIFF, WebP, ...) without a compiled
dependency of ours; decoding is the only thing done here, so it runs in worker processes.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.errors import DataError

__all__ = [
    "BadFile",
    "ImageList",
    "decode_image",
    "image_extensions",
    "list_folder",
    "list_manifest",
    "list_paths",
    "pillow",
    "target_size",
]


def pillow() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise DataError("image data needs Pillow: pip install 'trainspec[images]'") from exc
    return Image


def image_extensions() -> set[str]:
    """Every file extension Pillow can open (lower case, with the dot)."""
    image = pillow()
    image.init()
    return {ext.lower() for ext in image.registered_extensions()}


def target_size(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    """(height, width) from the spec's ``size``."""
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    return (int(size[0]), int(size[1]))


class SizeMismatch(ValueError):
    """An image whose size differs from the first one's while no ``size`` is declared."""


def decode_image(path: Any, mode: str, size: tuple[int, int] | None, fit: str) -> np.ndarray:
    """One image (a path or a binary file object) as (C, H, W) uint8: converted to ``mode``,
    brought to ``size`` (height, width) by ``fit``."""
    image = pillow()
    from PIL import ImageOps

    with image.open(path) as img:
        img = img.convert(mode)  # decodes the whole file: truncated data fails here
        if size is not None and img.size != (size[1], size[0]):
            box = (size[1], size[0])  # Pillow sizes are (width, height)
            if fit == "resize":
                img = img.resize(box, image.Resampling.BILINEAR)
            elif fit == "crop":
                img = ImageOps.fit(img, box, image.Resampling.BILINEAR)
            else:
                img = ImageOps.pad(img, box, image.Resampling.BILINEAR, color=0)
        array = np.asarray(img, dtype=np.uint8)
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def read_problem(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"cannot be decoded as an image ({text})"


DECODE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, SyntaxError, EOFError)


def image_size(path: Path) -> tuple[int, int]:
    """(height, width) from the file's header, without decoding the pixels."""
    with pillow().open(path) as img:
        width, height = img.size
    return (int(height), int(width))


@dataclass(frozen=True)
class BadFile:
    file: str
    problem: str

    def line(self) -> str:
        return f"{self.file}: {self.problem}"


@dataclass
class ImageList:
    """The images of a source: files, their labels (or None), extra per-image columns."""

    where: str
    files: list[Path]
    labels: list[str] | None
    names: list[str]  # as the user wrote them: relative to the folder
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    bad: list[BadFile] = field(default_factory=list)

    def keep(self, rows: np.ndarray) -> ImageList:
        idx = [int(i) for i in rows]
        return ImageList(
            self.where,
            [self.files[i] for i in idx],
            None if self.labels is None else [self.labels[i] for i in idx],
            [self.names[i] for i in idx],
            {k: v[rows] for k, v in self.extra.items()},
            list(self.bad),
        )


def _is_hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def list_folder(folder: Path) -> ImageList:
    """One subfolder per class; every file under it (at any depth) is an image of that class.
    Files of another kind and class folders without images are bad entries."""
    exts = image_extensions()
    where = f"image folder {str(folder)!r}"
    files: list[Path] = []
    labels: list[str] = []
    bad: list[BadFile] = []
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    loose = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if not classes:
        raise DataError(
            f"{where} has no class subfolders; put each class's images in a subfolder named "
            "after the class (cats/, dogs/), or list them in a manifest (source.manifest)"
        )
    for p in loose:
        bad.append(BadFile(str(p), "is not inside a class subfolder"))
    for cls in classes:
        found = 0
        for p in sorted(q for q in cls.rglob("*") if q.is_file()):
            if _is_hidden(p, folder):
                continue
            if p.suffix.lower() not in exts:
                bad.append(BadFile(str(p), f"is not an image file (extension {p.suffix!r})"))
                continue
            files.append(p)
            labels.append(cls.name)
            found += 1
        if not found:
            bad.append(BadFile(str(cls), "is a class folder with no images"))
    names = [str(p.relative_to(folder)) for p in files]
    return ImageList(where, files, labels, names, bad=bad)


def list_manifest(folder: Path, manifest: str, file_column: str, label_column: str) -> ImageList:
    """The images a CSV / Parquet manifest lists (relative to ``folder``); its label column
    (when present) gives the classes and its other columns are extra keys."""
    from trainspec.data._manifest import read_manifest

    path, table = read_manifest(folder, manifest, file_column, "images source")
    exts = image_extensions()
    where = f"images listed in {str(path)!r}"
    names = [str(n) for n in table[file_column]]
    files = [folder / n for n in names]
    bad: list[BadFile] = []
    good = np.ones(len(files), dtype=bool)
    for i, p in enumerate(files):
        if not p.is_file():
            bad.append(BadFile(str(p), f"does not exist ({path.name} row {i + 2})"))
        elif p.suffix.lower() not in exts:
            bad.append(BadFile(str(p), f"is not an image file (extension {p.suffix!r})"))
        else:
            continue
        good[i] = False
    labels = None
    if label_column in table.columns:
        labels = [str(v) for v in table[label_column]]
    extra = {}
    for col in table.columns:
        if col in (file_column, label_column):
            continue
        values = table[col].to_numpy()
        extra[str(col)] = values.astype(str) if values.dtype.kind == "O" else values
    listed = ImageList(where, files, labels, names, extra, bad)
    return listed.keep(np.flatnonzero(good)) if not good.all() else listed


def list_paths(pattern: str | Path) -> list[Path]:
    """Image files named by a file, a folder (searched at any depth) or a glob pattern."""
    exts = image_extensions()
    path = Path(pattern).expanduser()
    if path.is_dir():
        found = [p for p in sorted(path.rglob("*")) if p.is_file()]
        return [p for p in found if p.suffix.lower() in exts and not _is_hidden(p, path)]
    if path.is_file():
        return [path]
    matches = sorted(Path(p) for p in glob.glob(str(path), recursive=True))
    return [p for p in matches if p.is_file()]
