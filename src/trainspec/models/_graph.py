"""The module a declarative architecture becomes: named blocks run in a fixed order.

Blocks are direct children of the module, so state-dict names follow block names
(``tcn.3.conv.weight``); a repeated block is a list of copies (``res.0.conv.weight``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["GraphModule", "Step", "apply_block", "pick_output"]

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Step:
    """How one block runs: its inputs and the options around its own ``forward``."""

    name: str
    type: str
    inputs: tuple[str, ...]
    repeat: int | None = None  # None: one module; N: a ModuleList of N chained copies
    residual: bool = False
    per_step: bool = False
    select: int | str | None = None


def pick_output(out: object, select: int | str | None, where: str) -> torch.Tensor:
    """The tensor to keep from a block's (or a model's) output."""
    if isinstance(out, torch.Tensor) and select is None:
        return out
    if isinstance(out, (tuple, list)):
        if select is None:
            raise ValueError(
                f"{where} returns a {type(out).__name__} of {len(out)} outputs; "
                "choose one with select: 0 (or its index)"
            )
        if not isinstance(select, int) or not -len(out) <= select < len(out):
            raise ValueError(
                f"{where}: select={select!r} is not an index of its {len(out)} outputs"
            )
        out = out[select]
    elif isinstance(out, Mapping):
        if select is None or select not in out:
            keys = ", ".join(map(str, out))
            raise ValueError(f"{where} returns a dict ({keys}); choose one with select: <key>")
        out = out[select]
    elif select is not None:
        raise ValueError(f"{where} returns one tensor; remove select: {select!r}")
    if not isinstance(out, torch.Tensor):
        raise ValueError(f"{where} returns {type(out).__name__}, not a tensor")
    return out


def apply_block(module: nn.Module, args: Sequence[torch.Tensor], step: Step) -> torch.Tensor:
    """Run one copy of a block on its inputs, folding steps and adding the residual."""
    if step.per_step:
        b, t = args[0].shape[:2]
        out = module(*(a.flatten(0, 1) for a in args))  # (B*T, ...)
        y = pick_output(out, step.select, f"block {step.name!r}")
        y = y.reshape(b, t, *y.shape[1:])  # (B, T, ...)
    else:
        y = pick_output(module(*args), step.select, f"block {step.name!r}")
    if step.residual:
        y = y + args[0]
    return y


class GraphModule(nn.Module):
    """Runs ``steps`` in order over the named inputs; returns the output block(s).

    ``forward`` takes the inputs positionally, in ``input_names`` order, and returns one tensor,
    or a tuple in ``outputs`` order when there are several.
    """

    def __init__(
        self,
        input_names: Sequence[str],
        steps: Sequence[Step],
        blocks: Mapping[str, nn.Module],
        outputs: Mapping[str, str],
        shapes: Mapping[str, Shape],
    ) -> None:
        super().__init__()
        self.input_names = tuple(input_names)
        self.steps = tuple(steps)
        self.outputs = dict(outputs)  # output name -> block
        self.shapes = dict(shapes)  # input or block -> output shape without batch
        for name, block in blocks.items():
            self.add_module(name, block)
        self.chain = _is_chain(self.input_names, self.steps, self.outputs)

    def forward(self, *xs: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if len(xs) != len(self.input_names):
            raise TypeError(
                f"the network takes {len(self.input_names)} inputs "
                f"({', '.join(self.input_names)}); got {len(xs)}"
            )
        if self.chain:
            return self._run_chain(xs[0])
        env = dict(zip(self.input_names, xs, strict=True))
        for step in self.steps:
            block = self._modules[step.name]
            assert block is not None
            copies = list(block) if step.repeat is not None else [block]  # type: ignore[call-overload]
            args = [env[name] for name in step.inputs]
            for copy in copies:
                args = [apply_block(copy, args, step)]
            env[step.name] = args[0]
        results = tuple(env[block] for block in self.outputs.values())
        return results[0] if len(results) == 1 else results

    def _run_chain(self, x: torch.Tensor) -> torch.Tensor:
        """``forward`` of a plain chain (one input, each block taking the one before it, no
        options, the last block the output): the blocks called in turn, as ``nn.Sequential``
        does. A small network's step is a few hundred microseconds, and the general path's
        bookkeeping was a tenth of it."""
        for step in self.steps:
            block = self._modules[step.name]
            assert block is not None
            x = block(x)
            if not isinstance(x, torch.Tensor):
                x = pick_output(x, None, f"block {step.name!r}")  # raises, naming the fix
        return x


def _is_chain(inputs: Sequence[str], steps: Sequence[Step], outputs: Mapping[str, str]) -> bool:
    """True when the steps form a plain chain from the one input to the one output."""
    previous = inputs[0] if len(inputs) == 1 else None
    for step in steps:
        plain = step.repeat is None and not (step.residual or step.per_step)
        if not plain or step.select is not None or step.inputs != (previous,):
            return False
        previous = step.name
    return bool(steps) and list(outputs.values()) == [previous]
