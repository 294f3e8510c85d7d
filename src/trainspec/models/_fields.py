"""Batch fields as model inputs: the padding mask, the record lengths and the sample weights
that trainspec makes beside the data's inputs, for a ``forward(x, mask, lengths)``.

Shapes without the batch axis: ``mask`` (T,) bool, True at real rows of a padded record;
``lengths`` () int64, the real rows per record; ``weight`` () or (T,) float32, per sample or
per step. At inference there are no weights: a module that takes them gets ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from trainspec.errors import closest
from trainspec.models._probe import Shape
from trainspec.spec import BATCH_FIELDS

__all__ = [
    "check_keys",
    "complete_fields",
    "default_fields",
    "probe_fields",
]

_DTYPES = {"mask": "bool", "lengths": "int64", "weight": "float32"}


def default_fields(shapes: Mapping[str, Shape]) -> dict[str, Shape]:
    """The fields data of these input shapes makes (without the data itself to ask): mask
    and lengths for records (a first axis of variable length), and weights."""
    records = any(len(s) > 0 and s[0] is None for s in shapes.values())
    fields: dict[str, Shape] = {"weight": ()}
    if records:
        fields.update(mask=(None,), lengths=())
    return fields


def check_keys(
    arg_map: Mapping[str, str],
    data_keys: Sequence[str],
    fields: Mapping[str, Shape],
    where: str,
) -> list[str]:
    """Problems with the batch keys forward's arguments are mapped to, before any training."""
    problems = []
    known = [*data_keys, *fields]
    for arg, key in arg_map.items():
        if key in data_keys or key in fields:
            continue
        if key in BATCH_FIELDS:
            problems.append(f"{where}.{arg}: {_missing_field(key)}")
            continue
        near = closest(key, [*known, *BATCH_FIELDS])
        hint = f"; did you mean {near!r}?" if near else ""
        problems.append(
            f"{where}.{arg}: {key!r} is not a batch key{hint} (the data gives "
            f"{', '.join(data_keys) or 'no inputs'}; trainspec adds {', '.join(fields) or 'none'})"
        )
    return problems


def _missing_field(key: str) -> str:
    if key == "weight":
        return "the data has no sample weights to pass as 'weight'; set data.weight"
    return (
        f"the batch has no {key!r}: it is made for records (samples that are sequences of "
        "rows of varying length, padded per batch), and this data's samples are single rows"
    )


def probe_fields(
    probe: dict[str, torch.Tensor], fields: Mapping[str, Shape], keys: Sequence[str]
) -> dict[str, torch.Tensor]:
    """``probe`` with the fields in ``keys`` added, consistent with its inputs: the second
    sample of a record batch is half padding, so a module that ignores the mask still runs."""
    wanted = [k for k in keys if k in fields and k not in probe]
    if not wanted or not probe:
        return probe
    batch = dict(probe)
    first = next(iter(probe.values()))
    b = first.shape[0]
    t = first.shape[1] if first.dim() > 1 else 1
    mask = torch.ones((b, t), dtype=torch.bool)
    if b > 1 and t > 1:
        mask[1, (t + 1) // 2 :] = False
    values = {
        "mask": mask,
        "lengths": mask.sum(dim=1),
        "weight": torch.ones((b, t) if fields.get("weight") == (None,) else (b,)),
    }
    batch.update({k: values[k] for k in wanted})
    return batch


def complete_fields(
    batch: Mapping[str, torch.Tensor],
    keys: Sequence[str],
    fields: Mapping[str, Shape] | None = None,
) -> Mapping[str, torch.Tensor]:
    """``batch`` with the fields a model reads and the batch lacks: ``lengths`` from the mask,
    and at inference weights of one and (unpadded records) a full mask."""
    if all(k in batch for k in keys):
        return batch
    out = dict(batch)
    first = next(v for k, v in batch.items() if k not in _DTYPES and k not in ("target", "index"))
    b, device = first.shape[0], first.device
    t = first.shape[1] if first.dim() > 1 else 1
    if "mask" not in out and ("mask" in keys or "lengths" in keys):
        out["mask"] = torch.ones((b, t), dtype=torch.bool, device=device)
    if "lengths" in keys and "lengths" not in out:
        out["lengths"] = out["mask"].sum(dim=1)
    if "weight" in keys and "weight" not in out:
        per_step = (fields or {}).get("weight") == (None,)
        out["weight"] = torch.ones((b, t) if per_step else (b,), device=device)
    return out
