"""Checks across sections that the schema of one section cannot make: the batch keys a user's
module reads (``model.inputs``) against what the ``data`` section gives."""

from __future__ import annotations

from collections.abc import Mapping

from trainspec.errors import Problem, closest
from trainspec.spec._paths import KeyPath, Origin, lookup_origin
from trainspec.spec._schema import JobSpec
from trainspec.spec._schema_model import BATCH_FIELDS, ImportedModel

__all__ = ["job_problems"]


def _data_keys(job: JobSpec) -> list[str] | None:
    """The input names the data gives, or None where only the data itself knows them."""
    if job.data.source.type in ("dataset",):
        return None
    if job.data.inputs is not None:
        return list(job.data.inputs)
    return ["x"]


def job_problems(job: JobSpec, origins: Mapping[KeyPath, Origin]) -> list[Problem]:
    model = job.model
    if not isinstance(model, ImportedModel) or model.inputs is None:
        return []
    keys = _data_keys(job)
    if keys is None:
        return []
    problems = []
    for arg, key in model.inputs.items():
        path: KeyPath = ("model", "inputs", arg)
        if key in keys or key in ("mask", "lengths"):  # records: checked when built
            continue
        if key == "weight":
            if job.data.weight is not None:
                continue
            message = "forward argument reads the sample weights, but data.weight is not set"
            hint: str | None = (
                "set data.weight to the weight key, or map the argument to another key"
            )
        else:
            near = closest(key, [*keys, *BATCH_FIELDS])
            message = (
                f"{key!r} is not a batch key: the data gives {', '.join(keys)}, and trainspec "
                f"adds {', '.join(BATCH_FIELDS)}"
            )
            hint = f"did you mean {near!r}?" if near else None
        origin = lookup_origin(origins, path)
        problems.append(
            Problem(
                message,
                path,
                origin.source if origin else None,
                origin.line if origin else None,
                origin.column if origin else None,
                hint,
            )
        )
    return problems
