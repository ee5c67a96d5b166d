"""The serve job: predictions over HTTP, the alias followed without a restart, SIGTERM drained."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from model_name.io.services import MlflowService
from model_name.jobs.serve import ServeJob
from model_name.testing import RecordingAlertsService
from tests.helpers.jobs import run_job
from tests.helpers.servers import free_port
from tests.helpers.serving import (
    FEATURES,
    ROW,
    SPLIT,
    ClientLoop,
    register_broken_version,
    register_versions,
    set_alias,
    start_serve,
)

RunsOf = Callable[[str], list[Any]]


def changes(answers: list[int]) -> list[int]:
    """The versions that answered, each run of equal answers once: [1, 1, 2, 2, 1] -> [1, 2, 1]."""
    return [version for i, version in enumerate(answers) if i == 0 or answers[i - 1] != version]


@pytest.fixture
def champion(mlflow_service: MlflowService) -> str:
    """Versions 1 (alpha 1) and 2 (alpha 10) registered, champion on 1; return the model name."""
    name = register_versions(mlflow_service, (1.0, 10.0))
    set_alias(mlflow_service, name, "champion", 1)
    return name


def test_serve_answers_and_follows_the_alias_in_process(
    services: dict[str, Any],
    champion: str,
    tracking_uri: str,
    alerts_service: RecordingAlertsService,
    runs_of: RunsOf,
) -> None:
    # given the serve job on a free port, polling often, and a client thread
    port = free_port()
    job = ServeJob(port=port, poll_seconds=0.1, metrics_seconds=0.2, **services)
    url = f"http://127.0.0.1:{port}"
    seen: dict[str, Any] = {}

    from mlflow import MlflowClient

    httpx.Client().close()  # imported here: MLflow's import hooks deadlock with a thread importing

    def client() -> None:
        try:
            with httpx.Client(base_url=url, timeout=30) as http:
                seen["first"] = _when_ready(http).json()
                seen["version"] = http.get("/version").json()
                # when the alias moves to version 2 through the registry API
                registry = MlflowClient(tracking_uri=tracking_uri)
                registry.set_registered_model_alias(champion, "champion", "2")
                seen["after"] = _until_version(http, 2).json()
                seen["metrics"] = http.get("/metrics").text
        except Exception as error:  # reported by the test, in its thread
            seen["error"] = error
        finally:
            job.request_stop()

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    with job:
        job.run()
    thread.join(30)

    # then version 1 answered, then version 2, without a restart
    assert "error" not in seen, seen.get("error")
    assert len(seen["first"]["predictions"]) == 1
    assert seen["version"]["version"] == 1 and seen["version"]["alias"] == "champion"
    assert seen["first"]["predictions"] != seen["after"]["predictions"]
    assert (
        'model_name_serve_model_version{alias="champion",name="model_name"} 2.0' in seen["metrics"]
    )
    # and the switch was alerted, and the run, FINISHED, records both versions and the traffic
    assert any("switched to version 2" in title for title, _ in alerts_service.sent)
    (run,) = runs_of("serve")
    assert run.info.status == "FINISHED"
    history = run.data.tags["model_name.serve.versions"]
    assert [entry.split("@")[0] for entry in history.split(", ")] == ["1", "2"]
    assert run.data.params["first_version"] == "1"
    assert run.data.metrics["served_version"] == 2
    assert run.data.metrics["requests_total"] >= 2
    assert "latency_p99_ms" in run.data.metrics


def _when_ready(http: httpx.Client) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http.get("/ready").status_code == 200:
                return http.post("/invocations", json=SPLIT)
        except httpx.ConnectError:
            pass
        time.sleep(0.05)
    raise AssertionError("the server was never ready")


def _until_version(http: httpx.Client, version: int) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        response = http.post("/invocations", json=SPLIT)
        if response.headers.get("X-Model-Version") == str(version):
            return response
        time.sleep(0.02)
    raise AssertionError(f"version {version} never answered")


@pytest.fixture
def serving(champion: str, tracking_uri: str, job_log: Path) -> Iterator[tuple[Any, str]]:
    """`model_name run serve` as a process on the champion; killed after the test if still up."""
    process, url = start_serve(job_log, tracking_uri, "jobs.serve.grace_seconds=30")
    try:
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.slow
def test_serve_switches_under_load_skips_a_broken_version_and_drains_on_sigterm(
    serving: tuple[Any, str],
    champion: str,
    mlflow_service: MlflowService,
    job_log: Path,
    runs_of: RunsOf,
) -> None:
    # One serve process for both halves: each is a job process and a champion (~15 s of CPU).
    process, url = serving
    broken = register_broken_version(mlflow_service)
    # given a client sending requests in a loop to the job serving version 1
    with ClientLoop(url) as loop:
        loop.wait_for(1)
        # when promotion moves the alias to 2, then to a version that cannot load, then to 1
        set_alias(mlflow_service, champion, "champion", 2)
        loop.wait_for(2)
        set_alias(mlflow_service, champion, "champion", broken)
        _wait_in_log(job_log, f"Cannot load version {broken}")
        loop.wait_for(2, since=len(loop.answers))
        set_alias(mlflow_service, champion, "champion", 1)
        loop.wait_for(1, since=len(loop.answers))

    # then no request failed, and the answers came from 1, then 2, then 1: never the broken one
    assert loop.failures == []
    assert changes(loop.answers) == [1, 2, 1]
    # and the broken version gave one warning and one alert (alerts off: in the log)
    log = job_log.read_text()
    assert log.count(f"Cannot load version {broken}") == 1
    assert log.count(f"Alert: serve: cannot load version {broken}") == 1
    assert "Switched: now serving version 2" in log

    # given a request in flight: its headers and half its body sent, the rest held back
    rows = "\n".join(",".join(map(str, ROW)) for _ in range(200))
    body = f"{','.join(FEATURES)}\n{rows}\n".encode()
    half_sent, release = threading.Event(), threading.Event()

    def held_body() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        half_sent.set()
        release.wait(60)
        yield body[len(body) // 2 :]

    answer: dict[str, Any] = {}
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.get("/ready").status_code == 200  # the connection is open and accepted

        def send() -> None:
            try:
                answer["response"] = http.post(
                    "/invocations", content=held_body(), headers={"Content-Type": "text/csv"}
                )
            except httpx.HTTPError as error:
                answer["error"] = error

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        assert half_sent.wait(30)
        time.sleep(0.5)  # ordering, not a measure: the server reads what was sent

        # when the job gets SIGTERM
        process.terminate()
        # then it stops accepting new connections while the request is in flight
        _wait_refused(url)
        # and the request in flight, finished after the signal, gets its answer
        release.set()
        thread.join(60)

    assert "error" not in answer, answer.get("error")
    assert answer["response"].status_code == 200
    assert len(answer["response"].json()["predictions"]) == 200
    # and the job exits 143, its run KILLED, recording the versions served and the traffic
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "job serve terminated (SIGTERM)" in stderr
    (run,) = runs_of("serve")
    assert run.info.status == "KILLED"
    history = run.data.tags["model_name.serve.versions"]
    assert [entry.split("@")[0] for entry in history.split(", ")] == ["1", "2", "1"]
    assert run.data.metrics["requests_total"] >= len(loop.answers)
    assert run.data.metrics["errors_total"] == 0


def _wait_in_log(log: Path, text: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if text in log.read_text():
            return
        time.sleep(0.05)
    raise AssertionError(f"never in the log: {text}")


def _wait_refused(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with httpx.Client(base_url=url, timeout=5) as fresh:
                fresh.get("/health")
        except httpx.ConnectError:
            return
        time.sleep(0.05)
    raise AssertionError("the server still accepts connections after SIGTERM")


def test_serve_without_a_champion_fails_in_one_line_naming_what_exists(
    tracking_uri: str, tests_experiment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a store where no model is registered
    # when the serve job starts
    code = run_job(
        "serve", tracking_uri, f"mlflow.experiment_name={tests_experiment}", "jobs.serve.port=0"
    )

    # then it fails (exit 1) in one line saying what it could not serve and what exists
    assert code == 1
    [error] = [line for line in capsys.readouterr().err.splitlines() if ": error: " in line]
    assert error == (
        "model_name: error: job serve failed: cannot serve the version aliased 'champion' of "
        "model 'model_name': model 'model_name' is not registered in the model registry; "
        "registered models: none"
    )
