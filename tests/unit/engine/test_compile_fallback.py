"""train.compile: when torch.compile fails on the first batch, training goes on in eager mode
after one warning that says why."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn
from torch._dynamo.exc import TorchDynamoException

from trainspec.engine._compile import compile_module, first_call


def test_a_failed_compile_falls_back_to_eager(caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(5, 3)
    expected = module(x)
    assert compile_module(module, backend="eager")
    calls: list[bool] = []

    def forward() -> torch.Tensor:
        # what torch raises where a backend cannot compile (no C++ compiler, no Triton)
        calls.append(module._compiled_call_impl is not None)
        if module._compiled_call_impl is not None:
            raise TorchDynamoException("backend='inductor' raised: no C++ compiler found")
        out: torch.Tensor = module(x)
        return out

    with caplog.at_level(logging.WARNING, logger="trainspec"):
        out = first_call(module, forward)
    torch.testing.assert_close(out, expected)
    assert calls == [True, False]  # compiled once, then eager
    assert "train.compile: torch.compile failed" in caplog.text
    assert "no C++ compiler found" in caplog.text
    assert "training continues without it" in caplog.text
    assert set(module.state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_a_working_backend_is_used() -> None:
    module = nn.Linear(3, 2)
    x = torch.randn(4, 3)
    assert compile_module(module, backend="eager")
    assert module._compiled_call_impl is not None
    out = first_call(module, lambda: module(x))
    torch.testing.assert_close(out, x @ module.weight.T + module.bias)
