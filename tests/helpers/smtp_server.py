"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps the mails it receives.

The `smtp_server` fixture starts one for a test and stops it after. It asks for a login without
TLS (as a relay on a private network would) and accepts only `SMTP_USER` / `SMTP_PASSWORD`, so a
test sees that the credentials of a `mailto://` URL were used. `server.messages` holds every mail
received, parsed.
"""

from __future__ import annotations

import dataclasses
import email
import email.message
import email.policy
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.servers import free_port

SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-pa55-s3cr3t-word"


@dataclasses.dataclass
class SmtpServer:
    """A running SMTP server and what it received.

    Attributes:
        port: its port on 127.0.0.1.
        messages: every mail received, in order.
        logins: the user names that logged in.
    """

    port: int
    messages: list[email.message.EmailMessage] = dataclasses.field(default_factory=list)
    logins: list[str] = dataclasses.field(default_factory=list)
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)

    def mailto(self, password: str = SMTP_PASSWORD, **query: str) -> str:
        """Return Apprise's `mailto://` URL for this server: login, no TLS, from and to set."""
        params = {"mode": "insecure", "from": "model_name@example.org", "to": "team@example.org"}
        params.update(query)
        tail = "&".join(f"{key}={value}" for key, value in params.items())
        return f"mailto://{SMTP_USER}:{password}@127.0.0.1:{self.port}?{tail}"

    # aiosmtpd's handler hooks ------------------------------------------------------------------

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> Any:
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (SMTP_USER, SMTP_PASSWORD)
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 for one test (login required, no TLS), stopped after it."""
    from aiosmtpd.controller import Controller

    server = SmtpServer(port=free_port())
    controller = Controller(
        server,
        hostname="127.0.0.1",
        port=server.port,
        authenticator=server.authenticate,
        auth_require_tls=False,
        auth_required=True,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
