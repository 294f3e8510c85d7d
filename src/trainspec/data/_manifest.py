"""The one reader of file manifests: a CSV or Parquet table listing files in a folder.

Both folder sources use it: ``folder`` (one table or array file per record) and ``images``
(one image per sample).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trainspec.data._files import resolve_path
from trainspec.errors import DataError

__all__ = ["read_manifest"]


def read_manifest(folder: Path, name: str, file_column: str, what: str) -> tuple[Path, Any]:
    """(manifest path, DataFrame) of ``folder / name``; its ``file_column`` must exist."""
    import pandas as pd

    manifest = resolve_path(str(folder / name), f"{what} manifest")
    try:
        if manifest.suffix.lower() in (".parquet", ".pq"):
            table = pd.read_parquet(manifest)
        else:
            table = pd.read_csv(manifest)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{what} manifest {str(manifest)!r} cannot be read: {exc}") from exc
    if file_column not in table.columns:
        raise DataError(
            f"{what} manifest {str(manifest)!r} has no column {file_column!r} "
            f"(source.file_column); its columns: {', '.join(map(str, table.columns))}"
        )
    return manifest, table
