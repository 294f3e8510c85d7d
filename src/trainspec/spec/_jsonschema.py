"""JSON Schema of the job and architecture specs, for editor completion and checks.

An editor with the YAML language server picks a schema up from a first line such as::

    # yaml-language-server: $schema=../schemas/trainspec-job.schema.json

(VS Code's YAML extension, Neovim's yamlls, JetBrains IDEs). For JSON specs, add a
``"$schema"`` key pointing at the file, or map file patterns to it in the editor settings.

The schemas accept what the loader accepts before validation: an ``extends`` key at the top,
a file name in place of the job's ``model`` and of any ``params`` mapping. Interpolations
(``${...}``) in non-string fields are beyond JSON Schema and may be flagged by an editor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from trainspec.spec._schema import JobSpec
from trainspec.spec._schema_pipeline import PipelineSpec
from trainspec.spec._validate import arch_adapter

__all__ = ["SCHEMA_FILES", "json_schemas", "write_schemas"]

SCHEMA_FILES = {
    "job": "trainspec-job.schema.json",
    "arch": "trainspec-arch.schema.json",
    "pipeline": "trainspec-pipeline.schema.json",
}

_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_FILE_REF = {
    "type": "string",
    "pattern": r"\.(ya?ml|json)$",
    "description": "A spec file, relative to this file.",
}
_EXTENDS = {
    "description": "Spec file(s) this one builds on, merged in order beneath it.",
    "anyOf": [_FILE_REF, {"type": "array", "items": _FILE_REF}],
}


def _allow_file_refs(node: Any) -> None:
    """Let every ``params`` property also be a file name, everywhere in the schema."""
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict) and "params" in props:
            props["params"] = {"anyOf": [props["params"], _FILE_REF]}
        for value in node.values():
            _allow_file_refs(value)
    elif isinstance(node, list):
        for value in node:
            _allow_file_refs(value)


def _finish(schema: dict[str, Any], title: str, *, model_ref: bool) -> dict[str, Any]:
    _allow_file_refs(schema)
    if model_ref:
        props = schema["properties"]
        props["model"] = {"anyOf": [props["model"], _FILE_REF], "title": "Model"}
    # The architecture schema is a union at the top: extends is allowed in each member.
    targets = [schema] if "properties" in schema else _top_members(schema)
    for target in targets:
        target.setdefault("properties", {})["extends"] = _EXTENDS
    return {"$schema": _DIALECT, **schema, "title": title}


def _top_members(schema: dict[str, Any]) -> list[dict[str, Any]]:
    defs = schema.get("$defs", {})
    members = []
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        ref = option.get("$ref", "")
        name = ref.rsplit("/", 1)[-1]
        if name in defs:
            members.append(defs[name])
    return members


def json_schemas() -> dict[str, dict[str, Any]]:
    """``{"job": ..., "arch": ..., "pipeline": ...}``: the JSON Schemas of the three spec kinds."""
    job = _finish(JobSpec.model_json_schema(), "trainspec job spec", model_ref=True)
    arch = _finish(arch_adapter().json_schema(), "trainspec architecture spec", model_ref=False)
    pipeline = PipelineSpec.model_json_schema()
    pipeline["properties"]["extends"] = _EXTENDS
    pipeline = {"$schema": _DIALECT, **pipeline, "title": "trainspec pipeline spec"}
    return {"job": job, "arch": arch, "pipeline": pipeline}


def write_schemas(out_dir: Path) -> list[Path]:
    """Write both schemas into ``out_dir`` (created if needed); returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, schema in json_schemas().items():
        path = out_dir / SCHEMA_FILES[kind]
        path.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
