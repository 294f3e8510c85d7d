"""Reads what an offline wandb run wrote (``run-<id>.wandb``), as ``wandb sync`` would upload it.

The file is a LevelDB-style log: a 7-byte header (``:W&B``, a magic number, a version), then
32 KiB blocks of chunks, each ``crc32c (4) | length (2, little-endian) | type (1) | data``,
where type 1 is a whole record and 2/3/4 are its first/middle/last pieces. Each record is a
``wandb.proto.wandb_internal_pb2.Record``. wandb's own reader lives in its compiled service, so
the tests read the file with this.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BLOCK = 32 * 1024
HEADER = 7
CHUNK_HEADER = 7
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def _records(path: Path) -> Iterator[bytes]:
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a wandb run file"
    pos, pending = HEADER, b""
    while pos + CHUNK_HEADER <= len(data):
        left = BLOCK - (pos % BLOCK)
        if left < CHUNK_HEADER:  # the rest of a block too small for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + CHUNK_HEADER])
        chunk = data[pos + CHUNK_HEADER : pos + CHUNK_HEADER + length]
        pos += CHUNK_HEADER + length
        if kind == FULL:
            yield chunk
        elif kind == FIRST:
            pending = chunk
        elif kind == MIDDLE:
            pending += chunk
        elif kind == LAST:
            yield pending + chunk
            pending = b""
        elif kind == 0 and length == 0:  # zero padding at the end of the file
            break


@dataclass
class OfflineRun:
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    exit_code: int | None = None
    name: str = ""
    group: str = ""
    job_type: str = ""
    tags: list[str] = field(default_factory=list)


def _key(item: Any) -> str:
    return str(item.key) if item.key else "/".join(item.nested_key)


def _items(items: Any) -> dict[str, Any]:
    return {_key(i): json.loads(i.value_json) for i in items}


def read_offline_run(root: Path, run_id: str, timeout: float = 60.0) -> OfflineRun:
    """Every ``run-<run_id>.wandb`` under ``root``, oldest first (a resumed run adds a file).

    wandb's service writes the file after ``finish`` returns: wait until the newest file holds
    its exit record.
    """
    deadline = time.monotonic() + timeout
    while True:
        run, complete = _read(root, run_id)
        if complete or time.monotonic() > deadline:
            return run
        time.sleep(0.2)


def _run_fields(run: OfflineRun, record: Any) -> None:
    """The run's name, group, job type and tags, as its latest run record has them."""
    run.name = record.display_name or run.name
    run.group = record.run_group or run.group
    run.job_type = record.job_type or run.job_type
    run.tags = list(record.tags) or run.tags


def _read(root: Path, run_id: str) -> tuple[OfflineRun, bool]:
    from wandb.proto import wandb_internal_pb2 as pb

    # `latest-run` is a link to the newest offline-run folder: read each file once.
    files = sorted(
        {p.resolve() for p in root.rglob(f"run-{run_id}.wandb")}, key=lambda p: p.parent.name
    )
    assert files, f"no offline wandb file for run {run_id} under {root}"
    run = OfflineRun()
    for path in files:
        run.exit_code = None
        for raw in _records(path):
            record = pb.Record()
            record.ParseFromString(raw)
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run.config.update(
                    {_key(i): json.loads(i.value_json) for i in record.run.config.update}
                )
                _run_fields(run, record.run)
            elif kind == "config":
                run.config.update(_items(record.config.update))
            elif kind == "history":
                run.history.append(_items(record.history.item))
            elif kind == "summary":
                run.summary.update(
                    {_key(i): json.loads(i.value_json) for i in record.summary.update}
                )
            elif kind == "exit":
                run.exit_code = int(record.exit.exit_code)
    return run, run.exit_code is not None
