"""Limits on spec files, so a malformed or hostile file fails fast with a clear error."""

from __future__ import annotations

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES"]

# A spec is a few kilobytes; anything near this is a mistake (a data file named as a spec).
# PyYAML reads about 0.5 MB/s (C loader) down to 0.2 MB/s (pure Python): at this size a spec
# still validates or fails within about two seconds.
MAX_FILE_BYTES = 512 * 1024
# Mappings and lists nested deeper than this are refused before Python's recursion limit.
MAX_DEPTH = 64
# YAML aliases may not expand a file past this many values ("billion laughs").
MAX_NODES = 1_000_000
