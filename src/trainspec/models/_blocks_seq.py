"""Blocks over sequences (B, T, C): temporal convolution networks, LSTM/GRU, transformers."""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from trainspec.models._layers import Shape, fixed, make_activation, per_layer

__all__ = ["GRUBlock", "LSTMBlock", "TemporalConvNet", "TransformerEncoderBlock"]


def _sequence_features(in_shape: Shape, block: str) -> int:
    if len(in_shape) != 2:
        raise ValueError(f"{block} takes (T, C) without the batch axis; got {in_shape}")
    return fixed(in_shape, 1, f"{block} (its feature axis)")


class _TemporalLevel(nn.Module):
    """One dilated convolution with norm, activation, dropout, and a residual connection."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        dilation: int,
        causal: bool,
        norm: str | None,
        activation: str | None,
        dropout: float,
    ) -> None:
        super().__init__()
        total = dilation * (kernel_size - 1)
        # Causal: all padding on the left, step t sees only steps <= t. Centred: split it.
        self.pad = (total, 0) if causal else (total // 2, total - total // 2)
        self.conv = nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation, bias=norm is None)
        self.norm = nn.BatchNorm1d(c_out) if norm == "batch" else None
        self.act = make_activation(activation)
        self.drop = nn.Dropout(dropout) if dropout else None
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        y: torch.Tensor = self.conv(F.pad(x, self.pad))
        if self.norm is not None:
            y = self.norm(y)
        y = self.act(y)
        if self.drop is not None:
            y = self.drop(y)
        return y + (x if self.skip is None else self.skip(x))


class TemporalConvNet(nn.ModuleList):
    """A TCN across the time axis: (B, T, C) -> (B, T, C'), one level per entry of ``channels``
    (or ``levels`` copies of one width), level ``i`` dilated by ``dilation_base**i``.

    State dict: ``tcn.3.conv.weight``; ``tcn.3.skip`` projects where the width changes.
    """

    def __init__(
        self,
        in_shape: Shape,
        channels: list[int] | int,
        levels: int | None = None,
        kernel_size: int = 3,
        dilation_base: int = 2,
        dilations: list[int] | None = None,
        causal: bool = False,
        norm: Literal["batch"] | None = None,
        activation: str | None = "relu",
        dropout: float = 0.0,
    ) -> None:
        c_in = _sequence_features(in_shape, "tcn")
        if isinstance(channels, list):
            if levels is not None and levels != len(channels):
                raise ValueError(f"levels={levels} but channels lists {len(channels)} widths")
            widths = channels
        else:
            widths = [channels] * (levels if levels is not None else 1)
        dils = (
            per_layer(dilations, len(widths), "dilations")
            if dilations
            else [dilation_base**i for i in range(len(widths))]
        )
        levels_ = []
        for c_out, dil in zip(widths, dils, strict=True):
            levels_.append(
                _TemporalLevel(c_in, c_out, kernel_size, dil, causal, norm, activation, dropout)
            )
            c_in = c_out
        super().__init__(levels_)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        y = x.transpose(1, 2)  # (B, C, T): convolve along T
        for level in self:
            y = level(y)
        return y.transpose(1, 2)


class _RecurrentBlock(nn.Module):
    cell: type[nn.LSTM] | type[nn.GRU]

    def __init__(
        self,
        in_shape: Shape,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        returns: Literal["sequence", "last"] = "sequence",
    ) -> None:
        super().__init__()
        n_in = _sequence_features(in_shape, type(self).__name__)
        self.rnn = self.cell(
            n_in,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout,
        )
        self.returns = returns
        self.directions = 2 if bidirectional else 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        out, state = self.rnn(x)
        if self.returns == "sequence":
            return out  # type: ignore[no-any-return]  # (B, T, dirs*H)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers*dirs, B, H)
        last = h_n[-self.directions :]  # the top layer, each direction
        return torch.cat(list(last), dim=-1)  # (B, dirs*H)


class LSTMBlock(_RecurrentBlock):
    """An LSTM over (B, T, C), batch first; ``returns: sequence`` (B, T, H) or ``last`` (B, H)
    (both directions concatenated when bidirectional). State dict: ``lstm.rnn.weight_ih_l0``."""

    cell = nn.LSTM


class GRUBlock(_RecurrentBlock):
    """A GRU over (B, T, C), batch first; ``returns: sequence`` or ``last``, as ``lstm``."""

    cell = nn.GRU


class TransformerEncoderBlock(nn.Module):
    """A stack of transformer encoder layers over (B, T, d_model), with an optional
    sinusoidal position encoding added first (parameter free, any length)."""

    def __init__(
        self,
        in_shape: Shape,
        nhead: int,
        num_layers: int = 2,
        dim_feedforward: int | None = None,
        dropout: float = 0.1,
        activation: Literal["relu", "gelu"] = "gelu",
        norm_first: bool = True,
        positional: Literal["sinusoidal"] | None = None,
    ) -> None:
        super().__init__()
        d_model = _sequence_features(in_shape, "transformer_encoder")
        if d_model % nhead:
            raise ValueError(f"the feature size {d_model} is not divisible by nhead={nhead}")
        layer = nn.TransformerEncoderLayer(
            d_model,
            nhead,
            dim_feedforward or 4 * d_model,
            dropout,
            activation,
            batch_first=True,
            norm_first=norm_first,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.positional = positional
        self.d_model = d_model

    def _positions(self, length: int, like: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(length, dtype=like.dtype, device=like.device)[:, None]
        freq = torch.exp(
            torch.arange(0, self.d_model, 2, dtype=like.dtype, device=like.device)
            * (-math.log(10000.0) / self.d_model)
        )
        enc = torch.zeros(length, self.d_model, dtype=like.dtype, device=like.device)
        enc[:, 0::2] = torch.sin(pos * freq)
        enc[:, 1::2] = torch.cos(pos * freq[: self.d_model // 2])
        return enc  # (T, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, d_model)
        if self.positional == "sinusoidal":
            x = x + self._positions(x.shape[1], x)
        return self.encoder(x)  # type: ignore[no-any-return]
