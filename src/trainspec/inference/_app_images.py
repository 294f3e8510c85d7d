"""``POST /predict/images``: image files uploaded as multipart form data (``files``), for a
model trained on an ``images`` source. Each file is decoded as the training images were
(mode, size, fit); the answer is the one ``/predict`` gives, in upload order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from trainspec.errors import TrainspecError
from trainspec.inference._batching import InferenceRunner
from trainspec.inference._metrics import ServerMetrics
from trainspec.inference._schema import RequestShapeError
from trainspec.inference._service import ModelService

__all__ = ["images_route"]


def images_route(
    service: ModelService, runner: InferenceRunner, metrics: ServerMetrics, response: Any
) -> Callable[..., Any]:
    """The route function, its annotations set for FastAPI (multipart needs
    python-multipart: pip install 'trainspec[serve]')."""
    from fastapi import File, HTTPException, UploadFile
    from fastapi.responses import JSONResponse

    async def predict_images(files: Any = File(..., description="Image files")) -> Any:  # noqa: B008
        if not service.ready:
            raise HTTPException(
                status_code=503,
                detail=f"the model is not loaded yet ({service.status})",
                headers={"Retry-After": "1"},
            )
        if len(files) > service.options.max_batch:
            raise HTTPException(
                status_code=422,
                detail=f"{len(files)} files in one request; the limit is "
                f"{service.options.max_batch}",
            )
        blobs = [(f.filename or f"file {i}", await f.read()) for i, f in enumerate(files)]
        try:
            result = await runner.call(service.predict_images, blobs)
        except RequestShapeError as exc:
            return JSONResponse(
                status_code=422,
                content={"detail": [{"loc": list(exc.loc), "msg": exc.message, "type": "image"}]},
            )
        except TrainspecError as exc:
            return JSONResponse(
                status_code=422,
                content={"detail": [{"loc": ["body", "files"], "msg": str(exc), "type": "value"}]},
            )
        metrics.add_predictions(len(blobs))
        return result

    predict_images.__annotations__ = {"files": list[UploadFile], "return": response}
    return predict_images
