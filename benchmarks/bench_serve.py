"""``trainspec serve`` against a bare FastAPI app serving the same model, under load from a
separate process.

The digits MLP (trained here for one epoch) is served by ``trainspec serve`` (the CLI, in a
subprocess: with micro-batching as by default, without it, and with ``--workers 2``) and by a
bare FastAPI app (uvicorn, in a subprocess of its own) that takes rows as lists of 64 numbers
and returns labels from the same model and fitted transforms. trainspec's server validates rows
keyed by column name against the run's schema, returns labels and probabilities, counts
metrics and keeps the drift window.

The load comes from another process (this script with ``--load``): an asyncio client holding
C keep-alive connections per server (raw HTTP/1.1 over sockets, so the client costs little
CPU), each sending its requests back to back, at 1, 4 and 16 clients. The machine may be
shared and loaded, and its load changes within seconds, so the measurements are interleaved
finely: one run of the load generator goes round every (server, clients) pair in turn, a burst
of ``--requests`` requests each, for ``--rounds`` rounds, the order rotating each round; a
pair's throughput is its requests over the time its bursts took, its latencies those of all its
requests. Ratios are taken within a run. Printed: medians over ``--repeats`` runs with
[min-max], trainspec / bare ratios, and rows/s with micro-batching at 4 clients against 1
client, each with its goal and whether it was met (goals are printed, not asserted); the last
line, ``MICRO-BATCHING: ...``, gives that 4-client / 1-client ratio with the load average.

Run: ``python benchmarks/bench_serve.py [--repeats 5] [--rounds 10] [--requests 32] [--rows 8]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "digits" / "train.yaml"
CLIENTS = (1, 4, 16)
GOALS = {"throughput": (0.9, ">="), "p99": (1.1, "<="), "batching": (1.5, ">=")}


# ---- the load generator (runs in its own process: ``--load``) ----------------------------


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> None:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = head.split(b" ", 2)[1]
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length)
    if status != b"200":
        raise RuntimeError(f"HTTP {status.decode()}: {body[:200]!r}")


class _Connection:
    """One keep-alive connection; reopened if the server closed it (an idle timeout)."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port, self.request = port, request
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def send(self) -> None:
        for attempt in range(2):
            if self.streams is None:
                self.streams = await asyncio.open_connection("127.0.0.1", self.port)
            try:
                await _exchange(*self.streams, self.request)
                return
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if attempt:
                    raise

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


class _Target:
    """One server at one number of clients: its connections and what they measured."""

    def __init__(self, port: int, body: bytes, clients: int) -> None:
        head = (
            f"POST /predict HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        )
        self.conns = [_Connection(port, head.encode() + body) for _ in range(clients)]
        self.latencies: list[float] = []
        self.wall = 0.0

    async def warm(self) -> None:
        for conn in self.conns:  # open every connection, warm the server's code paths
            for _ in range(3):
                await conn.send()

    async def burst(self, requests: int) -> None:
        """``requests`` requests, shared by the clients, each client's back to back."""
        per_client = max(1, requests // len(self.conns))

        async def run(conn: _Connection) -> None:
            for _ in range(per_client):
                start = time.perf_counter()
                await conn.send()
                self.latencies.append(time.perf_counter() - start)

        start = time.perf_counter()
        await asyncio.gather(*(run(c) for c in self.conns))
        self.wall += time.perf_counter() - start

    def stats(self) -> dict[str, float]:
        for conn in self.conns:
            conn.close()
        ordered = sorted(self.latencies)
        return {
            "rps": len(ordered) / self.wall,
            "p50": statistics.median(ordered) * 1e3,
            "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1e3,
            "sent": len(ordered) + 3 * len(self.conns),  # with the warm-up requests
        }


async def _load(targets: list[_Target], rounds: int, burst: int) -> list[dict[str, float]]:
    """Short bursts on every target in turn, the order rotating each round: a change in the
    machine's load falls on every target alike."""
    for target in targets:
        await target.warm()
    for r in range(rounds):
        k = r % len(targets)
        for target in targets[k:] + targets[:k]:
            await target.burst(burst)
    return [t.stats() for t in targets]


def load_main(args: argparse.Namespace) -> None:
    spec = json.loads(args.load)
    targets = [_Target(port, Path(body).read_bytes(), clients) for port, body, clients in spec]
    stats = asyncio.run(_load(targets, args.rounds, args.requests))
    sys.stdout.write(json.dumps(stats) + "\n")


# ---- the bare FastAPI server (runs in its own process: ``--bare``) -----------------------


def bare_main(args: argparse.Namespace) -> None:
    import numpy as np
    import uvicorn
    from fastapi import FastAPI
    from pydantic import BaseModel

    from trainspec.inference import load_run

    class Body(BaseModel):
        """The bare endpoint's request: rows as lists of numbers, no names."""

        instances: list[list[float]]

    run = load_run(args.bare)
    model = run.model.attach_transforms(run.transforms)
    names = run.class_names or []
    app = FastAPI()

    def predict(body: Body) -> dict[str, Any]:
        labels = model.predict(np.asarray(body.instances, dtype=np.float64))
        return {"predictions": [names[int(k)] for k in labels]}

    # The annotations are strings here (postponed evaluation) naming a local class: hand
    # FastAPI the class itself.
    predict.__annotations__ = {"body": Body, "return": dict[str, Any]}
    app.post("/predict")(predict)

    @app.get("/ready")
    def ready() -> dict[str, str]:
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")


# ---- the driver ----------------------------------------------------------------------------


def _train(root: Path) -> Path:
    from trainspec.experiments import run_experiment
    from trainspec.spec import load_spec

    overrides = ["train.epochs=1", "tracking.backend=none", "train.progress=none"]
    run_experiment(load_spec(EXAMPLE, overrides=overrides), run_dir=root / "run")
    return root / "run"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_ready(port: int, proc: subprocess.Popen[bytes], stable: int) -> None:
    """Until ``stable`` answers in a row from ``/ready`` (every worker up)."""
    import httpx

    deadline, seen = time.monotonic() + 300, 0
    while seen < stable:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the server on port {port} did not become ready")
        with contextlib.suppress(httpx.TransportError):
            ok = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200
            seen = seen + 1 if ok else 0
        time.sleep(0.05)


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its live descendants (the workers)."""
    total = 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += _cpu_seconds(int(child))
    return total


@contextlib.contextmanager
def _servers(run_dir: Path, log: Path) -> Iterator[dict[str, tuple[int, int]]]:
    """Every server, started once and kept up: name -> (port, pid)."""
    py = [sys.executable]
    serve = [*py, "-m", "trainspec", "serve", str(run_dir)]
    commands = {
        "trainspec serve": serve,
        "trainspec, no batching": [*serve, "--max-batch-rows", "0"],
        "trainspec --workers 2": [*serve, "--workers", "2"],
        "bare FastAPI": [*py, __file__, "--bare", str(run_dir)],
    }
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    procs: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    sink = log.open("ab")
    try:
        for name, cmd in commands.items():
            port = _free_port()
            procs[name] = (
                subprocess.Popen([*cmd, "--port", str(port)], env=env, stdout=sink, stderr=sink),
                port,
            )
        for name, (proc, port) in procs.items():
            _wait_ready(port, proc, 8 if "workers" in name else 1)
        yield {name: (port, proc.pid) for name, (proc, port) in procs.items()}
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        for proc, _ in procs.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        sink.close()


def _measure(
    targets: list[tuple[int, Path, int]], rounds: int, burst: int
) -> list[dict[str, float]]:
    """One repeat: a load-generator process interleaving bursts over every target."""
    spec = json.dumps([[port, str(body), clients] for port, body, clients in targets])
    cmd = [sys.executable, __file__, "--load", spec, "--rounds", str(rounds)]
    cmd += ["--requests", str(burst)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    stats: list[dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return stats


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.2f} [{min(values):.2f}-{max(values):.2f}]"


def _met(values: list[float], what: str) -> str:
    goal, sense = GOALS[what]
    value = statistics.median(values)
    ok = value >= goal if sense == ">=" else value <= goal
    return f"goal {sense} {goal}: {'met' if ok else 'NOT met'}"


def _report(results: dict[tuple[str, int], list[dict[str, float]]], rows: int) -> None:
    names = sorted({name for name, _ in results}, key=lambda n: (n == "bare FastAPI", n))
    print(f"{'clients':>7}  {'server':<24} {'req/s':>22} {'p50 ms':>20} {'p99 ms':>20}")
    for clients in CLIENTS:
        for name in names:
            runs = results[(name, clients)]
            cells = [_spread([r[k] for r in runs]) for k in ("rps", "p50", "p99")]
            print(f"{clients:>7}  {name:<24} {cells[0]:>22} {cells[1]:>20} {cells[2]:>20}")
    ours, bare = results[("trainspec serve", 1)], results[("bare FastAPI", 1)]
    tput = [o["rps"] / b["rps"] for o, b in zip(ours, bare, strict=True)]
    p99 = [o["p99"] / b["p99"] for o, b in zip(ours, bare, strict=True)]
    print("\ntrainspec serve / bare FastAPI, 1 client (ratios within a run, median [min-max]):")
    print(f"  throughput {_spread(tput)}x   {_met(tput, 'throughput')}")
    print(f"  p99        {_spread(p99)}x   {_met(p99, 'p99')}")
    for clients in CLIENTS[1:]:
        ours, bare = results[("trainspec serve", clients)], results[("bare FastAPI", clients)]
        t = [o["rps"] / b["rps"] for o, b in zip(ours, bare, strict=True)]
        p = [o["p99"] / b["p99"] for o, b in zip(ours, bare, strict=True)]
        print(f"  {clients} clients: throughput {_spread(t)}x, p99 {_spread(p)}x")
    print(f"\nrows/s with {rows}-row requests, 4 clients / 1 client (within a run):")
    for name in names:
        if name == "bare FastAPI":
            continue
        gain = _gain(results, name)
        rate = statistics.median([f["rps"] * rows for f in results[(name, 4)]])
        goal = f"   {_met(gain, 'batching')}" if name == "trainspec serve" else ""
        print(f"  {name:<24} {_spread(gain)}x ({rate:.0f} rows/s at 4 clients){goal}")


def _gain(results: dict[tuple[str, int], list[dict[str, float]]], name: str) -> list[float]:
    """Per run: the server's rows/s at 4 clients over its rows/s at 1 client."""
    one, four = results[(name, 1)], results[(name, 4)]
    return [f["rps"] / o["rps"] for o, f in zip(one, four, strict=True)]


def _verdict(
    results: dict[tuple[str, int], list[dict[str, float]]],
    rows: int,
    load: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    """The micro-batching figure on one line, last, where a reader of the output looks."""
    gain, off = _gain(results, "trainspec serve"), _gain(results, "trainspec, no batching")
    loads = " / ".join(f"{x[0]:.2f}" for x in load)
    return (
        f"MICRO-BATCHING: {rows}-row requests, 4 clients / 1 client rows/s = "
        f"{statistics.median(gain):.2f}x (median of {len(gain)} runs, "
        f"{min(gain):.2f}-{max(gain):.2f}; no batching {statistics.median(off):.2f}x); "
        f"{_met(gain, 'batching')}; 1-min load average {loads} before / after"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="load-generator runs")
    parser.add_argument("--rounds", type=int, default=10, help="bursts per target and run")
    parser.add_argument("--requests", type=int, default=32, help="requests per burst")
    parser.add_argument("--rows", type=int, default=8, help="instances per request")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    parser.add_argument("--bare", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.load:
        load_main(args)
        return
    if args.bare:
        bare_main(args)
        return

    from sklearn.datasets import load_digits

    frame = load_digits(as_frame=True).frame.drop(columns=["target"]).iloc[: args.rows]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        bodies = {
            "named": root / "named.json",  # trainspec: rows keyed by column
            "plain": root / "plain.json",  # bare: rows as lists
        }
        bodies["named"].write_text(json.dumps({"instances": frame.to_dict(orient="records")}))
        bodies["plain"].write_text(json.dumps({"instances": frame.to_numpy().tolist()}))
        run_dir = _train(root)
        load_before = os.getloadavg()
        results: dict[tuple[str, int], list[dict[str, float]]] = {}
        cpu_ms: dict[str, list[float]] = {}  # server CPU time per request, per run
        with _servers(run_dir, root / "servers.log") as ports:
            keys = [(name, clients) for clients in CLIENTS for name in ports]
            targets = [
                (ports[name][0], bodies["plain" if name == "bare FastAPI" else "named"], clients)
                for name, clients in keys
            ]
            for _ in range(args.repeats):
                cpu = {name: _cpu_seconds(pid) for name, (_, pid) in ports.items()}
                measured = _measure(targets, args.rounds, args.requests)
                for name, (_, pid) in ports.items():
                    sent = sum(
                        m["sent"] for (n, _), m in zip(keys, measured, strict=True) if n == name
                    )
                    spent = (_cpu_seconds(pid) - cpu[name]) * 1e3 / sent
                    cpu_ms.setdefault(name, []).append(spent)
                for key, stats in zip(keys, measured, strict=True):
                    results.setdefault(key, []).append(stats)
        load_after = os.getloadavg()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"POST /predict, {args.rows} rows per request; {args.repeats} runs of the load "
        f"generator, each {args.rounds} rounds of {args.requests}-request bursts on every "
        "server and client count in turn: median over runs [min-max]"
    )
    print(
        f"machine: {cores} cores; load average (1, 5, 15 min) "
        f"{' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} after\n"
    )
    _report(results, args.rows)
    print("\nserver CPU time per request (all client counts; less sensitive to the load):")
    bare = cpu_ms["bare FastAPI"]
    for name, values in cpu_ms.items():
        ratio = [v / b for v, b in zip(values, bare, strict=True)]
        print(f"  {name:<24} {_spread(values)} ms   {_spread(ratio)}x bare")
    print("\n" + _verdict(results, args.rows, (load_before, load_after)))


if __name__ == "__main__":
    main()
