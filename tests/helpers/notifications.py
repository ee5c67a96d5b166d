"""A real notification server for the alert tests: dunst under Xvfb, on its own D-Bus session bus.

The `notification_daemon` fixture starts it for one test and stops it after; a test reads back what
was delivered with `daemon.notifications()`. Without the Debian packages (xvfb dbus-x11 dunst
libnotify-bin) the fixture skips, naming them; under CI (`CI=true`) it fails instead, because CI
installs them and a skipped delivery test would hide a broken one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.programs import require_programs

DAEMON_BINARIES = ("Xvfb", "dbus-daemon", "dunst", "dunstctl", "notify-send")
"""The programs `notification_daemon` needs."""


DAEMON_START_SECONDS = 20.0
"""How long `notification_daemon` waits for each of its programs to be ready."""


# --- notifications --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Notification:
    """A notification the daemon received.

    Attributes:
        summary: its title.
        body: its message.
        appname: the application that sent it.
        timeout: how long it was asked to stay, in milliseconds (0: until dismissed).
    """

    summary: str
    body: str
    appname: str
    timeout: int


@dataclasses.dataclass
class NotificationDaemon:
    """A running notification server, and the environment that reaches it.

    Attributes:
        display: the X display of its Xvfb server (`DISPLAY`).
        bus_address: its D-Bus session bus (`DBUS_SESSION_BUS_ADDRESS`).
    """

    display: str
    bus_address: str
    _tools_env: dict[str, str] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def env(self) -> dict[str, str]:
        """The variables a client needs: `DISPLAY` and `DBUS_SESSION_BUS_ADDRESS`."""
        return {"DISPLAY": self.display, "DBUS_SESSION_BUS_ADDRESS": self.bus_address}

    def notifications(self) -> list[Notification]:
        """Return every notification delivered so far, oldest first.

        Shown notifications are closed first, as dunst only lists closed ones in its history.
        """
        self._dunstctl("close-all")
        history = json.loads(self._dunstctl("history"))
        entries: list[dict[str, Any]] = history["data"][0] if history["data"] else []
        found = [
            Notification(
                summary=entry["summary"]["data"],
                body=entry["body"]["data"],
                appname=entry["appname"]["data"],
                timeout=int(entry["timeout"]["data"]),
            )
            for entry in entries
        ]
        return found[::-1]  # dunst lists the newest first

    def _dunstctl(self, *arguments: str) -> str:
        result = subprocess.run(
            ["dunstctl", *arguments],
            # The environment of the daemon's start: a test may have changed PATH since.
            env={**(self._tools_env or os.environ), **self.env},
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return result.stdout


def _stop_group(process: subprocess.Popen[str]) -> None:
    """Stop a process and its group: SIGTERM, then SIGKILL after 5 s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck program
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:  # pragma: no cover - it just exited
            pass
    if process.stdout is not None:
        process.stdout.close()


def _read_line(process: subprocess.Popen[str], log: Path) -> str:
    """Return the first line a starting program prints on stdout (it prints it when ready)."""
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:  # pragma: no cover - the program failed to start
        process.wait(timeout=5)
        raise RuntimeError(
            f"{log.stem} did not start (exit {process.returncode}): {log.read_text()}"
        )
    return line


def _wait_for_notification_server(
    env: dict[str, str], dunst: subprocess.Popen[str], log: Path
) -> None:
    """Wait until dunst owns the notification name on the bus (asking the bus, not dunst)."""
    command = [
        "dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
        "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner",
        "string:org.freedesktop.Notifications",
    ]  # fmt: skip
    deadline = time.monotonic() + DAEMON_START_SECONDS
    while time.monotonic() < deadline:
        if dunst.poll() is not None:  # pragma: no cover - dunst failed to start
            raise RuntimeError(f"dunst exited {dunst.returncode}: {log.read_text()}")
        reply = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=5, check=False
        )
        if "boolean true" in reply.stdout:
            return
        time.sleep(0.05)
    raise RuntimeError(  # pragma: no cover - dunst hung
        f"dunst did not take the notification name in {DAEMON_START_SECONDS} s"
    )


@pytest.fixture
def notification_daemon(tmp_path: Path) -> Iterator[NotificationDaemon]:
    """Run a real notification server for one test: dunst under Xvfb on its own D-Bus bus.

    Point the code under test at it with `monkeypatch.setenv` for each of `daemon.env`, then read
    what it delivered with `daemon.notifications()`. Everything is stopped after the test.
    Skipped when a program is missing, failed under CI (`require_programs`).
    """
    require_programs(*DAEMON_BINARIES, "dbus-send")
    processes: list[subprocess.Popen[str]] = []

    def launch(name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        with (tmp_path / f"{name}.log").open("w") as log:  # the child keeps its own descriptor
            process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                start_new_session=True,
            )
        processes.append(process)
        return process

    base_env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY")
    }
    try:
        # Xvfb picks a free display and prints its number once it accepts clients.
        xvfb = launch(
            "Xvfb",
            ["Xvfb", "-displayfd", "1", "-screen", "0", "640x480x24", "-nolisten", "tcp"],
            base_env,
        )
        display = f":{_read_line(xvfb, tmp_path / 'Xvfb.log')}"
        env = {**base_env, "DISPLAY": display}
        bus = launch(
            "dbus-daemon", ["dbus-daemon", "--session", "--nofork", "--print-address=1"], env
        )
        env["DBUS_SESSION_BUS_ADDRESS"] = _read_line(bus, tmp_path / "dbus-daemon.log")
        config = tmp_path / "dunstrc"
        config.write_text("[global]\n    history_length = 1000\n")
        dunst = launch("dunst", ["dunst", "-config", str(config)], env)
        _wait_for_notification_server(env, dunst, tmp_path / "dunst.log")
        yield NotificationDaemon(
            display=display, bus_address=env["DBUS_SESSION_BUS_ADDRESS"], _tools_env=env
        )
    finally:
        for process in reversed(processes):
            _stop_group(process)
