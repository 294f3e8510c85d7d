"""`make demo`: the README's main job.

Trains the digits example end to end through the CLI and prints where its run directory is.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    spec = HERE / "digits" / "train.yaml"
    cmd = [sys.executable, "-m", "trainspec", "train", str(spec)]
    print("$ trainspec train", spec.relative_to(HERE.parent), flush=True)
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
