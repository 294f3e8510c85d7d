"""What a pipeline run keeps on disk: ``pipeline.json`` in its folder, and the step cache.

``pipeline.json`` is rewritten whole (atomically) at every change of state, so a reader, a
second ``pipeline run`` or a ``pipeline status`` never sees half a file, even after Ctrl-C.

The cache is a folder of small JSON entries, one per finished step, named by its cache key:
where the step's outputs are (its folder in the run that made them) and their fingerprints.
An entry is used only while those outputs still exist with the same content.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainspec.errors import TrainspecError
from trainspec.pipelines._fingerprint import fingerprint

__all__ = ["PIPELINE_FILE", "STATES", "Cache", "RunRecord", "evaluations", "now"]

PIPELINE_FILE = "pipeline.json"
# pending: not started; running; finished: ran here; cached: reused from the cache;
# failed; interrupted (Ctrl-C / SIGTERM); blocked: an upstream step failed or was stopped.
STATES = ("pending", "running", "finished", "cached", "failed", "interrupted", "blocked")
DONE = ("finished", "cached")


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _write(path: Path, data: Any) -> None:
    from trainspec.files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def outputs_intact(outputs: dict[str, str], prints: dict[str, str | None]) -> bool:
    """Whether every output recorded with a fingerprint still has that content."""
    return all(fingerprint(outputs[k]) == v for k, v in prints.items() if k in outputs)


@dataclass
class RunRecord:
    """The contents of ``pipeline.json``."""

    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, folder: Path) -> RunRecord:
        path = folder / PIPELINE_FILE
        if not path.is_file():
            return cls(path, {})
        try:
            return cls(path, json.loads(path.read_text(encoding="utf-8")))
        except json.JSONDecodeError as exc:
            raise TrainspecError(
                f"{path} is not valid JSON ({exc}); it was not written by trainspec, or was "
                "edited: move it away to start the pipeline afresh in this folder"
            ) from None

    def start(self, header: dict[str, Any], steps: list[str]) -> None:
        old = self.data.get("steps") or {}
        self.data = {**header, "state": "running", "started": now(), "ended": None}
        self.data["steps"] = {n: old.get(n) or {"state": "pending"} for n in steps}
        self.save()

    def step(self, name: str) -> dict[str, Any]:
        steps: dict[str, dict[str, Any]] = self.data.setdefault("steps", {})
        return steps.setdefault(name, {"state": "pending"})

    def update(self, name: str, **values: Any) -> None:
        self.step(name).update(values)
        self.save()

    def finish(self, state: str) -> None:
        self.data["state"] = state
        self.data["ended"] = now()
        self.save()

    def save(self) -> None:
        _write(self.path, self.data)


@dataclass
class Cache:
    """Finished steps by cache key (see the module docstring)."""

    folder: Path

    def _entry(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        """The entry for ``key`` while its outputs are intact, else None."""
        path = self._entry(key)
        if not path.is_file():
            return None
        try:
            entry: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return None
        if not outputs_intact(entry.get("outputs") or {}, entry.get("fingerprints") or {}):
            return None
        return entry

    def put(self, key: str, entry: dict[str, Any]) -> None:
        _write(self._entry(key), {"key": key, **entry})


def evaluations(record: dict[str, Any]) -> list[dict[str, Any]]:
    """What each finished evaluate step scored (its ``--out`` JSON) and the command behind it."""
    found = []
    for name, step in (record.get("steps") or {}).items():
        path = (step.get("outputs") or {}).get("out", "")
        if step.get("state") not in DONE or not path.endswith("evaluation.json"):
            continue
        try:
            result = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        found.append({"step": name, "command": step.get("command", ""), **result})
    return found
