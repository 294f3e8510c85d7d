"""Server metrics in the Prometheus text exposition format (version 0.0.4), written here so
serving needs no client library: request counts, errors, a latency histogram, predictions,
readiness and per-feature drift."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence

from trainspec.inference._drift import DriftReport

__all__ = ["CONTENT_TYPE", "LATENCY_BUCKETS", "ServerMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class _Histogram:
    def __init__(self, buckets: Sequence[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, edge in enumerate(self.buckets):
            if value <= edge:
                self.counts[i] += 1
        self.sum += value
        self.count += 1


class ServerMetrics:
    """Thread-safe counters; ``render`` writes the exposition text."""

    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS) -> None:
        self._lock = threading.Lock()
        self._buckets = tuple(buckets)
        self.requests: dict[tuple[str, str, str], int] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.latency: dict[tuple[str, str], _Histogram] = {}
        self.predictions = 0
        self.in_flight = 0

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1

    def observe(self, method: str, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.in_flight -= 1
            key = (method, path, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            # /ready answers 503 until the model is loaded: that is its job, not an error.
            if status >= 400 and not (path == "/ready" and status == 503):
                kind = "client" if status < 500 else "server"
                self.errors[(path, kind)] = self.errors.get((path, kind), 0) + 1
            hist = self.latency.setdefault((method, path), _Histogram(self._buckets))
            hist.observe(seconds)

    def add_predictions(self, n: int) -> None:
        with self._lock:
            self.predictions += n

    def render(self, *, ready: bool, drift: DriftReport | None = None, window: int = 0) -> str:
        lines: list[str] = []
        add = lines.append
        with self._lock:
            add("# HELP trainspec_requests_total HTTP requests by method, path and status.")
            add("# TYPE trainspec_requests_total counter")
            for (method, path, status), n in sorted(self.requests.items()):
                add(
                    f'trainspec_requests_total{{method="{method}",path="{_label(path)}",'
                    f'status="{status}"}} {n}'
                )
            add("# HELP trainspec_request_errors_total Requests answered 4xx (client) or 5xx.")
            add("# TYPE trainspec_request_errors_total counter")
            for (path, kind), n in sorted(self.errors.items()):
                add(f'trainspec_request_errors_total{{path="{_label(path)}",kind="{kind}"}} {n}')
            add("# HELP trainspec_request_duration_seconds Request latency.")
            add("# TYPE trainspec_request_duration_seconds histogram")
            for (method, path), h in sorted(self.latency.items()):
                labels = f'method="{method}",path="{_label(path)}"'
                for edge, n in zip(h.buckets, h.counts, strict=True):
                    le = _num(edge)
                    add(f'trainspec_request_duration_seconds_bucket{{{labels},le="{le}"}} {n}')
                add(f'trainspec_request_duration_seconds_bucket{{{labels},le="+Inf"}} {h.count}')
                add(f"trainspec_request_duration_seconds_sum{{{labels}}} {_num(h.sum)}")
                add(f"trainspec_request_duration_seconds_count{{{labels}}} {h.count}")
            add("# HELP trainspec_predictions_total Predictions returned (instances).")
            add("# TYPE trainspec_predictions_total counter")
            add(f"trainspec_predictions_total {self.predictions}")
            add("# HELP trainspec_requests_in_flight Requests being handled now.")
            add("# TYPE trainspec_requests_in_flight gauge")
            add(f"trainspec_requests_in_flight {self.in_flight}")
        add("# HELP trainspec_model_ready 1 once the model is loaded.")
        add("# TYPE trainspec_model_ready gauge")
        add(f"trainspec_model_ready {int(ready)}")
        _render_drift(add, drift, window)
        return "\n".join(lines) + "\n"


def _render_drift(add: Callable[[str], None], drift: DriftReport | None, window: int) -> None:
    add("# HELP trainspec_drift_window_rows Rows of recent requests the drift is measured on.")
    add("# TYPE trainspec_drift_window_rows gauge")
    add(f"trainspec_drift_window_rows {window}")
    if drift is None:
        return
    for name, attr, help_text in (
        ("psi", "psi", "Population stability index of recent inputs against training."),
        ("ks", "ks", "Kolmogorov-Smirnov statistic of recent inputs against training."),
        ("flagged", "drifted", "1 where a feature is above a drift threshold."),
    ):
        add(f"# HELP trainspec_drift_{name} {help_text}")
        add(f"# TYPE trainspec_drift_{name} gauge")
        for f in drift.features:
            value = float(getattr(f, attr))
            add(f'trainspec_drift_{name}{{feature="{_label(f.feature)}"}} {_num(value)}')
    add("# HELP trainspec_drift_features_flagged Features above a drift threshold.")
    add("# TYPE trainspec_drift_features_flagged gauge")
    add(f"trainspec_drift_features_flagged {len(drift.drifted)}")
