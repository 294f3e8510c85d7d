"""``trainspec ui``: MLflow's server in a process group of its own, ended as a whole.

``mlflow ui`` starts a web server with worker processes. Run as a plain child, a SIGTERM to
trainspec would leave those workers answering on the port; so the server gets its own session
(process group), and every way trainspec ends (Ctrl-C, SIGTERM, a normal exit) ends that group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from trainspec.errors import TrainspecError
from trainspec.experiments._runs import ui_command

__all__ = ["run_ui"]

# MLflow's server can take half a minute to import and migrate on a loaded machine.
READY_TIMEOUT = 180.0
STOP_GRACE = 10.0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole group, then SIGKILL to what is left after the grace period."""
    if process.poll() is not None:
        with contextlib.suppress(ProcessLookupError):  # the leader is gone; workers may not be
            os.killpg(process.pid, signal.SIGKILL)
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait_ready(process: subprocess.Popen[bytes], url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TrainspecError(
                f"MLflow's server exited with status {process.returncode} before it answered "
                f"on {url} (is the port taken? try --port with another number); the end of its "
                f"log {log}:\n{_tail(log)}"
            )
        if _answers(url):
            return
        time.sleep(0.25)
    raise TrainspecError(f"MLflow's server did not answer on {url} within {timeout:.0f} s")


def run_ui(
    *,
    root: str | Path = "runs",
    uri: str | None = None,
    port: int = 5000,
    announce: Callable[[str], None] | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> int:
    """Run MLflow's UI until Ctrl-C or SIGTERM; say its URL once it answers.

    The server's own output goes to ``<root>/mlflow-ui.log``, not the terminal. Returns 0 after
    a stop by signal, else the server's own exit status.
    """
    command = ui_command(root=root, uri=uri, port=port)
    url = f"http://127.0.0.1:{port}"
    log = Path(root) / "mlflow-ui.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        process = subprocess.Popen(
            command, start_new_session=True, stdout=sink, stderr=subprocess.STDOUT
        )
    stopped = False

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopped
        stopped = True
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        _wait_ready(process, url, ready_timeout, log)
        if announce is not None:
            announce(f"MLflow UI on {url} over {command[5]} (Ctrl-C stops it; log: {log})")
        return process.wait()
    except KeyboardInterrupt:
        stopped = True
        return 0
    finally:
        _stop_group(process)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stopped and announce is not None:
            announce("MLflow UI stopped")
