"""Pretrained-backbone blocks: registered, and a missing package names its install command."""

from __future__ import annotations

import importlib.util

import pytest

from trainspec.errors import TrainspecError
from trainspec.models import build_model
from trainspec.registry import registry


def test_backbone_blocks_are_registered() -> None:
    names = registry.names("block")
    assert {"hf_model", "timm_model", "torchvision_model"} <= set(names)


@pytest.mark.parametrize(
    ("block", "package"),
    [
        ({"type": "timm_model", "name": "resnet18", "weights": "w.safetensors"}, "timm"),
        ({"type": "torchvision_model", "name": "resnet18"}, "torchvision"),
    ],
)
def test_a_missing_package_fails_with_its_install_command(
    block: dict[str, str], package: str
) -> None:
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed")
    arch = {"inputs": {"x": [3, 32, 32]}, "blocks": {"backbone": block}}
    with pytest.raises(
        TrainspecError, match=f"needs the '{package}' package.*pip install {package}"
    ):
        build_model(arch)
