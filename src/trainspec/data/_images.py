"""The ``images`` source: a folder of class subfolders, or a manifest, decoded to uint8.

Images are decoded once, by worker processes, straight into a memory-mapped (N, C, H, W)
uint8 ``.npy`` file in the data cache (keyed by the files' names, sizes and modification
times and by mode / size / fit), so a folder larger than memory is never held in RAM and the
next run maps the same file without decoding. Batches read their rows from the map and are
scaled to [0, 1] floats on the way to the model.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from trainspec.data._cache import digest
from trainspec.data._files import hash_file, resolve_path
from trainspec.data._imagefiles import (
    DECODE_ERRORS,
    BadFile,
    ImageList,
    decode_image,
    image_size,
    list_folder,
    list_manifest,
    list_paths,
    read_problem,
    target_size,
)
from trainspec.data._sources import SourceContext
from trainspec.data._table import KeyTable
from trainspec.errors import DataError
from trainspec.registry import registry

__all__ = [
    "IMAGE_KEY",
    "PIXEL_SCALE",
    "ImagesLoader",
    "bad_files_error",
    "decode_all",
    "iter_image_tables",
]

log = logging.getLogger(__name__)

IMAGE_KEY = "image"
PIXEL_SCALE = 1.0 / 255.0  # uint8 pixels reach the model as floats in [0, 1]
_CHUNK = 64  # images per worker task


def bad_files_error(bad: Sequence[BadFile], where: str) -> DataError:
    shown = "\n".join(f"  {b.line()}" for b in bad[:20])
    more = f"\n  ... and {len(bad) - 20} more" if len(bad) > 20 else ""
    return DataError(
        f"{where}: {len(bad)} file(s) cannot be used:\n{shown}{more}\nFix or remove them, or "
        "set data.on_bad: skip to leave them out (they are then listed in the run directory's "
        "bad_files.json)"
    )


def _decode_chunk(
    out: str, start: int, files: list[str], mode: str, size: tuple[int, int], fit: str,
    strict: bool,
) -> list[tuple[int, str]]:  # fmt: skip
    """Decode ``files`` into rows ``start...`` of the map at ``out``; (row, problem) of the bad.
    ``strict``: no size was declared, so an image of another size is a problem, not resized."""
    array = np.lib.format.open_memmap(out, mode="r+")
    bad: list[tuple[int, str]] = []
    for i, name in enumerate(files):
        try:
            if strict and image_size(Path(name)) != size:
                h, w = image_size(Path(name))
                bad.append(
                    (start + i, f"SIZE:is {h}x{w} (height x width), not {size[0]}x{size[1]}")
                )
                continue
            array[start + i] = decode_image(name, mode, size, fit)
        except DECODE_ERRORS as exc:
            bad.append((start + i, read_problem(exc)))
    array.flush()
    del array
    return bad


def decode_all(
    files: Sequence[Path],
    out: Path,
    *,
    mode: str,
    size: tuple[int, int],
    fit: str,
    strict: bool,
    workers: int,
) -> list[tuple[int, str]]:
    """Decode every file into a new (N, C, H, W) uint8 ``.npy`` at ``out``; the bad rows."""
    channels = 1 if mode == "L" else 3
    array = np.lib.format.open_memmap(
        out, mode="w+", dtype=np.uint8, shape=(len(files), channels, *size)
    )
    del array
    names = [str(f) for f in files]
    jobs = [
        (str(out), s, names[s : s + _CHUNK], mode, size, fit, strict)
        for s in range(0, len(names), _CHUNK)
    ]
    bad: list[tuple[int, str]] = []
    if workers > 0 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_decode_chunk, *zip(*jobs, strict=True)):
                bad += part
    else:
        for job in jobs:
            bad += _decode_chunk(*job)
    return bad


def _compact(path: Path, keep: np.ndarray) -> None:
    """Rewrite the map at ``path`` with only rows ``keep``, block by block."""
    source = np.load(path, mmap_mode="r")
    tmp = path.with_name(path.name + ".part")
    out = np.lib.format.open_memmap(
        tmp, mode="w+", dtype=source.dtype, shape=(len(keep), *source.shape[1:])
    )
    for s in range(0, len(keep), 1024):
        out[s : s + 1024] = source[keep[s : s + 1024]]
    out.flush()
    del out, source
    os.replace(tmp, path)


class ImagesLoader:
    def _list(self, spec: Any) -> ImageList:
        folder = resolve_path(spec.path, "images source")
        if not folder.is_dir():
            raise DataError(
                f"images source: {str(folder)!r} is a file; source.path names a folder (with "
                "class subfolders, or the folder a manifest's paths are relative to)"
            )
        if spec.manifest is not None:
            return list_manifest(folder, spec.manifest, spec.file_column, spec.label_column)
        return list_folder(folder)

    def content(self, spec: Any, ctx: SourceContext, digest_: Any) -> None:
        listed = self._list(spec)
        if spec.manifest is not None:
            hash_file(resolve_path(str(Path(spec.path) / spec.manifest), "manifest"), digest_)
        for name, path in zip(listed.names, listed.files, strict=True):
            digest_.update(name.encode())
            hash_file(path, digest_)
        for bad in listed.bad:
            digest_.update(bad.line().encode())

    def load(self, spec: Any, ctx: SourceContext) -> KeyTable:
        listed = self._list(spec)
        bad = list(listed.bad)
        if bad and ctx.on_bad != "skip":
            raise bad_files_error(bad, listed.where)
        if not listed.files:
            raise DataError(f"{listed.where}: no image files found")
        size = target_size(spec.size)
        strict = size is None
        if size is None:
            size = self._first_size(listed)
        images, kept, decode_bad = self._decoded(listed, spec, ctx, size, strict)
        listed = listed.keep(kept)
        bad += decode_bad
        meta: dict[str, Any] = {
            "features": [IMAGE_KEY],
            "input_scale": {IMAGE_KEY: PIXEL_SCALE},
            "image": {"mode": spec.mode, "size": list(size)},
            "bad_files": [{"file": b.file, "problem": b.problem} for b in bad],
        }
        row_keys: dict[str, np.ndarray | Callable[[], np.ndarray]] = {
            IMAGE_KEY: images,
            "path": np.asarray(listed.names, dtype=str),
            **listed.extra,
        }
        if listed.labels is not None:
            row_keys["label"] = np.asarray(listed.labels, dtype=str)
            meta["default_target"] = "label"
        if bad:
            log.warning(
                "%s: left out %d unreadable file(s) (data.on_bad: skip)", listed.where, len(bad)
            )
        return KeyTable(listed.where, len(listed.files), row_keys, meta=meta)

    def _first_size(self, listed: ImageList) -> tuple[int, int]:
        for path in listed.files:
            try:
                return image_size(path)
            except DECODE_ERRORS:
                continue
        raise DataError(f"{listed.where}: none of the {len(listed.files)} files is an image")

    def _decoded(
        self,
        listed: ImageList,
        spec: Any,
        ctx: SourceContext,
        size: tuple[int, int],
        strict: bool,
    ) -> tuple[Callable[[], np.ndarray], np.ndarray, list[BadFile]]:
        """(loader of the (N', C, H, W) map, rows kept, files that failed to decode)."""
        stamps = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in listed.files]
        key = digest("images", stamps, spec.mode, list(size), spec.fit, strict)
        folder = self._folder(ctx, key)
        index = folder / "index.json"
        if not index.is_file():
            # One process decodes; others (data-parallel ranks, parallel sweep trials) wait
            # for it and map its file, so no process decodes or holds a copy of its own.
            with FileLock(folder.with_name(folder.name + ".lock")):
                if not index.is_file():
                    self._decode_into(folder, listed, spec, ctx, size, strict)
        info = json.loads(index.read_text())
        problems = [(int(r), str(p)) for r, p in info["bad"]]
        sizes = [(r, p[len("SIZE:") :]) for r, p in problems if p.startswith("SIZE:")]
        if sizes:
            row, problem = sizes[0]
            raise DataError(
                f"{listed.where}: {str(listed.files[row])!r} {problem}, the size of the first "
                f"image; {len(sizes)} image(s) differ. Declare source.size: [height, width] "
                "(and source.fit: resize, crop or pad) to bring them to one size"
            )
        bad = [BadFile(str(listed.files[r]), p) for r, p in problems]
        if bad and ctx.on_bad != "skip":
            raise bad_files_error(bad, listed.where)
        kept = np.asarray(info["kept"], dtype=np.int64)
        path = folder / "images.npy"

        def load() -> np.ndarray:
            mapped: np.ndarray = np.load(path, mmap_mode="r")
            return mapped

        if ctx.cache_dir is None:  # a temporary folder, removed when the process ends
            atexit.register(shutil.rmtree, folder.parent, True)
        return load, kept, bad

    def _folder(self, ctx: SourceContext, key: str) -> Path:
        if ctx.cache_dir is None:
            return Path(tempfile.mkdtemp(prefix="trainspec-images-")) / key
        return Path(ctx.cache_dir) / "images" / key

    def _decode_into(
        self,
        folder: Path,
        listed: ImageList,
        spec: Any,
        ctx: SourceContext,
        size: tuple[int, int],
        strict: bool,
    ) -> None:
        """Decode into a private folder, then rename it into place (concurrent runs, such as
        data-parallel processes, each end with the same complete folder)."""
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name[:12]}-", dir=folder.parent))
        try:
            log.info("decoding %d images into %s", len(listed.files), folder)
            bad = decode_all(
                listed.files, tmp / "images.npy", mode=spec.mode, size=size, fit=spec.fit,
                strict=strict, workers=ctx.workers,
            )  # fmt: skip
            failed = {r for r, _ in bad}
            kept = np.asarray([i for i in range(len(listed.files)) if i not in failed])
            if failed and not any(p.startswith("SIZE:") for _, p in bad):
                _compact(tmp / "images.npy", kept)
            record = {"bad": bad, "kept": kept.tolist(), "files": len(listed.files)}
            (tmp / "index.json").write_text(json.dumps(record))
            os.replace(tmp, folder)
        except OSError:
            if not (folder / "index.json").is_file():
                raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


registry.add("source", "images", ImagesLoader)


def _folder_labels(root: Path, paths: Sequence[Path]) -> list[str] | None:
    """Class names from a folder of class subfolders (every image one level down)."""
    if not root.is_dir() or not paths:
        return None
    parents = [p.parent for p in paths]
    if any(parent.parent != root for parent in parents):
        return None
    return [parent.name for parent in parents]


def iter_image_tables(
    data: str | Path,
    spec: Any,
    *,
    size: Sequence[int],
    chunk_size: int,
    on_bad: str = "error",
) -> Iterator[KeyTable]:
    """New images for a model trained on an ``images`` source: a file, a folder (searched at
    any depth; class subfolders give a 'label' key) or a glob pattern, decoded as at training
    (``spec``'s mode and fit, to ``size``), ``chunk_size`` images at a time."""
    paths = list_paths(data)
    if not paths:
        raise DataError(
            f"{str(data)!r} names no image file; give an image, a folder of images or a glob "
            "pattern such as 'new/*.png' (quoted, so the shell leaves it alone)"
        )
    root = Path(data).expanduser()
    labels = _folder_labels(root, paths)
    shown = [str(p.relative_to(root)) if root.is_dir() else str(p) for p in paths]
    hw = (int(size[0]), int(size[1]))
    where = f"images {str(data)!r}"
    meta: dict[str, Any] = {
        "features": [IMAGE_KEY],
        "input_scale": {IMAGE_KEY: PIXEL_SCALE},
        "default_id": "path",
    }
    if labels is not None:
        meta["default_target"] = "label"
    for start in range(0, len(paths), chunk_size):
        images, keep, bad = [], [], []
        for i in range(start, min(start + chunk_size, len(paths))):
            try:
                images.append(decode_image(paths[i], spec.mode, hw, spec.fit))
                keep.append(i)
            except DECODE_ERRORS as exc:
                bad.append(BadFile(str(paths[i]), read_problem(exc)))
        if bad and on_bad != "skip":
            raise bad_files_error(bad, where)
        for b in bad:
            log.warning("skipped %s (data.on_bad: skip)", b.line())
        channels = 1 if spec.mode == "L" else 3
        stacked = np.stack(images) if images else np.zeros((0, channels, *hw), np.uint8)
        keys: dict[str, np.ndarray | Callable[[], np.ndarray]] = {
            IMAGE_KEY: stacked,
            "path": np.asarray([shown[i] for i in keep], dtype=str),
        }
        if labels is not None:
            keys["label"] = np.asarray([labels[i] for i in keep], dtype=str)
        yield KeyTable(where, len(keep), keys, meta=dict(meta))
