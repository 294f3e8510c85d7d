"""Atomic writes, fsynced unless inside skip_fsync()."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from trainspec.files import atomic_write_text, skip_fsync, write_manifest


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_writes_are_fsynced_by_default(tmp_path: Path, fsyncs: list[int]) -> None:
    atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").read_text() == "{}"
    assert len(fsyncs) == 1


def test_skip_fsync_keeps_the_files_and_their_atomicity(tmp_path: Path, fsyncs: list[int]) -> None:
    with skip_fsync():
        atomic_write_text(tmp_path / "a.json", "old")
        atomic_write_text(tmp_path / "a.json", "new")
        write_manifest(tmp_path, ["a.json"])
    assert fsyncs == []
    assert (tmp_path / "a.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "manifest.json"]
    atomic_write_text(tmp_path / "b.json", "{}")  # durable again after the block
    assert len(fsyncs) == 1


def test_skip_fsync_is_local_to_its_thread(tmp_path: Path, fsyncs: list[int]) -> None:
    with skip_fsync():
        other = threading.Thread(target=atomic_write_text, args=(tmp_path / "t.json", "{}"))
        other.start()
        other.join()
    assert len(fsyncs) == 1
