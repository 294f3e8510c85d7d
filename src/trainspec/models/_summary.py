"""``summarize``: a table of a network's blocks with output shapes and parameter counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from trainspec.models._graph import GraphModule
from trainspec.models._probe import Shape, fmt_shape, make_probes, symbolic
from trainspec.models._shapes import arch_input_dtypes
from trainspec.models._torch_model import TorchModel

__all__ = ["BlockRow", "ModelSummary", "summarize"]


@dataclass(frozen=True)
class BlockRow:
    """One block: its name, type, output shape without batch (None: unknown), parameters."""

    name: str
    type: str
    output_shape: Shape | None
    params: int
    trainable: int

    @property
    def state(self) -> str:
        if self.params == 0:
            return "-"
        if self.trainable == self.params:
            return "trainable"
        return "frozen" if self.trainable == 0 else "partly frozen"


@dataclass(frozen=True)
class ModelSummary:
    """Rows per input and block, and totals over every parameter of the module."""

    rows: tuple[BlockRow, ...]
    total_params: int
    trainable_params: int
    inputs: dict[str, Shape] = field(default_factory=dict)

    @property
    def frozen_params(self) -> int:
        return self.total_params - self.trainable_params

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for row in self.rows:
            item = asdict(row)
            item["output_shape"] = None if row.output_shape is None else list(row.output_shape)
            item["state"] = row.state
            rows.append(item)
        return {
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "rows": rows,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "frozen_params": self.frozen_params,
        }

    def to_text(self) -> str:
        """A plain table (the CLI renders its own)."""
        header = ("block", "type", "output shape", "params", "state")
        body = [
            (
                r.name,
                r.type,
                "?" if r.output_shape is None else fmt_shape(r.output_shape),
                f"{r.params:,}",
                r.state,
            )
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in [header, *body]
        ]
        lines.append(
            f"total {self.total_params:,} parameters: {self.trainable_params:,} trainable, "
            f"{self.frozen_params:,} frozen"
        )
        return "\n".join(lines)


def _count(params: Iterable[nn.Parameter]) -> tuple[int, int]:
    unique = {id(p): p for p in params}.values()
    return sum(p.numel() for p in unique), sum(p.numel() for p in unique if p.requires_grad)


def _graph_rows(graph: GraphModule) -> list[BlockRow]:
    rows = [BlockRow(n, "input", graph.shapes[n], 0, 0) for n in graph.input_names]
    for step in graph.steps:
        total, trainable = _count(graph.get_submodule(step.name).parameters())
        kind = step.type + (f" x{step.repeat}" if step.repeat else "")
        kind += " (per step)" if step.per_step else ""
        rows.append(BlockRow(step.name, kind, graph.shapes[step.name], total, trainable))
    return rows


def _child_shapes(model: TorchModel) -> dict[str, Shape]:
    """Output shapes of a user's module's children, from probes through forward hooks."""
    if not model.input_shapes or set(model.input_keys) - set(model.input_shapes):
        return {}
    seen: dict[str, list[torch.Tensor]] = {}

    def hook(name: str) -> Any:
        def record(_module: nn.Module, _args: Any, out: Any) -> None:
            if isinstance(out, torch.Tensor):
                seen.setdefault(name, []).append(out)

        return record

    module = model.module
    handles = [child.register_forward_hook(hook(name)) for name, child in module.named_children()]
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            dtypes = arch_input_dtypes(model.arch, model.input_keys)
            for probe in make_probes(model.input_shapes, dtypes=dtypes):
                model.forward_batch({k: probe[k].to(model.device) for k in model.input_keys})
    except Exception:  # a summary is best effort for users' modules
        return {}
    finally:
        module.train(was_training)
        for handle in handles:
            handle.remove()
    return {name: symbolic(outs) for name, outs in seen.items()}


def _module_rows(model: TorchModel) -> list[BlockRow]:
    shapes = _child_shapes(model)
    rows = [BlockRow(k, "input", model.input_shapes.get(k), 0, 0) for k in model.input_keys]
    for name, child in model.module.named_children():
        total, trainable = _count(child.parameters())
        rows.append(BlockRow(name, type(child).__name__, shapes.get(name), total, trainable))
    own = list(model.module.parameters(recurse=False))
    if own:
        total, trainable = _count(own)
        rows.append(BlockRow("(own)", type(model.module).__name__, None, total, trainable))
    return rows


def summarize(model: TorchModel) -> ModelSummary:
    """Rows per block (a graph's blocks, or a user module's children) and totals; the totals
    are ``sum(p.numel() for p in model.module.parameters())``."""
    module = model.module
    rows = _graph_rows(module) if isinstance(module, GraphModule) else _module_rows(model)
    total, trainable = _count(module.parameters())
    return ModelSummary(tuple(rows), total, trainable, dict(model.input_shapes))
