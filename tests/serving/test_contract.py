"""Requests checked against the data contract the served version was trained with."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from model_name.contracts import ColumnRule, Contract
from model_name.contracts.saved import log_contract, tag_version
from model_name.io.services import LoggerService, MlflowService, RunConfig
from model_name.serving.app import Serving, create_app
from model_name.serving.metrics import Prometheus, Stats
from model_name.serving.models import ModelHolder, Served, load
from model_name.serving.server import BackgroundServer
from tests.helpers.serving import FEATURES, ROW, register_versions

CONTRACT = Contract(
    columns={name: ColumnRule(ge=-0.5, le=0.5) for name in ["target", *reversed(FEATURES)]}
    | {"target": ColumnRule(ge=0, le=1000)},
    target="target",
)
"""A training contract: the target first and the features in reverse, unlike the signature."""


@pytest.fixture
def served(mlflow_service: MlflowService) -> Served:
    """Version 1 of a ridge model, saved with `CONTRACT` as training saves it, then loaded."""
    name = register_versions(mlflow_service, (1.0,))
    with mlflow_service:
        with mlflow_service.run_context(RunConfig(name="contract")):
            tag_version(mlflow_service.client(), name, 1, log_contract(CONTRACT))
        return load(name, 1, alias="champion")


@pytest.fixture
def http(served: Served, logger_service: LoggerService) -> Iterator[httpx.Client]:
    holder = ModelHolder()
    holder.switch(served)
    with logger_service:
        serving = Serving(holder, Stats(), Prometheus(), logger_service.logger(), 100_000)
        server = BackgroundServer(create_app(serving), "127.0.0.1", 0, grace_seconds=5)
        server.start()
        try:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                yield client
        finally:
            server.stop()


def test_a_loaded_version_checks_requests_against_its_features_in_signature_order(
    served: Served,
) -> None:
    # given a version trained with a contract whose columns are in another order, with a target
    # then the served contract is its features, in the signature's order
    assert served.contract is not None
    assert list(served.contract.columns) == FEATURES
    assert served.contract.columns["bmi"] == ColumnRule(ge=-0.5, le=0.5)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ('{"dataframe_split": {"columns": %s, "data": [%s, %s]}}', "application/json"),
        ("%s\n%s\n%s\n", "text/csv"),
    ],
    ids=["numbers (the lean read)", "csv (the general read)"],
)
def test_a_request_breaking_the_contract_is_refused_in_one_line(
    http: httpx.Client, body: str, content_type: str
) -> None:
    # given two rows, the second with bmi far out of the training range
    bad = [*ROW[:2], 1.7, *ROW[3:]]
    if content_type == "text/csv":
        content = body % (",".join(FEATURES), ",".join(map(str, ROW)), ",".join(map(str, bad)))
    else:
        content = body % (str(FEATURES).replace("'", '"'), ROW, bad)

    # when it is sent
    refused = http.post("/invocations", content=content, headers={"Content-Type": content_type})

    # then 400, one line naming the column, the check, the count and the row with its value
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "request: column 'bmi' fails less_than_or_equal_to(0.5) in 1 of 2 rows: row 2 (1.7)"
    )


def test_rows_keeping_the_contract_are_predicted(http: httpx.Client) -> None:
    # given rows within the contract, when sent in both reads, then both are answered alike
    split = {"dataframe_split": {"columns": FEATURES, "data": [ROW, ROW]}}
    as_json = http.post("/invocations", json=split)
    csv = f"{','.join(FEATURES)}\n{','.join(map(str, ROW))}\n{','.join(map(str, ROW))}\n"
    as_csv = http.post("/invocations", content=csv, headers={"Content-Type": "text/csv"})
    assert as_json.status_code == as_csv.status_code == 200
    assert as_json.json() == as_csv.json()
    assert len(as_json.json()["predictions"]) == 2
