"""The Service base: abstract, idempotent, a context manager; stop before start does nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from model_name.io.services import AlertsService, LoggerService, MlflowService, Service
from tests.helpers.logs import file_logger

# --- Service --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "service",
    [
        LoggerService(),
        AlertsService(),
        MlflowService(tracking_uri="sqlite:////nonexistent/never.db"),
    ],
    ids=["logger", "alerts", "mlflow"],
)
def test_stop_before_start_does_nothing(service: Service) -> None:
    environ = dict(os.environ)

    service.stop()

    assert not service.running
    assert dict(os.environ) == environ


def test_the_base_service_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        Service()  # type: ignore[abstract]


def test_a_service_is_an_idempotent_context_manager(tmp_path: Path) -> None:
    service = file_logger(tmp_path)

    with service as entered:
        entered.start()
        assert entered is service
        assert service.running
    service.stop()

    assert not service.running
