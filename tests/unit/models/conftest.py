"""Helpers for the model tests: tiny training loops, since the engine is another layer."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import torch

from trainspec.models import GraphModule, TorchModel, build_model
from trainspec.registry import registry

USER_PKG = "tests.unit.models"


def train_steps(
    model: TorchModel,
    batch: dict[str, torch.Tensor],
    target: torch.Tensor,
    steps: int = 30,
    lr: float = 0.01,
) -> list[float]:
    """A plain Adam loop on one batch; returns the loss of every step."""
    torch.manual_seed(0)
    optimiser = torch.optim.Adam(model.module.parameters(), lr=lr)
    model.module.train()
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        logits = model.forward_batch(batch)
        loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), target.reshape(-1)
        )
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        losses.append(loss.item())
    return losses


def accuracy(y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> float:
    return float((y_true == y_pred).mean())


@pytest.fixture
def unit_metric(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A metric registered by name for the test (and the provider skipped if not written yet)."""
    monkeypatch.setattr(registry, "_loaded_kinds", set(registry._loaded_kinds))
    if importlib.util.find_spec("trainspec.metrics._metrics") is None:
        monkeypatch.setattr(registry, "_providers", {**registry._providers, "metric": ()})
    items: dict[str, Callable[..., float]] = registry._items["metric"]
    monkeypatch.setitem(items, "unit_accuracy", accuracy)
    yield "unit_accuracy"


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread; two oversubscribe a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build_torch(arch: Any, **kwargs: Any) -> TorchModel:
    """``build_model`` for an architecture known to give a network."""
    model = build_model(arch, **kwargs)
    assert isinstance(model, TorchModel)
    return model


def graph_of(model: TorchModel) -> GraphModule:
    assert isinstance(model.module, GraphModule)
    return model.module
