"""Server metrics for Prometheus, kept by ``prometheus_client``: request counts, errors, a
latency histogram, predictions, readiness and per-feature drift.

Each server has a registry of its own (no process-global state), so two apps in one process
(tests, a notebook) count apart. Drift and readiness are read when ``/metrics`` is scraped.

With several worker processes (``trainspec serve --workers N``) the server sets
``PROMETHEUS_MULTIPROC_DIR`` before the workers start: prometheus_client's multiprocess mode
then keeps each worker's counters and histograms in files there, and a scrape of any worker
sums them over all workers (requests in flight: the live workers' sum). Readiness and drift
stay the answering worker's own: each worker loads the model and watches its own requests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from trainspec.inference._drift import DriftReport

__all__ = ["BATCH_BUCKETS", "CONTENT_TYPE", "LATENCY_BUCKETS", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Scraped:
    """A collector for values known only at scrape time: readiness and drift."""

    def __init__(self) -> None:
        self.ready = False
        self.drift: DriftReport | None = None
        self.window = 0

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(
            "trainspec_model_ready", "1 once the model is loaded.", value=int(self.ready)
        )
        yield GaugeMetricFamily(
            "trainspec_drift_window_rows",
            "Rows of recent requests the drift is measured on.",
            value=self.window,
        )
        drift = self.drift
        if drift is None:
            return
        for name, attr, help_text in (
            ("psi", "psi", "Population stability index of recent inputs against training."),
            ("ks", "ks", "Kolmogorov-Smirnov statistic of recent inputs against training."),
            ("flagged", "drifted", "1 where a feature is above a drift threshold."),
        ):
            family = GaugeMetricFamily(f"trainspec_drift_{name}", help_text, labels=["feature"])
            for f in drift.features:
                family.add_metric([f.feature], float(getattr(f, attr)))
            yield family
        yield GaugeMetricFamily(
            "trainspec_drift_features_flagged",
            "Features above a drift threshold.",
            value=len(drift.drifted),
        )


class ServerMetrics:
    """The server's Prometheus metrics; ``render`` writes the exposition text."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        try:
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
        except ImportError as exc:
            raise ImportError(
                "serving needs prometheus_client: pip install 'trainspec[serve]'"
            ) from exc

        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self._requests = Counter(
            "trainspec_requests",
            "HTTP requests by method, path and status.",
            ["method", "path", "status"],
            registry=reg,
        )
        self._errors = Counter(
            "trainspec_request_errors",
            "Requests answered 4xx (client) or 5xx (server).",
            ["path", "kind"],
            registry=reg,
        )
        self._latency = Histogram(
            "trainspec_request_duration_seconds",
            "Request latency.",
            ["method", "path"],
            buckets=tuple(buckets),
            registry=reg,
        )
        self._predictions = Counter(
            "trainspec_predictions", "Predictions returned (instances).", registry=reg
        )
        self._in_flight = Gauge(
            "trainspec_requests_in_flight",
            "Requests being handled now.",
            registry=reg,
            multiprocess_mode="livesum",
        )
        self._passes = Histogram(
            "trainspec_batch_instances",
            "Instances per forward pass (above 1 request's size: micro-batching at work).",
            buckets=BATCH_BUCKETS,
            registry=reg,
        )
        self._batched = Counter(
            "trainspec_batched_requests",
            "Requests answered by a forward pass shared with other requests.",
            registry=reg,
        )
        self._scraped = _Scraped()
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        if self.multiprocess:  # what a scrape shows: every worker's files, and this worker's
            from prometheus_client.multiprocess import MultiProcessCollector

            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        self.registry.register(self._scraped)

    def close(self) -> None:
        """At a worker's exit: its requests in flight no longer count."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def started(self) -> None:
        self._in_flight.inc()

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        self._in_flight.dec()
        self._requests.labels(method, path, str(status)).inc()
        # /ready answers 503 until the model is loaded: that is its job, not an error.
        if status >= 400 and not (path == "/ready" and status == 503):
            self._errors.labels(path, "client" if status < 500 else "server").inc()
        self._latency.labels(method, path).observe(seconds)

    def forward_pass(self, requests: int, instances: int) -> None:
        """One forward pass of ``instances`` rows, answering ``requests`` requests."""
        self._passes.observe(instances)
        if requests > 1:
            self._batched.inc(requests)

    def add_predictions(self, n: int) -> None:
        self._predictions.inc(n)

    def render(self, *, ready: bool, drift: DriftReport | None = None, window: int = 0) -> str:
        from prometheus_client import generate_latest

        self._scraped.ready, self._scraped.drift, self._scraped.window = ready, drift, window
        return generate_latest(self.registry).decode("utf-8")
