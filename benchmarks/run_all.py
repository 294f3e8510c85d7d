"""`make bench`: run every benchmark in this folder, one after the other.

Each benchmark measures speed as a ratio against a reference run in the same script (a plain
PyTorch loop, a plain DataLoader, plain Optuna, plain FastAPI) and prints it.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = set(sys.argv[1:])
    for path in sorted(HERE.glob("bench_*.py")):
        if only and path.stem not in only:
            continue
        print(f"\n=== {path.stem} ===", flush=True)
        module = runpy.run_path(str(path))
        result = module["main"]()
        if isinstance(result, int) and result != 0:
            return result
    return 0


if __name__ == "__main__":
    sys.exit(main())
