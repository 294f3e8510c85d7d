"""A trained run read back for inference: its spec, data facts, fitted transforms and model.

``load_run`` accepts a run directory, a fold directory (``RUN/folds/<k>``) or a checkpoint
directory (``RUN/checkpoints/best``, ``.../ckpt-00000120``), and loads the weights of the
chosen checkpoint: ``best`` by default (the model at the best monitored value), ``last``, or
``final`` (``model/``, the weights at the end of training).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.errors import TrainspecError
from trainspec.files import MANIFEST, RunDir

if TYPE_CHECKING:
    from trainspec.data import FittedTransforms
    from trainspec.models import Model
    from trainspec.spec import JobSpec

__all__ = ["CHECKPOINTS", "InferenceError", "LoadedRun", "load_run", "resolve_run_dir"]

log = logging.getLogger(__name__)

CHECKPOINTS = ("best", "last", "final")


class InferenceError(TrainspecError):
    """A run, an input file or a request cannot be used for inference as asked."""


@dataclass
class LoadedRun:
    """Everything inference needs from one trained run (one fold of a k-fold run)."""

    run_dir: Path  # the fold's directory: transforms/, model/, checkpoints/
    root: Path  # the run's directory: config.yaml, data.json, splits.json
    fold: int
    job: JobSpec
    data_info: dict[str, Any]
    transforms: FittedTransforms
    model: Model
    checkpoint: str
    allow_imports: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def task(self) -> str:
        return str(self.data_info.get("task") or self.model.task)

    @property
    def class_names(self) -> list[str] | None:
        names = self.data_info.get("class_names")
        return None if names is None else [str(n) for n in names]

    @property
    def input_keys(self) -> tuple[str, ...]:
        return tuple(self.model.input_keys)

    @property
    def input_shapes(self) -> dict[str, tuple[int | None, ...]]:
        shapes = self.data_info.get("input_shapes") or {}
        return {k: tuple(v) for k, v in shapes.items()}

    @property
    def is_sequence(self) -> bool:
        """Whether one sample is a record: a variable-length sequence of rows (epochs)."""
        return any(len(s) > 0 and s[0] is None for s in self.input_shapes.values())


def require_run(root: Path) -> RunDir:
    """``root`` as a ``RunDir``, once it holds a run's ``config.yaml``."""
    run = RunDir(root)
    if not run.config.is_file():
        raise InferenceError(
            f"{root} is not a trainspec run: {run.CONFIG} is missing (a run directory is what "
            "'trainspec train --run-dir DIR' writes)"
        )
    return run


def resolve_run_dir(
    path: str | Path, *, fold: int | None = None
) -> tuple[Path, Path, int, Path | None]:
    """``(fold_dir, root, fold, checkpoint_dir)`` for a run, fold or checkpoint directory."""
    p = Path(path).expanduser()
    if not p.is_dir():
        raise InferenceError(f"run {str(p)!r} is not a directory; pass a run directory")
    checkpoint = None
    if (p / MANIFEST).is_file() and p.parent.name == RunDir.CHECKPOINTS:
        checkpoint, p = p, p.parent.parent
    root, k = RunDir(p).top.path, fold or 0
    if root != p:
        k = int(p.name)
        if fold is not None and fold != k:
            raise InferenceError(f"{p} is fold {k}, but fold {fold} was asked for")
    require_run(root)
    if p == root:
        folds = [f.path for f in RunDir(root).folds()]
        # A refit run (train.refit) has its own model beside its folds: --fold picks a fold.
        if folds and (fold is not None or not RunDir(root).transforms.is_dir()):
            if fold is None and len(folds) > 1:
                names = ", ".join(f.name for f in folds)
                raise InferenceError(
                    f"run {root} holds {len(folds)} folds ({names}); choose one with --fold K "
                    f"(fold=K) or pass its directory, e.g. {folds[0]}; or average them all "
                    "with --ensemble (ensemble=True)"
                )
            chosen = RunDir(root).fold(k).path
            if not chosen.is_dir():
                raise InferenceError(f"run {root} has no fold {k}; it has {len(folds)} folds")
            p = chosen
    return p, root, k, checkpoint


def _load_job(root: Path) -> JobSpec:
    from trainspec.spec import load_spec

    loaded = load_spec(RunDir(root).config)
    if loaded.job is None:
        raise InferenceError(f"{RunDir(root).config} is not a job spec")
    return loaded.job


def _build_model(fold_dir: Path, job: JobSpec, info: dict[str, Any], allow: Sequence[str]) -> Model:
    from trainspec.models import build_model, load_model

    if (RunDir(fold_dir).model / "model.json").is_file():
        return load_model(RunDir(fold_dir).model, allow_imports=allow)
    shapes = info.get("input_shapes") or {}
    regression = info.get("task") == "regression"
    return build_model(
        job.model,
        input_shapes=shapes,
        allow_imports=allow,
        seed=job.seed,
        task="regression" if regression else "classification",
    )


def _checkpoint_dir(fold_dir: Path, checkpoint: str, given: Path | None) -> Path | None:
    if given is not None:
        return given
    if checkpoint == "final":
        return None
    if checkpoint not in CHECKPOINTS:
        raise InferenceError(
            f"checkpoint must be one of {', '.join(CHECKPOINTS)}; got {checkpoint!r}"
        )
    run = RunDir(fold_dir)
    path = run.checkpoint(checkpoint)
    if path.is_dir():
        return path
    if (run.model / "model.json").is_file():
        log.warning("%s does not exist; using the final weights in %s", path, run.model)
        return None
    raise InferenceError(
        f"{path} does not exist and the run has no model/ directory: the run has no weights"
    )


def _load_weights(model: Model, path: Path) -> None:
    from trainspec.engine import load_checkpoint

    if not model.has_checkpoints:
        return  # saved once, whole, in model/ (a scikit-learn estimator)
    ckpt = load_checkpoint(path)
    try:
        model.load_weights(ckpt.model)
    except RuntimeError as exc:
        raise InferenceError(f"{path}: the weights do not fit the run's model: {exc}") from exc


def use_code(root: Path) -> None:
    """Import the user's modules from the run's saved ``code/`` (see
    ``trainspec.registry.use_run_code``), saying which copy is used where they differ."""
    from trainspec.registry import use_run_code

    try:
        notes = use_run_code(root)
    except TrainspecError as exc:
        raise InferenceError(str(exc)) from None
    for note in notes:
        log.warning("%s", note)


def load_run(
    run: str | Path,
    *,
    checkpoint: str = "best",
    fold: int | None = None,
    allow_imports: Sequence[str] = (),
) -> LoadedRun:
    """Read a run back: spec, ``data.json``, fitted transforms and the model with the weights
    of ``checkpoint`` (``best``, ``last`` or ``final``; ignored for a checkpoint directory).

    ``allow_imports`` adds module prefixes to the run's own ``allow_imports`` (users' modules).
    """
    from trainspec.data import FittedTransforms

    fold_dir, root, k, given = resolve_run_dir(run, fold=fold)
    run_dir = RunDir(root)
    run_dir.format_version()
    use_code(root)
    job = _load_job(root)
    allow = tuple(dict.fromkeys([*job.allow_imports, *allow_imports]))
    try:
        info = run_dir.read(run_dir.DATA)
    except TrainspecError as exc:
        raise InferenceError(str(exc)) from None
    transforms_dir = RunDir(fold_dir).transforms
    if not transforms_dir.is_dir():
        raise InferenceError(f"{transforms_dir} is missing: the run did not finish setup")
    transforms = FittedTransforms.load(transforms_dir, allow_imports=allow)
    model = _build_model(fold_dir, job, info, allow)
    ckpt = _checkpoint_dir(fold_dir, checkpoint, given) if model.has_checkpoints else None
    if ckpt is not None:
        _load_weights(model, ckpt)
    used = given.name if given is not None else (checkpoint if ckpt is not None else "final")
    model.eval_mode()
    return LoadedRun(fold_dir, root, k, job, info, transforms, model, used, allow)
