"""Format versions of what trainspec writes, and the one rule for reading them.

Every JSON document trainspec reads back (a run's ``environment.json``, a checkpoint's
``state.json``, a saved model's ``model.json``, fitted transforms' ``transforms.json``) carries
``format_version``. A reader opens its own version and every earlier one, and refuses a newer
one with the fix (upgrade trainspec), rather than misreading it. Documents written before the
key existed read as their old ``format`` field, or as version 0 where they had none (a run
directory's ``environment.json``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trainspec.errors import FormatError

__all__ = ["FORMAT_KEY", "RUN_FORMAT_VERSION", "check_format"]

FORMAT_KEY = "format_version"
# The run directory's layout (docs/architecture.md, "A run on disk"), recorded in its
# environment.json. 0: written before versions were recorded, same layout as 1.
RUN_FORMAT_VERSION = 1


def check_format(doc: Mapping[str, Any], current: int, *, what: str, where: Path | str) -> int:
    """The format version of ``doc`` (``where`` holds it), once it is one this trainspec reads:
    ``current`` or earlier."""
    from trainspec import __version__

    found = doc.get(FORMAT_KEY, doc.get("format", 0))
    if not isinstance(found, int) or isinstance(found, bool) or found < 0:
        raise FormatError(
            f"{where}: {FORMAT_KEY} {found!r} is not a format version (a whole number); the "
            f"{what} is damaged or was not written by trainspec"
        )
    if found > current:
        raise FormatError(
            f"{where}: the {what} has format version {found}, newer than this trainspec "
            f"({__version__}) reads (up to {current}): it was written by a newer trainspec. "
            "Upgrade trainspec (pip install --upgrade trainspec) to open it"
        )
    return found
