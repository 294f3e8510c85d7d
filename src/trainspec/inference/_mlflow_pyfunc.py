"""The pyfunc class MLflow pickles by reference: importing this module imports MLflow."""

from __future__ import annotations

import importlib
from typing import Any

_PythonModel: Any = importlib.import_module("mlflow.pyfunc").PythonModel

__all__ = ["TrainspecPyfunc"]


class TrainspecPyfunc(_PythonModel):  # type: ignore[misc]
    """Loads the bundled run once; ``predict`` is ``trainspec predict`` on raw inputs."""

    # Inputs are checked against the signature made from the run's schema; MLflow's checks
    # from predict's type hints (here ``Any``) would only warn at every import and save.
    _skip_type_hint_validation = True

    def load_context(self, context: Any) -> None:
        from trainspec.inference._run import load_run

        self._run = load_run(context.artifacts["run"], checkpoint="final")

    def predict(self, context: Any, model_input: Any, params: dict[str, Any] | None = None) -> Any:
        from trainspec.inference._predict import predict_run

        if getattr(self, "_run", None) is None:
            self.load_context(context)
        return predict_run(self._run, model_input)
