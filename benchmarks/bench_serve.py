"""``trainspec serve``'s ``POST /predict`` against a bare FastAPI endpoint calling the same model.

Both servers run uvicorn on loopback in this process and serve the digits MLP (trained here for
one epoch) with its fitted transforms. The bare endpoint takes rows as lists of 64 numbers and
returns labels; trainspec's validates rows keyed by column name against the run's schema,
returns labels and probabilities, counts metrics and keeps the drift window. Prints requests/s
and p50 / p99 latency of each, sequential and with concurrent clients, and trainspec / bare as
ratios. Run: ``python benchmarks/bench_serve.py [--requests N] [--rows R] [--clients C]``.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pydantic import BaseModel

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digits" / "train.yaml"


class Body(BaseModel):
    """The bare endpoint's request: rows as lists of numbers, no names."""

    instances: list[list[float]]


def _train(root: Path) -> Path:
    from trainspec.experiments import run_experiment
    from trainspec.spec import load_spec

    overrides = ["train.epochs=1", "tracking.backend=none", "train.progress=none"]
    run_experiment(load_spec(EXAMPLE, overrides=overrides), run_dir=root / "run")
    return root / "run"


def _bare_app(run_dir: Path) -> Any:
    from fastapi import FastAPI

    from trainspec.inference import load_run

    run = load_run(run_dir)
    model = run.model.attach_transforms(run.transforms)
    names = run.class_names or []

    app = FastAPI()

    @app.post("/predict")
    def predict(body: Body) -> dict[str, Any]:
        labels = model.predict(np.asarray(body.instances, dtype=np.float64))
        return {"predictions": [names[int(k)] for k in labels]}

    return app


@contextlib.contextmanager
def _serving(app: Any) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _measure(url: str, body: dict[str, Any], n: int, clients: int) -> dict[str, float]:
    def one(client: httpx.Client) -> float:
        start = time.perf_counter()
        response = client.post(f"{url}/predict", json=body)
        response.raise_for_status()
        return time.perf_counter() - start

    def worker(count: int) -> list[float]:
        with httpx.Client(timeout=60) as client:
            one(client)  # warm the connection
            return [one(client) for _ in range(count)]

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        parts = list(pool.map(worker, [n // clients] * clients))
    wall = time.perf_counter() - start
    latencies = sorted(t for part in parts for t in part)
    return {
        "rps": len(latencies) / wall,
        "p50": statistics.median(latencies) * 1e3,
        "p99": latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1e3,
    }


def _row(name: str, stats: dict[str, float]) -> str:
    rps, p50, p99 = stats["rps"], stats["p50"], stats["p99"]
    return f"  {name:<22} {rps:8.1f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="per measurement")
    parser.add_argument("--rows", type=int, default=8, help="instances per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    args, _ = parser.parse_known_args()

    from sklearn.datasets import load_digits

    from trainspec.inference import ModelService, create_app

    frame = load_digits(as_frame=True).frame.drop(columns=["target"]).iloc[: args.rows]
    named = {"instances": frame.to_dict(orient="records")}
    plain = {"instances": frame.to_numpy().tolist()}
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = _train(Path(tmp))
        service = ModelService(run_dir)
        servers: dict[str, tuple[Callable[[], Any], dict[str, Any]]] = {
            "trainspec serve": (lambda: create_app(service), named),
            "bare FastAPI": (lambda: _bare_app(run_dir), plain),
        }
        results: dict[str, dict[int, dict[str, float]]] = {}
        for name, (make, body) in servers.items():
            with _serving(make()) as url:
                service.wait(60)
                results[name] = {
                    c: _measure(url, body, args.requests, c) for c in (1, args.clients)
                }
    print(f"POST /predict, {args.rows} rows per request, {args.requests} requests per line")
    for clients in (1, args.clients):
        print(f"{clients} client(s):")
        for name in servers:
            print(_row(name, results[name][clients]))
        ours, bare = results["trainspec serve"][clients], results["bare FastAPI"][clients]
        print(
            f"  trainspec / bare: throughput {ours['rps'] / bare['rps']:.2f}x, "
            f"p50 {ours['p50'] / bare['p50']:.2f}x, p99 {ours['p99'] / bare['p99']:.2f}x"
        )


if __name__ == "__main__":
    main()
