"""The JSON Schemas kept in `schemas/` (for editors) match the spec models."""

from __future__ import annotations

import json

from tests.conftest import ROOT
from trainspec.spec import SCHEMA_FILES, json_schemas


def test_committed_schemas_are_current() -> None:
    current = json_schemas()
    for kind, name in SCHEMA_FILES.items():
        path = ROOT / "schemas" / name
        assert path.is_file(), f"{path} is missing: run `trainspec schema --out schemas`"
        assert json.loads(path.read_text()) == current[kind], (
            f"{path} is out of date: run `trainspec schema --out schemas`"
        )
