"""The HTTP application: MLflow's scoring protocol on `/invocations`, and the operations routes.

- `POST /invocations`: `{"predictions": [...]}`, as `mlflow models serve`; 400 for bad input (one
  line naming the column and why), 413 for a body over the limit, 415 for an unsupported content
  type, 503 before a model is loaded (`invocations`: a plain ASGI application, for speed);
- `GET /health` and `/ping`: 200 while the process is alive (liveness);
- `GET /ready`: 200 once a model is loaded; 503 before, and while draining at shutdown (readiness);
- `GET /version`: the model's name, version, alias, URI and since when it is served;
- `GET /metrics`: Prometheus' text format: requests, errors, latency histogram, version served.

Each answer of `/invocations` says which version made it in the `X-Model-Version` header.
Errors are `{"error_code": ..., "message": "<one line>"}` like MLflow's, never a traceback: a model
that raises on rows that passed the checks answers 400 for a `ValueError` / `TypeError` (bad
values, such as a missing one) and 500 otherwise, with one line; the traceback goes to the log.
The operations routes are FastAPI's; `create_app` sends `/invocations` to its own application
before FastAPI's routing, whose per-request cost is the same for every route.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations (`Request`) as
# objects, and the routes are defined where fastapi is imported, inside `create_app`.
from typing import TYPE_CHECKING, Any

from model_name.serving.invocations import (
    INLINE_BYTES,
    VERSION_HEADER,
    Invocations,
    Serving,
    error_body,
)

if TYPE_CHECKING:
    from fastapi.responses import Response

__all__ = ["INLINE_BYTES", "VERSION_HEADER", "Serving", "create_app"]


def create_app(serving: Serving) -> Any:
    """Return the ASGI application serving `serving.holder`'s model."""
    from fastapi import FastAPI, Response
    from fastapi.responses import JSONResponse

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
    async def version() -> Response:
        served = serving.holder.current
        if served is None:
            return _error(503, "no model loaded yet")
        return JSONResponse(served.describe())

    @app.get("/metrics")
    async def metrics() -> Response:
        body, content_type = serving.prometheus.render()
        return Response(body, media_type=content_type)

    invocations = Invocations(serving)

    async def route(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/invocations":
            await invocations(scope, receive, send)
        else:
            await app(scope, receive, send)

    return route


def _error(status: int, message: str) -> "Response":
    from fastapi import Response

    return Response(error_body(status, message), status_code=status, media_type="application/json")
