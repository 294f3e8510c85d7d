"""``RunDir``: the one owner of a run directory's layout and of reading and writing its files.

Every name below a run's root is spelled here and nowhere else (docs/architecture.md, "A run
on disk"); other modules ask a ``RunDir`` for a path or a document. The layout::

    RUN/
      config.yaml  environment.json  splits.json  data.json  input_example.json
      metrics.jsonl  summary.json  resume_changes.json  tracking.json  train.log
      checkpoints/ckpt-NNNNNNNN/  checkpoints/last  checkpoints/best
      model/model.safetensors  transforms/  code/  export/<format>/  reference/
      folds/<k>/   a cross-validated run: each fold is a RunDir of its own

Nothing here imports torch: the checkpoint *locator* (newest valid, best) checks manifests
only; ``trainspec.engine.load_checkpoint`` reads the tensors of the folder it returns.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainspec.errors import TrainspecError
from trainspec.files._format import FORMAT_KEY, RUN_FORMAT_VERSION, check_format
from trainspec.files._manifest import MANIFEST, verify_manifest
from trainspec.files._write import atomic_write_text

__all__ = [
    "WEIGHTS_FILE",
    "RunDir",
    "checkpoint_step",
    "find_checkpoints",
    "read_json",
    "strict_json",
    "write_json",
]

log = logging.getLogger(__name__)

# The weights of a saved model or a checkpoint (safetensors): a file format, not a run's name.
WEIGHTS_FILE = "model.safetensors"
_CKPT = re.compile(r"^ckpt-(\d{8})(?:-(\d+))?$")


def strict_json(data: Any, found: list[str] | None = None, where: str = "") -> Any:
    """``data`` with every NaN or infinity replaced by None (JSON has neither); the key path
    of each is appended to ``found``."""
    if isinstance(data, float) and not math.isfinite(data):
        if found is not None:
            found.append(where or "<value>")
        return None
    if isinstance(data, Mapping):
        return {
            k: strict_json(v, found, f"{where}.{k}" if where else str(k)) for k, v in data.items()
        }
    if isinstance(data, list | tuple):
        return [strict_json(v, found, f"{where}[{i}]") for i, v in enumerate(data)]
    return data


def write_json(path: Path, data: Any) -> None:
    """Strict JSON (non-finite numbers as null), written atomically."""
    try:  # finite data needs no rewriting (json.dumps refuses NaN and infinities)
        text = json.dumps(data, indent=2, default=_plain, allow_nan=False)
    except ValueError:
        text = json.dumps(strict_json(data), indent=2, default=str, allow_nan=False)
    atomic_write_text(path, text + "\n")


def _plain(value: Any) -> Any:
    """What ``strict_json`` makes of a value that JSON has no type for."""
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def read_json(path: Path, *, what: str = "file") -> Any:
    """The JSON document at ``path``; a missing or damaged file raises ``TrainspecError``
    naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TrainspecError(f"{path}: the run's {what} is missing") from None
    except OSError as exc:
        raise TrainspecError(f"{path}: the run's {what} cannot be read: {exc}") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise TrainspecError(
            f"{path}: the run's {what} is not valid JSON ({exc}); it is damaged or was not "
            "written by trainspec"
        ) from exc


def checkpoint_step(path: Path) -> tuple[int, int] | None:
    """``(global step, save number)`` of a ``ckpt-*`` folder name; None for other names."""
    match = _CKPT.match(path.name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2) or 1)


def find_checkpoints(root: Path) -> list[Path]:
    """The ``ckpt-*`` directories under ``root``, newest (highest step, latest save) first."""
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if checkpoint_step(p) is not None and p.is_dir() and not p.is_symlink()
    ]
    return sorted(found, key=lambda p: checkpoint_step(p) or (0, 0), reverse=True)


class _Entry:
    """``run.summary`` and the like: the path of one name under the run's folder."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, run: RunDir, owner: object = None) -> Path:
        return run.path / self.name


@dataclass(frozen=True)
class RunDir:
    """A run directory (or one fold of a cross-validated run): its paths and documents."""

    path: Path

    CONFIG = "config.yaml"
    ENVIRONMENT = "environment.json"
    SPLITS = "splits.json"
    DATA = "data.json"
    INPUT_EXAMPLE = "input_example.json"
    BAD_FILES = "bad_files.json"
    METRICS = "metrics.jsonl"
    SUMMARY = "summary.json"
    RESUME_CHANGES = "resume_changes.json"
    TRACKING = "tracking.json"
    LOG = "train.log"
    CHECKPOINTS = "checkpoints"
    MODEL = "model"
    TRANSFORMS = "transforms"
    FOLDS = "folds"
    CODE = "code"
    EXPORT = "export"
    REFERENCE = "reference"
    CACHE = ".cache"
    WEIGHTS = WEIGHTS_FILE
    # What a run writes at its top: a new run never starts over one of these.
    FILES = (CONFIG, ENVIRONMENT, SPLITS, DATA, INPUT_EXAMPLE, SUMMARY, METRICS, TRACKING, LOG)
    FOLDERS = (CHECKPOINTS, MODEL, TRANSFORMS, FOLDS)
    # What a run marks itself by, beside its config.yaml.
    MARKERS = (SUMMARY, METRICS, ENVIRONMENT)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    # -- paths: RUN/<name> --------------------------------------------------------------

    config = _Entry(CONFIG)
    environment = _Entry(ENVIRONMENT)
    splits = _Entry(SPLITS)
    data = _Entry(DATA)
    input_example = _Entry(INPUT_EXAMPLE)
    metrics = _Entry(METRICS)
    summary = _Entry(SUMMARY)
    resume_changes = _Entry(RESUME_CHANGES)
    tracking = _Entry(TRACKING)
    log = _Entry(LOG)
    checkpoints = _Entry(CHECKPOINTS)
    model = _Entry(MODEL)
    folds_dir = _Entry(FOLDS)
    code = _Entry(CODE)
    export = _Entry(EXPORT)  # export/<format>/: ONNX, TorchScript (trainspec export)
    reference = _Entry(REFERENCE)  # the drift statistics of the training split
    transforms = _Entry(TRANSFORMS)

    @property
    def model_weights(self) -> Path:
        return self.model / self.WEIGHTS

    @property
    def top(self) -> RunDir:
        """The run this folder belongs to: itself, or a fold's (``RUN/folds/<k>``) run."""
        if self.path.parent.name == self.FOLDS and self.path.name.isdigit():
            return RunDir(self.path.parent.parent)
        return self

    def fold(self, k: int | str) -> RunDir:
        return RunDir(self.folds_dir / str(k))

    def folds(self) -> list[RunDir]:
        """The folds of a cross-validated run, in order; empty for a single run."""
        if not self.folds_dir.is_dir():
            return []
        found = [p for p in self.folds_dir.iterdir() if p.is_dir() and p.name.isdigit()]
        return [RunDir(p) for p in sorted(found, key=lambda p: int(p.name))]

    @property
    def shared_cache(self) -> Path:
        """The data cache this run shares with the runs beside it: ``.cache`` in the folder
        that holds it (the runs root), resolved."""
        return self.path.resolve().parent / self.CACHE

    @staticmethod
    def cache_under(root: Path | str) -> Path:
        """The data cache of the runs under ``root`` (a runs root, resolved: never the
        working directory's)."""
        return Path(root).resolve() / RunDir.CACHE

    def is_run(self) -> bool:
        """A run directory holds its ``config.yaml`` and one of ``MARKERS``."""
        return self.config.is_file() and any((self.path / m).is_file() for m in self.MARKERS)

    # -- documents -----------------------------------------------------------------------

    def read(self, name: str) -> Any:
        """The JSON document ``name`` of the run; ``TrainspecError`` naming the file when it
        is missing or damaged."""
        return read_json(self.path / name, what=name)

    def read_or(self, name: str, default: Any = None) -> Any:
        """The JSON document ``name``, or ``default`` when it is missing or unreadable (the
        run store lists runs that are still being written or were cut short)."""
        try:
            return read_json(self.path / name)
        except TrainspecError:
            return default

    def write(self, name: str, data: Any) -> Path:
        """Write the JSON document ``name`` (strict JSON, atomically)."""
        write_json(self.path / name, data)
        return self.path / name

    def read_config(self) -> dict[str, Any]:
        """The resolved spec the run recorded, as data; empty when it is missing or unreadable."""
        import yaml

        try:
            data = yaml.safe_load(self.config.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            return {}
        return data if isinstance(data, dict) else {}

    def read_metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.jsonl``; a line that is not a JSON object (the torn last line
        of a killed process) is skipped. Empty when there is no file."""
        try:
            lines = self.metrics.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        rows = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                row = None
            if isinstance(row, dict):
                rows.append(row)
            else:  # the last line is expected torn after a kill; another one is damage
                level = logging.DEBUG if n == len(lines) else logging.WARNING
                log.log(level, "%s:%d is not a JSON object; skipped", self.metrics, n)
        return rows

    def write_environment(self, env: Mapping[str, Any]) -> None:
        """``environment.json``, stamped with the run directory's format version."""
        self.write(self.ENVIRONMENT, {FORMAT_KEY: RUN_FORMAT_VERSION, **env})

    def format_version(self) -> int:
        """The run directory's format version, once this trainspec reads it (0 for a run
        written before versions were recorded, or one without its environment.json yet);
        ``FormatError`` naming the file for one written by a newer trainspec."""
        doc = self.read_or(self.ENVIRONMENT)
        if not isinstance(doc, Mapping):
            return 0
        return check_format(doc, RUN_FORMAT_VERSION, what="run directory", where=self.environment)

    # -- checkpoints ---------------------------------------------------------------------

    def checkpoint(self, name: str = "best") -> Path:
        """``checkpoints/<name>`` (``best``, ``last`` or ``ckpt-NNNNNNNN``)."""
        return self.checkpoints / name

    def latest_checkpoint(self) -> Path | None:
        """The newest checkpoint whose files match their manifest; None when there is none
        (damaged newer ones are passed over with a warning)."""
        candidates = find_checkpoints(self.checkpoints)
        if not candidates and (self.checkpoint("last") / MANIFEST).is_file():
            candidates = [self.checkpoint("last")]
        for path in candidates:
            try:
                verify_manifest(path, what="checkpoint")
            except TrainspecError as exc:
                log.warning("%s; passing over it", exc)
                continue
            return path
        return None

    def best_checkpoint(self) -> Path | None:
        """``checkpoints/best`` when it holds a checkpoint; None otherwise."""
        best = self.checkpoint("best")
        return best if (best / MANIFEST).is_file() else None
