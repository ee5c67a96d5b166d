"""The serve job's tests' parts: registered versions, the job as a process, clients in a loop."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from model_name.io import datasets, registries
from model_name.io.services import MlflowService, RunConfig
from tests.helpers.jobs import OPEN_SECONDS, job_command
from tests.helpers.servers import without_coverage

FEATURES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
"""The diabetes features, the signature of every model registered here, written out by hand."""

ROW = [0.03, 0.05, 0.06, 0.02, -0.04, -0.03, -0.04, 0.0, 0.02, -0.02]
"""One row of features, in `FEATURES`' order."""

SPLIT = {"dataframe_split": {"columns": FEATURES, "data": [ROW]}}
"""A one-row request in MLflow's `dataframe_split` format."""


def register_versions(mlflow_service: MlflowService, alphas: tuple[float, ...]) -> str:
    """Register one ridge model of the diabetes data per alpha (versions 1, 2, ...); its name."""
    from sklearn.linear_model import Ridge

    frame = datasets.load_sample()
    features = datasets.numeric_features(frame.drop(columns=[datasets.SAMPLE_TARGET]))
    name = mlflow_service.registry_name
    with mlflow_service, mlflow_service.run_context(RunConfig(name="fixture")):
        for alpha in alphas:
            model = Ridge(alpha=alpha).fit(features, frame[datasets.SAMPLE_TARGET])
            info = registries.log_model(model, signature_input=features)
            registries.register_model(info.model_uri, name)
    return name


def register_broken_version(mlflow_service: MlflowService) -> int:
    """Register one more version whose files are gone: it cannot be loaded. Return its number."""
    import mlflow
    from sklearn.linear_model import Ridge

    frame = datasets.load_sample()
    features = datasets.numeric_features(frame.drop(columns=[datasets.SAMPLE_TARGET]))
    model = Ridge().fit(features, frame[datasets.SAMPLE_TARGET])
    with mlflow_service, mlflow_service.run_context(RunConfig(name="broken")):
        info = registries.log_model(model, signature_input=features)
        version = registries.register_model(info.model_uri, mlflow_service.registry_name)
        location = mlflow.get_logged_model(info.model_id).artifact_location
    shutil.rmtree(location.removeprefix("file://"))
    return int(version.version)


def set_alias(mlflow_service: MlflowService, name: str, alias: str, version: int) -> None:
    """Point an alias at a version through the registry API, as the promotion job does."""
    with mlflow_service:
        registries.set_alias(mlflow_service.client(), name, alias, version)


def start_serve(log: Path, tracking_uri: str, *settings: str) -> tuple[subprocess.Popen[str], str]:
    """Start `model_name run serve` on 127.0.0.1, a free port; return it and its URL once ready.

    Raises:
        AssertionError: the job ended first, or was not ready within `OPEN_SECONDS`.
    """
    flags = [
        "--set",
        f"mlflow.tracking_uri={tracking_uri}",
        "--set",
        "mlflow.experiment_name=tests",
    ]
    flags += ["--set", "jobs.serve.port=0", "--set", "jobs.serve.poll_seconds=0.2"]
    for setting in settings:
        flags += ["--set", setting]
    process = subprocess.Popen(
        job_command("serve", log, *flags),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=without_coverage(os.environ),
    )
    deadline = time.monotonic() + OPEN_SECONDS
    while time.monotonic() < deadline:
        text = log.read_text() if log.exists() else ""
        if "Listening on " in text:
            return process, text.split("Listening on ", 1)[1].split()[0]
        if process.poll() is not None:
            raise AssertionError(f"serve ended before listening: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"serve never listened: {log.read_text() if log.exists() else ''}")


@dataclasses.dataclass
class ClientLoop:
    """A client sending one-row requests in a loop from a thread, counting what it got.

    Attributes:
        url: the server's base URL.
        answers: the version (`X-Model-Version`) of each successful answer, in order.
        failures: every failed request: an error status or an exception, described.
    """

    url: str
    answers: list[int] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    _stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ClientLoop:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def wait_for(self, version: int, since: int = 0, seconds: float = OPEN_SECONDS) -> None:
        """Wait for an answer from `version` after the first `since` ones, then for ten more.

        Raises:
            AssertionError: no such answer within `seconds`.
        """
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if version in self.answers[since:]:
                seen = len(self.answers)
                while len(self.answers) < seen + 10 and time.monotonic() < deadline:
                    time.sleep(0.01)
                return
            time.sleep(0.01)
        raise AssertionError(f"no answer from version {version}: {self.answers[-5:]}")

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    response = client.post("/invocations", json=SPLIT)
                except httpx.HTTPError as error:
                    self.failures.append(f"{type(error).__name__}: {error}")
                    continue
                if response.status_code != 200 or len(response.json()["predictions"]) != 1:
                    self.failures.append(f"{response.status_code}: {response.text}")
                    continue
                self.answers.append(int(response.headers["X-Model-Version"]))
