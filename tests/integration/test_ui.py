"""``trainspec ui``: says its URL once MLflow answers, and a SIGTERM ends the whole server."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ui_announces_once_answering_and_sigterm_ends_the_group(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    root = tmp_path / "runs"
    root.mkdir()
    MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}").search_experiments()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "trainspec", "ui", "--root", str(root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    try:
        line = lines.get(timeout=240)
        assert f"http://127.0.0.1:{port}" in line
        # The line comes only once the page answers: no waiting after it.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            assert page.status == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        deadline = time.monotonic() + 10
        while _listening(port) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _listening(port), "MLflow's server still answers after trainspec ui ended"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
