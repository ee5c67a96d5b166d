"""Build the configuration from its layers, and remember where every value came from.

The layers, highest first:

1. `--set key.path=value` flags;
2. `MODEL_NAME_<SECTION>__<KEY>` environment variables;
3. the configuration files (`containers.yaml`, or each `--config FILE` in order, later ones
   winning), in which `${VAR}` and `${VAR:default}` are replaced from the environment;
4. MLflow's own `MLFLOW_TRACKING_URI`, `MLFLOW_REGISTRY_URI` and `MLFLOW_EXPERIMENT_NAME`;
5. the defaults in code (`model_name.settings`, and each job's fields).

Each layer is a pydantic-settings source (`PydanticBaseSettingsSource`), and
`AppSettings.settings_customise_sources` orders them: `AppSettings()` in a notebook, the command
line, `create_container()` and the test plugin all read the same layers the same way.
`load_configuration` is the one entry point that also validates every job's section with the
job's own model and remembers where every value came from.

Every value is validated before anything starts. An error names the key path, where its value came
from (file and line, variable or flag) and, for an unknown key, the nearest valid one.

Example:
    >>> from model_name.configuration import load_configuration
    >>> configuration = load_configuration(overrides=["logger.level=debug"], environ={})
    >>> configuration.settings.logger.level, configuration.origins["logger.level"]
    ('DEBUG', '--set logger.level')
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from model_name.layers import (
    KeyPath,
    Layer,
    NotYaml,
    environment_layer,
    file_layer,
    merge,
    mlflow_layer,
    override_layer,
)
from model_name.renamed_keys import rename_old_keys

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "Inputs",
    "KeyPath",
    "LayerSource",
    "NotYaml",
    "layer_sources",
    "reading",
]

DEFAULT_CONFIG_FILE = Path("containers.yaml")


class LayerSource(PydanticBaseSettingsSource):
    """A configuration layer as a pydantic-settings source, which remembers where values came from.

    Subclasses read their layer in `read()`; `layer` holds it once pydantic-settings has asked.
    """

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.layer = Layer({}, {})

    def read(self) -> Layer:
        """Read the layer: its nested values and the origin of each leaf."""
        raise NotImplementedError

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: `__call__` returns the whole layer at once (pydantic-settings' abstract API)."""
        return self.layer.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        """Read the layer and return its values (pydantic-settings merges them by key).

        Keys given under an old name are moved to their new one, with a warning
        (`model_name.renamed_keys`): the same rule for files, variables and flags.
        """
        self.layer = rename_old_keys(self.read())
        return dict(self.layer.values)


class YamlFileSource(LayerSource):
    """A YAML configuration file, `${VAR}` and `${VAR:default}` read from the environment."""

    def __init__(
        self, settings_cls: type[BaseSettings], path: Path, environ: Mapping[str, str]
    ) -> None:
        super().__init__(settings_cls)
        self.path, self.environ = path, environ

    def read(self) -> Layer:
        """Read the file, keeping the line of every value."""
        return file_layer(self.path, self.environ)


class EnvironmentSource(LayerSource):
    """`MODEL_NAME_<SECTION>__<KEY>` environment variables (case-insensitive)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def read(self) -> Layer:
        """Read the `MODEL_NAME_` variables."""
        return environment_layer(self.environ)


class MlflowVariablesSource(EnvironmentSource):
    """MLflow's own `MLFLOW_TRACKING_URI`, ...: the defaults under the configuration files."""

    def read(self) -> Layer:
        """Read MLflow's variables."""
        return mlflow_layer(self.environ)


class OverridesSource(LayerSource):
    """`--set key.path=value` flags, the later of two for one key winning."""

    def __init__(self, settings_cls: type[BaseSettings], overrides: Sequence[str]) -> None:
        super().__init__(settings_cls)
        self.overrides = overrides

    def read(self) -> Layer:
        """Read the flags."""
        return override_layer(self.overrides)


@dataclasses.dataclass
class Inputs:
    """What the layers are read from: files, flags and environment.

    Attributes:
        config_files: the files, later ones winning; None reads `./containers.yaml` if present.
        overrides: the `--set key.path=value` flags.
        environ: the environment; None means `os.environ`.
        sources: the sources built from these inputs, highest first, once the settings read them.
    """

    config_files: Sequence[Path] | None = None
    overrides: Sequence[str] = ()
    environ: Mapping[str, str] | None = None
    sources: list[LayerSource] = dataclasses.field(default_factory=list)

    def origins(self) -> dict[str, str]:
        """Return the origin of every key the sources set, by dotted key path."""
        merged = merge([source.layer for source in reversed(self.sources)])
        return {".".join(path): origin for path, origin in merged.origins.items()}

    def key_origins(self) -> dict[str, str]:
        """Return where each key holding a mapping was written (a file's line), by dotted path.

        An error about such a key itself (`trainng:`, misspelled) names this line, not the line
        of its first child, which is where its value starts.
        """
        lines: dict[str, str] = {}
        for source in reversed(self.sources):  # lowest first: a higher layer's line wins
            lines.update((".".join(path), where) for path, where in source.layer.keys.items())
        return lines


_INPUTS: contextvars.ContextVar[Inputs | None] = contextvars.ContextVar(
    "model_name_configuration_inputs", default=None
)


@contextlib.contextmanager
def reading(inputs: Inputs) -> Iterator[Inputs]:
    """Make the settings built in the block read their layers from `inputs`."""
    token = _INPUTS.set(inputs)
    try:
        yield inputs
    finally:
        _INPUTS.reset(token)


def layer_sources(settings_cls: type[BaseSettings]) -> tuple[LayerSource, ...]:
    """Return the configuration's sources, highest first: flags, variables, files, MLflow's.

    They read the inputs of the enclosing `reading(...)` block, or, outside one, `./containers.yaml`
    (when present) and `os.environ`: what `AppSettings()` reads by itself.
    """
    inputs = _INPUTS.get() or Inputs()
    environ = os.environ if inputs.environ is None else inputs.environ
    files = inputs.config_files
    if files is None:
        files = [DEFAULT_CONFIG_FILE] if DEFAULT_CONFIG_FILE.is_file() else []
    sources: tuple[LayerSource, ...] = (
        OverridesSource(settings_cls, inputs.overrides),
        EnvironmentSource(settings_cls, environ),
        *(YamlFileSource(settings_cls, Path(path), environ) for path in reversed(files)),
        MlflowVariablesSource(settings_cls, environ),
    )
    inputs.sources[:] = sources
    return sources
