"""Following a registry alias: when it moves, load the new version beside the old one and switch.

`mlflow models serve -m models:/NAME@champion` resolves the alias once, at start (mlflow #4039).
The follower asks the registry which version the alias points at each time it is polled; a new
version is loaded and tried while the old one keeps serving, then switched to in one assignment.
A version that cannot be loaded is not switched to: the old one keeps serving, with one warning
and one alert for that version (it is not tried again until the alias moves elsewhere and back,
or the job restarts). A registry that cannot be read is one warning until it answers again.

Example:
    follower = AliasFollower(client, "model_name", alias="champion", version=None,
                             holder=holder, logger=logger, notify=notify)
    follower.first()          # the version to serve at start; raises if it cannot be loaded
    follower.poll()           # every poll_seconds: the new Served when it switched, else None
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from model_name.io import registries
from model_name.serving.models import ModelHolder, Served, load

if TYPE_CHECKING:
    from mlflow import MlflowClient

Notify = Callable[[str, str], None]
"""The alerts service's `notify(title, message)`."""


class AliasFollower:
    """Serve the version an alias (or a pinned version) names, and follow the alias as it moves.

    Args:
        client: a client on the model registry.
        name: the registered model's name.
        alias: the alias to follow; ignored when `version` is given.
        version: a pinned version: served from start to end, never switched.
        holder: where the version served is kept.
        logger: the logger service's logger.
        notify: the alerts service's `notify(title, message)`.
    """

    def __init__(
        self,
        client: MlflowClient,
        name: str,
        *,
        alias: str | None,
        version: int | None,
        holder: ModelHolder,
        logger: Any,
        notify: Notify,
    ) -> None:
        self.client = client
        self.name = name
        self.alias = alias if version is None else None
        self.version = version
        self.holder = holder
        self.logger = logger
        self.notify = notify
        self.failed: set[int] = set()
        self._registry_warned = False

    def wanted(self) -> int:
        """Return the version number the registry says to serve now.

        Raises:
            ModelNotFoundError: the model, the version or the alias does not exist.
        """
        found = registries.resolve_wanted(self.client, self.name, self.alias, self.version, "serve")
        return int(found.version)

    def first(self) -> Served:
        """Load and serve the version wanted at start.

        Raises:
            ModelNotFoundError: the model, version or alias does not exist.
            Exception: the version cannot be loaded or cannot predict.
        """
        version = self.wanted()
        served = load(self.name, version, alias=self.alias)
        self.holder.switch(served)
        self.logger.info("Serving {} (version {} of '{}')", served.uri, version, self.name)
        current = self.holder.current
        assert current is not None  # switched just above
        return current

    def poll(self) -> Served | None:
        """Ask the registry; switch to a new version once it is loaded and tried.

        Returns:
            The version now served when it switched, else `None`. Never raises an `Exception`:
            a registry or a version that fails is logged and alerted, and the old version stays.
        """
        if self.alias is None:
            return None
        current = self.holder.current
        try:
            version = self.wanted()
        except Exception as error:  # a registry away or an alias deleted must not stop serving
            if not self._registry_warned:
                self._registry_warned = True
                self.logger.warning(
                    "Cannot read alias '{}' of '{}' ({}); still serving version {}",
                    self.alias, self.name, _one_line(error), _number(current),
                )  # fmt: skip
            return None
        if self._registry_warned:
            self._registry_warned = False
            self.logger.info("The registry answers again: alias '{}' -> {}", self.alias, version)
        if (current is not None and version == current.version) or version in self.failed:
            return None
        return self._switch_to(version, current)

    def _switch_to(self, version: int, current: Served | None) -> Served | None:
        described = f"version {version} of '{self.name}' (alias '{self.alias}')"
        self.logger.info("Alias '{}' moved to version {}: loading it", self.alias, version)
        try:
            served = load(self.name, version, alias=self.alias)
        except Exception as error:
            self.failed.add(version)
            why = _one_line(error)
            self.logger.warning(
                "Cannot load {}: {}; still serving version {}", described, why, _number(current)
            )
            self.notify(
                f"serve: cannot load version {version}",
                f"{described} failed to load ({why}); still serving version {_number(current)}",
            )
            return None
        self.holder.switch(served)
        now = self.holder.current
        message = f"now serving {described}, was version {_number(current)}"
        self.logger.info("Switched: {}", message)
        self.notify(f"serve: switched to version {version}", message)
        return now


def _number(served: Served | None) -> str:
    return "none" if served is None else str(served.version)


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
