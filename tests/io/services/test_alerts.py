"""AlertsService against a real notification daemon, and without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from model_name.io.services import AlertsService, notification_backend_problem
from model_name.testing import RecordingAlertsService
from tests.helpers.logs import file_logger, lines
from tests.helpers.notifications import NotificationDaemon
from tests.helpers.programs import require_programs

# --- AlertsService --------------------------------------------------------------------------


def use_daemon(monkeypatch: pytest.MonkeyPatch, daemon: NotificationDaemon) -> None:
    for name, value in daemon.env.items():
        monkeypatch.setenv(name, value)


def no_dbus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)


def path_without_notify_send(tmp_path: Path) -> str:
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    return str(empty)


@pytest.mark.parametrize("timeout", [None, 3])
def test_an_alert_is_delivered_to_the_desktop(
    notification_daemon: NotificationDaemon,
    monkeypatch: pytest.MonkeyPatch,
    timeout: int | None,
) -> None:
    # given a notification server on the session bus
    use_daemon(monkeypatch, notification_daemon)
    service = AlertsService(enable=True, app_name="model_name-tests", timeout=timeout)

    # when an alert is sent
    with service:
        service.start()  # idempotent: no second check
        assert service.problem is None
        service.notify("Training done", "r2 = 0.48")

    # then the server received it, with its title, message and application name
    [received] = notification_daemon.notifications()
    assert (received.summary, received.body, received.appname) == (
        "Training done",
        "r2 = 0.48",
        "model_name-tests",
    )


def test_without_dbus_alerts_go_to_the_log_and_say_why_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given no D-Bus session
    no_dbus(monkeypatch)
    log = file_logger(tmp_path)

    # when two alerts are sent
    with log, AlertsService(enable=True) as alerts:
        alerts.notify("first", "one")
        alerts.notify("second", "two")

    # then both are in the log, after one line saying why
    assert lines(Path(log.sink)) == [
        "INFO|alerts: no D-Bus session (DBUS_SESSION_BUS_ADDRESS unset); alerts go to the log",
        "INFO|Alert: first: one",
        "INFO|Alert: second: two",
    ]


def test_a_disabled_service_logs_alerts_and_sends_nothing(
    tmp_path: Path, notification_daemon: NotificationDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a working notification server but alerts disabled
    use_daemon(monkeypatch, notification_daemon)
    log = file_logger(tmp_path)

    with log, AlertsService(enable=False) as alerts:
        alerts.notify("quiet", "only in the log")

    assert lines(Path(log.sink)) == ["INFO|Alert: quiet: only in the log"]
    assert notification_daemon.notifications() == []


def test_plyer_failing_falls_back_to_the_log_without_raising(
    tmp_path: Path, notification_daemon: NotificationDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given alerts that work, then lose notify-send (plyer's backend) from the PATH
    use_daemon(monkeypatch, notification_daemon)
    log = file_logger(tmp_path)
    with log, AlertsService(enable=True) as alerts:
        alerts.notify("delivered", "first")
        monkeypatch.setenv("PATH", path_without_notify_send(tmp_path))

        # when alerts are sent, plyer raises inside
        alerts.notify("logged", "second")
        alerts.notify("logged too", "third")

    # then nothing raised, the alerts are in the log, and why is said once
    text = lines(Path(log.sink))
    assert [line for line in text if "plyer failed (FileNotFoundError" in line] == [text[0]]
    assert text[1:] == ["INFO|Alert: logged: second", "INFO|Alert: logged too: third"]
    assert [item.summary for item in notification_daemon.notifications()] == ["delivered"]


def test_a_bus_without_a_notification_server_is_detected(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the probe asks the bus with dbus-send; notify-send is what plyer would use
    require_programs("dbus-send", "notify-send")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", f"unix:path={tmp_path / 'no-bus'}")

    problem = notification_backend_problem()

    assert problem is not None and problem.startswith("no notification server answers on D-Bus")


def test_a_missing_notify_send_is_detected(
    tmp_path: Path, notification_daemon: NotificationDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_daemon(monkeypatch, notification_daemon)
    monkeypatch.setenv("PATH", path_without_notify_send(tmp_path))

    with AlertsService(enable=True) as alerts:
        assert alerts.problem == (
            "neither python-dbus nor notify-send is installed (Debian: libnotify-bin)"
        )


def test_before_start_an_alert_falls_back_as_the_started_service_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given no desktop session, and a service that was never started
    no_dbus(monkeypatch)
    log = file_logger(tmp_path)

    with log:
        AlertsService(enable=True, logger_service=log).notify("early", "not started")

    assert lines(Path(log.sink)) == [
        "INFO|alerts: no D-Bus session (DBUS_SESSION_BUS_ADDRESS unset); alerts go to the log",
        "INFO|Alert: early: not started",
    ]


def test_before_start_an_alert_reaches_the_desktop(
    notification_daemon: NotificationDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a desktop, and a service that was never started (fmind's services work this way)
    use_daemon(monkeypatch, notification_daemon)

    AlertsService(enable=True).notify("early", "delivered before start")

    assert [item.body for item in notification_daemon.notifications()] == ["delivered before start"]


def test_the_recording_service_records_and_logs(tmp_path: Path) -> None:
    log = file_logger(tmp_path)

    with log, RecordingAlertsService() as alerts:
        alerts.notify("title", "message")

    assert alerts.sent == [("title", "message")]
    assert lines(Path(log.sink)) == ["INFO|Alert: title: message"]
