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
    >>> configuration = load_configuration(overrides=["logger.level=debug"], environ={})
    >>> configuration.settings.logger.level, configuration.origins["logger.level"]
    ('DEBUG', '--set logger.level')
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from model_name.errors import ConfigurationError
from model_name.settings import is_secret_key
from model_name.yaml_limits import compose_bounded, read_text_bounded, safe_load_bounded

ENV_PREFIX = "MODEL_NAME_"
DEFAULT_CONFIG_FILE = Path("containers.yaml")
MLFLOW_VARIABLES = {
    "MLFLOW_TRACKING_URI": ("mlflow", "tracking_uri"),
    "MLFLOW_REGISTRY_URI": ("mlflow", "registry_uri"),
    "MLFLOW_EXPERIMENT_NAME": ("mlflow", "experiment_name"),
}
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")

KeyPath = tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Layer:
    """One source of configuration: nested values and the origin of each leaf.

    Attributes:
        values: the nested mapping this source sets.
        origins: for each key path it sets, a short description of where it came from.
    """

    values: dict[str, Any]
    origins: dict[KeyPath, str]


def parse_value(text: str, path: KeyPath = ()) -> Any:
    """Read a value given as text, from a flag or an environment variable.

    Lists and mappings are written in YAML/JSON flow style (`[a, b]`, `{key: value}`); `null`
    and `~` mean None; anything else stays text, which the settings' types then convert
    (`"3"` to 3 for an integer field, `"true"` to True for a boolean). The value of a secret
    key (`is_secret_key`: `tracking_password`, `tracking_token`, ...) is never parsed as a list or
    mapping: a password may start with `{` or `[`, and must never be quoted in an error message.
    `null` still unsets a secret, so `${TOKEN:null}` in a file makes a token optional.

    Args:
        text: the value as written.
        path: the key it is given for.

    Raises:
        ConfigurationError: a list or mapping that is not valid YAML.

    Example:
        >>> parse_value("[1, 2]"), parse_value("~"), parse_value("0.5")
        ([1, 2], None, '0.5')
        >>> parse_value("{not-yaml", ("mlflow", "tracking_token"))
        '{not-yaml'
    """
    stripped = text.strip()
    if stripped in ("null", "~"):
        return None
    if is_secret_key(path):
        return text
    if stripped[:1] in ("[", "{"):
        try:  # bounded: a value may be as hostile as a file (aliases, deep nesting)
            return safe_load_bounded(stripped, "value")
        except ConfigurationError as error:
            problem = str(error).partition(": ")[2] or "invalid YAML"
            shown = text if len(text) <= 80 else f"{text[:77]}..."
            raise ConfigurationError(
                f"{shown!r} is not a valid list or mapping: {problem}"
            ) from None
    return text


def parse_override(text: str) -> tuple[KeyPath, Any]:
    """Split a `--set key.path=value` flag into its key path and its value.

    Raises:
        ConfigurationError: no `=`, or an empty part in the key path.

    Example:
        >>> parse_override("mlflow.experiment_name=demo")
        (('mlflow', 'experiment_name'), 'demo')
    """
    key, sep, value = text.partition("=")
    path = tuple(part.strip() for part in key.split("."))
    if not sep or not all(path):
        raise ConfigurationError(  # the key only: the value may be a secret
            f"--set {key!r}: expected KEY.PATH=VALUE, for example --set logger.level=DEBUG"
        )
    return path, parse_value(value, path)


def interpolate(text: str, environ: Mapping[str, str], where: str) -> str:
    """Replace each `${VAR}` or `${VAR:default}` in a text from the environment.

    Raises:
        ConfigurationError: a variable that is not set and has no default.

    Example:
        >>> interpolate("${HOME_DIR:/tmp}/runs", {}, "containers.yaml:1")
        '/tmp/runs'
    """

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in environ:
            return environ[name]
        if default is None:
            raise ConfigurationError(
                f"{where}: ${{{name}}} is not set; set it or write ${{{name}:default}}"
            )
        return default

    return _VARIABLE.sub(replace, text)


def file_layer(path: Path, environ: Mapping[str, str]) -> Layer:
    """Read a YAML configuration file, keeping the line of every value.

    Raises:
        ConfigurationError: the file is missing, unreadable, empty, malformed, not a mapping,
            has a duplicate key, or names an unset variable.
    """
    try:
        text = read_text_bounded(path)
    except FileNotFoundError:
        raise ConfigurationError(f"configuration file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigurationError(f"configuration file {path} is a directory") from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigurationError(f"cannot read configuration file {path}: {reason}") from None
    node = compose_bounded(text, str(path))  # size, depth and alias limits: yaml_limits
    if node is None:
        raise ConfigurationError(
            f"configuration file {path} is empty; it should map sections (logger, alerts, "
            "mlflow, jobs) to their settings"
        )
    if not isinstance(node, yaml.MappingNode):
        raise ConfigurationError(
            f"{path}:{node.start_mark.line + 1}: the file should map sections (logger, alerts, "
            "mlflow, jobs) to their settings, not hold a single value or a list"
        )
    origins: dict[KeyPath, str] = {}
    values = _read_node(node, (), path, environ, origins)
    return Layer(values, origins)


def environment_layer(environ: Mapping[str, str]) -> Layer:
    """Read `MODEL_NAME_<SECTION>__<KEY>` variables (case-insensitive) into a layer.

    Raises:
        ConfigurationError: a variable with an empty part (`MODEL_NAME_LOGGER____LEVEL`).
    """
    values: dict[str, Any] = {}
    origins: dict[KeyPath, str] = {}
    for name in sorted(environ):
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = tuple(name[len(ENV_PREFIX) :].lower().split("__"))
        if not all(path):
            raise ConfigurationError(
                f"environment variable {name}: expected {ENV_PREFIX}<SECTION>__<KEY>, "
                f"for example {ENV_PREFIX}LOGGER__LEVEL"
            )
        try:
            value = parse_value(environ[name], path)
        except ConfigurationError as error:
            raise ConfigurationError(f"environment variable {name}: {error}") from None
        _put(values, origins, path, value, f"environment variable {name}")
    return Layer(values, origins)


def mlflow_layer(environ: Mapping[str, str]) -> Layer:
    """Read MLflow's own variables (`MLFLOW_TRACKING_URI`, ...) as the defaults under the file."""
    values: dict[str, Any] = {}
    origins: dict[KeyPath, str] = {}
    for name, path in MLFLOW_VARIABLES.items():
        if environ.get(name):
            _put(values, origins, path, environ[name], f"environment variable {name}")
    return Layer(values, origins)


def override_layer(overrides: Iterable[str]) -> Layer:
    """Read `--set key.path=value` flags, the later of two for one key winning."""
    values: dict[str, Any] = {}
    origins: dict[KeyPath, str] = {}
    for text in overrides:
        path, value = parse_override(text)
        _put(values, origins, path, value, f"--set {'.'.join(path)}")
    return Layer(values, origins)


def merge(layers: Sequence[Layer]) -> Layer:
    """Merge layers given lowest first: a higher layer's value replaces a lower one's, by key."""
    values: dict[str, Any] = {}
    origins: dict[KeyPath, str] = {}
    for layer in layers:
        for path, origin in layer.origins.items():
            value = _get(layer.values, path)
            if value == {} and isinstance(_find(values, path), dict):
                continue  # an empty section sets nothing: it must not wipe the layers below
            _put(values, origins, path, value, origin)
    return Layer(values, origins)


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
        """Read the layer and return its values (pydantic-settings merges them by key)."""
        self.layer = self.read()
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


def _read_node(
    node: yaml.Node,
    path: KeyPath,
    file: Path,
    environ: Mapping[str, str],
    origins: dict[KeyPath, str],
) -> Any:
    where = f"{file}:{node.start_mark.line + 1}"
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in mapping:
                line = key_node.start_mark.line + 1
                raise ConfigurationError(f"{file}:{line}: duplicate key {'.'.join((*path, key))}")
            mapping[key] = _read_node(value_node, (*path, key), file, environ, origins)
        if not mapping and path:
            origins[path] = where
        return mapping
    origins[path] = where
    if isinstance(node, yaml.SequenceNode):
        return [_read_node(item, path, file, environ, {}) for item in node.value]
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:str":
        text = str(node.value)
        if "${" in text:
            expanded = interpolate(text, environ, where)
            names = [match.group(1) for match in _VARIABLE.finditer(text)]
            given = [name for name in names if name in environ]
            if given:
                origins[path] = f"{where} via environment variable {', '.join(given)}"
            else:
                origins[path] = f"{where}, default of ${{{', '.join(names)}}}"
            return parse_value(expanded, path) if expanded != text else expanded
        return text
    return yaml.SafeLoader("").construct_object(node, deep=True)


def _get(values: Mapping[str, Any], path: KeyPath) -> Any:
    for part in path:
        values = values[part]
    return values


def _find(values: Mapping[str, Any], path: KeyPath) -> Any:
    for part in path:
        if not isinstance(values, Mapping) or part not in values:
            return None
        values = values[part]
    return values


def _put(
    values: dict[str, Any],
    origins: dict[KeyPath, str],
    path: KeyPath,
    value: Any,
    origin: str,
) -> None:
    """Set a leaf, replacing what was at and below its path, and record its origin."""
    target = values
    for index, part in enumerate(path[:-1]):
        child = target.get(part)
        if not isinstance(child, dict):
            child = target[part] = {}
            origins.pop(path[: index + 1], None)
        target = child
    target[path[-1]] = value
    for known in [known for known in origins if known[: len(path)] == path]:
        del origins[known]
    origins[path] = origin
