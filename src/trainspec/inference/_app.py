"""The HTTP server: FastAPI routes over a ``ModelService``, run by uvicorn.

Routes: ``POST /predict`` (a batch of instances), ``POST /predict/images`` (image files as
multipart form data, for models trained on an images source), ``GET /health`` (the process is up),
``GET /ready`` (503 until the model is loaded), ``GET /metrics`` (Prometheus), ``GET /drift``
(per-feature drift of recent inputs), ``GET /model`` (what the model takes), and the OpenAPI
docs at ``/docs`` and ``/openapi.json``. Bodies over ``max_body_bytes`` get a 413; invalid
instances a 422 whose ``loc`` names the field. The server listens on 127.0.0.1 unless told
otherwise, and on SIGTERM stops accepting connections and lets in-flight requests finish.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from trainspec.errors import TrainspecError
from trainspec.inference._metrics import CONTENT_TYPE, ServerMetrics
from trainspec.inference._schema import RequestShapeError, request_model, to_inputs
from trainspec.inference._service import ModelService, ServeOptions

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


def _predict_route(service: ModelService, metrics: ServerMetrics) -> Callable[..., Any]:
    from fastapi import HTTPException
    from fastapi.responses import JSONResponse

    def predict(body: Any) -> Any:
        if not service.ready:
            raise HTTPException(
                status_code=503,
                detail=f"the model is not loaded yet ({service.status})",
                headers={"Retry-After": "1"},
            )
        instances = list(body.instances)
        try:
            inputs, offsets = to_inputs(service.inputs, instances)
            result = service.predict(inputs, offsets, len(instances))
        except RequestShapeError as exc:
            return JSONResponse(
                status_code=422,
                content={"detail": [{"loc": list(exc.loc), "msg": exc.message, "type": "shape"}]},
            )
        except TrainspecError as exc:  # the data layer refused the values
            return JSONResponse(
                status_code=422,
                content={
                    "detail": [{"loc": ["body", "instances"], "msg": str(exc), "type": "value"}]
                },
            )
        metrics.add_predictions(len(instances))
        return result

    return predict


async def _invalid_request(_request: Any, exc: Exception) -> Any:
    """A 422 naming each field (``loc`` ends with the column or input name).

    The refused values are not echoed: a NaN or an infinity cannot be written as JSON, and
    echoing them made FastAPI's own handler fail with a 500.
    """
    from fastapi.responses import JSONResponse

    errors: list[dict[str, Any]] = getattr(exc, "errors", list)()
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in errors]  # fmt: skip
    return JSONResponse(status_code=422, content={"detail": detail})


def create_app(service: ModelService, *, load: bool = True) -> Any:
    """The FastAPI application over ``service``; with ``load`` the model loads in a
    background thread when the server starts (``/ready`` is 503 until it has)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from fastapi_offline import FastAPIOffline
    from pydantic import BaseModel

    request, _ = request_model(
        service.inputs, service.options.max_batch, coerce=service.options.coerce
    )
    metrics = ServerMetrics()

    class PredictResponse(BaseModel):
        predictions: list[Any]
        probabilities: list[Any] | None = None
        classes: list[str] | None = None

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        if load and not service.ready:
            threading.Thread(target=service.load, name="trainspec-load", daemon=True).start()
        yield

    # /docs and /redoc from assets shipped in a package (fastapi-offline), not from a CDN:
    # the page works on a machine with no internet access.
    app = FastAPIOffline(
        title="trainspec model server",
        description=f"Predictions of the trainspec run {service.path}.",
        lifespan=lifespan,
    )
    predict = _predict_route(service, metrics)
    predict.__annotations__ = {"body": request, "return": PredictResponse}
    app.post("/predict", response_model=PredictResponse, summary="Predict a batch")(predict)
    if service.inputs.images:
        from trainspec.inference._app_images import images_route

        app.post(
            "/predict/images",
            response_model=PredictResponse,
            summary="Predict uploaded image files (multipart form, field 'files')",
        )(images_route(service, metrics, PredictResponse))

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

    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_middleware(Guard, metrics=metrics, max_body_bytes=service.options.max_body_bytes)
    app.state.service = service
    app.state.metrics = metrics
    return app


def serve(
    run: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    options: ServeOptions | None = None,
    log_level: str = "info",
    graceful_timeout: float = 30.0,
) -> None:
    """Serve ``run`` until SIGINT or SIGTERM; in-flight requests get ``graceful_timeout``
    seconds to finish."""
    try:
        import uvicorn
    except ImportError as exc:
        raise TrainspecError(
            "serving needs fastapi and uvicorn: pip install 'trainspec[serve]'"
        ) from exc

    service = ModelService(run, options)
    config = uvicorn.Config(
        create_app(service),
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=int(graceful_timeout),
        lifespan="on",
    )
    uvicorn.Server(config).run()
