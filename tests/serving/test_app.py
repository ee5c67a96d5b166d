"""The HTTP application on a real socket with a real model: answers, refusals, probes, metrics."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from model_name.errors import ServiceError
from model_name.io.services import LoggerService, MlflowService
from model_name.serving.app import Serving, create_app
from model_name.serving.metrics import Prometheus, Stats
from model_name.serving.models import ModelHolder, Served, load
from model_name.serving.server import BackgroundServer
from tests.helpers.serving import FEATURES, ROW, SPLIT, register_versions

LIMIT = 4000
"""The body size limit of the server under test, in bytes."""


@pytest.fixture
def version_1(mlflow_service: MlflowService) -> Served:
    """Version 1 of a ridge model, loaded from a registry in a temporary SQLite store."""
    name = register_versions(mlflow_service, (1.0,))
    with mlflow_service:
        return load(name, 1, alias="champion")


@pytest.fixture
def holder() -> ModelHolder:
    return ModelHolder()


@pytest.fixture
def server(holder: ModelHolder, logger_service: LoggerService) -> Iterator[BackgroundServer]:
    """The application served on 127.0.0.1, a free port, with nothing loaded yet."""
    with logger_service:
        serving = Serving(holder, Stats(), Prometheus(), logger_service.logger(), LIMIT)
        server = BackgroundServer(create_app(serving), "127.0.0.1", 0, grace_seconds=5)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def http(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def test_before_a_model_is_loaded_it_is_alive_but_not_ready(http: httpx.Client) -> None:
    assert http.get("/health").status_code == 200
    assert http.get("/ready").json() == {"status": "loading"}
    assert http.get("/ready").status_code == 503
    refused = http.post("/invocations", json=SPLIT)
    assert refused.status_code == 503
    assert refused.json()["message"] == "no model loaded yet"


def test_it_answers_as_mlflow_models_serve_does(
    http: httpx.Client, holder: ModelHolder, version_1: Served
) -> None:
    # given version 1 loaded
    holder.switch(version_1)

    # when a client sends one row as dataframe_split, and two as CSV
    answer = http.post("/invocations", json=SPLIT)
    csv = f"{','.join(FEATURES)}\n{','.join(map(str, ROW))}\n{','.join(map(str, ROW))}\n"
    table = http.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})

    # then the answers are MLflow's shape, from version 1
    assert answer.status_code == 200
    (prediction,) = answer.json()["predictions"]
    assert isinstance(prediction, float)
    assert answer.headers["X-Model-Version"] == "1"
    assert table.json() == {"predictions": [prediction, prediction]}
    assert http.get("/ready").json() == {"status": "ready", "version": 1}
    described = http.get("/version").json()
    assert (described["name"], described["version"], described["alias"]) == (
        "model_name", 1, "champion"
    )  # fmt: skip
    assert described["uri"] == "models:/model_name/1"


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (json.dumps({"dataframe_split": {"columns": FEATURES[1:], "data": [ROW[1:]]}}),
         "application/json", 400, "missing column 'age'"),
        (json.dumps({"dataframe_records": [dict(zip(FEATURES, ["old", *ROW[1:]], strict=True))]}),
         "application/json", 400, "column 'age' must be a number: row 0 has 'old'"),
        (json.dumps({"dataframe_records": [dict(zip(FEATURES, [None, *ROW[1:]], strict=True))]}),
         "application/json", 400, "the model cannot predict these rows: ValueError"),
        (json.dumps({"dataframe_split": {"columns": FEATURES, "data": [[True, *ROW[1:]]]}}),
         "application/json", 400, "column 'age' must be a number: row 0 has True"),
        (json.dumps({"inputs": [ROW, ROW[1:]]}),
         "application/json", 400, "inputs row 1 has 9 values for 10 columns"),
        ("", "application/json", 400, "empty body"),
        ("x" * (LIMIT + 1), "application/json", 413, f"larger than the limit of {LIMIT} bytes"),
        ("a,b\n1,2\n", "text/plain", 415, "unsupported content type 'text/plain'"),
    ],
    ids=["missing-column", "wrong-type", "missing-value", "boolean", "ragged", "empty", "too-large",
         "content-type"],
)  # fmt: skip
def test_a_bad_request_gets_one_line_and_the_server_keeps_serving(
    http: httpx.Client,
    holder: ModelHolder,
    version_1: Served,
    body: str,
    content_type: str,
    status: int,
    says: str,
) -> None:
    holder.switch(version_1)

    refused = http.post("/invocations", content=body, headers={"Content-Type": content_type})

    assert refused.status_code == status
    message = refused.json()["message"]
    assert says in message
    assert "\n" not in message and "Traceback" not in refused.text
    assert http.post("/invocations", json=SPLIT).status_code == 200


def test_numbers_in_every_shape_get_the_same_predictions_as_a_csv_table(
    http: httpx.Client, holder: ModelHolder, version_1: Served
) -> None:
    # given version 1 (scikit-learn, a signature of numbers: it predicts arrays itself) loaded,
    # and one row as CSV (read by pandas) for reference
    assert version_1.predict_array is not None
    holder.switch(version_1)
    csv = f"{','.join(FEATURES)}\n{','.join(map(str, ROW))}\n"
    expected = http.post("/invocations", content=csv, headers={"Content-Type": "text/csv"}).json()
    record = dict(zip(FEATURES, ROW, strict=True))
    shapes = [
        {"dataframe_split": {"columns": FEATURES[::-1], "data": [ROW[::-1]]}},
        {"dataframe_records": [{**record, "id": "a-42"}]},
        {"instances": [ROW]},
        {"inputs": {name: [value] for name, value in record.items()}},
    ]

    # when the same row is sent as JSON in each of the protocol's shapes
    answers = [http.post("/invocations", json=shape) for shape in shapes]

    # then each answer is the table's
    assert [answer.json() for answer in answers] == [expected] * len(shapes)


def test_invocations_answers_post_only(http: httpx.Client) -> None:
    refused = http.get("/invocations")

    assert refused.status_code == 405
    assert refused.headers["Allow"] == "POST"
    assert refused.json()["message"] == "use POST to send rows to /invocations"


def test_a_chunked_body_over_the_limit_is_refused_while_read(
    http: httpx.Client, holder: ModelHolder, version_1: Served
) -> None:
    holder.switch(version_1)

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        for _ in range(LIMIT // 100 + 2):
            yield b" " * 100

    refused = http.post("/invocations", content=chunks())

    assert refused.status_code == 413


def test_metrics_count_requests_errors_and_the_version_in_prometheus_format(
    http: httpx.Client, holder: ModelHolder, version_1: Served
) -> None:
    holder.switch(version_1)
    http.post("/invocations", json=SPLIT)
    http.post("/invocations", content=b"")

    text = http.get("/metrics").text

    assert 'model_name_serve_requests_total{status="200"} 1.0' in text
    assert 'model_name_serve_requests_total{status="400"} 1.0' in text
    assert "model_name_serve_errors_total 1.0" in text
    assert "model_name_serve_request_seconds_count 2.0" in text


def test_a_port_in_use_is_one_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = BackgroundServer(_nothing, "127.0.0.1", port, grace_seconds=1)

        with pytest.raises(ServiceError, match=f"cannot listen on 127.0.0.1:{port}"):
            server.start()


async def _nothing(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover - never served
    return None


def test_requests_sent_together_each_get_their_own_rows_predictions(
    server: BackgroundServer, holder: ModelHolder, version_1: Served
) -> None:
    import concurrent.futures

    import pandas as pd

    # given 24 clients at once, each with its own rows, one of them with a missing value
    holder.switch(version_1)
    requests = [[[value + i / 100 for value in ROW]] * (1 + i % 3) for i in range(24)]
    requests[5] = [[None, *ROW[1:]]]

    def send(rows: list[list[float | None]]) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            body = {"dataframe_split": {"columns": FEATURES, "data": rows}}
            return client.post("/invocations", json=body)

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(send, requests))

    # then each got the predictions of its own rows, as scikit-learn makes them, in order
    pipeline = version_1.model.get_raw_model()
    for i, (rows, answer) in enumerate(zip(requests, answers, strict=True)):
        if i == 5:  # and the one with a missing value its own 400, spoiling nobody's answer
            assert answer.status_code == 400
            continue
        expected = pipeline.predict(pd.DataFrame(rows, columns=FEATURES)).tolist()
        assert answer.status_code == 200
        assert answer.json()["predictions"] == pytest.approx(expected)
