"""The entry point of a sweep's worker process: ``python -m trainspec.experiments._sweep_main
SWEEP_DIR WORKER [DEADLINE]``. It reads the sweep's plan from ``SWEEP_DIR/sweep.json`` and
works until the budget or the deadline is reached; exit status 130 when interrupted."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from trainspec.experiments._sweep_plan import plan_from_data
from trainspec.experiments._sweep_worker import read_manifest, work

__all__ = ["main"]


def main(argv: list[str]) -> int:
    sweep_dir, worker = Path(argv[0]), int(argv[1])
    deadline = float(argv[2]) if len(argv) > 2 and argv[2] else None
    logging.basicConfig(
        level=logging.WARNING, format=f"[sweep worker {worker}] %(levelname)s %(message)s"
    )
    manifest = read_manifest(sweep_dir)
    plan = plan_from_data(manifest["spec"], files=manifest.get("files", ()), check=False)
    finished = work(
        plan, worker=worker, parent_run_id=manifest.get("parent_run_id"), deadline=deadline
    )
    return 0 if finished else 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
