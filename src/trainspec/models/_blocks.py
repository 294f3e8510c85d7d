"""The built-in blocks, registered under the registry kind "block" (this module is the
kind's provider: the registry imports it on the first block lookup).

Besides these, every ``torch.nn`` layer is a block by its class name (``Linear``, ``Conv1d``).
"""

from __future__ import annotations

from trainspec.models._blocks_conv import ConvStack, DenseStack, GlobalPool
from trainspec.models._blocks_seq import (
    GRUBlock,
    LSTMBlock,
    TemporalConvNet,
    TransformerEncoderBlock,
)
from trainspec.models._blocks_shape import Add, Concat, Flatten, Multiply, Permute, Reshape
from trainspec.models._resolve import torch_layers
from trainspec.registry import registry

__all__ = ["BUILTIN_BLOCKS"]

BUILTIN_BLOCKS = {
    "conv_stack": ConvStack,
    "dense_stack": DenseStack,
    "global_pool": GlobalPool,
    "tcn": TemporalConvNet,
    "lstm": LSTMBlock,
    "gru": GRUBlock,
    "transformer_encoder": TransformerEncoderBlock,
    "flatten": Flatten,
    "reshape": Reshape,
    "permute": Permute,
    "concat": Concat,
    "add": Add,
    "multiply": Multiply,
}

for _name, _block in BUILTIN_BLOCKS.items():
    registry.add("block", _name, _block)
# Every torch.nn layer is a block under its class name (Linear, Conv1d...), so the registry
# holds every name a spec may give a block.
for _name, _block in torch_layers().items():
    registry.add("block", _name, _block)
