"""The seeds' class diagrams, as a user writes code from them: these names and signatures hold.

`Service.start/stop`; `LoggerService(sink, level, format).logger()`;
`AlertsService(enable, app_name, timeout).notify(title, message)`;
`MlflowService(tracking_uri, experiment_name).run_context(RunConfig)` and `client()`;
`Job` abstract, with `KIND`, the three services, `__enter__`, `__exit__` returning False and
`run() -> Locals`.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from dependency_injector import providers

from model_name.cli import run_in_container
from model_name.configuration import load_configuration
from model_name.containers import create_container, register_job
from model_name.io.services import (
    AlertsService,
    LoggerService,
    MlflowService,
    RunConfig,
    Service,
)
from model_name.jobs import Job, Locals
from tests.helpers.http_server import RecordingHTTPServer


class SeedAlerts(AlertsService):
    """An alerts service written from the seeds' diagram: `notify(title, message)`, nothing else."""

    def notify(self, title: str, message: str) -> None:
        SENT.append((title, message))
        super().notify(title, message)


SENT: list[tuple[str, str]] = []


class SeedJob(Job):
    """A job written from the seeds' diagram."""

    KIND = "seed"

    def run(self) -> Locals:
        self.logger_service.logger().debug("seed job running")
        with self.mlflow_service.run_context(RunConfig(name="seed")) as run:
            pass
        return locals()


def test_service_is_abstract_with_start_and_stop() -> None:
    assert inspect.isabstract(Service)
    assert {"start", "stop"} <= Service.__abstractmethods__


def test_logger_service_takes_sink_level_format_and_gives_a_logger(tmp_path: Path) -> None:
    service = LoggerService(sink=str(tmp_path / "seed.log"), level="INFO", format="{message}")

    service.start()
    service.logger().info("from the seeds")
    service.stop()

    assert (tmp_path / "seed.log").read_text() == "from the seeds\n"


def test_alerts_service_takes_enable_app_name_timeout_and_notifies(tmp_path: Path) -> None:
    log = LoggerService(sink=str(tmp_path / "alerts.log"), format="{message}")
    service = AlertsService(enable=False, app_name="seeds", timeout=3, logger_service=log)

    with log:
        service.start()
        assert service.notify("title", "message") is None
        service.stop()

    assert "Alert: title: message" in (tmp_path / "alerts.log").read_text()


def test_mlflow_service_gives_a_run_context_and_a_client(tracking_uri: str) -> None:
    service = MlflowService(tracking_uri=tracking_uri, experiment_name="seeds")

    service.start()
    try:
        with service.run_context(RunConfig(name="seed")) as run:
            run_id = run.info.run_id
        status = service.client().get_run(run_id).info.status
    finally:
        service.stop()

    assert status == "FINISHED"


def test_job_is_abstract_and_its_exit_never_swallows(mlflow_service: MlflowService) -> None:
    assert inspect.isabstract(Job)
    assert "run" in Job.__abstractmethods__
    assert {"logger_service", "alerts_service", "mlflow_service"} <= set(Job.model_fields)
    job = SeedJob(alerts_service=AlertsService(enable=False), mlflow_service=mlflow_service)
    with job as entered:
        assert entered is job
    assert job.__exit__(None, None, None) is False


def test_an_alerts_service_with_the_seeds_signature_gets_every_alert_of_a_job(
    tracking_uri: str, tmp_path: Path
) -> None:
    # given a container whose alerts service a user wrote from the seeds' diagram
    SENT.clear()
    configuration = load_configuration(
        overrides=[
            f"mlflow.tracking_uri={tracking_uri}",
            f"logger.sink={tmp_path / 'job.log'}",
            "alerts.enable=false",
        ]
    )
    container = create_container(configuration.settings)
    container.alerts_service.override(
        providers.Resource(SeedAlerts, enable=False, logger_service=container.logger_service)
    )
    register_job(container, SeedJob)

    # when a job runs as the command line runs it, alerting on start and success
    container.config.jobs.seed.from_value({"alert_on": ["start", "success"]})
    code = run_in_container(container, "seed")

    # then the job succeeded and the user's notify got both alerts
    assert code == 0
    assert [title for title, _ in SENT] == ["seed started", "seed succeeded"]


@pytest.mark.slow
def test_markdown_and_severity_reach_the_channels_through_the_seeds_signature(
    http_server: RecordingHTTPServer, logger_service: LoggerService, mlflow_service: MlflowService
) -> None:
    # given the user's alerts service with a json:// channel, and a job that fails
    SENT.clear()
    alerts = SeedAlerts(
        enable=False,
        channels=[f"json://{http_server.netloc}/alerts"],
        logger_service=logger_service,
    )

    class FailingJob(SeedJob):
        def run(self) -> Locals:
            raise ValueError("bad input")

    # when the job fails
    job = FailingJob(
        logger_service=logger_service, alerts_service=alerts, mlflow_service=mlflow_service
    )
    with pytest.raises(ValueError, match="bad input"), job:
        job.run()

    # then the channel got the Markdown body and the failure's severity
    [request] = http_server.requests
    payload = request.json()
    assert payload["title"] == "seed failed"
    assert payload["type"] == "failure"
    assert payload["message"].startswith("**Job `seed` failed.**")
    assert SENT[0][1].startswith("ValueError: bad input.")
