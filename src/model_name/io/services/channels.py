"""Notification channels through Apprise: chat, e-mail and webhooks, bounded and never raising.

Each channel is an Apprise URL (`slack://...`, `mailto://...`, `json://...`). `send_to_channels`
sends one alert to all of them at once, each in a daemon thread, and waits at most the bound for
all of them together: a channel that hangs costs the job the bound, never more, and its thread is
left to die on its own socket timeout (lowered to the bound). Nothing here raises into a job.

The URLs are secrets. Apprise's own log (the `apprise` stdlib logger) quotes URLs and request
errors that embed them at DEBUG, so it is kept out of the application's log altogether: its
records are captured per thread, and only the last warning of a failed channel is used, as the
reason, with every secret part of the URL masked. A channel is named in the log by its index
and Apprise's privacy form of its URL (`json://127.0.0.1:8080/`, `slack://T...4/B...2/x...y`).
Apprise is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal, Self

from model_name.errors import ConfigurationError
from model_name.redaction import MASK

if TYPE_CHECKING:
    from apprise import NotifyBase

Severity = Literal["info", "success", "warning", "failure"]
"""The kind of an alert, which channels show as a colour or an icon (Apprise's NotifyType)."""


class AlertText(str):
    """An alert's plain-text body that also carries its Markdown form and its severity.

    It is a `str`, so `AlertsService.notify(title, message)` keeps the seeds' signature: a
    subclass that overrides `notify` with that signature receives the plain text, and passes
    the Markdown and the severity on untouched when it calls `super().notify(title, message)`.
    A plain `str` message is an `info` alert whose channels get the text itself.

    Attributes:
        markdown: the body in Markdown for the channels; None sends them the plain text.
        severity: `info`, `success`, `warning` or `failure`.

    Example:
        >>> body = AlertText("rmse 53.1", markdown="- rmse: **53.1**", severity="success")
        >>> body, body.markdown, body.severity
        ('rmse 53.1', '- rmse: **53.1**', 'success')
    """

    markdown: str | None
    severity: Severity

    def __new__(
        cls, text: str, *, markdown: str | None = None, severity: Severity = "info"
    ) -> Self:
        """Return the text with its Markdown form and severity attached."""
        body = super().__new__(cls, text)
        body.markdown = markdown
        body.severity = severity
        return body

    @classmethod
    def of(cls, message: str) -> AlertText:
        """Return the message as it is when it is an `AlertText`, else as a plain `info` alert."""
        return message if isinstance(message, AlertText) else cls(message)


_CAUSE = re.compile(r"\[Errno -?\d+\][^'\")\]]*|[Rr]ead timed out|timed out")
"""The cause in a socket error's text: `[Errno 111] Connection refused`, `Read timed out`."""

_URL_PARTS = re.compile(r"[/:@?&=,#;+]+")


@dataclasses.dataclass(frozen=True)
class Delivery:
    """What became of an alert on one channel.

    Attributes:
        index: the channel's position in `alerts.channels`.
        channel: the channel in Apprise's privacy form (its secrets shortened to a hint).
        problem: why it failed, secrets masked; None when the channel accepted the alert.
    """

    index: int
    channel: str
    problem: str | None = None


def check_channels(urls: Sequence[str], key: str = "alerts.channels") -> None:
    """Check that Apprise can use every URL, without sending anything.

    Args:
        urls: the notification URLs.
        key: the setting they come from, for the error message.

    Raises:
        ConfigurationError: one URL is unknown or incomplete; the message names the key and
            the index, never the URL.
    """
    for index, url in enumerate(urls):
        if _instantiate(url) is None:
            scheme = url.partition("://")[0].lower()
            raise ConfigurationError(
                f"{key}[{index}]: Apprise cannot use this {scheme}:// URL "
                "(an unknown service, or a part missing or malformed; see "
                "https://github.com/caronc/apprise/wiki)"
            )


def send_to_channels(
    urls: Sequence[str],
    title: str,
    body: str,
    *,
    markdown: bool = False,
    severity: Severity = "info",
    timeout: float = 10.0,
    app_name: str = "model_name",
) -> list[Delivery]:
    """Send one alert to every channel at once, and wait for them at most `timeout` seconds.

    The bound covers the sending; importing Apprise, once a process (0.4-1 s; `model_name run`
    pays it in `AlertsService.check()` before any service starts), comes before it.

    Args:
        urls: the notification URLs.
        title: the alert's title.
        body: the alert's text.
        markdown: the body is Markdown (channels that support it format it).
        severity: the alert's kind.
        timeout: the most this call waits for all channels together, in seconds.
        app_name: the sender's name, where a channel shows one (Mattermost's user name, the
            User-Agent).

    Returns:
        One delivery per channel, in order; a channel still sending after `timeout` has the
        problem "no answer within ... s".
    """
    if not urls:
        return []
    _capture_apprise_log()
    # Importing Apprise and loading its plugins (1.5 s, 7 s on a loaded machine) is not the
    # channels' time: done here, before the deadline, not in the threads.
    from apprise.manager_plugins import NotificationManager

    NotificationManager().load_modules()  # type: ignore[no-untyped-call]  # once a process

    deadline = time.monotonic() + timeout
    workers = [_Worker(index, url, timeout, app_name) for index, url in enumerate(urls)]
    for worker in workers:
        worker.thread = threading.Thread(
            target=worker.send,
            args=(title, body, markdown, severity),
            name=f"{THREAD_PREFIX}{worker.index}",
            daemon=True,  # a hung channel must not keep the process alive
        )
        worker.thread.start()
    for worker in workers:
        worker.thread.join(max(0.0, deadline - time.monotonic()))
    return [worker.delivery(timeout) for worker in workers]


class _Worker:
    """One channel's sending, run in its own thread."""

    def __init__(self, index: int, url: str, timeout: float, app_name: str) -> None:
        self.index = index
        self.url = url
        self.timeout = timeout
        self.app_name = app_name
        self.channel = f"{url.partition('://')[0]}://..."
        self.problem: str | None = None
        self.done = threading.Event()
        self.thread: threading.Thread = threading.Thread()

    def send(self, title: str, body: str, markdown: bool, severity: Severity) -> None:
        ident = threading.get_ident()
        try:
            from apprise import NotifyFormat, NotifyType

            plugin = _instantiate(self.url, self.app_name)
            if plugin is None:  # checked before start; only `notify` before `check` gets here
                self.problem = "Apprise cannot use this URL"
                return
            self.channel = str(plugin.url(privacy=True)).partition("?")[0]  # type: ignore[no-untyped-call]
            # The thread outlives the bound only by its socket timeouts: keep them in the bound.
            for name in ("socket_connect_timeout", "socket_read_timeout"):
                current = getattr(plugin, name, None)
                if isinstance(current, int | float):
                    setattr(plugin, name, min(float(current), self.timeout))
            sent = plugin.notify(
                body=body,
                title=title,
                notify_type=NotifyType(severity),
                body_format=NotifyFormat.MARKDOWN if markdown else NotifyFormat.TEXT,
            )
            if not sent:
                self.problem = _APPRISE_LOG.reason(ident) or "the service refused the alert"
        except Exception as error:  # a plugin's bug must not reach the job
            self.problem = f"{type(error).__name__}: {error}"
        finally:
            _APPRISE_LOG.forget(ident)
            self.done.set()

    def delivery(self, timeout: float) -> Delivery:
        if not self.done.is_set():
            return Delivery(self.index, self.channel, f"no answer within {timeout:g} s")
        problem = self.problem and mask_url_parts(self.problem, self.url, self.channel)
        return Delivery(self.index, self.channel, problem)


def mask_url_parts(text: str, url: str, shown: str = "") -> str:
    """Mask in a text the URL and every part of it longer than 3 characters, but its scheme.

    Apprise's messages name a host, or quote a request error that embeds the URL's path, where
    webhook tokens live. Parts that Apprise's privacy form shows whole (`shown`: a host, a
    port) are left, and so are short parts: masking them would garble the message more than
    they could reveal.

    Args:
        text: the message to mask.
        url: the channel's URL.
        shown: the URL's privacy form.

    Example:
        >>> mask_url_parts("POST /hooks/s3cr3t-token: 500", "json://host/hooks/s3cr3t-token")
        'POST /**********/**********: 500'
    """
    scheme, _, rest = url.partition("://")
    public = {scheme, *_URL_PARTS.split(shown.partition("://")[2])}
    parts = {url, *_URL_PARTS.split(rest)} - public
    for part in sorted(parts, key=len, reverse=True):
        if len(part) > 3:
            text = text.replace(part, MASK)
    return text


def _instantiate(url: str, app_name: str = "model_name") -> NotifyBase | None:
    """Return Apprise's plugin for a URL, or None when Apprise cannot use it (it logs why)."""
    import apprise

    _capture_apprise_log()
    asset = apprise.AppriseAsset(app_id=app_name)
    plugin: NotifyBase | None = apprise.Apprise.instantiate(url.strip(), asset=asset)
    _APPRISE_LOG.forget(threading.get_ident())
    return plugin


class _AppriseLog(logging.Handler):
    """Keep the last warning Apprise logged in each thread, for the channel sending there."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._last: dict[int, str] = {}
        self._cause: dict[int, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            thread = record.thread or 0
            message = record.getMessage().strip()
            if record.levelno >= logging.WARNING:
                self._last[thread] = message
            elif found := _CAUSE.search(message):  # "Socket Exception: ...[Errno 111] ..."
                self._cause[thread] = found.group(0).strip()
        except Exception:  # pragma: no cover - a malformed record: no reason, still no raise
            return

    def reason(self, thread: int) -> str | None:
        last, cause = self._last.get(thread), self._cause.get(thread)
        return f"{last} ({cause})" if last and cause else last

    def forget(self, thread: int) -> None:
        self._last.pop(thread, None)
        self._cause.pop(thread, None)


class _NotFromChannels(logging.Filter):
    """Drop the records that the channel threads' HTTP libraries write: they quote URL paths."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.threadName or not record.threadName.startswith(THREAD_PREFIX)


THREAD_PREFIX = "alerts-channel-"
"""The name of each channel's sending thread, followed by the channel's index."""

QUIET_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.util.retry", "requests")
"""The HTTP libraries' loggers whose records from channel threads are dropped (urllib3 logs each
request's path at DEBUG, and webhook tokens live in the path)."""

_APPRISE_LOG = _AppriseLog()
_QUIET = _NotFromChannels()
_capture_lock = threading.Lock()


def _capture_apprise_log() -> None:
    """Route Apprise's log records to the capture only: never to the application's log.

    Apprise quotes URLs and request errors at DEBUG and INFO; the application's logger service
    routes the root logger into its sink. Apprise's logger stops propagating: its records reach
    only the capture, which keeps the last warning of each thread and the cause of a socket
    error (`[Errno 111] Connection refused`).
    """
    apprise_logger = logging.getLogger("apprise")
    with _capture_lock:
        if _APPRISE_LOG not in apprise_logger.handlers:
            apprise_logger.addHandler(_APPRISE_LOG)
        apprise_logger.propagate = False
        apprise_logger.setLevel(logging.DEBUG)
        for name in QUIET_LOGGERS:
            if _QUIET not in logging.getLogger(name).filters:
                logging.getLogger(name).addFilter(_QUIET)
