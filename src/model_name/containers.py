"""The declarative container: configuration, the three services as resources, and the jobs.

Each service is a `providers.Resource` whose init hook starts it and whose shutdown hook stops it.
The logger resource is passed straight into the alerts and MLflow resources, so it starts first
and stops last. Jobs are `providers.Factory` entries under `Container.jobs`, one per job name,
built with the running services and their section of the configuration.

Example:
    >>> container = create_container(AppSettings(alerts={"enable": False}))
    >>> container.alerts_service.override(providers.Object(RecordingAlertsService()))
    ... # doctest: +SKIP
    >>> start_services(container)  # doctest: +SKIP
    >>> job = container.jobs.training()  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from dependency_injector import containers, providers

from model_name.io.services import (
    AlertsService,
    LoggerService,
    MlflowService,
    Service,
    StudyService,
)
from model_name.jobs import JOBS, Job
from model_name.settings import AppSettings

ServiceT = TypeVar("ServiceT", bound=Service)
JobT = TypeVar("JobT", bound=Job)

SERVICES = ("logger_service", "study_service", "alerts_service", "mlflow_service")
"""The container's service resources, in start order; they stop in reverse order."""


def serve(service: ServiceT, *started_first: Service) -> Iterator[ServiceT]:
    """Start a service for the life of its resource and stop it at shutdown.

    Args:
        service: the service to start, then yield.
        *started_first: services that must be running before this one (passing the logger's
            resource here is what orders the resources).
    """
    del started_first  # only there to make the container start them first
    service.start()
    try:
        yield service
    finally:
        service.stop()


def build_job(job_type: type[JobT], params: Mapping[str, Any] | None, **services: Any) -> JobT:
    """Build a job from its configuration section and the services it runs with.

    A job gets only the services it has a field for (the study storage goes to the jobs that
    open studies).
    """
    used = {name: service for name, service in services.items() if name in job_type.model_fields}
    return job_type.model_validate({**(params or {}), **used})


def job_factory(
    job_type: type[Job], config: providers.Configuration, **services: Any
) -> providers.Factory[Job]:
    """Return the factory of one job: its configuration section plus the container's services."""
    return providers.Factory(
        build_job, job_type, getattr(config.jobs, job_type.KIND), configuration=config, **services
    )


def job_factories(
    job_types: Iterable[type[Job]], config: providers.Configuration, **services: Any
) -> dict[str, providers.Factory[Job]]:
    """Return a factory per job type, by `KIND` (a function: class bodies hide their names)."""
    return {job_type.KIND: job_factory(job_type, config, **services) for job_type in job_types}


class Container(containers.DeclarativeContainer):
    """The application's services and jobs.

    Attributes:
        config: the validated configuration (`AppSettings` as a mapping).
        logger_service: the logging resource, started first.
        alerts_service: the alerts resource, started after the logger.
        mlflow_service: the MLflow resource, started after the logger.
        study_service: Optuna's study storage, started after the logger (before the others, so
            an unreachable database stops the command before anything else starts).
        jobs: one factory per registered job: `container.jobs.training()`.
    """

    config = providers.Configuration()

    logger_service = providers.Resource(
        serve, providers.Factory(LoggerService.model_validate, config.logger)
    )
    study_service = providers.Resource(
        serve, providers.Factory(StudyService.model_validate, config.optuna), logger_service
    )
    alerts_service = providers.Resource(
        serve, providers.Factory(AlertsService.model_validate, config.alerts), logger_service
    )
    mlflow_service = providers.Resource(
        serve, providers.Factory(MlflowService.model_validate, config.mlflow), logger_service
    )

    jobs = providers.Aggregate(
        job_factories(
            JOBS.values(),
            config,
            logger_service=logger_service,
            alerts_service=alerts_service,
            mlflow_service=mlflow_service,
            study_service=study_service,
        )
    )


def create_container(settings: AppSettings | None = None) -> Container:
    """Return a container configured with the given settings (defaults when None)."""
    container = Container()
    container.config.from_dict((settings or AppSettings()).model_dump())
    return container


def register_job(container: Container, job_type: type[Job]) -> None:
    """Add a job to a container's `jobs`, with the container's services (tests, plugins).

    Example:
        >>> register_job(container, EchoJob)  # doctest: +SKIP
        >>> container.jobs.echo()  # doctest: +SKIP
    """
    factory = job_factory(
        job_type,
        container.config,
        logger_service=container.logger_service,
        alerts_service=container.alerts_service,
        mlflow_service=container.mlflow_service,
        study_service=container.study_service,
    )
    container.jobs.set_providers({**container.jobs.providers, job_type.KIND: factory})


def start_services(container: Container) -> None:
    """Start the services in order; if one fails to start, stop those already started.

    `init_resources()` starts independent resources in no set order and leaves the others
    running when one fails, hence this explicit order and rollback.

    Raises:
        Exception: the error of the service that failed to start.
    """
    for started, name in enumerate(SERVICES):
        try:
            getattr(container, name).init()
        except BaseException as failure:
            _log_error(container, f"{name} could not start", failure)
            for error in stop_services(container, SERVICES[:started]):
                failure.add_note(f"Stopping a service after that also failed: {error!r}")
            raise
        _log_debug(container, f"{name} started")


def stop_services(container: Container, names: tuple[str, ...] = SERVICES) -> list[BaseException]:
    """Stop the named services in reverse order, attempting every one even when a stop raises.

    `shutdown_resources()` stops at the first error and leaves the rest running; this does not.

    Returns:
        The errors raised by the stops, in the order they happened (empty when all went well).
    """
    errors: list[BaseException] = []
    for name in reversed(names):
        try:
            getattr(container, name).shutdown()
        except Exception as error:
            _log_error(container, f"{name} could not stop", error)
            errors.append(error)
    return errors


def _running_logger(container: Container) -> LoggerService | None:
    """Return the container's logger service if it is running, without starting it."""
    if not container.logger_service.initialized:
        return None
    service = container.logger_service()
    return service if isinstance(service, LoggerService) and service.running else None


def _log_debug(container: Container, message: str) -> None:
    if logger_service := _running_logger(container):
        logger_service.logger().debug(message)


def _log_error(container: Container, message: str, error: BaseException) -> None:
    """Write a service's failure, with its traceback, to the job's log while the log still runs.

    The command line prints one line on stderr; the log file keeps the whole story.
    """
    if logger_service := _running_logger(container):
        logger_service.logger().opt(exception=error).error("{}: {!r}", message, error)
