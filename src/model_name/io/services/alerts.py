"""The alerts service: desktop notifications (or the log), and chat, e-mail and webhook channels.

Desktop notifications go through plyer, or to the log when they cannot work. On Linux, whether a
notification can be delivered is checked once, at start, on D-Bus: plyer itself cannot tell (its
`notify-send` backend ignores failures). Channels are sent by `model_name.io.services.channels`,
bounded by `channels_timeout_seconds`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic as pdt

from model_name.io.services.base import Service
from model_name.io.services.channels import AlertText, check_channels, send_to_channels
from model_name.io.services.logger import LoggerService
from model_name.settings import AlertsSettings

NOTIFICATION_PROBE_SECONDS = 5.0
"""How long `AlertsService.start()` waits for a notification server to answer on D-Bus."""


class AlertsService(Service, AlertsSettings):
    """Send desktop notifications through plyer, or write them to the log when that cannot work.

    `start()` checks that notifications can be delivered: on Linux that means a D-Bus session
    (`DBUS_SESSION_BUS_ADDRESS`), python-dbus or `notify-send`, and a notification server that
    answers (checked with `dbus-send` when it is installed). plyer itself cannot tell: its
    `notify-send` backend ignores failures. Where nothing works (a server, a container, CI), or
    when plyer raises, alerts go to the log instead, and the first one says why, once.
    With `enable=False` alerts go to the log at INFO. Each URL of `channels` is sent every
    alert as well (whatever `enable` says, started or not), all at once, within
    `channels_timeout_seconds`; a failed channel is logged as a warning naming its index and
    Apprise's privacy form of its URL, with the reason. `notify()` never raises, and works before
    `start()` too: it checks the desktop backend on first use, as `start()` would.

    Attributes:
        logger_service: where alerts go when they cannot be delivered.

    Example:
        >>> with AlertsService(enable=False) as alerts:
        ...     alerts.notify("Training done", "r2 = 0.48")
    """

    logger_service: LoggerService = pdt.Field(
        default_factory=LoggerService, exclude=True, repr=False
    )

    _problem: str | None = pdt.PrivateAttr(default=None)
    _probed: bool = pdt.PrivateAttr(default=False)
    _explained: bool = pdt.PrivateAttr(default=False)

    @property
    def problem(self) -> str | None:
        """Why alerts go to the log instead of the desktop, or None while notifications work."""
        if not self.enable:
            return "alerts are disabled (alerts.enable=false)"
        if not self._probed:
            self._problem = notification_backend_problem()
            self._probed = True
        return self._problem

    def check(self) -> None:
        """Check that Apprise can use every channel URL (without sending anything).

        Raises:
            ConfigurationError: a URL Apprise cannot use, named by its index, never quoted.
        """
        check_channels(self._channel_urls())

    def start(self) -> None:
        """Find out whether desktop notifications can be delivered here."""
        if self._running:
            return
        self._probed = self._explained = False
        _ = self.problem
        self._running = True

    def stop(self) -> None:
        """Forget the backend check; the next start checks again."""
        self._running = False
        self._probed = False

    def notify(self, title: str, message: str) -> None:
        """Send a notification, or log it when notifications are off or cannot be delivered.

        Then send it to every channel, within `channels_timeout_seconds` for all of them together.
        Never raises: an alert must not break the job it reports on.

        Args:
            title: the notification's summary line.
            message: the notification's body, plain text (the desktop and the log show it).
                An `AlertText` also carries the body in Markdown and the alert's severity,
                for the channels; the jobs' alerts are `AlertText`s.
        """
        self._notify_desktop(title, message)
        self._notify_channels(title, AlertText.of(message))

    def _notify_desktop(self, title: str, message: str) -> None:
        try:
            from model_name.redaction import mask_secrets_in_text

            # a failure's summary may quote a URL with its credentials: a desktop is an output
            title, message = mask_secrets_in_text(title), mask_secrets_in_text(message)
            problem = self.problem
            if problem is None:
                try:
                    self._send(title, message)
                except Exception as error:
                    problem = self._problem = f"plyer failed ({type(error).__name__}: {error})"
                else:
                    return
            logger = self.logger_service.logger()
            if self.enable and not self._explained:
                self._explained = True
                # no desktop (a server, CI, a container) is information: the user need do nothing
                level = "WARNING" if problem.startswith("plyer failed") else "INFO"
                logger.log(level, "alerts: {}; alerts go to the log", problem)
            logger.info("Alert: {}: {}", title, message)
        except Exception:  # pragma: no cover - the log itself failed: nothing left to tell
            return

    def _notify_channels(self, title: str, message: AlertText) -> None:
        urls = self._channel_urls()
        if not urls:
            return
        try:
            deliveries = send_to_channels(
                urls,
                title,
                message if message.markdown is None else message.markdown,
                markdown=message.markdown is not None,
                severity=message.severity,
                timeout=self.channels_timeout_seconds,
                app_name=self.app_name,
            )
            logger = self.logger_service.logger()
            for delivery in deliveries:
                if delivery.problem is not None:
                    logger.warning(
                        "alerts: channel {} ({}) failed: {}",
                        delivery.index,
                        delivery.channel,
                        delivery.problem,
                    )
        except Exception as error:  # pragma: no cover - Apprise itself broke: log, never raise
            self.logger_service.logger().warning(
                "alerts: the channels failed: {}", type(error).__name__
            )

    def _channel_urls(self) -> list[str]:
        return [url.get_secret_value() for url in self.channels]

    def _send(self, title: str, message: str) -> None:
        import warnings

        from plyer import notification

        options: dict[str, Any] = {"title": title, "message": message, "app_name": self.app_name}
        if self.timeout is not None:
            options["timeout"] = self.timeout
        with warnings.catch_warnings():
            # plyer warns that python-dbus is missing before it falls back to notify-send.
            warnings.simplefilter("ignore")
            notification.notify(**options)


def notification_backend_problem() -> str | None:
    """Say why plyer cannot deliver desktop notifications here, or None when it should.

    Only Linux is checked (plyer uses the platform's own API elsewhere): a session bus must be
    known, python-dbus or `notify-send` must exist, and, when `dbus-send` is installed, a
    notification server must answer on the bus.

    Returns:
        A short reason fit for the log, or None.
    """
    if not sys.platform.startswith("linux") or os.path.isdir("/app"):  # pragma: no cover
        return None  # another platform, or a Flatpak sandbox (plyer uses the portal there)
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if not address and not (runtime_dir and Path(runtime_dir, "bus").exists()):
        return "no D-Bus session (DBUS_SESSION_BUS_ADDRESS unset)"
    import importlib.util

    if importlib.util.find_spec("dbus") is None and shutil.which("notify-send") is None:
        return "neither python-dbus nor notify-send is installed (Debian: libnotify-bin)"
    return _probe_notification_server()


def _probe_notification_server() -> str | None:
    """Ask the session bus for the notification server's identity; say why when none answers."""
    dbus_send = shutil.which("dbus-send")
    if dbus_send is None:  # pragma: no cover - cannot check: trust the session bus
        return None
    command = [
        dbus_send, "--session", "--print-reply", "--reply-timeout=3000",
        "--dest=org.freedesktop.Notifications", "/org/freedesktop/Notifications",
        "org.freedesktop.Notifications.GetServerInformation",
    ]  # fmt: skip
    try:
        probe = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=NOTIFICATION_PROBE_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as error:  # pragma: no cover - hung bus
        return f"no notification server answers on D-Bus ({type(error).__name__})"
    if probe.returncode != 0:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else "no reply"
        return f"no notification server answers on D-Bus ({reason})"
    return None
