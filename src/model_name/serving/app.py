"""The HTTP application: MLflow's scoring protocol on `/invocations`, and the operations routes.

- `POST /invocations`: `{"predictions": [...]}`, as `mlflow models serve`; 400 for bad input (one
  line naming the column and why), 413 for a body over the limit, 415 for an unsupported content
  type, 503 before a model is loaded;
- `GET /health` and `/ping`: 200 while the process is alive (liveness);
- `GET /ready`: 200 once a model is loaded; 503 before, and while draining at shutdown (readiness);
- `GET /version`: the model's name, version, alias, URI and since when it is served;
- `GET /metrics`: Prometheus' text format: requests, errors, latency histogram, version served.

Each answer of `/invocations` says which version made it in the `X-Model-Version` header.
Errors are `{"error_code": ..., "message": "<one line>"}` like MLflow's, never a traceback: a model
that raises on rows that passed the checks answers 400 for a `ValueError` / `TypeError` (bad
values, such as a missing one) and 500 otherwise, with one line; the traceback goes to the log.
Small bodies are read on the event loop, large ones (over `INLINE_BYTES`) and every prediction in
the thread pool, so the event loop keeps answering probes; requests waiting at the same time are
predicted in one call (`batching`).
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations (`Request`) as
# objects, and the routes are defined where fastapi is imported, inside `create_app`.
import dataclasses
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from model_name.serving.batching import Batcher
from model_name.serving.metrics import Prometheus, Stats
from model_name.serving.models import ModelHolder
from model_name.serving.payloads import PayloadError, conform, parse

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

VERSION_HEADER = "X-Model-Version"
"""The header of each answer of `/invocations` that says which model version made it."""

INLINE_BYTES = 64 * 1024
"""Bodies up to this size are read on the event loop (about a millisecond); larger ones in the
thread pool, so that the loop keeps answering. Under load, each hop to the pool waits for the
GIL (up to Python's 5 ms switch interval): two hops a request halved the throughput."""

_ERROR_CODES = {
    400: "BAD_REQUEST",
    413: "REQUEST_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    500: "INTERNAL_ERROR",
    503: "NOT_READY",
}


@dataclass
class Serving:
    """What the routes share: the model holder, the counters, the logger and the limits.

    Attributes:
        holder: the version served, switched atomically.
        stats: request and error counts and latencies, for the job's run.
        prometheus: the same for `/metrics`.
        logger: the logger service's logger (one DEBUG line a request).
        max_body_bytes: the largest body `/invocations` reads; larger ones get 413.
        batcher: predicts the requests waiting together (`Batcher(max_rows=1)`: one by one).
    """

    holder: ModelHolder
    stats: Stats
    prometheus: Prometheus
    logger: Any
    max_body_bytes: int
    batcher: Batcher = dataclasses.field(default_factory=lambda: Batcher(max_rows=1000))


def create_app(serving: Serving) -> "FastAPI":
    """Return the FastAPI application serving `serving.holder`'s model."""
    from fastapi import FastAPI, Request, Response
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    app = FastAPI(title="model_name serve", docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/health")
    @app.get("/ping")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "alive"})

    @app.get("/ready")
    async def ready() -> JSONResponse:
        served = serving.holder.current
        if serving.holder.draining:
            return JSONResponse({"status": "draining"}, status_code=503)
        if served is None:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ready", "version": served.version})

    @app.get("/version")
    async def version() -> JSONResponse:
        served = serving.holder.current
        if served is None:
            return _error(503, "no model loaded yet")
        return JSONResponse(served.describe())

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = serving.prometheus.render()
        return Response(body, media_type=content_type)

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        started = time.perf_counter()
        served = serving.holder.current  # this request's version, whatever switches meanwhile
        rows = 0
        try:
            if served is None:
                raise PayloadError("no model loaded yet", status=503)
            body = await _read_body(request, serving.max_body_bytes)
            content_type = request.headers.get("content-type")
            if len(body) <= INLINE_BYTES:  # a thread hop costs more than reading a small body
                frame = conform(parse(body, content_type, served.columns), served.columns)
            else:
                frame = await run_in_threadpool(
                    lambda: conform(parse(body, content_type, served.columns), served.columns)
                )
            rows = len(frame)
            predictions = await serving.batcher.predict(served, frame)
            response = Response(
                json.dumps({"predictions": predictions}),
                media_type="application/json",
                headers={VERSION_HEADER: str(served.version)},
            )
        except PayloadError as error:
            response = _error(error.status, str(error))
        except (ValueError, TypeError) as error:
            response = _error(400, f"the model cannot predict these rows: {_one_line(error)}")
        except Exception as error:
            serving.logger.opt(exception=error).error("/invocations failed: {}", error)
            response = _error(500, f"the model failed: {_one_line(error)}")
        seconds = time.perf_counter() - started
        serving.stats.record(response.status_code, seconds)
        serving.prometheus.record(response.status_code, seconds)
        serving.logger.debug(
            "POST /invocations {} rows={} version={} {:.1f} ms",
            response.status_code,
            rows,
            served.version if served else "none",
            1000 * seconds,
        )
        return response

    return app


async def _read_body(request: "Request", limit: int) -> bytes:
    """Read the body, refusing (413) one whose length, said or read, is over `limit` bytes."""
    declared = request.headers.get("content-length")
    too_large = f"the body is larger than the limit of {limit} bytes (serve.max_body_bytes)"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadError(too_large, status=413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadError(too_large, status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str) -> "JSONResponse":
    from fastapi.responses import JSONResponse

    code = _ERROR_CODES.get(status, "BAD_REQUEST")
    return JSONResponse({"error_code": code, "message": message}, status_code=status)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
