"""The HTTP server over loopback with a real client (httpx): readiness, valid and invalid
requests, limits, concurrency, metrics and drift, records, the ONNX backend, SIGTERM, and
schemathesis against the OpenAPI spec."""

# The run fixtures are imported from the unit tests' conftest; their names are reused as
# test parameters, which is how pytest injects them.
# ruff: noqa: F811

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT
from tests.unit.inference.conftest import (  # noqa: F401  (fixtures)
    digits_frame,
    digits_run,
    make_table,
    records_h5,
    records_run,
    table_csv,
    table_torch_run,
    write_records,
)
from trainspec.inference import ModelService, ServeOptions, create_app, predict_run

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(service: ModelService, *, load: bool = True) -> Iterator[httpx.Client]:
    """A uvicorn server on a free loopback port in a thread, and a client for it."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        create_app(service, load=load), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield client
    finally:
        client.close()
        server.should_exit = True
        thread.join(timeout=10)


def rows(frame: pd.DataFrame, start: int, n: int) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = (
        frame.drop(columns=["target"]).iloc[start : start + n].to_dict(orient="records")
    )
    return records


def test_readiness_before_and_after_load(digits_run: Path) -> None:
    service = ModelService(digits_run)
    with running(service, load=False) as client:
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "loading"
        assert client.post("/predict", json={"instances": []}).status_code == 503
        assert "trainspec_model_ready 0.0" in client.get("/metrics").text
        service.load()
        assert client.get("/ready").status_code == 200
        assert client.post("/predict", json={"instances": []}).status_code == 200


def test_valid_invalid_empty_and_oversize_requests(
    digits_run: Path, digits_frame: pd.DataFrame
) -> None:
    service = ModelService(digits_run, ServeOptions(max_body_bytes=64_000, max_batch=100))
    with running(service) as client:
        assert service.wait(60)
        batch = rows(digits_frame, 0, 20)
        answer = client.post("/predict", json={"instances": batch})
        assert answer.status_code == 200
        body = answer.json()
        expected = predict_run(digits_run, pd.DataFrame(batch))
        assert isinstance(expected, pd.DataFrame)
        assert body["predictions"] == expected["prediction"].tolist()
        assert body["classes"] == [str(k) for k in range(10)]
        np.testing.assert_allclose(
            body["probabilities"], expected.filter(like="proba_").to_numpy(), atol=1e-6
        )

        missing = dict(batch[0])
        del missing["pixel_2_5"]
        wrong = {**batch[1], "pixel_7_1": "dark"}
        invalid = client.post("/predict", json={"instances": [batch[2], missing, wrong]})
        assert invalid.status_code == 422
        locs = [e["loc"] for e in invalid.json()["detail"]]
        assert ["body", "instances", 1, "pixel_2_5"] in locs
        assert ["body", "instances", 2, "pixel_7_1"] in locs
        assert client.post("/predict", json={"rows": batch}).status_code == 422
        assert (
            client.post(
                "/predict", content=b"{not json", headers={"content-type": "application/json"}
            ).status_code
            == 422
        )

        empty = client.post("/predict", json={"instances": []})
        assert empty.status_code == 200 and empty.json()["predictions"] == []

        big = {"instances": rows(digits_frame, 0, 90)}  # under max_batch, over the byte limit
        too_large = client.post("/predict", json=big)
        assert too_large.status_code == 413 and "limit is 64000 bytes" in too_large.text
        streamed = client.post(
            "/predict",
            content=iter([b'{"instances": [', b" " * 70_000, b"]}"]),  # chunked: no length
            headers={"content-type": "application/json"},
        )
        assert streamed.status_code == 413
        assert client.post(
            "/predict", json={"instances": rows(digits_frame, 0, 101)}
        ).status_code in (413, 422)
        assert client.get("/ready").status_code == 200  # the server is still fine


def test_concurrent_requests(digits_run: Path, digits_frame: pd.DataFrame) -> None:
    expected = predict_run(digits_run, digits_frame.drop(columns=["target"]).iloc[:240])
    assert isinstance(expected, pd.DataFrame)
    with running(ModelService(digits_run)) as client:
        client.get("/health")

        def call(k: int) -> tuple[int, list[str]]:
            with httpx.Client(base_url=client.base_url, timeout=60) as own:
                deadline = time.monotonic() + 60
                while own.get("/ready").status_code != 200:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                answer = own.post("/predict", json={"instances": rows(digits_frame, 10 * k, 10)})
                return k, answer.json()["predictions"]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(call, range(24)))
        for k, predictions in results:
            assert predictions == expected["prediction"].iloc[10 * k : 10 * k + 10].tolist()
        metrics = client.get("/metrics").text
        assert (
            'trainspec_requests_total{method="POST",path="/predict",status="200"} 24.0' in metrics
        )
        assert "trainspec_predictions_total 240.0" in metrics


def test_metrics_and_drift_of_recent_inputs(table_torch_run: Path) -> None:
    service = ModelService(table_torch_run, ServeOptions(drift_min_rows=100))
    with running(service) as client:
        assert service.wait(60)
        assert client.get("/drift").json()["status"] == "insufficient data"
        frame = make_table(150, seed=21)
        shifted = frame.assign(b=frame["b"] + 15.0)[["a", "b", "color"]]
        answer = client.post("/predict", json={"instances": shifted.to_dict(orient="records")})
        assert answer.status_code == 200 and answer.json()["classes"] == ["cat", "dog", "eel"]
        client.post("/predict", json={"instances": [{"a": 1.0, "b": 2.0}]})  # 422: no color
        huge = client.post("/predict", json={"instances": [{"a": 1.0, "b": 1e300, "color": "red"}]})
        assert huge.status_code == 422
        assert huge.json()["detail"][0]["loc"] == ["body", "instances", 0, "b"]
        drift = client.get("/drift").json()
        assert drift["status"] == "ok" and drift["drifted"] == ["b"]
        text = client.get("/metrics").text
        assert 'trainspec_drift_flagged{feature="b"} 1.0' in text
        assert 'trainspec_drift_flagged{feature="a"} 0.0' in text
        assert 'trainspec_request_errors_total{kind="client",path="/predict"} 2.0' in text
        assert "trainspec_drift_window_rows 150.0" in text
        assert 'trainspec_request_duration_seconds_count{method="POST",path="/predict"} 3.0' in text


def _raw(client: httpx.Client, body: str) -> httpx.Response:
    return client.post("/predict", content=body, headers={"content-type": "application/json"})


def test_non_finite_and_mistyped_values_are_422s_naming_the_column(
    table_torch_run: Path,
) -> None:
    strict = ModelService(table_torch_run)
    with running(strict) as client:
        assert strict.wait(60)
        good = '{"a": 1.5, "b": 2, "color": "red"}'
        assert _raw(client, f'{{"instances": [{good}]}}').status_code == 200
        for literal in ("NaN", "Infinity", "-Infinity", "1e39", "true", '"3.5"'):
            bad = good.replace("1.5", literal)
            answer = _raw(client, f'{{"instances": [{good}, {bad}]}}')
            assert answer.status_code == 422, (literal, answer.text)
            detail = answer.json()["detail"]
            assert [e["loc"] for e in detail] == [["body", "instances", 1, "a"]], literal
        text = client.get("/metrics").text
        assert 'kind="server"' not in text  # no 500 among them
    coercing = ModelService(table_torch_run, ServeOptions(coerce=True))
    with running(coercing) as client:
        assert coercing.wait(60)
        answer = client.post(
            "/predict", json={"instances": [{"a": "3.5", "b": True, "color": "red"}]}
        )
        assert answer.status_code == 200
        expected = client.post("/predict", json={"instances": [{"a": 3.5, "b": 1, "color": "red"}]})
        assert answer.json() == expected.json()


def test_docs_work_offline(digits_run: Path) -> None:
    service = ModelService(digits_run)
    with running(service, load=False) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        # Every script and style the page loads comes from this server, none from a CDN.
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets and all(a.startswith("/") for a in assets), assets
        for asset in assets:
            got = client.get(asset)
            assert got.status_code == 200 and len(got.content) > 1000, asset
        assert client.get("/redoc").status_code == 200
        assert client.get("/openapi.json").json()["info"]["title"] == "trainspec model server"


def test_readiness_during_start_up_is_not_counted_as_an_error(digits_run: Path) -> None:
    service = ModelService(digits_run)
    with running(service, load=False) as client:
        for _ in range(3):
            assert client.get("/ready").status_code == 503
        service.load()
        assert client.get("/ready").status_code == 200
        text = client.get("/metrics").text
        assert 'trainspec_requests_total{method="GET",path="/ready",status="503"} 3.0' in text
        assert "trainspec_request_errors_total{" not in text.replace("# ", "")


def test_records_served_by_onnx_runtime(records_run: Path, tmp_path: Path) -> None:
    path = write_records(tmp_path / "new.h5", [4, 7], seed=5)
    expected = predict_run(records_run, path)
    assert isinstance(expected, pd.DataFrame)
    import h5py

    with h5py.File(path) as f:
        nights = [
            {
                "ecgs": f[f"records/{n}/ecg"][()][:, None, :].tolist(),
                "additional": f[f"records/{n}/features"][()].tolist(),
            }
            for n in ("night00", "night01")
        ]
    service = ModelService(records_run, ServeOptions(backend="onnx"))
    with running(service) as client:
        assert service.wait(120), service.error
        answer = client.post("/predict", json={"instances": nights})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert [len(p) for p in body["predictions"]] == [4, 7]  # one label per epoch
        flat = [p for night in body["probabilities"] for p in night]
        np.testing.assert_allclose(flat, expected.filter(like="proba_").to_numpy(), atol=1e-4)
        ragged = {**nights[0], "additional": nights[0]["additional"][:3]}
        bad = client.post("/predict", json={"instances": [nights[1], ragged]})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["loc"] == ["body", "instances", 1, "additional"]
        docs = client.get("/openapi.json").json()
        instance = docs["components"]["schemas"]["Instance"]
        assert set(instance["properties"]) == {"ecgs", "additional"}
        assert client.get("/docs").status_code == 200
        assert client.get("/model").json()["records"] is True


@pytest.fixture(scope="module")
def slow_run(tmp_path_factory: pytest.TempPathFactory, table_csv: Path) -> Path:
    from trainspec.experiments import run_experiment

    spec = {
        "task": "classification",
        "allow_imports": ["tests.unit.inference"],
        "model": {"target": "tests.unit.inference.user_nets.SlowNet", "params": {"in_features": 2}},
        "data": {
            "source": {"type": "csv", "path": str(table_csv)},
            "features": ["a", "b"],
            "target": "label",
        },
        "train": {"epochs": 1, "progress": "none"},
        "tracking": {"backend": "none"},
    }
    run_dir = tmp_path_factory.mktemp("slow") / "run"
    run_experiment(spec, run_dir=run_dir)
    return run_dir


def test_sigterm_lets_in_flight_requests_finish(slow_run: Path) -> None:
    port = free_port()
    code = (
        "from trainspec.inference import serve; "
        f"serve({str(slow_run)!r}, port={port}, log_level='warning')"
    )
    env = {**os.environ, "TRAINSPEC_TEST_DELAY": "1.5", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not become ready"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            time.sleep(0.1)

        def call(k: int) -> int:
            body = {"instances": [{"a": float(k), "b": 1.0}]}
            return httpx.post(f"{base}/predict", json=body, timeout=30).status_code

        with ThreadPoolExecutor(max_workers=3) as pool:
            futures = [pool.submit(call, k) for k in range(3)]
            time.sleep(0.5)  # the three requests are in the model now
            proc.send_signal(signal.SIGTERM)
            statuses = [f.result() for f in futures]
        assert statuses == [200, 200, 200]
        # uvicorn shuts down gracefully, then re-raises the signal: the usual exit status.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{base}/health", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_schemathesis_finds_no_server_errors(table_torch_run: Path) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    service = ModelService(table_torch_run, ServeOptions(max_batch=50))
    with running(service) as client:
        assert service.wait(60)
        schema = schemathesis.openapi.from_url(f"{client.base_url}/openapi.json")
        failures: list[str] = []
        for result in schema.get_all_operations():
            operation = result.ok()

            @settings(
                max_examples=50,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            @given(case=operation.as_strategy())
            def check(case: Any) -> None:
                response = case.call(base_url=str(client.base_url))
                if response.status_code >= 500:
                    status, text = response.status_code, response.text[:200]
                    failures.append(f"{case.method} {case.path} -> {status}: {text}")

            check()
        assert not failures, failures
