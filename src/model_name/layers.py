"""The configuration's layers as plain data: nested values and where each one came from.

Each reader turns one kind of input into a `Layer`: a YAML file (`file_layer`, with the line of
every value and `${VAR}` / `${VAR:default}` replaced from the environment), the
`MODEL_NAME_<SECTION>__<KEY>` variables (`environment_layer`), MLflow's own variables
(`mlflow_layer`) and `--set key.path=value` flags (`override_layer`). `merge` stacks them.
`model_name.sources` wraps each reader in a pydantic-settings source.

Example:
    >>> layer = override_layer(["logger.level=debug"])
    >>> layer.values, layer.origins
    ({'logger': {'level': 'debug'}}, {('logger', 'level'): '--set logger.level'})
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from model_name.errors import ConfigurationError
from model_name.redaction import is_secret_key
from model_name.yaml_limits import compose_bounded, read_text_bounded, safe_load_bounded

ENV_PREFIX = "MODEL_NAME_"
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
        keys: for each key holding a mapping, where the key itself is written (files only).
    """

    values: dict[str, Any]
    origins: dict[KeyPath, str]
    keys: dict[KeyPath, str] = dataclasses.field(default_factory=dict)


class NotYaml(str):
    """A value that starts like a YAML list or mapping but is not one: kept as the text it is.

    A string-typed key takes it as written (`--set 'logger.format={level} | {message}'`); any
    other key refuses it, and the configuration's error says why the YAML did not parse
    (`problem`).
    """

    problem: str = "invalid YAML"

    def refusal(self) -> str:
        """Say, in one line, why this value is not a list or a mapping."""
        shown = self if len(self) <= 80 else f"{self[:77]}..."
        return f"{str(shown)!r} is not a valid list or mapping: {self.problem}"


def parse_value(text: str, path: KeyPath = ()) -> Any:
    """Read a value given as text, from a flag or an environment variable.

    Lists and mappings are written in YAML/JSON flow style (`[a, b]`, `{key: value}`); `null`
    and `~` mean None; anything else stays text, which the settings' types then convert
    (`"3"` to 3 for an integer field, `"true"` to True for a boolean). A value that starts with
    `[` or `{` but is not valid YAML stays text too (a `NotYaml`): a string-typed key takes it
    as written, any other key refuses it with the YAML error. The value of a secret
    key (`is_secret_key`: `tracking_password`, `tracking_token`, ...) is never parsed as a list or
    mapping: a password may start with `{` or `[`, and must never be quoted in an error message.
    `null` still unsets a secret, so `${TOKEN:null}` in a file makes a token optional.

    Args:
        text: the value as written.
        path: the key it is given for.

    Example:
        >>> parse_value("[1, 2]"), parse_value("~"), parse_value("0.5")
        ([1, 2], None, '0.5')
        >>> parse_value("{level} | {message}", ("logger", "format"))
        '{level} | {message}'
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
            kept = NotYaml(text)
            kept.problem = str(error).partition(": ")[2] or "invalid YAML"
            return kept
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
    keys: dict[KeyPath, str] = {}
    values = _read_node(node, (), path, environ, origins, keys=keys)
    return Layer(values, origins, keys)


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


def _read_node(
    node: yaml.Node,
    path: KeyPath,
    file: Path,
    environ: Mapping[str, str],
    origins: dict[KeyPath, str],
    *,
    keys: dict[KeyPath, str] | None = None,
) -> Any:
    where = f"{file}:{node.start_mark.line + 1}"
    keys = {} if keys is None else keys
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in mapping:
                line = key_node.start_mark.line + 1
                raise ConfigurationError(f"{file}:{line}: duplicate key {'.'.join((*path, key))}")
            if isinstance(value_node, yaml.MappingNode):  # the key's own line, for its errors
                keys[(*path, key)] = f"{file}:{key_node.start_mark.line + 1}"
            mapping[key] = _read_node(value_node, (*path, key), file, environ, origins, keys=keys)
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
