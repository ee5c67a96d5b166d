"""The base of every job: a context that starts its services, runs, reports and stops them.

A job is a pydantic model: its own fields are its parameters (validated from `containers.yaml`,
the environment and `--set`), and three fields hold the services it uses. Entering the job starts
the services that are not running yet, logger first; leaving it stops exactly those, in reverse
order, after logging and alerting the outcome. Whoever starts a service stops it: services started
by the container are left running for the container to stop.

Example:
    >>> class HelloJob(Job):
    ...     '''Say hello in the log.'''
    ...
    ...     KIND = "hello"
    ...     name: str = "world"
    ...
    ...     def run(self) -> Locals:
    ...         logger = self.logger_service.logger()
    ...         logger.info("Hello, {}!", self.name)
    ...         return locals()
    >>> job = HelloJob(name="you", alerts_service=AlertsService(enable=False))
    >>> with job:
    ...     outputs = job.run()
    >>> sorted(outputs)
    ['logger', 'self']
"""

from __future__ import annotations

import abc
import types
from typing import Any, ClassVar, Literal, Self

import pydantic as pdt

from model_name.io.services import (
    AlertsService,
    LoggerService,
    MlflowService,
    RunConfig,
    Service,
)

Locals = dict[str, Any]
"""What `Job.run` returns: conventionally `locals()`, so tests can inspect every intermediate."""

AlertEvent = Literal["start", "success", "failure", "interrupted"]
"""The moments of a job that may send an alert."""

SERVICE_FIELDS = ("logger_service", "alerts_service", "mlflow_service")
"""The fields that hold services, in start order; they are not parameters of the job."""

RESERVED_FIELDS = (*SERVICE_FIELDS, "configuration")
"""Fields set by the container, never by the job's configuration section."""


class Job(abc.ABC, pdt.BaseModel):
    """A high-level project job run inside the context of its services.

    Subclasses set `KIND` (the name the job is run by), declare their parameters as fields, and
    implement `run`. Use the job as a context manager around `run`:

        with job:
            outputs = job.run()

    Attributes:
        KIND: the job's name on the command line and in `containers.yaml` (`jobs.<KIND>`).
        logger_service: the logging service; started first, stopped last.
        alerts_service: the desktop notifications service.
        mlflow_service: the MLflow tracking service.
        alert_on: which moments send an alert: `start`, `success`, `failure`, `interrupted`.
        configuration: the resolved application configuration, recorded with every MLflow run.
    """

    model_config = pdt.ConfigDict(extra="forbid", validate_assignment=True)

    KIND: ClassVar[str]

    logger_service: LoggerService = pdt.Field(default_factory=LoggerService)
    alerts_service: AlertsService = pdt.Field(default_factory=AlertsService)
    mlflow_service: MlflowService = pdt.Field(default_factory=MlflowService)
    alert_on: frozenset[AlertEvent] = frozenset({"success", "failure", "interrupted"})
    configuration: dict[str, Any] = pdt.Field(default_factory=dict, repr=False)

    _started: list[Service] = pdt.PrivateAttr(default_factory=list)

    @abc.abstractmethod
    def run(self) -> Locals:
        """Run the job's work inside its context.

        Returns:
            The job's local variables (`return locals()`), for tests and notebooks to inspect.
        """

    def services(self) -> tuple[Service, ...]:
        """Return the job's services in start order: logger, alerts, MLflow."""
        return (self.logger_service, self.alerts_service, self.mlflow_service)

    def run_config(self, **fields: Any) -> RunConfig:
        """Return the MLflow run settings for this job: named after it, tagged and recorded.

        Args:
            **fields: `RunConfig` fields to set or override (description, tags, ...).

        Example:
            >>> with job.mlflow_service.run_context(job.run_config(description="nightly")) as run:
            ...     ...  # doctest: +SKIP
        """
        tags = {"model_name.job": self.KIND, **fields.pop("tags", {})}
        values: dict[str, Any] = {"name": self.KIND, "config": self.configuration or None}
        return RunConfig(**{**values, **fields, "tags": tags})

    def __enter__(self) -> Self:
        """Start the services that are not running yet, logger first, and log each one."""
        self._started = []
        try:
            for service in self.services():
                if service.running:
                    state = "already running"
                else:
                    service.start()
                    self._started.append(service)
                    state = "started"
                self.logger_service.logger().debug("{} {}", type(service).__name__, state)
        except BaseException:
            self._stop_started(failing=True)
            raise
        self.logger_service.logger().info("Job {} starting", self.KIND)
        if notice := self.mlflow_service.offline_notice:  # mode auto, and no server at start
            self.alerts_service.notify("tracking offline", notice)
        self._alert("start", f"{self.KIND} started", f"Job {self.KIND} is running.")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        exc_traceback: types.TracebackType | None,
    ) -> Literal[False]:
        """Log and alert the outcome, stop the services this job started, let errors propagate.

        Returns:
            False, always: an exception raised by the job is never swallowed.
        """
        logger = self.logger_service.logger()
        if exc_value is None:
            logger.success("Job {} succeeded", self.KIND)
            self._alert("success", f"{self.KIND} succeeded", f"Job {self.KIND} completed.")
        elif isinstance(exc_value, KeyboardInterrupt):
            reason = type(exc_value).__name__
            logger.warning("Job {} interrupted ({})", self.KIND, reason)
            self._alert("interrupted", f"{self.KIND} interrupted", f"Job stopped by {reason}.")
        else:
            summary = f"{type(exc_value).__name__}: {exc_value}"
            logger.opt(exception=(exc_type, exc_value, exc_traceback)).error(
                "Job {} failed: {}", self.KIND, summary
            )
            self._alert("failure", f"{self.KIND} failed", summary)
        self._stop_started(failing=exc_value is not None)
        return False

    def _alert(self, event: AlertEvent, title: str, message: str) -> None:
        if event in self.alert_on:
            self.alerts_service.notify(title, message)

    def _stop_started(self, *, failing: bool) -> None:
        """Stop the services this job started, in reverse order, attempting every one.

        The first stop error is raised after all stops were attempted, unless the job is already
        failing: then it is logged, and the job's own exception is the one that propagates.
        """
        errors: list[Exception] = []
        for service in reversed(self._started):
            try:
                service.stop()
            except Exception as error:
                errors.append(error)
                self.logger_service.logger().opt(exception=error).error(
                    "Stopping {} failed: {}", type(service).__name__, error
                )
        self._started = []
        if errors and not failing:
            raise errors[0]
