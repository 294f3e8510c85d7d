"""``TorchModel``: an ``nn.Module`` with the batch keys it reads and the output it yields."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from trainspec.errors import ModelError
from trainspec.files import WEIGHTS_FILE
from trainspec.models._arch import dump_arch
from trainspec.models._fields import complete_fields
from trainspec.models._graph import pick_output
from trainspec.models._model import (
    InputData,
    Model,
    as_named,
    begin_model_dir,
    write_model_json,
)
from trainspec.models._outputs import to_scores

__all__ = ["FitFn", "TorchModel"]

# Injected by a higher layer (the engine): fit_fn(model, X, y, **kwargs).
FitFn = Callable[..., object]
Shape = tuple[int | None, ...]


def _to_tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    tensor = torch.as_tensor(array)
    if tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.to(device)


def _probabilities(outputs: np.ndarray) -> np.ndarray:
    """Class probabilities from logits, classes on the last axis."""
    logits = torch.from_numpy(outputs)
    if logits.shape[-1] == 1:  # one binary logit -> [P(0), P(1)]
        p = torch.sigmoid(logits)
        return torch.cat([1 - p, p], dim=-1).numpy()
    return torch.softmax(logits, dim=-1).numpy()


class TorchModel(Model):
    """A PyTorch network: ``module`` plus how a batch reaches it.

    ``forward_batch`` passes the batch keys ``input_keys`` to ``module`` (positionally, or as the
    keyword arguments ``arg_names`` for a user's module) and keeps ``output`` when ``forward``
    returns a tuple or dict. Classification outputs are logits, classes on the last axis (one
    column: a binary logit); a module whose ``output_kind`` is ``probabilities`` or
    ``log_probabilities`` has its output mapped to log-probabilities, which are logits.
    ``fields`` are the batch fields (``mask``, ``lengths``, ``weight``) among ``input_keys``,
    with their shapes without the batch axis.
    """

    kind: ClassVar[str] = "torch"
    kind_label: ClassVar[str] = "PyTorch network"
    supports_finetune: ClassVar[bool] = True
    supports_export: ClassVar[bool] = True
    supports_summary: ClassVar[bool] = True
    has_checkpoints: ClassVar[bool] = True

    def __init__(
        self,
        module: nn.Module,
        *,
        arch: Any,
        input_shapes: Mapping[str, Shape],
        input_keys: Sequence[str],
        arg_names: Sequence[str] | None = None,
        output: int | str | None = None,
        output_kind: str = "logits",
        task: str = "classification",
        fit_fn: FitFn | None = None,
        fields: Mapping[str, Shape] | None = None,
    ) -> None:
        if task not in ("classification", "regression"):
            raise ModelError(f"task must be 'classification' or 'regression'; got {task!r}")
        self.module = module
        self.arch = arch
        self.input_shapes = dict(input_shapes)
        self.fields = dict(fields or {})
        # forward_keys feed forward's arguments; input_keys are the data's among them (what
        # callers pass): the fields are made from the batch.
        self.forward_keys = tuple(input_keys)
        self.input_keys = tuple(k for k in input_keys if k not in self.fields)
        self.arg_names = None if arg_names is None else tuple(arg_names)
        self.output = output
        self.output_kind = output_kind
        self.task = task
        self.fit_fn = fit_fn

    def __repr__(self) -> str:
        return f"TorchModel({type(self.module).__name__}, inputs={list(self.input_keys)})"

    @property
    def device(self) -> torch.device:
        first = next(self.module.parameters(), None)
        return first.device if first is not None else torch.device("cpu")

    def forward_batch(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The model's output on a batch (a dict of tensors by batch key): logits for
        classification, values for regression."""
        return self.forward_with(self.module, batch)

    def forward_with(self, module: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``forward_batch`` through ``module``: this model's module or a wrapper of it (such
        as DDP's), called the way this model's module is called."""
        if self.fields:
            batch = complete_fields(batch, self.forward_keys, self.fields)
        missing = [k for k in self.forward_keys if k not in batch]
        if missing:
            raise ModelError(
                f"the batch lacks {', '.join(map(repr, missing))}: the model reads "
                f"{', '.join(self.input_keys)}; the batch has {', '.join(batch)}"
            )
        if self.arg_names is None:
            out = module(*(batch[k] for k in self.forward_keys))
        else:
            out = module(
                **{a: batch[k] for a, k in zip(self.arg_names, self.forward_keys, strict=True)}
            )
        try:
            picked = pick_output(out, self.output, "the model")
        except ValueError as exc:
            raise ModelError(f"{exc} (set output: {{select: ...}} in the architecture)") from None
        if self.task == "classification" and self.output_kind != "logits":
            return to_scores(picked, self.output_kind)
        return picked

    def eval_mode(self) -> TorchModel:
        self.module.eval()
        return self

    def load_weights(self, state: Mapping[str, Any]) -> None:
        """``load_state_dict(state, strict=True)``: a missing, extra or misshapen tensor is
        a RuntimeError naming it."""
        self.module.load_state_dict(state, strict=True)

    def forward_arrays(self, batch: Mapping[str, np.ndarray]) -> np.ndarray:
        with torch.no_grad():
            tensors = {k: torch.from_numpy(v) for k, v in batch.items()}
            return self.forward_batch(tensors).float().cpu().numpy()

    def outputs(self, X: InputData, *, batch_size: int = 256) -> np.ndarray:
        """Raw outputs (logits for classification), in eval mode without gradients."""
        named = as_named(self._prepared(X), self.input_keys)
        n = len(next(iter(named.values())))
        device, was_training = self.device, self.module.training
        self.module.eval()
        chunks = []
        try:
            with torch.no_grad():
                for start in range(0, n, batch_size):
                    batch = {
                        k: _to_tensor(v[start : start + batch_size], device)
                        for k, v in named.items()
                    }
                    chunks.append(self.forward_batch(batch).float().cpu().numpy())
        finally:
            self.module.train(was_training)
        return np.concatenate(chunks) if chunks else np.empty((0,), dtype=np.float32)

    @property
    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())

    def predict_proba(self, X: InputData, *, batch_size: int = 256) -> np.ndarray:
        if self.task != "classification":
            raise ModelError("predict_proba is for classification; this model does regression")
        return _probabilities(self.outputs(X, batch_size=batch_size))

    def predict(self, X: InputData, *, batch_size: int = 256) -> np.ndarray:
        return self._from_outputs(self.outputs(X, batch_size=batch_size))[0]

    def _predictions(self, X: InputData) -> tuple[np.ndarray, np.ndarray | None]:
        return self._from_outputs(self.outputs(X))

    def _from_outputs(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions and (classification) probabilities from one pass's raw outputs."""
        if self.task == "classification":
            proba = _probabilities(out)
            return np.asarray(proba.argmax(axis=-1)), proba
        values = out[..., 0] if out.ndim > 1 and out.shape[-1] == 1 else out
        return self._target_units(values), None

    def fit(self, X: InputData, y: np.ndarray, **kwargs: Any) -> TorchModel:
        """Train on ``(X, y)`` through the training loop the builder gave the model
        (``fit_fn``; the engine's, for a model of ``train_model`` or of a job whose data
        comes as arguments): from the current weights, with the job's settings; keyword
        arguments go to it (``validation=``, ``verbose=``)."""
        if self.fit_fn is None:
            raise ModelError(
                "this network has no training loop attached (the loop lives in the engine): "
                "train it with trainspec.train_model(X, y, config), or with run_experiment / "
                "`trainspec train` when its job names its data"
            )
        self.fit_fn(self, X, y, **kwargs)
        return self

    def save(self, directory: str | Path) -> Path:
        """``model.safetensors`` (weights) and ``model.json`` (architecture, input shapes)."""
        from safetensors.torch import save_model

        path = begin_model_dir(Path(directory))
        save_model(self.module, str(path / WEIGHTS_FILE))
        info = {
            "kind": self.kind,
            "task": self.task,
            "arch": dump_arch(self.arch),
            "input_shapes": {k: list(v) for k, v in self.input_shapes.items()},
            "input_keys": list(self.input_keys),
            "fields": {k: list(v) for k, v in self.fields.items()},
        }
        write_model_json(path, info, [WEIGHTS_FILE])
        return path
