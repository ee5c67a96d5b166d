"""StudyService: journal files opened on use, databases connected at start, passwords masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_name.errors import ModelNotFoundError, ServiceError
from model_name.io.services import StudyService
from tests.helpers.postgres import PostgresServer
from tests.helpers.servers import free_port


def test_the_default_journal_file_is_created_only_when_a_study_is_opened(isolated: Path) -> None:
    # given the default service, started
    with StudyService() as service:
        # then starting it wrote nothing (a job that opens no study leaves no file)
        assert not (isolated / "optuna.journal").exists()
        # when a study is opened
        study = service.open_study("demo", direction="minimize")
        study.optimize(lambda trial: trial.suggest_float("x", -1, 1) ** 2, n_trials=2)
    # then it lives in optuna.journal in the current folder, and reopens with its trials
    assert (isolated / "optuna.journal").is_file()
    with StudyService() as service:
        assert len(service.load_study("demo").trials) == 2


def test_loading_a_missing_study_names_those_that_exist(isolated: Path) -> None:
    # given a storage with one study
    with StudyService(storage=str(isolated / "s" / "j.log")) as service:
        service.open_study("present", direction="maximize")
        # when another name is loaded; then the error lists what exists
        with pytest.raises(ModelNotFoundError, match=r"no study 'absent'.*studies: present"):
            service.load_study("absent")


def test_an_unreachable_database_fails_start_in_one_line_without_its_password() -> None:
    # given a PostgreSQL URL with a password, where nothing listens
    service = StudyService(
        storage=f"postgresql://tuner:hunter2@127.0.0.1:{free_port()}/optuna",
        connect_timeout_seconds=2,
    )
    # when the service starts
    with pytest.raises(ServiceError) as raised:
        service.start()
    # then the message is one line, names the storage, hides the password; nothing runs
    message = str(raised.value)
    assert "\n" not in message
    assert "postgresql://tuner:**********@127.0.0.1" in message
    assert "hunter2" not in message
    assert not service.running


def test_a_bad_grace_period_is_refused() -> None:
    # given a grace period shorter than the heartbeat; then the settings are refused
    with pytest.raises(ValueError, match="grace_period_seconds must be longer"):
        StudyService(heartbeat_seconds=10, grace_period_seconds=5)


@pytest.mark.slow
def test_a_postgresql_storage_is_connected_at_start_and_released_at_stop(
    postgres_server: PostgresServer,
) -> None:
    # given a database on the session's PostgreSQL server
    url = postgres_server.url(postgres_server.create_database("studies"), password="s3cret")
    service = StudyService(storage=url, heartbeat_seconds=1)
    # when the service starts, a study is run, and it stops
    with service:
        assert service.location() == url.replace(":s3cret@", ":**********@")
        study = service.open_study("shared", direction="minimize")
        study.optimize(lambda trial: trial.suggest_int("x", 0, 9), n_trials=3)
    # then a new service finds the study with its trials (heartbeat on: a database storage)
    with StudyService(storage=url) as again:
        assert len(again.load_study("shared").trials) == 3
    assert not service.running
