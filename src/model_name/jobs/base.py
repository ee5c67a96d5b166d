"""The base of every job: a context that starts its services, runs, reports and stops them.

A job is a pydantic model: its own fields are its parameters (validated from `containers.yaml`,
the environment and `--set`), and three fields hold the services it uses. Services have one owner:
a job built by the container (`container.jobs.training()`) uses the container's services, which
the container starts and stops; a job given its services by hand (`TrainingJob(logger_service=...)`)
starts them on entering, logger first, and stops the ones it started on leaving, in reverse order,
after logging and alerting the outcome.

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
import time
import types
from typing import Any, ClassVar, Literal, Self

import pydantic as pdt

from model_name.io.services import (
    AlertsService,
    EndedRun,
    LoggerService,
    MlflowService,
    RunConfig,
    Service,
    start_all,
    stop_all,
)
from model_name.jobs import messages

Locals = dict[str, Any]
"""What `Job.run` returns: conventionally `locals()`, so tests can inspect every intermediate."""

AlertEvent = Literal["start", "success", "failure", "interrupted"]
"""The moments of a job that may send an alert."""

RESERVED_FIELDS = ("logger_service", "alerts_service", "mlflow_service", "configuration")
"""Fields of every job set by the container, never by its configuration section.

A job that uses another service declares a field of that service's type: it is reserved too
(`Job.reserved_fields()`), and the container fills it.
"""


class Job(abc.ABC, pdt.BaseModel):
    """A high-level project job run inside the context of its services.

    Subclasses set `KIND` (the name the job is run by), declare their parameters as fields, and
    implement `run`. Use the job as a context manager around `run`:

        with job:
            outputs = job.run()

    Attributes:
        KIND: the job's name on the command line and in `containers.yaml` (`jobs.<KIND>`).
        HEADLINE_METRICS: the metrics its alerts show (their last values in the job's run).
        logger_service: the logging service; started first, stopped last.
        alerts_service: the desktop notifications service.
        mlflow_service: the MLflow tracking service.
        alert_on: which moments send an alert: `start`, `success`, `failure`, `interrupted`.
        configuration: the resolved application configuration, recorded with every MLflow run.
    """

    model_config = pdt.ConfigDict(extra="forbid", validate_assignment=True)

    KIND: ClassVar[str]
    HEADLINE_METRICS: ClassVar[tuple[str, ...]] = ()

    logger_service: LoggerService = pdt.Field(default_factory=LoggerService)
    alerts_service: AlertsService = pdt.Field(default_factory=AlertsService)
    mlflow_service: MlflowService = pdt.Field(default_factory=MlflowService)
    alert_on: frozenset[AlertEvent] = frozenset({"success", "failure", "interrupted"})
    configuration: dict[str, Any] = pdt.Field(default_factory=dict, repr=False)

    _owns_services: bool = pdt.PrivateAttr(default=True)
    _started: list[Service] = pdt.PrivateAttr(default_factory=list)
    _entered_at: float = pdt.PrivateAttr(default=0.0)
    _run_before: EndedRun | None = pdt.PrivateAttr(default=None)

    @abc.abstractmethod
    def run(self) -> Locals:
        """Run the job's work inside its context.

        Returns:
            The job's local variables (`return locals()`), for tests and notebooks to inspect.
        """

    @classmethod
    def service_fields(cls) -> tuple[str, ...]:
        """Return the names of the fields that hold services, in declaration (start) order."""
        return tuple(
            name
            for name, field in cls.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, Service)
        )

    @classmethod
    def reserved_fields(cls) -> tuple[str, ...]:
        """Return the fields the container sets: the services and `configuration`."""
        return tuple(dict.fromkeys((*cls.service_fields(), *RESERVED_FIELDS)))

    def with_services_managed_elsewhere(self) -> Self:
        """Leave the job's services to their owner (the container): the job starts and stops none.

        Returns:
            The job itself.
        """
        self._owns_services = False
        return self

    def services(self) -> tuple[Service, ...]:
        """Return the job's services in start order: logger, alerts, MLflow, then its own."""
        return tuple(getattr(self, name) for name in self.service_fields())

    def run_config(self, **fields: Any) -> RunConfig:
        """Return the MLflow run settings for this job: named after it, tagged and recorded.

        Args:
            **fields: `RunConfig` fields to set or override (description, tags, ...).

        Example:
            with job.mlflow_service.run_context(job.run_config(description="nightly")) as run:
                ...
        """
        tags = {"model_name.job": self.KIND, **fields.pop("tags", {})}
        values: dict[str, Any] = {"name": self.KIND, "config": self.configuration or None}
        return RunConfig(**{**values, **fields, "tags": tags})

    def __enter__(self) -> Self:
        """Start the services the job owns, logger first, log each one, and alert the start."""
        self._entered_at = time.monotonic()
        self._run_before = self.mlflow_service.last_run  # a run ended later is this job's
        services = self.services()
        self._started = start_all(services) if self._owns_services else []
        for service in services:
            state = "started" if service in self._started else "already running"
            state = state if self._owns_services else "from the container"
            self.logger_service.logger().debug("{} {}", type(service).__name__, state)
        self.logger_service.logger().info("Job {} starting", self.KIND)
        if notice := self.mlflow_service.offline_notice:  # mode auto, and no server at start
            self.alerts_service.notify("tracking offline", notice)
        self._alert("start")
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
        from model_name.signals import wrap_up

        with wrap_up():  # a second Ctrl-C must not cut the outcome's log, alert and stops short
            self._report_and_stop(exc_type, exc_value, exc_traceback)
        return False

    def _report_and_stop(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        exc_traceback: types.TracebackType | None,
    ) -> None:
        logger = self.logger_service.logger()
        if exc_value is None:
            logger.success("Job {} succeeded", self.KIND)
            self._alert("success")
        elif isinstance(exc_value, KeyboardInterrupt):
            reason = type(exc_value).__name__
            logger.warning("Job {} interrupted ({})", self.KIND, reason)
            self._alert("interrupted", exc_value)
        else:
            summary = f"{type(exc_value).__name__}: {exc_value}"
            logger.opt(exception=(exc_type, exc_value, exc_traceback)).error(
                "Job {} failed: {}", self.KIND, summary
            )
            self._alert("failure", exc_value)
        self._stop_started(failing=exc_value is not None)

    def _alert(self, event: AlertEvent, error: BaseException | None = None) -> None:
        """Send the alert of a moment: outcome, duration, headline metrics, link to the run."""
        if event not in self.alert_on:
            return
        run = self.mlflow_service.last_run
        run = None if event == "start" or run is self._run_before else run  # this job's run
        uri = self.mlflow_service.tracking_uri
        alert = messages.compose(
            self.KIND,
            event,
            seconds=None if event == "start" else time.monotonic() - self._entered_at,
            metrics=messages.headline(run.metrics, self.HEADLINE_METRICS) if run else None,
            error=error,
            run_url=messages.run_url(uri, run.experiment_id, run.run_id) if run else None,
        )
        self.alerts_service.notify(alert.title, alert.body)

    def _stop_started(self, *, failing: bool) -> None:
        """Stop the services this job started (none, in a container), in reverse order, every one.

        The first stop error is raised after all stops were attempted, unless the job is already
        failing: then it is logged, and the job's own exception is the one that propagates.
        """

        def report(service: Service, error: BaseException) -> None:
            self.logger_service.logger().opt(exception=error).error(
                "Stopping {} failed: {}", type(service).__name__, error
            )

        started, self._started = self._started, []
        errors = stop_all(started, report)
        if errors and not failing:
            raise errors[0]
