"""What every service is: a pydantic model with an idempotent start and stop.

Also the one start and stop rule (`start_all`, `stop_all`) the container and jobs share.
"""

from __future__ import annotations

import abc
import types
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, Protocol, Self, TypeVar

import pydantic as pdt


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


class Startable(Protocol):
    """What `start_all` and `stop_all` drive: a service, or a container's resource of one."""

    @property
    def running(self) -> bool:
        """Whether it is started and not stopped since."""

    def start(self) -> None:
        """Start it."""

    def stop(self) -> None:
        """Stop it."""


StartableT = TypeVar("StartableT", bound=Startable)

FailureReport = Callable[[StartableT, BaseException], None]
"""Told of a failed start or stop as it happens, while the logger still runs to record it."""


def start_all(
    services: Iterable[StartableT], report: FailureReport[StartableT] | None = None
) -> list[StartableT]:
    """Start the services that are not running, in order; on a failure, undo and re-raise.

    The one start-up rule of the application, used by the container (on its resources) and by
    jobs given their services by hand: when a service fails to start, the ones this call started
    are stopped again, in reverse order (their own stop errors become notes of the start error),
    and the start error propagates.

    Args:
        services: the services in dependency order (a service after those it uses).
        report: called with the service whose start raised, and the error, before the undoing.

    Returns:
        The services this call started, in start order: whoever starts a service stops it.

    Example:
        >>> from model_name.io.services import AlertsService, LoggerService
        >>> started = start_all([LoggerService(sink="stdout"), AlertsService(enable=False)])
        >>> [type(service).__name__ for service in started], stop_all(started)
        (['LoggerService', 'AlertsService'], [])
    """
    started: list[StartableT] = []
    service: StartableT | None = None
    try:
        for service in services:
            if not service.running:
                service.start()
                started.append(service)
    except BaseException as failure:
        if report is not None and service is not None:
            report(service, failure)
        for error in stop_all(started):
            failure.add_note(f"Stopping a service after that also failed: {error!r}")
        raise
    return started


def stop_all(
    services: Sequence[StartableT], report: FailureReport[StartableT] | None = None
) -> list[Exception]:
    """Stop services in reverse order, attempting every one even when a stop raises.

    Args:
        services: the services in start order.
        report: called with each service whose stop raised, and the error, as it happens.

    Returns:
        The errors the stops raised, in the order they happened (empty when all went well).
    """
    errors: list[Exception] = []
    for service in reversed(services):
        try:
            service.stop()
        except Exception as error:
            errors.append(error)
            if report is not None:
                report(service, error)
    return errors
