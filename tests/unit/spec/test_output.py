"""What the spec layer writes: the hash, YAML and JSON dumps, the JSON Schemas."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from trainspec.spec import (
    SCHEMA_FILES,
    dump_json,
    dump_yaml,
    json_schemas,
    load_spec,
    spec_hash,
    write_schemas,
)
from trainspec.spec._yaml import SpecLoader

from .conftest import JOB, Write


def test_hash_same_for_yaml_and_json_and_any_key_order(write: Write) -> None:
    write("job.yaml", JOB)
    data = yaml.safe_load(JOB)
    reordered = dict(reversed(list(data.items())))
    write("job.json", json.dumps(reordered, indent=4))
    yaml_hash = load_spec("job.yaml").hash
    assert load_spec("job.json").hash == yaml_hash
    assert load_spec(reordered).hash == yaml_hash
    assert len(yaml_hash) == 64


def test_hash_changes_with_content() -> None:
    assert spec_hash({"a": 1}) != spec_hash({"a": 2})
    assert spec_hash({"a": 1}) != spec_hash({"a": 1.0})
    assert spec_hash({"a": [1, 2]}) != spec_hash({"a": [2, 1]})


def test_hash_is_sha256_of_canonical_json() -> None:
    import hashlib

    data = {"b": "é", "a": [1, {"z": None, "y": True}]}
    canonical = '{"a":[1,{"y":true,"z":null}],"b":"é"}'
    assert spec_hash(data) == hashlib.sha256(canonical.encode()).hexdigest()


def test_hash_same_after_extends_as_written_out(write: Write) -> None:
    write("base.yaml", JOB)
    write("child.yaml", "extends: base.yaml\nseed: 3\n")
    flat = load_spec("child.yaml")
    write("flat.yaml", dump_yaml(flat.data))
    assert load_spec("flat.yaml").hash == flat.hash


def test_dump_yaml_keeps_order_and_is_readable(write: Write) -> None:
    write("job.yaml", JOB)
    text = dump_yaml(load_spec("job.yaml").data)
    assert text.startswith("model:\n  inputs: [4]\n")
    assert "source: {type: sklearn, name: iris}" in text


def test_dump_yaml_quotes_strings_that_would_change_type() -> None:
    data = {"a": "1e-4", "b": "2024-01-01", "c": "yes", "d": "null", "e": "3", "f": "1:20"}
    text = dump_yaml(data)
    assert yaml.safe_load(text) == data
    assert yaml.load(text, Loader=SpecLoader) == data


def test_dump_json() -> None:
    data = {"b": 1, "a": ["é"]}
    text = dump_json(data)
    assert text.endswith("\n") and "é" in text
    assert list(json.loads(text)) == ["b", "a"]


keys = st.text(min_size=1, max_size=8)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=15,
)


@given(st.dictionaries(keys, values, max_size=5))
def test_dump_yaml_round_trips(data: dict[str, Any]) -> None:
    text = dump_yaml(data)
    back = yaml.safe_load(text)
    assert back == data
    assert list(back) == list(data)
    assert yaml.load(text, Loader=SpecLoader) == data


def test_dump_yaml_round_trips_special_floats() -> None:
    data = {"a": math.inf, "b": -math.inf, "c": 1e-20, "d": 1e20, "e": -0.0}
    assert yaml.safe_load(dump_yaml(data)) == data


def test_json_schemas() -> None:
    schemas = json_schemas()
    assert set(schemas) == {"job", "arch", "pipeline"}
    job, arch = schemas["job"], schemas["arch"]
    assert job["$schema"].startswith("https://json-schema.org/")
    assert job["additionalProperties"] is False
    assert {"model", "data", "train", "extends"} <= set(job["properties"])
    file_ref = {"type": "string", "pattern": r"\.(ya?ml|json)$"}
    assert any(
        {k: v for k, v in option.items() if k != "description"} == file_ref
        for option in job["properties"]["model"]["anyOf"]
    )
    assert "oneOf" in arch or "anyOf" in arch
    assert "extends" in arch["$defs"]["SequentialArch"]["properties"]
    params = arch["$defs"]["ImportedModel"]["properties"]["params"]
    assert "anyOf" in params
    json.dumps(schemas)


def test_write_schemas(tmp_path: Path) -> None:
    written = write_schemas(tmp_path / "schemas")
    assert [p.name for p in written] == list(SCHEMA_FILES.values())
    assert json.loads(written[0].read_text())["title"] == "trainspec job spec"
