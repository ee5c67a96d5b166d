"""Following the alias on a real registry: switch, refuse a broken version, outlive a lost alias."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from model_name.io.services import LoggerService, MlflowService
from model_name.serving.follower import AliasFollower
from model_name.serving.models import ModelHolder
from tests.helpers.serving import register_broken_version, register_versions


@pytest.fixture
def registry(
    mlflow_service: MlflowService, logger_service: LoggerService
) -> Iterator[MlflowService]:
    """Versions 1 and 2, a version 3 whose files are gone; champion on 1; services started."""
    name = register_versions(mlflow_service, (1.0, 10.0))
    register_broken_version(mlflow_service)
    with logger_service, mlflow_service:
        mlflow_service.client().set_registered_model_alias(name, "champion", "1")
        yield mlflow_service


def test_the_follower_switches_refuses_a_broken_version_once_and_outlives_a_lost_alias(
    registry: MlflowService, logger_service: LoggerService, tmp_path: Path
) -> None:
    client = registry.client()
    holder, alerts = ModelHolder(), []
    follower = AliasFollower(
        client, "model_name", alias="champion", version=None, holder=holder,
        logger=logger_service.logger(), notify=lambda title, text: alerts.append(title),
    )  # fmt: skip

    # given version 1 served, when polled with the alias unmoved: nothing changes
    assert follower.first().version == 1
    assert follower.poll() is None

    # when the alias moves to 2: it switches
    client.set_registered_model_alias("model_name", "champion", "2")
    switched = follower.poll()
    assert switched is not None and switched.version == 2
    assert holder.current is switched

    # when it moves to the broken 3, polled twice: 2 keeps serving, one alert
    client.set_registered_model_alias("model_name", "champion", "3")
    assert follower.poll() is None
    assert follower.poll() is None
    assert holder.current is switched
    assert alerts == ["serve: switched to version 2", "serve: cannot load version 3"]

    # when the alias is deleted, polled twice: 2 keeps serving, one warning
    client.delete_registered_model_alias("model_name", "champion")
    assert follower.poll() is None
    assert follower.poll() is None
    # and when it comes back on 1: it switches back
    client.set_registered_model_alias("model_name", "champion", "1")
    back = follower.poll()
    assert back is not None and back.version == 1

    log = (tmp_path / "logs" / "app.log").read_text()
    assert log.count("Cannot load version 3 of 'model_name'") == 1
    assert log.count("Cannot read alias 'champion'") == 1
    assert "The registry answers again: alias 'champion' -> 1" in log


def test_a_pinned_version_is_never_switched(
    registry: MlflowService, logger_service: LoggerService
) -> None:
    client = registry.client()
    holder = ModelHolder()
    follower = AliasFollower(
        client, "model_name", alias="champion", version=2, holder=holder,
        logger=logger_service.logger(), notify=lambda title, text: None,
    )  # fmt: skip

    assert follower.first().version == 2
    client.set_registered_model_alias("model_name", "champion", "1")

    assert follower.poll() is None
    assert holder.current is not None and holder.current.version == 2
    assert holder.current.alias is None
