"""trainspec: model architectures and training pipelines as code.

The top-level names are loaded lazily so that ``import trainspec`` (and the CLI's
``--help``, ``validate``, ``show`` and ``schema``) never import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "load_spec",
    "run_experiment",
    "train_model",
]

_LAZY = {
    "load_spec": "trainspec.spec",
    "train_model": "trainspec.api",
    "run_experiment": "trainspec.experiments",
}

if TYPE_CHECKING:
    from trainspec.api import train_model
    from trainspec.experiments import run_experiment
    from trainspec.spec import load_spec


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'trainspec' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
