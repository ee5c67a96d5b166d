"""The application's wiring diagram: configuration, services and what each one uses, jobs.

Each service is a `providers.Resource`: its init hook builds the service from its configuration
section and the services it uses (passed as arguments, so reading the class tells what depends on
what), and dependency-injector enters it, which starts it (`Service.__enter__`); its shutdown hook
exits it, which stops it. `container.init_resources()` starts every service and
`container.shutdown_resources()` stops them: the container's lifecycle drives the services.
Jobs are `providers.Factory` entries under `Container.jobs`, one per registered job, built with
their section and the services they declare.

`model_name.lifecycle.ServicesContainer`, the class a `Container()` is, makes those two methods
dependable: every service's `check()` first, the starts in declaration order with the started
ones undone when one fails, the stops in reverse order with every one attempted.

Swapping a service is one line, and the container still starts and stops the replacement:

    container.alerts_service.override(given(RecordingAlertsService()))

`providers.Object(x)` swaps in `x` as it is: the container neither starts nor stops it; whoever
made `x` does (`with x: ...`).

Example:
    container = create_container()
    container.init_resources()
    try:
        job = container.jobs.training()
        with job:
            job.run()
    finally:
        container.shutdown_resources()
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dependency_injector import containers, providers

from model_name.configuration import load_configuration, validate_settings
from model_name.io.services import AlertsService, LoggerService, MlflowService, StudyService
from model_name.jobs import JOBS, Job
from model_name.lifecycle import ServicesContainer, given, service
from model_name.settings import AppSettings

__all__ = ["Container", "build_job", "create_container", "given", "register_job", "service"]


def build_job(
    job_type: type[Job],
    params: Mapping[str, Any] | None,
    configuration: Any,
    container: Any,
    **fields: Any,
) -> Job:
    """Build a job from its section, the whole configuration, and the services it declares.

    The job's services are the container's: they start when the job is built, if the container
    has not started them yet, and stop with the container, not with the job. Keyword arguments
    of the factory's call replace parameters of the section: `container.jobs.training(alpha=0.5)`.
    """
    services = {name: getattr(container, name)() for name in job_type.service_fields()}
    values = {**(params or {}), **fields, **services, "configuration": configuration}
    return job_type.model_validate(values).with_services_managed_elsewhere()


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
        alerts_service: desktop notifications and channels, falling back to the log.
        mlflow_service: MLflow tracking; its runs' logs use the logger's level and format.
        jobs: one factory per registered job: `container.jobs.training()`.
    """

    instance_type = ServicesContainer

    __self__ = providers.Self()
    config = providers.Configuration()

    logger_service = providers.Resource(service, LoggerService, config.logger)
    study_service = providers.Resource(
        service, StudyService, config.optuna, logger_service=logger_service
    )
    alerts_service = providers.Resource(
        service, AlertsService, config.alerts, logger_service=logger_service
    )
    mlflow_service = providers.Resource(
        service, MlflowService, config.mlflow, logger_service=logger_service
    )

    jobs = providers.Aggregate(job_factories(JOBS.values(), config, __self__))


def create_container(settings: AppSettings | None = None) -> Container:
    """Return a container configured with settings, or with the configuration's layers when None.

    With no settings it reads what the command line reads (`./containers.yaml`, the environment)
    through `model_name.configuration.load_configuration`; settings built in Python have their
    job sections validated the same way. Its services are not started: call
    `init_resources()`, and `shutdown_resources()` after.

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
