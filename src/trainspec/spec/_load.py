"""Loading specs. (Minimal first version: replaced by the full loader.)"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from trainspec.errors import Problem, SpecError
from trainspec.spec._schema import JobSpec
from trainspec.spec._schema_model import ArchSpec

__all__ = ["LoadedSpec", "load_spec", "spec_hash"]


def spec_hash(data: Mapping[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class LoadedSpec:
    data: dict[str, Any]
    job: JobSpec | None
    arch: Any
    files: tuple[str, ...]
    hash: str


def load_spec(*sources: str | Path | Mapping[str, Any], overrides: Sequence[str] = ()) -> LoadedSpec:
    data: dict[str, Any] = {}
    files: list[str] = []
    for src in sources:
        if isinstance(src, Mapping):
            data.update(src)
        else:
            files.append(str(src))
            data.update(yaml.safe_load(Path(src).read_text()))
    if isinstance(data.get("model"), str):
        base = Path(files[0]).parent if files else Path()
        data["model"] = yaml.safe_load((base / data["model"]).read_text())
    try:
        if "data" in data or "model" in data:
            job = JobSpec.model_validate(data)
            return LoadedSpec(data, job, job.model, tuple(files), spec_hash(data))
        arch = TypeAdapter(ArchSpec).validate_python(data)
    except ValidationError as exc:
        raise SpecError([Problem(e["msg"], tuple(e["loc"])) for e in exc.errors()]) from None
    return LoadedSpec(data, None, arch, tuple(files), spec_hash(data))
