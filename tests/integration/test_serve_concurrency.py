"""The server under concurrent clients: micro-batched answers equal to answers served alone, a
bad request among batched ones, and ``trainspec serve --workers 2`` in a subprocess with
metrics summed over its worker processes."""

# The run fixtures are imported from the unit tests' conftest; their names are reused as
# test parameters, which is how pytest injects them.
# ruff: noqa: F811

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.integration.test_serve import free_port, rows, running, slow_run  # noqa: F401
from tests.unit.inference.conftest import digits_frame, digits_run, table_csv  # noqa: F401
from trainspec.inference import ModelService, ServeOptions

pytestmark = pytest.mark.integration


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_concurrent_clients_get_the_answers_they_get_alone(
    digits_run: Path, digits_frame: pd.DataFrame
) -> None:
    # Requests of 1 to 8 instances from 8 clients at once; one carries a pixel the fitted
    # standardisation turns into infinity (it passes the schema and fails in the transforms).
    bodies: list[list[dict[str, Any]]] = [rows(digits_frame, 9 * k, 1 + k % 8) for k in range(12)]
    bad = [dict(r) for r in rows(digits_frame, 200, 3)]
    bad[1]["pixel_1_0"] = 3.0e38
    service = ModelService(digits_run, ServeOptions(max_batch_rows=64, max_wait_ms=200))
    with running(service) as client:
        assert service.wait(60), service.error
        alone = [client.post("/predict", json={"instances": b}).json() for b in bodies]
        start = threading.Barrier(8)

        def call(k: int) -> httpx.Response:
            body = bad if k == 12 else bodies[k]
            with httpx.Client(base_url=client.base_url, timeout=60) as own:
                if k < 8:
                    start.wait()  # the first eight arrive together
                return own.post("/predict", json={"instances": body})

        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(call, range(13)))
        refused = answers.pop()
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["loc"][:3] == ["body", "instances", 1]
        for k, (got, single) in enumerate(zip(answers, alone, strict=True)):
            assert got.status_code == 200, (k, got.text)
            body = got.json()
            assert body["predictions"] == single["predictions"], k
            assert len(body["predictions"]) == len(bodies[k])
            np.testing.assert_allclose(body["probabilities"], single["probabilities"], atol=1e-6)
        text = client.get("/metrics").text
        # Some requests shared a forward pass (the first eight arrived within the 200 ms wait).
        assert _metric(text, "trainspec_batched_requests_total") >= 2
        served = 2 * sum(len(b) for b in bodies)
        assert _metric(text, "trainspec_batch_instances_sum") == served
        assert _metric(text, "trainspec_batch_instances_count") < 24
        assert _metric(text, "trainspec_predictions_total") == served


def test_the_server_answers_while_the_model_is_busy(
    slow_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINSPEC_TEST_DELAY", "2")  # each forward pass sleeps 2 s
    service = ModelService(slow_run, ServeOptions(max_batch_rows=0))
    with running(service) as client, ThreadPoolExecutor(max_workers=1) as pool:
        assert service.wait(60), service.error
        body = {"instances": [{"a": 1.0, "b": 2.0}]}
        slow = pool.submit(client.post, "/predict", json=body)
        time.sleep(0.3)  # the request is in the model now
        with httpx.Client(base_url=client.base_url, timeout=30) as other:
            assert other.get("/ready").status_code == 200
            # in flight: the slow request and this scrape
            assert "trainspec_requests_in_flight 2.0" in other.get("/metrics").text
        assert not slow.done()  # answered while the forward pass was still running
        assert slow.result(timeout=30).status_code == 200


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_two_worker_processes_answer_and_metrics_sum_over_them(
    digits_run: Path, digits_frame: pd.DataFrame, tmp_path: Path
) -> None:
    port = free_port()
    cmd = [sys.executable, "-m", "trainspec", "serve", str(digits_run), "--port", str(port)]
    cmd += ["--workers", "2", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    log = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stderr=log, stdout=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        ready = 0
        while ready < 6:  # a run of answers from the shared port: both workers are up
            assert proc.poll() is None, (tmp_path / "stderr").read_text()
            assert time.monotonic() < deadline, "the workers did not become ready"
            with contextlib.suppress(httpx.TransportError):
                ok = httpx.get(f"{base}/ready", timeout=5).status_code == 200
                ready = ready + 1 if ok else 0
            time.sleep(0.05)
        workers = [p for p in _children(proc.pid) if "spawn" in _cmdline(p)]
        assert len(workers) >= 2, [_cmdline(p) for p in _children(proc.pid)]

        def call(k: int) -> list[str]:
            body = {"instances": rows(digits_frame, 5 * k, 5)}
            answer = httpx.post(f"{base}/predict", json=body, timeout=60)
            while answer.status_code == 503 and time.monotonic() < deadline:
                # this request reached a worker still loading the model: retry, as told
                time.sleep(float(answer.headers["retry-after"]))
                answer = httpx.post(f"{base}/predict", json=body, timeout=60)
            assert answer.status_code == 200, answer.text
            predictions: list[str] = answer.json()["predictions"]
            return predictions

        with ThreadPoolExecutor(max_workers=4) as pool:
            got = list(pool.map(call, range(12)))
        from trainspec.inference import predict_run

        expected = predict_run(digits_run, digits_frame.drop(columns=["target"]).iloc[:60])
        assert isinstance(expected, pd.DataFrame)
        assert [p for part in got for p in part] == expected["prediction"].tolist()
        for _ in range(3):  # whichever worker answers the scrape, the counts are the sum
            text = httpx.get(f"{base}/metrics", timeout=10).text
            name = 'trainspec_requests_total{method="POST",path="/predict",status="200"}'
            assert _metric(text, name) == 12.0  # 503s from a worker still loading aside
            assert _metric(text, "trainspec_predictions_total") == 60.0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) in (0, -signal.SIGTERM)
        stderr = (tmp_path / "stderr").read_text()
        assert "2 worker processes, 1 intra-op thread each" in stderr, stderr
        assert all(not Path(f"/proc/{p}").exists() for p in workers)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    return ""
