"""One rule decides which types of a skops file are loaded: for saved estimators and fitted
transforms alike."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from trainspec.data import prepare_data
from trainspec.errors import DataError, ModelError
from trainspec.models import SklearnModel, load_model
from trainspec.registry import untrusted_types
from trainspec.spec import DataSpec


def test_the_rule() -> None:
    safe = ["sklearn.tree._tree.Tree", "numpy.dtype", "scipy.sparse.csr_matrix"]
    assert untrusted_types(safe) == []
    assert untrusted_types(["builtins.eval", "os.system", "mypkg.Est"]) == [
        "builtins.eval",
        "os.system",
        "mypkg.Est",
    ]
    assert untrusted_types(["mypkg.Est", "mypkgx.Est"], ["mypkg"]) == ["mypkgx.Est"]
    # Prefixes allowed for import paths in specs are not thereby trusted in a file.
    assert untrusted_types(["torch.load", "trainspec.models.Model"]) == [
        "torch.load",
        "trainspec.models.Model",
    ]


def _xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def test_a_saved_estimator_holding_a_builtin_is_refused(tmp_path: Path) -> None:
    x, y = _xy()
    estimator = LogisticRegression().fit(x, y)
    estimator.hook_ = eval  # what a crafted file would carry: skops records builtins.eval
    SklearnModel(estimator, arch={"target": "sklearn.linear_model.LogisticRegression"}).save(
        tmp_path
    )
    with pytest.raises(ModelError, match=r"not trusted: builtins\.eval"):
        load_model(tmp_path)


def test_fitted_transforms_holding_a_builtin_are_refused(tmp_path: Path) -> None:
    from trainspec.data import FittedTransforms

    x, y = _xy()
    spec = DataSpec.model_validate(
        {"source": {"type": "arrays"}, "transforms": [{"type": "sklearn.decomposition.PCA"}]}
    )
    transforms = prepare_data(spec, seed=0, arrays=(x, y)).fold(0).transforms
    transforms.save(tmp_path / "ok")
    assert FittedTransforms.load(tmp_path / "ok").apply({"x": x})["x"].shape == (40, 3)
    _, _, fitted = transforms.fitted[0]
    fitted.estimator_.hook_ = eval  # type: ignore[attr-defined]
    transforms.save(tmp_path / "bad")
    with pytest.raises(DataError, match=r"not trusted \(builtins\.eval\)"):
        FittedTransforms.load(tmp_path / "bad")
