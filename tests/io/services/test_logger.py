"""LoggerService on real loguru sinks, with the standard library's and MLflow's logging."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from loguru import logger

from model_name.io.services import LoggerService, MlflowService
from tests.helpers.logs import file_logger, lines

# --- LoggerService --------------------------------------------------------------------------


def test_the_file_sink_gets_the_formatted_messages_at_or_above_the_level(tmp_path: Path) -> None:
    # given a logger to a file in a folder that does not exist yet, at INFO
    service = file_logger(tmp_path, level="info")

    # when messages of every level are logged while it runs
    with service:
        service.logger().debug("not written")
        service.logger().info("written")
        service.logger().error("also written")

    # then the file has the ones at INFO and above, in the configured format
    assert lines(Path(service.sink)) == ["INFO|written", "ERROR|also written"]


def test_serialize_writes_one_json_object_a_line(tmp_path: Path) -> None:
    service = file_logger(tmp_path, serialize=True)

    with service:
        service.logger().info("one")
        service.logger().warning("two")

    records = [json.loads(line) for line in lines(Path(service.sink))]
    assert [record["record"]["message"] for record in records] == ["one", "two"]
    assert [record["record"]["level"]["name"] for record in records] == ["INFO", "WARNING"]


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_the_standard_streams_are_sinks(stream: str, capsys: pytest.CaptureFixture[str]) -> None:
    with LoggerService(sink=stream, format="{message}") as service:
        service.logger().info("to the stream")

    assert getattr(capsys.readouterr(), "out" if stream == "stdout" else "err") == (
        "to the stream\n"
    )


def test_standard_logging_is_routed_into_the_sink_at_the_level(tmp_path: Path) -> None:
    # given a running logger at INFO
    service = file_logger(tmp_path, level="INFO", format="{level}|{name}|{message}")
    root_level = logging.getLogger().level

    # when libraries log through the standard library
    with service:
        logging.getLogger("sklearn").warning("convergence warning")
        logging.getLogger("sklearn").debug("too detailed")
        try:
            raise ValueError("broken")
        except ValueError:
            logging.getLogger("sklearn").exception("with traceback")
        logging.getLogger("custom").log(35, "a level loguru does not know")

    # then their records are in the file, attributed to the calling module, with tracebacks
    text = Path(service.sink).read_text()
    assert f"WARNING|{__name__}|convergence warning" in text
    assert "too detailed" not in text
    assert "ERROR|" in text and "with traceback" in text and "ValueError: broken" in text
    assert "Level 35|" in text and "a level loguru does not know" in text
    # and after stop the standard library is as it was
    assert logging.getLogger().level == root_level
    logging.getLogger("sklearn").warning("after stop")
    assert "after stop" not in Path(service.sink).read_text()


def test_an_mlflow_message_arrives_exactly_once(
    tmp_path: Path, tracking_uri: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # given mlflow imported before the logger started (it installed its own stderr handler)
    mlflow_logger = logging.getLogger("mlflow")
    handlers, propagate = list(mlflow_logger.handlers), mlflow_logger.propagate
    service = file_logger(tmp_path)

    # when MLflow logs a real message while the logger runs
    with service, MlflowService(tracking_uri=tracking_uri, experiment_name="brand-new"):
        pass

    # then it is in the sink once and MLflow did not print it itself
    message = "Experiment with name 'brand-new' does not exist. Creating a new experiment."
    assert Path(service.sink).read_text().count(message) == 1
    assert message not in capfd.readouterr().err
    # and MLflow's logging is as it was
    assert mlflow_logger.handlers == handlers
    assert mlflow_logger.propagate == propagate


def test_mlflow_imported_while_the_logger_runs_logs_once_into_it(tmp_path: Path) -> None:
    # given a fresh process where the logger starts before `import mlflow`
    log = tmp_path / "app.log"
    script = f"""
import logging
from model_name.io.services import LoggerService
service = LoggerService(sink={str(log)!r}, format="{{level}}|{{name}}|{{message}}")
service.start()
import mlflow
logging.getLogger("mlflow.tracking.fluent").info("real mlflow logger message")
service.stop()
"""
    # when it runs
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )

    # then the message is in the sink exactly once, and not on stderr
    assert result.returncode == 0, result.stderr
    assert log.read_text().count("real mlflow logger message") == 1
    assert "real mlflow logger message" not in result.stderr


def test_threads_mlflow_silences_stay_silent(tmp_path: Path) -> None:
    from mlflow.utils.logging_utils import suppress_logs_in_thread

    with file_logger(tmp_path) as service:
        with suppress_logs_in_thread():
            logging.getLogger("mlflow.telemetry").warning("silenced by mlflow")
        logging.getLogger("mlflow.telemetry").warning("not silenced")

    assert lines(Path(service.sink)) == ["WARNING|not silenced"]


def test_a_foreign_loguru_handler_keeps_working(tmp_path: Path) -> None:
    # given somebody else's loguru handler
    received: list[str] = []
    foreign = logger.add(lambda message: received.append(message.record["message"]))
    try:
        # when a logger service starts, logs, and stops
        with file_logger(tmp_path) as service:
            service.logger().info("during")
        logger.info("after")
    finally:
        logger.remove(foreign)

    # then the foreign handler got both messages
    assert received == ["during", "after"]


def test_starting_twice_never_duplicates_output(tmp_path: Path) -> None:
    service = file_logger(tmp_path)

    service.start()
    service.start()
    service.logger().info("once")
    service.stop()
    service.stop()

    assert lines(Path(service.sink)) == ["INFO|once"]


def test_two_loggers_run_side_by_side_and_stop_independently(tmp_path: Path) -> None:
    first = file_logger(tmp_path / "first")
    second = file_logger(tmp_path / "second")

    with first:
        with second:
            logger.info("both")
        logger.info("first only")

    assert lines(Path(first.sink)) == ["INFO|both", "INFO|first only"]
    assert lines(Path(second.sink)) == ["INFO|both"]


def test_a_handler_removed_by_someone_else_does_not_break_stop(tmp_path: Path) -> None:
    # given a running service whose handlers were all removed behind its back
    service = file_logger(tmp_path)
    service.start()
    logger.remove()

    # when it stops, then it stops cleanly
    service.stop()
    assert not service.running
    # and once loguru's default handler is gone for good, services do not bring it back
    logger.remove()
    with file_logger(tmp_path / "again") as again:
        again.logger().info("still logged")
    assert lines(Path(again.sink)) == ["INFO|still logged"]
