"""The doubles the tests share: a small job, services that break on purpose, a fourth service."""

from __future__ import annotations

from typing import Any, ClassVar

import pydantic as pdt

from model_name.io.services import LoggerService, Service
from model_name.jobs.base import Job, Locals
from model_name.settings import Settings


class EchoJob(Job):
    """Log a message and return it; fail or be interrupted on demand."""

    KIND = "echo"
    message: str = "hello"
    fail_with: str | None = None

    def run(self) -> Locals:
        self.logger_service.logger().info("echo: {}", self.message)
        if self.fail_with == "error":
            raise ValueError("bad input")
        if self.fail_with == "interrupt":
            raise KeyboardInterrupt
        return locals()


def broken(service_type: type[Service], method: str) -> type[Service]:
    """Return a subclass of a service whose `start` raises, or whose `stop` stops then raises."""

    def start(self: Service) -> None:
        raise RuntimeError(f"{service_type.__name__} start broke")

    def stop(self: Service) -> None:
        service_type.stop(self)
        raise RuntimeError(f"{service_type.__name__} stop broke")

    hook = start if method == "start" else stop
    return type(f"Broken{service_type.__name__}", (service_type,), {method: hook})


class ClockSettings(Settings):
    """The settings of a fourth service, as a project would add one."""

    tick_seconds: float = pdt.Field(default=1.0, gt=0)


class ClockService(Service, ClockSettings):
    """A fourth service: it uses the logger, and records when it starts and stops."""

    events: ClassVar[list[str]] = []
    logger_service: LoggerService = pdt.Field(default_factory=LoggerService, exclude=True)

    def start(self) -> None:
        if not self._running:
            self.events.append(f"clock started, logger running: {self.logger_service.running}")
            self._running = True

    def stop(self) -> None:
        if self._running:
            self.events.append(f"clock stopped, logger running: {self.logger_service.running}")
            self._running = False


class ClockJob(Job):
    """A job that uses the fourth service: the container gives it by the field's name."""

    KIND = "clock"
    clock_service: ClockService = pdt.Field(default_factory=ClockService)

    def run(self) -> Locals:
        ticking = self.clock_service.running
        return locals()


def service_states(*services: Any) -> list[bool]:
    """Whether each service is running."""
    return [service.running for service in services]
