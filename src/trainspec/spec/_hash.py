"""The hash of a resolved spec: sha256 of its canonical JSON."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_json", "spec_hash"]


def canonical_json(data: Mapping[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the same content always gives the same text,
    whether it was written in YAML or JSON and in whatever key order."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(data: Mapping[str, Any]) -> str:
    """sha256 hex digest of ``canonical_json(data)``."""
    return hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()
