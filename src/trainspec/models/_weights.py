"""Pretrained weights into a module: read any common checkpoint safely, rename, load, report.

Checkpoints come from trainspec runs (safetensors) or from someone else's script: a ``.pt`` /
``.pth`` dict whose weights sit under ``model_state_dict`` or ``state_dict``, a bare state dict,
or safetensors. ``.pt`` files are read with ``torch.load(..., weights_only=True)`` only.

``read_state_shapes`` gives the names and shapes alone, for checks before a run: from the
safetensors header, or from a torch file memory-mapped onto the meta device (no tensor data
is read; only a file in torch's old, non-zip format has to be read through).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from trainspec.errors import ModelError
from trainspec.files import MANIFEST, WEIGHTS_FILE, RunDir, verify_manifest

if TYPE_CHECKING:
    import torch
    from torch import nn

__all__ = [
    "LoadReport",
    "load_problems",
    "load_weights",
    "match_shapes",
    "match_state",
    "read_state_dict",
    "read_state_shapes",
    "rename_keys",
]

V = TypeVar("V")
# Where a foreign checkpoint usually keeps its weights, in order of preference.
_STATE_KEYS = ("model_state_dict", "state_dict", "model", "net", "network", "weights", "ema")
_TORCH_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".tar")


@dataclass
class LoadReport:
    """What loading pretrained weights did, key by key."""

    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[dict[str, Any]] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "loaded": self.loaded,
            "missing": self.missing,
            "unexpected": self.unexpected,
            "mismatched": self.mismatched,
            "renamed": self.renamed,
        }

    def render(self) -> str:
        lines = [
            f"weights from {self.source}: {len(self.loaded)} loaded, {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.mismatched)} shape-mismatched"
        ]
        for name in self.missing:
            lines.append(f"  missing (kept as initialised): {name}")
        for name in self.unexpected:
            lines.append(f"  unexpected (ignored): {name}")
        for m in self.mismatched:
            lines.append(
                f"  mismatched (re-initialised): {m['key']} checkpoint {m['checkpoint']} "
                f"model {m['model']}"
            )
        return "\n".join(lines)


def _is_state_dict(obj: Any) -> bool:
    import torch

    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def _find_state_dict(obj: Any, key: str | None, path: Path) -> dict[str, torch.Tensor]:
    if key is not None:
        node = obj
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                here = sorted(map(str, node)) if isinstance(node, Mapping) else type(node).__name__
                top = sorted(map(str, obj)) if isinstance(obj, Mapping) else type(obj).__name__
                raise ModelError(
                    f"{path}: no {key!r} in the checkpoint (no {part!r} among {here}); the "
                    f"checkpoint's top-level keys are {top}. Set finetune.init.key to one of them"
                )
            node = node[part]
        if not _is_state_dict(node):
            raise ModelError(f"{path}: {key!r} does not hold a state dict of tensors")
        return dict(node)
    if _is_state_dict(obj):
        return dict(obj)
    if isinstance(obj, Mapping):
        for candidate in _STATE_KEYS:
            if candidate in obj and _is_state_dict(obj[candidate]):
                return dict(obj[candidate])
        keys = sorted(str(k) for k in obj)
        raise ModelError(
            f"{path}: cannot find the weights in this checkpoint; its top-level keys are {keys}. "
            "Name the key holding the state dict with `key:` (e.g. key: model_state_dict)"
        )
    raise ModelError(f"{path}: a checkpoint must be a dict, found {type(obj).__name__}")


def _unpickling_reason(exc: BaseException) -> str:
    """The useful sentence of torch's weights-only error (the global or opcode refused)."""
    text = str(exc)
    marker = "WeightsUnpickler error:"
    if marker in text:
        detail = text.split(marker, 1)[1].strip()
        return detail.split(" was not an allowed global")[0].splitlines()[0].strip()
    if isinstance(exc, KeyError | EOFError) or not text:
        return f"not a torch checkpoint: {type(exc).__name__} {text}".strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}"


def _verify_folder(folder: Path) -> None:
    """A file inside a trainspec checkpoint or saved model is read only when every file of
    its folder matches the manifest (a bare weights file of one's own has none to check)."""
    checkpoint = folder.parent.name == RunDir.CHECKPOINTS
    if checkpoint or (folder / MANIFEST).is_file() or (folder / "model.json").is_file():
        verify_manifest(folder, what="checkpoint" if checkpoint else "saved model")


def _weights_file(path: str | Path) -> Path:
    """The weights file ``path`` names (a folder gives its model.safetensors), verified
    against its folder's manifest when it has one; its format is known by its suffix."""
    path = Path(path)
    if path.is_dir():
        candidate = path / WEIGHTS_FILE
        if not candidate.is_file():
            raise ModelError(f"{path} is a folder without {WEIGHTS_FILE}")
        path = candidate
    if not path.is_file():
        raise ModelError(
            f"checkpoint {path} does not exist (working directory {Path.cwd()}); check the path"
        )
    _verify_folder(path.parent)
    if path.suffix not in (".safetensors", *_TORCH_SUFFIXES):
        raise ModelError(
            f"{path}: unknown checkpoint format {path.suffix!r}; expected .safetensors or one "
            f"of {', '.join(_TORCH_SUFFIXES)}"
        )
    return path


def _no_key_in_safetensors(path: Path, key: str | None) -> None:
    if key is not None:
        raise ModelError(
            f"{path}: a safetensors file is one flat dict of tensors, so key {key!r} does "
            "not apply; remove key and select tensors with rename rules"
        )


def _torch_load(path: Path, **options: Any) -> Any:
    import torch

    try:
        return torch.load(path, weights_only=True, **options)
    except Exception as exc:  # UnpicklingError for objects outside the weights-only allow-list
        raise ModelError(
            f"{path}: cannot be read with weights_only=True ({_unpickling_reason(exc)}). Only "
            "tensors and plain containers are loaded, never pickled objects or code: re-save "
            "the weights as a state dict (torch.save(model.state_dict(), path)) or as "
            "safetensors"
        ) from None


def read_state_dict(path: str | Path, *, key: str | None = None) -> dict[str, torch.Tensor]:
    """The state dict in ``path``: safetensors, or a torch file read with ``weights_only=True``."""
    path = _weights_file(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        _no_key_in_safetensors(path, key)
        try:
            return dict(load_file(str(path)))
        except Exception as exc:  # safetensors raises its own error types
            raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
    return _find_state_dict(_torch_load(path, map_location="cpu"), key, path)


def read_state_shapes(path: str | Path, *, key: str | None = None) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every tensor of the state dict in ``path``, without reading tensors:
    the safetensors header, or a torch file memory-mapped onto the meta device."""
    path = _weights_file(path)
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        _no_key_in_safetensors(path, key)
        try:
            with safe_open(str(path), framework="pt") as f:
                return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
        except Exception as exc:  # safetensors raises its own error types
            raise ModelError(f"{path}: not a readable safetensors file ({exc})") from exc
    if zipfile.is_zipfile(path):
        obj = _torch_load(path, map_location="meta", mmap=True)
    else:  # torch's legacy format cannot be mapped: its tensors are read, then dropped
        obj = _torch_load(path, map_location="meta")
    return {k: tuple(v.shape) for k, v in _find_state_dict(obj, key, path).items()}


def rename_keys(
    state: Mapping[str, V], rules: Sequence[tuple[str, str]]
) -> tuple[dict[str, V], dict[str, str]]:
    """Apply ``(regex, replacement)`` rules in order to every key; returns the new dict and
    the renames made. Two keys renamed to one name is an error."""
    compiled = []
    for pattern, repl in rules:
        try:
            compiled.append((re.compile(pattern), repl))
        except re.error as exc:
            raise ModelError(
                f"rename rule {pattern!r} is not a valid regular expression: {exc}"
            ) from None
    out: dict[str, V] = {}
    renamed: dict[str, str] = {}
    for key, value in state.items():
        new = key
        for regex, repl in compiled:
            new = regex.sub(repl, new)
        if new in out:
            raise ModelError(
                f"rename rules map two checkpoint keys to {new!r} (one of them {key!r}); "
                "make the rules more specific"
            )
        out[new] = value
        if new != key:
            renamed[key] = new
    return out, renamed


def _listing(items: Sequence[str], limit: int = 20) -> str:
    shown = "\n".join(f"    {item}" for item in items[:limit])
    more = f"\n    ... and {len(items) - limit} more" if len(items) > limit else ""
    return shown + more


def load_problems(
    report: LoadReport, *, strict: bool, on_mismatch: Literal["error", "skip"]
) -> str | None:
    """Why ``report`` breaks the loading policy, every offending key listed; None if it doesn't."""
    parts = []
    if report.mismatched and on_mismatch == "error":
        rows = [
            f"{m['key']}: checkpoint {m['checkpoint']}, model {m['model']}"
            for m in report.mismatched
        ]
        parts.append(
            f"{len(rows)} tensor(s) differ in shape from the model (on_mismatch: error):\n"
            f"{_listing(rows)}\n  To keep those layers freshly initialised (a new head, say), "
            "set on_mismatch: skip"
        )
    if strict and (report.missing or report.unexpected):
        if report.missing:
            parts.append(
                f"{len(report.missing)} model tensor(s) not in the checkpoint (after renaming):\n"
                f"{_listing(report.missing)}"
            )
        if report.unexpected:
            parts.append(
                f"{len(report.unexpected)} checkpoint key(s) that are not in the model (after "
                f"renaming):\n{_listing(report.unexpected)}"
            )
        parts.append(
            "  Add rename rules that map the checkpoint's names to the model's (e.g. "
            "['^module\\\\.', ''] for a DataParallel checkpoint), or set strict: false"
        )
    if not report.loaded and not parts:
        parts.append(
            "no tensor of the checkpoint matches a model tensor by name and shape; add rename "
            "rules (the report lists both sides' names)"
        )
    if not parts:
        return None
    return f"{report.source}: " + "\n".join(parts)


def match_state(module: nn.Module, state: Mapping[str, torch.Tensor], report: LoadReport) -> None:
    """Sort the checkpoint's keys into loaded, missing, unexpected and mismatched."""
    match_shapes(module, {k: tuple(v.shape) for k, v in state.items()}, report)


def match_shapes(
    module: nn.Module, shapes: Mapping[str, tuple[int, ...]], report: LoadReport
) -> None:
    """``match_state`` from the checkpoint's names and shapes alone (a meta module works)."""
    own = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    for key, shape in shapes.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(shape) != own[key]:
            report.mismatched.append(
                {"key": key, "checkpoint": list(shape), "model": list(own[key])}
            )
        else:
            report.loaded.append(key)
    report.missing = [k for k in own if k not in shapes]


def load_weights(
    module: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str = "<state dict>",
    strict: bool = False,
    on_mismatch: Literal["error", "skip"] = "error",
    renamed: Mapping[str, str] | None = None,
) -> LoadReport:
    """Copy the tensors of ``state`` whose names and shapes match into ``module``.

    ``strict`` makes missing or unexpected keys an error. A tensor whose shape differs from the
    module's is an error with ``on_mismatch="error"``, or left as initialised with ``"skip"``
    (a new classification head, say). Nothing is copied when the policy is broken; the
    ``ModelError`` lists every offending key.
    """
    import torch

    report = LoadReport(source=source, renamed=dict(renamed or {}))
    match_state(module, state, report)
    problems = load_problems(report, strict=strict, on_mismatch=on_mismatch)
    if problems is not None:
        raise ModelError(problems)
    own = module.state_dict()
    with torch.no_grad():
        for key in report.loaded:
            own[key].copy_(state[key].to(own[key].dtype))
    report.loaded.sort()
    return report
