"""The training engine: a plain-PyTorch loop that resumes exactly.

``fit`` trains a module on a ``BatchSource`` as a job's ``FitSettings`` say, writing
``metrics.jsonl`` and checkpoints to a run directory; ``evaluate`` scores a module on a split;
``predict_outputs`` returns its raw outputs; ``prepare_finetune`` applies a ``finetune:``
section (initial weights, freezing, parameter groups, unfreezing schedule) before ``fit``.
``trainer_for(model)`` is the trainer of a ``Model``'s kind (the loop for a network, one fit
for a scikit-learn estimator), which runs, restores and scores it the same way for both.
"""

from trainspec.engine._callbacks import Callback, EpochLines, LogLines
from trainspec.engine._checkpoint import Checkpoint, load_checkpoint, load_latest
from trainspec.engine._device import (
    AnyForward,
    Forward,
    default_forward,
    rank,
    resolve_device,
    world_size,
)
from trainspec.engine._dist import broadcast_object, process_group
from trainspec.engine._evaluate import evaluate, predict_outputs, resolve_metrics
from trainspec.engine._finetune import (
    LOAD_REPORT_FILE,
    FinetunePlan,
    check_init,
    prepare_finetune,
    resolve_init_path,
)
from trainspec.engine._fit import fit
from trainspec.engine._result import FitContext, FitResult
from trainspec.engine._rng import EpochSampler, seed_everything, seed_worker
from trainspec.engine._settings import FitSettings
from trainspec.engine._trainers import InitLoad, Trainer, trainer_for
from trainspec.spec import ParamGroupSpec, UnfreezeSpec

__all__ = [
    "LOAD_REPORT_FILE",
    "AnyForward",
    "Callback",
    "Checkpoint",
    "EpochLines",
    "EpochSampler",
    "FinetunePlan",
    "FitContext",
    "FitResult",
    "FitSettings",
    "Forward",
    "InitLoad",
    "LogLines",
    "ParamGroupSpec",
    "Trainer",
    "UnfreezeSpec",
    "broadcast_object",
    "check_init",
    "default_forward",
    "evaluate",
    "fit",
    "load_checkpoint",
    "load_latest",
    "predict_outputs",
    "prepare_finetune",
    "process_group",
    "rank",
    "resolve_device",
    "resolve_init_path",
    "resolve_metrics",
    "seed_everything",
    "seed_worker",
    "trainer_for",
    "world_size",
]
