"""What every service is: a pydantic model with an idempotent start and stop.

Also what the services share: loguru's
logger, imported on first use so that importing a service stays cheap.
"""

from __future__ import annotations

import abc
import types
from typing import TYPE_CHECKING, Literal, Self

import pydantic as pdt

if TYPE_CHECKING:
    import loguru


class Service(abc.ABC, pdt.BaseModel):
    """A global resource of a job, started before it runs and stopped after.

    Subclasses implement `start` and `stop`; both must be idempotent, and `stop` of a service
    that never started must do nothing. Use a service as a context manager, or call `start` and
    `stop` yourself (whoever starts a service stops it).
    """

    _running: bool = pdt.PrivateAttr(default=False)

    @property
    def running(self) -> bool:
        """Whether the service is started and not stopped since."""
        return self._running

    def check(self) -> None:
        """Validate what needs the service's library, before any service starts.

        The settings validators check what is cheap; what needs a heavy library (Apprise
        parsing a notification URL) is checked here, so that a bad value stops the command
        before anything started. Does nothing unless a service overrides it.

        Raises:
            ConfigurationError: a setting the library cannot use.
        """

    @abc.abstractmethod
    def start(self) -> None:
        """Acquire the service's resources; does nothing when it is already running."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Release the service's resources; does nothing when it is not running."""

    def __enter__(self) -> Self:
        """Start the service and return it."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        exc_traceback: types.TracebackType | None,
    ) -> Literal[False]:
        """Stop the service; never swallows an exception."""
        self.stop()
        return False


def _loguru() -> loguru.Logger:
    """Return loguru's logger, imported on first use (about 0.1 s)."""
    from loguru import logger

    return logger
