"""Preprocessed data cached by fingerprint: an ``.npz`` of arrays plus a JSON manifest.

Nothing is pickled: object (mixed) table columns are stored per column as numbers or strings
with a missing-value mask, and rebuilt on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from trainspec.data._table import Assembled, InputArray

__all__ = ["digest", "load_cached", "save_cached"]

log = logging.getLogger(__name__)
_VERSION = 1


def digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _encode_object(prefix: str, values: np.ndarray, arrays: dict[str, np.ndarray]) -> list[str]:
    kinds = []
    for j in range(values.shape[1]):
        col = values[:, j]
        missing = np.asarray([v is None or (isinstance(v, float) and v != v) for v in col])
        try:
            arrays[f"{prefix}.{j}"] = col.astype(np.float64)
            kinds.append("number")
        except (TypeError, ValueError):
            arrays[f"{prefix}.{j}"] = np.asarray(
                ["" if m else str(v) for v, m in zip(col, missing, strict=True)]
            )
            kinds.append("string")
        arrays[f"{prefix}.{j}.missing"] = missing
    return kinds


def _decode_object(prefix: str, kinds: list[str], z: Any) -> np.ndarray:
    cols = []
    for j, kind in enumerate(kinds):
        col = z[f"{prefix}.{j}"].astype(object)
        if kind == "string":
            col[z[f"{prefix}.{j}.missing"]] = None
        cols.append(col)
    return np.stack(cols, axis=1) if cols else np.zeros((0, 0), dtype=object)


def save_cached(directory: Path, key: str, data: Assembled) -> None:
    arrays: dict[str, np.ndarray] = {}
    inputs: dict[str, Any] = {}
    for name, x in data.inputs.items():
        entry: dict[str, Any] = {"columns": x.columns, "integer": x.integer, "scale": x.scale}
        if x.values.dtype == object:
            entry["object"] = _encode_object(f"in.{name}", x.values, arrays)
        else:
            arrays[f"in.{name}"] = x.values
        inputs[name] = entry
    for field in ("offsets", "target", "groups", "ids", "weights"):
        value = getattr(data, field)
        if value is not None:
            arrays[field] = value
    for name, value in data.extra.items():
        arrays[f"extra.{name}"] = value
    manifest = {
        "version": _VERSION,
        "key": key,
        "n_samples": data.n_samples,
        "inputs": inputs,
        "target_name": data.target_name,
        "target_columns": data.target_columns,
        "extra": list(data.extra),
        "meta": data.meta,
    }
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / key
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}-", dir=directory))
    try:
        np.savez(tmp / "arrays.npz", **arrays)  # type: ignore[arg-type]
        (tmp / "manifest.json").write_text(json.dumps(manifest, default=str))
        os.replace(tmp, final)
    except OSError as exc:  # another process wrote it first, or the disk is full: not fatal
        if not (final / "manifest.json").is_file():
            log.warning("could not write the data cache %s: %s", final, exc)
        shutil.rmtree(tmp, ignore_errors=True)


def load_cached(directory: Path, key: str) -> Assembled | None:
    folder = directory / key
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        if manifest.get("version") != _VERSION or manifest.get("key") != key:
            return None
        with np.load(folder / "arrays.npz", allow_pickle=False) as z:
            inputs = {}
            for name, entry in manifest["inputs"].items():
                if "object" in entry:
                    values = _decode_object(f"in.{name}", entry["object"], z)
                else:
                    values = z[f"in.{name}"]
                inputs[name] = InputArray(
                    values, entry["columns"], bool(entry.get("integer")), entry.get("scale")
                )

            def get(k: str) -> np.ndarray | None:
                return np.asarray(z[k]) if k in z.files else None

            return Assembled(
                inputs=inputs,
                n_samples=int(manifest["n_samples"]),
                offsets=get("offsets"),
                target=get("target"),
                target_name=manifest["target_name"],
                target_columns=manifest["target_columns"],
                groups=get("groups"),
                ids=get("ids"),
                weights=get("weights"),
                extra={k: z[f"extra.{k}"] for k in manifest["extra"]},
                meta=manifest["meta"],
            )
    except (OSError, ValueError, KeyError) as exc:
        if folder.exists():
            log.warning("ignoring an unreadable data cache entry %s: %s", folder, exc)
        return None
