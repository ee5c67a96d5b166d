"""The services' lifecycle in a container: dependency-injector's resources, started dependably.

Each service is a `providers.Resource` whose init hook returns the service unstarted (`service`
builds it from its section, `given` hands over one made elsewhere); dependency-injector enters
what a hook returns when it is a context manager, as a service is: entering starts it, and
exiting at shutdown stops it. A hook that starts the service itself does no harm: `start` and
`stop` are idempotent.

dependency-injector alone would start independent resources in an arbitrary order, keep the ones
already started when a later one fails, and stop shutting down at the first stop that raises
(DESIGN.md's pitfalls). `ServicesContainer`, the class a `Container()` is, keeps the library's
`init_resources()` and `shutdown_resources()` and makes them dependable: every service's
`check()` first, then the starts in declaration order (a service is declared after those it
uses), undoing the started ones when one fails; the stops in reverse order, every one attempted.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from dependency_injector import containers, providers

from model_name.io.services import Service, start_all, stop_all

ServiceT = TypeVar("ServiceT", bound=Service)


def service(service_type: type[ServiceT], section: Mapping[str, Any], **uses: Any) -> ServiceT:
    """Init hook of a service's resource: build it from its section and the services it uses.

    The resource enters the service it returns (starts it) and exits it at shutdown (stops it).
    """
    return service_type.model_validate({**section, **uses})


def given(instance: ServiceT) -> providers.Resource[ServiceT]:
    """Return a resource providing a service made elsewhere: the container starts and stops it.

    Example:
        container.alerts_service.override(given(RecordingAlertsService()))
    """
    return providers.Resource(_itself, instance)


def _itself(instance: ServiceT) -> ServiceT:
    """Init hook of `given`: the service as it is (the resource enters it, which starts it)."""
    return instance


class ServicesContainer(containers.DynamicContainer):
    """What `Container()` returns: a dependency-injector container whose services start in order.

    `init_resources()` and `shutdown_resources()` are dependency-injector's own methods, made
    dependable for services that depend on each other (see the module's docstring).
    """

    def init_resources(self, resource_type: type = providers.BaseResource) -> None:
        """Check every service, then start them in declaration order; undo on a failure.

        Raises:
            Exception: the error of the service that failed its check or its start; the services
                started before it are stopped again.
        """
        check_services(self)
        handles = service_handles(self)
        for handle in start_all(handles, report=self._report_start):
            self._log("debug", f"{handle.name} started")

    def shutdown_resources(self, resource_type: type = providers.BaseResource) -> None:
        """Stop the started services in reverse order, attempting every one.

        Raises:
            ExceptionGroup: the errors the stops raised, after every stop was attempted.
        """
        errors = stop_all(service_handles(self), report=self._report_stop)
        if errors:
            raise ExceptionGroup("stopping the services failed", errors)

    def _report_start(self, handle: Any, error: BaseException) -> None:
        if isinstance(error, KeyboardInterrupt):  # the user's wish, not a failure: no traceback
            self._log("warning", f"{handle.name} start interrupted ({type(error).__name__})")
        else:
            self._log("error", f"{handle.name} could not start", error)

    def _report_stop(self, handle: Any, error: BaseException) -> None:
        self._log("error", f"{handle.name} could not stop", error)

    def _log(self, level: str, message: str, error: BaseException | None = None) -> None:
        """Write to the job's log while the logger service runs: the console only gets one line."""
        running = [handle for handle in service_handles(self) if handle.name == "logger_service"]
        if not running or not running[0].running:  # an override counts: it is the one running
            return
        logger = running[0].resource().logger().opt(exception=error)
        logger.log(level.upper(), "{}: {!r}" if error else "{}", message, error)


def shutdown_services(container: containers.Container) -> list[Exception]:
    """Stop the container's services (`shutdown_resources()`); return the stops that failed.

    For an entry point that says each failed stop itself, after its own outcome.
    """
    try:
        container.shutdown_resources()
    except ExceptionGroup as failed:
        return [error for error in failed.exceptions if isinstance(error, Exception)]
    return []


@dataclasses.dataclass(frozen=True)
class ServiceHandle:
    """A service's resource seen as something to start and stop: what `start_all` drives.

    Attributes:
        name: the service's name in the container: `alerts_service`.
        resource: the resource that provides it (the override, when it is overridden).
    """

    name: str
    resource: providers.BaseResource[Any]

    @property
    def running(self) -> bool:
        """Whether the resource is initialized (its service started)."""
        return bool(self.resource.initialized)

    def start(self) -> None:
        """Initialize the resource: build the service and start it."""
        self.resource.init()

    def stop(self) -> None:
        """Shut the resource down: stop the service."""
        self.resource.shutdown()


def service_names(container: containers.Container) -> tuple[str, ...]:
    """Return the container's services in start order: its resources, in declaration order.

    Declaration order is a dependency order: a class body can only pass a service to another
    once it is declared.
    """
    return tuple(
        name
        for name, provider in container.providers.items()
        if isinstance(provider, providers.BaseResource)
    )


def service_handles(container: containers.Container) -> list[ServiceHandle]:
    """Return the resources the container starts, in start order, overrides in their place.

    A service overridden by `providers.Object(x)` has none: `x` is started by whoever made it.
    """
    handles = []
    for name in service_names(container):
        provider = _effective(getattr(container, name))
        if isinstance(provider, providers.BaseResource):
            handles.append(ServiceHandle(name, provider))
    return handles


def check_services(container: containers.Container) -> None:
    """Run every service's `check()`, before anything starts: what only its library can judge.

    A service is checked when the container can have it without starting anything: built by
    `service` from its section, given by `given`, or overriding as `providers.Object`.

    Raises:
        ConfigurationError: a setting a service's library refuses.
    """
    for name in service_names(container):
        unstarted = _unstarted(_effective(getattr(container, name)))
        if unstarted is not None:
            unstarted.check()


def _effective(provider: providers.Provider[Any]) -> providers.Provider[Any]:
    """Return the provider that really provides: the last override, or the provider itself."""
    overriding = provider.last_overriding
    return provider if overriding is None else _effective(overriding)


def _unstarted(provider: providers.Provider[Any]) -> Service | None:
    """Return the service a provider would start, built without starting anything, or None."""
    if isinstance(provider, providers.Object):
        value = provider()
    elif isinstance(provider, providers.BaseResource) and provider.provides in (service, _itself):
        # its section only: the services it uses would start if they were asked for
        args = [arg() if providers.is_provider(arg) else arg for arg in provider.args]
        value = provider.provides(*args)
    else:
        return None
    return value if isinstance(value, Service) else None
