"""The application's wiring diagram: configuration, services and what each one uses, jobs.

Each service is a `providers.Singleton` built from its configuration section and the services it
uses, passed as arguments: reading the class tells what depends on what. The container owns the
services' lifecycle: `start_services` starts every service in declaration order (a service is
always declared after those it uses), undoing what it started when one fails; `stop_services`
stops them in reverse order, attempting every one. Jobs are `providers.Factory` entries under
`Container.jobs`, one per registered job, built with their section and the services they declare.

Swapping a service is one line, and the container still starts and stops the replacement:

    container.alerts_service.override(providers.Object(RecordingAlertsService()))

Example:
    container = create_container()
    with running(container):
        job = container.jobs.training()
        with job:
            job.run()
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeVar

from dependency_injector import containers, providers

from model_name.configuration import load_configuration, validate_settings
from model_name.io.services import (
    AlertsService,
    LoggerService,
    MlflowService,
    Service,
    StudyService,
    start_all,
    stop_all,
)
from model_name.jobs import JOBS, Job
from model_name.settings import AppSettings

ServiceT = TypeVar("ServiceT", bound=Service)


def service(service_type: type[ServiceT], section: Mapping[str, Any], **uses: Any) -> ServiceT:
    """Build a service from its configuration section and the services it uses."""
    return service_type.model_validate({**section, **uses})


def build_job(
    job_type: type[Job],
    params: Mapping[str, Any] | None,
    configuration: Any,
    container: Any,
    **fields: Any,
) -> Job:
    """Build a job from its section, the whole configuration, and the services it declares.

    Keyword arguments of the factory's call replace parameters of the section:
    `container.jobs.training(alpha=0.5)`.
    """
    services = {name: getattr(container, name)() for name in job_type.service_fields()}
    values = {**(params or {}), **fields, **services, "configuration": configuration}
    return job_type.model_validate(values)


def job_factories(
    job_types: Iterable[type[Job]], config: providers.Configuration, container: Any
) -> dict[str, providers.Factory[Job]]:
    """Return a factory per job type, by `KIND` (a function: class bodies hide their names)."""
    return {
        job_type.KIND: providers.Factory(
            build_job, job_type, getattr(config.jobs, job_type.KIND), config, container
        )
        for job_type in job_types
    }


class Container(containers.DeclarativeContainer):
    """The application's services, what each one uses, and the jobs.

    Attributes:
        config: the validated configuration (`AppSettings` as a mapping).
        logger_service: logging; every other service writes through it.
        study_service: Optuna's study storage; started before the others, so an unreachable
            database stops the command before anything else starts.
        alerts_service: desktop notifications, falling back to the log.
        mlflow_service: MLflow tracking; its runs' logs use the logger's level and format.
        jobs: one factory per registered job: `container.jobs.training()`.
    """

    __self__ = providers.Self()
    config = providers.Configuration()

    logger_service = providers.Singleton(service, LoggerService, config.logger)
    study_service = providers.Singleton(
        service, StudyService, config.optuna, logger_service=logger_service
    )
    alerts_service = providers.Singleton(
        service, AlertsService, config.alerts, logger_service=logger_service
    )
    mlflow_service = providers.Singleton(
        service, MlflowService, config.mlflow, logger_service=logger_service
    )

    jobs = providers.Aggregate(job_factories(JOBS.values(), config, __self__))


def create_container(settings: AppSettings | None = None) -> Container:
    """Return a container configured with settings, or with the configuration's layers when None.

    With no settings it reads what the command line reads (`./containers.yaml`, the environment)
    through `model_name.configuration.load_configuration`; settings built in Python have their
    job sections validated the same way.

    Raises:
        ConfigurationError: a value the configuration refuses, named with where it came from.
    """
    settings = load_configuration().settings if settings is None else validate_settings(settings)
    container = Container()
    container.config.from_dict(settings.model_dump())
    return container


def register_job(container: Container, job_type: type[Job]) -> None:
    """Add a job to a container's `jobs`, with the container's services (tests, plugins).

    Example:
        register_job(container, EchoJob)
        job = container.jobs.echo()
    """
    factories = job_factories([job_type], container.config, container)
    container.jobs.set_providers({**container.jobs.providers, **factories})


def service_names(container: containers.Container) -> tuple[str, ...]:
    """Return the container's services in start order: its `Singleton`s that provide a `Service`.

    Declaration order is a dependency order: a class body can only pass a service to another
    once it is declared. An overridden service counts as the service it replaces.
    """
    return tuple(
        name
        for name, provider in container.providers.items()
        if isinstance(provider, providers.Singleton) and isinstance(provider(), Service)
    )


def check_services(container: containers.Container) -> None:
    """Run every service's `check()`: what only its library can judge, before anything starts.

    Raises:
        ConfigurationError: a setting a service's library refuses.
    """
    for name in service_names(container):
        getattr(container, name)().check()


def start_services(container: containers.Container) -> None:
    """Check every service, then start them in order; if one fails, stop those already started.

    Every service's `check()` runs first, so a setting only its library can judge (a
    notification URL) stops everything before anything started.

    Raises:
        Exception: the error of the service that failed its check or its start.
    """
    check_services(container)
    names = service_names(container)
    services = [getattr(container, name)() for name in names]

    def report(each: Service, error: BaseException) -> None:
        name = names[services.index(each)]
        if isinstance(error, KeyboardInterrupt):  # the user's wish, not a failure: no traceback
            _log(container, "warning", f"{name} start interrupted ({type(error).__name__})")
        else:
            _log(container, "error", f"{name} could not start", error)

    for each in start_all(services, report):
        _log(container, "debug", f"{names[services.index(each)]} started")


def stop_services(container: containers.Container) -> list[Exception]:
    """Stop the container's services in reverse order, attempting every one even when one raises.

    Returns:
        The errors raised by the stops, in the order they happened (empty when all went well).
    """
    names = service_names(container)
    services = [getattr(container, name)() for name in names]

    def report(each: Service, error: BaseException) -> None:
        _log(container, "error", f"{names[services.index(each)]} could not stop", error)

    return stop_all(services, report)


@contextlib.contextmanager
def running(container: containers.Container) -> Iterator[containers.Container]:
    """Run the block with the container's services started, and stop them all after.

    Raises:
        ExceptionGroup: the stops that failed, when the block itself succeeded.
    """
    start_services(container)
    try:
        yield container
    finally:
        errors = stop_services(container)
    if errors:
        raise ExceptionGroup("stopping the services failed", errors)


def _log(
    container: containers.Container, level: str, message: str, error: BaseException | None = None
) -> None:
    """Write to the job's log while the logger service runs: the console only gets one line."""
    logger_service = container.logger_service()
    if isinstance(logger_service, LoggerService) and logger_service.running:
        logger = logger_service.logger().opt(exception=error)
        logger.log(level.upper(), "{}: {!r}" if error else "{}", message, error)
