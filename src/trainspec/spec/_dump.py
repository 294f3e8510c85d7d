"""Writing resolved specs back out, for ``trainspec show`` and a run's ``config.yaml``.

``dump_yaml`` keeps key order, writes short lists and mappings of scalars on one line, and
quotes every string that either ``yaml.safe_load`` or trainspec's own loader would read as
something else (``"1e-4"``, ``"2024-01-01"``, ``"yes"``), so the text reads back to the same
data with both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from trainspec.spec._yaml import resolver_table

__all__ = ["dump_json", "dump_yaml"]

_FLOW_WIDTH = 60  # shorter lists and mappings of scalars are written [a, b] and {a: 1}


if TYPE_CHECKING:
    _SafeDumper = yaml.SafeDumper
else:  # libyaml's emitter when PyYAML has it (4x faster on a job spec; the same text)
    _SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SafeDumper):
    # Both loaders' implicit types: a string that either would read otherwise gets quotes.
    yaml_implicit_resolvers = resolver_table(drop=frozenset())

    def ignore_aliases(self, data: Any) -> bool:
        return True  # a value used twice is written twice, never as &id001 / *id001


def _represent_list(dumper: yaml.SafeDumper, items: list[Any]) -> yaml.SequenceNode:
    scalars = all(v is None or isinstance(v, str | int | float | bool) for v in items)
    flow = bool(items) and scalars and len(repr(items)) < _FLOW_WIDTH
    return dumper.represent_sequence("tag:yaml.org,2002:seq", items, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, mapping: dict[str, Any]) -> yaml.MappingNode:
    scalars = all(v is None or isinstance(v, str | int | float | bool) for v in mapping.values())
    flow = bool(mapping) and scalars and len(repr(mapping)) < _FLOW_WIDTH
    return dumper.represent_mapping("tag:yaml.org,2002:map", mapping, flow_style=flow)


class _Top(dict[str, Any]):
    """The top level, always written in block style."""


def _represent_top(dumper: yaml.SafeDumper, mapping: _Top) -> yaml.MappingNode:
    return dumper.represent_mapping("tag:yaml.org,2002:map", dict(mapping), flow_style=False)


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text.strip("\n") else None
    if "\x85" in text:  # PyYAML's single-quoted style loses a NEL; double quotes escape it
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(_Top, _represent_top)
_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Mapping[str, Any]) -> str:
    """YAML text of ``data`` that ``yaml.safe_load`` reads back equal to ``data``."""
    return yaml.dump(
        _Top(data),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


def dump_json(data: Mapping[str, Any]) -> str:
    """Indented JSON text of ``data``, key order kept, ending with a newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
