"""`POST /invocations` as a plain ASGI application: the request path kept short.

The route is not a FastAPI route: FastAPI's request object, dependency and response machinery
cost more per request than predicting a small model does. uvicorn still speaks HTTP; this module
reads the body (refusing one over the limit with 413, while it is read), reads the rows, checks
them, has them predicted (batched, `batching`) and answers `{"predictions": [...]}` with the
`X-Model-Version` header, or one error line:

- **the lean read** (`arrays.read_numbers`): a JSON body of plain numbers for a scikit-learn model
  of a numeric signature goes straight to a NumPy array in the signature's order, and the model
  predicts that array: no pandas frame, no second schema check;
- **the general read** (`payloads.parse`, `signature.conform`): every other body (CSV, Parquet,
  booleans, nulls, strings, a missing column), every other signature or flavor; it is also what
  words the 400 of a body the lean read does not take.

`check` is the one place where every request's rows pass before the model, whichever read made
them: a per-request check (the data contract a model was trained with) goes there.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from model_name.serving.arrays import read_numbers
from model_name.serving.batching import Batcher
from model_name.serving.payloads import JSON, PayloadError, conform, parse

REQUEST_SOURCE = "request"
"""What a data contract's violation names as the table's source when a request breaks it."""

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    import numpy as np
    import pandas as pd  # type: ignore[import-untyped, unused-ignore]

    from model_name.serving.metrics import Prometheus, Stats
    from model_name.serving.models import ModelHolder, Served

    Scope = MutableMapping[str, Any]
    Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
    Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

VERSION_HEADER = "X-Model-Version"
"""The header of each answer of `/invocations` that says which model version made it."""

INLINE_BYTES = 64 * 1024
"""Bodies up to this size are read on the event loop (well under a millisecond); larger ones in
the thread pool, so that the loop keeps answering. Under load, each hop to the pool waits for the
GIL (up to Python's 5 ms switch interval): two hops a request halved the throughput."""

ERROR_CODES = {
    400: "BAD_REQUEST",
    405: "METHOD_NOT_ALLOWED",
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


class _ClientGoneError(Exception):
    """The client went away before its body was read: there is nobody to answer."""


class Invocations:
    """The ASGI application answering `POST /invocations` for `serving.holder`'s model."""

    def __init__(self, serving: Serving) -> None:
        self.serving = serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request (an ASGI `http` scope)."""
        from starlette.concurrency import run_in_threadpool

        serving = self.serving
        started = time.perf_counter()
        served = serving.holder.current  # this request's version, whatever switches meanwhile
        rows = 0
        version: list[tuple[bytes, bytes]] = []
        try:
            if scope["method"] != "POST":
                raise PayloadError("use POST to send rows to /invocations", status=405)
            if served is None:
                raise PayloadError("no model loaded yet", status=503)
            headers = dict(scope["headers"])
            body = await _read_body(headers, receive, serving.max_body_bytes)
            declared_type = headers.get(b"content-type")
            content_type = None if declared_type is None else declared_type.decode("latin-1")
            if len(body) <= INLINE_BYTES:  # a thread hop costs more than reading a small body
                table = read_rows(body, content_type, served)
            else:
                table = await run_in_threadpool(read_rows, body, content_type, served)
            table = check(served, table)
            rows = len(table)
            predictions = await serving.batcher.predict(served, table)
            status, answer = 200, json.dumps({"predictions": predictions}).encode()
            version = [(VERSION_HEADER.lower().encode(), str(served.version).encode())]
        except _ClientGoneError:
            return
        except PayloadError as error:
            status, answer = error.status, error_body(error.status, str(error))
        except (ValueError, TypeError) as error:
            status = 400
            answer = error_body(400, f"the model cannot predict these rows: {one_line(error)}")
        except Exception as error:
            serving.logger.opt(exception=error).error("/invocations failed: {}", error)
            status, answer = 500, error_body(500, f"the model failed: {one_line(error)}")
        seconds = time.perf_counter() - started
        serving.stats.record(status, seconds)
        serving.prometheus.record(status, seconds)
        serving.logger.debug(
            "POST /invocations {} rows={} version={} {:.1f} ms",
            status,
            rows,
            served.version if served else "none",
            1000 * seconds,
        )
        headers_out = [
            (b"content-type", JSON.encode()),
            (b"content-length", str(len(answer)).encode()),
            *version,
        ]
        if status == 405:
            headers_out.append((b"allow", b"POST"))
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": answer})


def read_rows(
    body: bytes, content_type: str | None, served: Served
) -> pd.DataFrame | np.ndarray[Any, Any]:
    """Read a body into the rows `served` predicts: the lean read when it takes it, else a table.

    Raises:
        PayloadError: the body is refused (400, 415), with one line saying why.
    """
    if served.predict_array is not None and served.columns is not None and _utf8_json(content_type):
        array = read_numbers(body, served.columns)
        if array is not None:
            return array
    return conform(parse(body, content_type, served.columns), served.columns)


def check(
    served: Served, rows: pd.DataFrame | np.ndarray[Any, Any]
) -> pd.DataFrame | np.ndarray[Any, Any]:
    """Check a request's rows against the model's data contract; return the rows to predict.

    Every request's rows pass here before the model, whichever read made them: `rows` has the
    signature's columns in its order (a table, or an array from the lean read). Numbers that
    certainly keep the contract pass after a few NumPy comparisons (`numbers_pass`); anything
    else is checked column by column, as a file would be.

    Raises:
        PayloadError: the rows break the contract (400), in one line naming the column, the
            check, how many rows fail and the first ones: `request: column 'bmi' fails
            less_than_or_equal_to(0.5) in 1 of 2 rows: row 2 (1.7)`.
    """
    contract = served.contract
    if contract is None:
        return rows
    import numpy as np
    import pandas as pd

    from model_name.contracts.checks import frame_report, summary
    from model_name.contracts.quick import numbers_pass

    if isinstance(rows, np.ndarray):
        numbers: np.ndarray[Any, Any] | None = rows
    else:
        numbers = rows.to_numpy() if list(rows.columns) == list(contract.columns) else None
    if numbers is not None and numbers.dtype.kind == "f" and numbers_pass(numbers, contract):
        return rows
    names = [column.name for column in served.columns or ()] or None
    table = pd.DataFrame(rows, columns=names) if isinstance(rows, np.ndarray) else rows
    report = frame_report(table, contract, REQUEST_SOURCE)
    if report["failures"]:
        raise PayloadError(summary(report))
    return rows


def _utf8_json(content_type: str | None) -> bool:
    """Say whether a `Content-Type` is JSON in UTF-8 (a missing one is JSON, as for MLflow)."""
    mime, _, options = (content_type or JSON).partition(";")
    charset = options.strip().lower().removeprefix("charset=").strip()
    return mime.strip().lower() == JSON and charset in ("", "utf-8", "utf8")


async def _read_body(headers: dict[bytes, bytes], receive: Receive, limit: int) -> bytes:
    """Read the body, refusing (413) one whose length, said or read, is over `limit` bytes."""
    declared = headers.get(b"content-length")
    too_large = f"the body is larger than the limit of {limit} bytes (serve.max_body_bytes)"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadError(too_large, status=413)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadError(too_large, status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def error_body(status: int, message: str) -> bytes:
    """The JSON of an error answer, as MLflow's: `{"error_code": ..., "message": ...}`."""
    code = ERROR_CODES.get(status, "BAD_REQUEST")
    return json.dumps({"error_code": code, "message": message}).encode()


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
