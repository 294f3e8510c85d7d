"""The HTTP server: FastAPI routes over a ``ModelService``, run by uvicorn.

Routes: ``POST /predict`` (a batch of instances), ``POST /predict/images`` (image files as
multipart form data, for models trained on an images source), ``GET /health`` (the process is up),
``GET /ready`` (503 until the model is loaded), ``GET /metrics`` (Prometheus), ``GET /drift``
(per-feature drift of recent inputs), ``GET /model`` (what the model takes), and the OpenAPI
docs at ``/docs`` and ``/openapi.json``. Bodies over ``max_body_bytes`` get a 413; invalid
instances a 422 whose ``loc`` names the field. The server listens on 127.0.0.1 unless told
otherwise, and on SIGTERM stops accepting connections and lets in-flight requests finish.
The model runs on a thread of its own, micro-batching concurrent requests (``_batching``);
``serve(..., workers=N)`` runs N uvicorn worker processes whose metrics are summed.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.errors import TrainspecError
from trainspec.inference._batching import InferenceRunner
from trainspec.inference._metrics import CONTENT_TYPE, ServerMetrics
from trainspec.inference._schema import (
    RequestShapeError,
    float32_message,
    request_model,
    to_inputs,
)
from trainspec.inference._service import ModelService, Request, ServeOptions, default_threads

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

ROUTES = ("/predict", "/health", "/ready", "/metrics", "/drift", "/model", "/docs", "/openapi.json")


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class Guard:
    """ASGI middleware: the body size limit (413) and the request metrics."""

    def __init__(self, app: ASGIApp, metrics: ServerMetrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"] if scope["path"] in ROUTES else "other"
        state: dict[str, Any] = {"code": 500, "started": False, "rejected": False}
        start = time.perf_counter()
        self.metrics.started()

        async def counted_send(message: Message) -> None:
            if state["rejected"]:
                return  # a 413 went out already; the app's own answer is dropped
            if message["type"] == "http.response.start":
                state["code"], state["started"] = message["status"], True
            await send(message)

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not state["rejected"]:
                state["seen"] = state.get("seen", 0) + len(message.get("body", b""))
                if state["seen"] > self.limit and not state["started"]:
                    await self._too_large(counted_send, None)
                    state["rejected"] = True
                    return {"type": "http.disconnect"}  # the app stops reading the body
            return message

        try:
            declared = dict(scope.get("headers") or []).get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > self.limit:
                await self._too_large(counted_send, int(declared))
                return
            await self.app(scope, limited_receive, counted_send)
        finally:
            elapsed = time.perf_counter() - start
            self.metrics.observe(scope["method"], path, int(state["code"]), elapsed)

    async def _too_large(self, send: Send, size: int | None) -> None:
        got = f"{size} bytes" if size is not None else "more"
        await _send_json(
            send,
            413,
            {
                "detail": f"request body too large: {got}; the limit is {self.limit} bytes "
                "(send fewer instances per request)"
            },
        )


def _json(body: dict[str, Any]) -> Any:
    """The answer as JSON, written by pydantic-core: the route returns a ``Response``, so
    FastAPI does not validate the dict against the response model a second time."""
    from fastapi.responses import Response
    from pydantic_core import to_json

    return Response(content=to_json(body), media_type="application/json")


def _unprocessable(loc: list[Any], msg: str, kind: str) -> Any:
    from fastapi.responses import JSONResponse

    detail = [{"loc": loc, "msg": msg, "type": kind}]
    return JSONResponse(status_code=422, content={"detail": detail})


def _unprocessable_fields(errors: list[Any], prefix: tuple[str, ...] = ()) -> Any:
    """A 422 naming each field (``loc`` ends with the column or input name).

    The refused values are not echoed: a NaN or an infinity cannot be written as JSON, and
    echoing them made FastAPI's own handler fail with a 500.
    """
    from fastapi.responses import JSONResponse

    detail = [
        {"loc": [*prefix, *e.get("loc", ())], "msg": float32_message(e), "type": e.get("type", "")}
        for e in errors
    ]
    return JSONResponse(status_code=422, content={"detail": detail})


def _predict_route(
    service: ModelService,
    runner: InferenceRunner,
    metrics: ServerMetrics,
    schema: type[BaseModel],
) -> Callable[..., Any]:
    """``POST /predict``. The body is parsed and validated by pydantic-core straight from the
    bytes (``model_validate_json``), a third of the cost of FastAPI's ``json.loads`` then
    validation of the Python objects; the OpenAPI docs describe it all the same
    (``_document_body``)."""
    from fastapi import HTTPException
    from fastapi.responses import Response
    from pydantic import ValidationError
    from starlette.requests import ClientDisconnect

    async def predict(http: Any) -> Any:
        if not service.ready:
            raise HTTPException(
                status_code=503,
                detail=f"the model is not loaded yet ({service.status})",
                headers={"Retry-After": "1"},
            )
        with runner.receiving():  # a batch the model is free to run waits for this one
            try:
                raw = await http.body()
            except ClientDisconnect:  # gone, or cut off by Guard's 413: nobody reads an answer
                return Response(status_code=400)
            try:
                body = schema.model_validate_json(raw)
            except ValidationError as exc:
                return _unprocessable_fields(exc.errors(include_input=False), ("body",))
            instances = list(body.instances)  # type: ignore[attr-defined]
            try:
                inputs, offsets = to_inputs(service.inputs, instances)
            except (RequestShapeError, TrainspecError) as exc:
                return _refused(exc)
            pending = runner.submit(Request(inputs, offsets, len(instances)))
        try:
            result = await pending
        except (RequestShapeError, TrainspecError) as exc:
            return _refused(exc)
        metrics.add_predictions(len(instances))
        return _json(result)

    return predict


def _refused(exc: RequestShapeError | TrainspecError) -> Any:
    """The 422 of instances the schema let through but the arrays or transforms refuse."""
    if isinstance(exc, RequestShapeError):
        return _unprocessable(list(exc.loc), exc.message, "shape")
    return _unprocessable(["body", "instances"], str(exc), "value")  # the data layer's refusal


async def _invalid_request(_request: Any, exc: Exception) -> Any:
    """FastAPI's validation errors (other routes) as ``_unprocessable_fields`` writes them."""
    return _unprocessable_fields(getattr(exc, "errors", list)())


def _document_body(app: Any, schema: type[BaseModel]) -> None:
    """Put the request schema of ``POST /predict`` in the OpenAPI document, as FastAPI
    would for a typed body parameter (the route reads the raw body itself)."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema  # type: ignore[no-any-return]
        doc: dict[str, Any] = default()
        body = schema.model_json_schema(ref_template="#/components/schemas/{model}")
        components = doc.setdefault("components", {}).setdefault("schemas", {})
        components.update(body.pop("$defs", {}))
        components[schema.__name__] = body
        operation = doc["paths"]["/predict"]["post"]
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema.__name__}"}}
            },
        }
        responses = operation.setdefault("responses", {})
        responses.setdefault(
            "422",
            {
                "description": "Validation Error",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/HTTPValidationError"}
                    }
                },
            },
        )
        app.openapi_schema = doc
        return doc

    app.openapi = openapi


def create_app(service: ModelService, *, load: bool = True) -> Any:
    """The FastAPI application over ``service``; with ``load`` the model loads in a
    background thread when the server starts (``/ready`` is 503 until it has)."""
    from fastapi import Request as HTTPRequest
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from fastapi_offline import FastAPIOffline
    from pydantic import BaseModel

    request, _ = request_model(
        service.inputs, service.options.max_batch, coerce=service.options.coerce
    )
    metrics = ServerMetrics()
    runner = InferenceRunner(service, on_pass=metrics.forward_pass)

    class PredictResponse(BaseModel):
        predictions: list[Any]
        probabilities: list[Any] | None = None
        classes: list[str] | None = None

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if load and not service.ready:
            threading.Thread(target=service.load, name="trainspec-load", daemon=True).start()
        try:
            yield
        finally:
            runner.close()
            metrics.close()

    # /docs and /redoc from assets shipped in a package (fastapi-offline), not from a CDN:
    # the page works on a machine with no internet access.
    app = FastAPIOffline(
        title="trainspec model server",
        description=f"Predictions of the trainspec run {service.path}.",
        lifespan=lifespan,
    )
    predict = _predict_route(service, runner, metrics, request)
    predict.__annotations__ = {"http": HTTPRequest, "return": PredictResponse}
    app.post("/predict", response_model=PredictResponse, summary="Predict a batch")(predict)
    if service.inputs.images:
        from trainspec.inference._app_images import images_route

        app.post(
            "/predict/images",
            response_model=PredictResponse,
            summary="Predict uploaded image files (multipart form, field 'files')",
        )(images_route(service, runner, metrics, PredictResponse))

    @app.get("/health", summary="The process is up")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="The model is loaded (503 until then)")
    def ready() -> Any:
        body = {"status": service.status, "error": service.error}
        return JSONResponse(status_code=200 if service.ready else 503, content=body)

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def prometheus() -> Any:
        drift, window = service.drift()
        text = metrics.render(ready=service.ready, drift=drift, window=window)
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    @app.get("/drift", summary="Per-feature drift of recent inputs against training")
    def drift() -> dict[str, Any]:
        report, window = service.drift()
        if report is None:
            return {"status": "insufficient data", "rows": window}
        return {"status": "ok", "rows": window, **report.to_dict()}

    @app.get("/model", summary="The run served and the inputs it takes")
    def model() -> dict[str, Any]:
        return service.describe()

    _document_body(app, request)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(Guard, metrics=metrics, max_body_bytes=service.options.max_body_bytes)
    app.state.service = service
    app.state.metrics = metrics
    app.state.runner = runner
    return app


SERVE_ENV = "TRAINSPEC_SERVE"  # the run and options, as JSON, for each worker process
_WORKER_APP = "trainspec.inference._app:worker_app"


def _listen(host: str, port: int) -> socket.socket:
    """The socket the worker processes share. Made here rather than by uvicorn, whose socket
    is created without ``IPPROTO_TCP``: asyncio then leaves Nagle's algorithm on for its
    connections, and an answer written in two parts (head, body) waits ~40 ms for the
    client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TrainspecError(
            f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port or stop "
            "what holds it"
        ) from exc
    sock.set_inheritable(True)
    return sock


def worker_app() -> Any:
    """The app of one worker process of ``serve(..., workers=N)`` (uvicorn's factory)."""
    config = json.loads(os.environ[SERVE_ENV])
    fields = config["options"]
    fields["allow_imports"] = tuple(fields["allow_imports"])
    return create_app(ModelService(config["run"], ServeOptions(**fields)))


def startup_line(run: str | Path, host: str, port: int, options: ServeOptions, workers: int) -> str:
    """What the server is about to do, in one line: where, how many processes and threads."""
    threads = options.threads or default_threads(workers)
    batching = (
        f"micro-batching up to {options.max_batch_rows} rows, wait {options.max_wait_ms:g} ms"
        if options.max_batch_rows > 0
        else "micro-batching off"
    )
    procs = f"{workers} worker processes" if workers > 1 else "1 process"
    return (
        f"serving {run} on http://{host}:{port} ({options.backend}; {procs}, {threads} "
        f"intra-op thread{'s' if threads > 1 else ''} each; {batching})"
    )


def serve(
    run: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    options: ServeOptions | None = None,
    workers: int = 1,
    log_level: str = "info",
    graceful_timeout: float = 30.0,
) -> None:
    """Serve ``run`` until SIGINT or SIGTERM; in-flight requests get ``graceful_timeout``
    seconds to finish. With ``workers`` > 1, that many processes (uvicorn's workers) each
    load the model and share the port; metrics are summed over them."""
    try:
        import uvicorn
    except ImportError as exc:
        raise TrainspecError(
            "serving needs fastapi and uvicorn: pip install 'trainspec[serve]'"
        ) from exc

    options = options or ServeOptions()
    options = replace(options, threads=options.threads or default_threads(workers))
    service = ModelService(run, options)  # the run's files are checked here, before any fork
    log.info("%s", startup_line(run, host, port, options, workers))
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "timeout_graceful_shutdown": int(graceful_timeout),
        "lifespan": "on",
    }
    if workers <= 1:
        uvicorn.Server(uvicorn.Config(create_app(service), **common)).run()
        return
    shared = {"run": str(Path(run).resolve()), "options": asdict(options)}
    with tempfile.TemporaryDirectory(prefix="trainspec-metrics-") as metrics_dir:
        saved = {k: os.environ.get(k) for k in (SERVE_ENV, "PROMETHEUS_MULTIPROC_DIR")}
        os.environ[SERVE_ENV] = json.dumps(shared)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # read by each worker's import
        try:
            from uvicorn.supervisors import Multiprocess

            config = uvicorn.Config(_WORKER_APP, factory=True, workers=workers, **common)
            Multiprocess(config, sockets=[_listen(host, port)]).run()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
