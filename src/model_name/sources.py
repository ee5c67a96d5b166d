"""Build the configuration from its layers, and remember where every value came from.

The layers, highest first:

1. `--set key.path=value` flags;
2. `MODEL_NAME_<SECTION>__<KEY>` environment variables;
3. the configuration files (`containers.yaml`, or each `--config FILE` in order, later ones
   winning), in which `${VAR}` and `${VAR:default}` are replaced from the environment;
4. MLflow's own `MLFLOW_TRACKING_URI`, `MLFLOW_REGISTRY_URI` and `MLFLOW_EXPERIMENT_NAME`;
5. the defaults in code (`model_name.settings`, and each job's fields).

Every value is validated before anything starts. An error names the key path, where its value came
from (file and line, variable or flag) and, for an unknown key, the nearest valid one.

Example:
    >>> configuration = load_configuration(overrides=["logger.level=debug"], environ={})
    >>> configuration.settings.logger.level, configuration.origins["logger.level"]
    ('DEBUG', '--set logger.level')
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic as pdt
import yaml
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from model_name.errors import ConfigurationError
from model_name.settings import AppSettings, is_secret_key
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


class _LayeredSettings(AppSettings):
    """`AppSettings` validated from the merged layers only: the environment was read already."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


@dataclasses.dataclass(frozen=True)
class Layer:
    """One source of configuration: nested values and the origin of each leaf.

    Attributes:
        values: the nested mapping this source sets.
        origins: for each key path it sets, a short description of where it came from.
    """

    values: dict[str, Any]
    origins: dict[KeyPath, str]


@dataclasses.dataclass(frozen=True)
class Configuration:
    """The validated configuration and where each of its values came from.

    Attributes:
        settings: the validated settings; `settings.jobs[kind]` holds every field of every job.
        origins: for each dotted key path, its source (`containers.yaml:12`, an environment
            variable, `--set key`, or `default`).
    """

    settings: AppSettings
    origins: dict[str, str]

    def origin(self, path: str) -> str:
        """Return where the value at a dotted key path came from, `default` when from code."""
        return _origin(self.origins, tuple(path.split(".")))


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


def load_configuration(
    config_files: Sequence[Path] | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    jobs: Mapping[str, type[pdt.BaseModel]] | None = None,
    reserved_job_fields: Iterable[str] = (),
) -> Configuration:
    """Build and validate the whole configuration from its layers.

    Args:
        config_files: the files to read, later ones winning; `None` reads `containers.yaml` in
            the current folder when there is one.
        overrides: the `--set key.path=value` flags.
        environ: the environment; `None` means `os.environ`.
        jobs: the registered jobs by name; each `jobs.<name>` section is validated by its model.
        reserved_job_fields: job fields the container sets, refused in a job's section.

    Raises:
        ConfigurationError: any problem, as one line per error naming the key and its origin.
    """
    import os

    environ = dict(os.environ if environ is None else environ)
    jobs = dict(jobs or {})
    if config_files is None:
        config_files = [DEFAULT_CONFIG_FILE] if DEFAULT_CONFIG_FILE.is_file() else []
    layers = [mlflow_layer(environ)]
    layers += [file_layer(Path(path), environ) for path in config_files]
    layers += [environment_layer(environ), override_layer(overrides)]
    merged = merge(layers)
    origins = {".".join(path): origin for path, origin in merged.origins.items()}
    values = dict(merged.values)
    job_sections = values.pop("jobs", None) or {}
    try:
        settings: AppSettings = _LayeredSettings.model_validate(values)
    except pdt.ValidationError as error:
        raise ConfigurationError(_describe(error, (), origins, AppSettings)) from None
    settings.jobs = _validate_jobs(job_sections, jobs, set(reserved_job_fields), origins)
    return Configuration(settings, origins)


def _validate_jobs(
    sections: Any,
    jobs: Mapping[str, type[pdt.BaseModel]],
    reserved: set[str],
    origins: Mapping[str, str],
) -> dict[str, dict[str, Any]]:
    if not isinstance(sections, dict):
        where = origins.get("jobs", "default")
        raise ConfigurationError(f"jobs (from {where}): should map job names to their settings")
    for kind in sections:
        if kind not in jobs:
            raise ConfigurationError(_unknown(("jobs", kind), origins, sorted(jobs)))
    validated: dict[str, dict[str, Any]] = {}
    for kind, model in jobs.items():
        section = sections.get(kind) or {}
        if not isinstance(section, dict):
            where = origins.get(f"jobs.{kind}", "default")
            raise ConfigurationError(f"jobs.{kind} (from {where}): should map fields to values")
        params = [name for name in model.model_fields if name not in reserved]
        for key in section:
            if key not in params:
                raise ConfigurationError(_unknown(("jobs", kind, key), origins, params))
        try:
            job = model.model_validate(section)
        except pdt.ValidationError as error:
            raise ConfigurationError(_describe(error, ("jobs", kind), origins, model)) from None
        validated[kind] = job.model_dump(include=set(params))
    return validated


def _describe(
    error: pdt.ValidationError,
    prefix: KeyPath,
    origins: Mapping[str, str],
    model: type[pdt.BaseModel],
) -> str:
    lines = []
    for detail in error.errors(include_url=False, include_input=False):
        path = (*prefix, *(str(part) for part in detail["loc"]))
        if detail["type"] == "extra_forbidden":
            siblings = _fields_at(model, path[len(prefix) : -1])
            lines.append(_unknown(path, origins, siblings))
            continue
        key = ".".join(path)
        where = _origin(origins, path)
        lines.append(f"{key} (from {where}): {detail['msg']}")
    return "\n".join(lines)


def _unknown(path: KeyPath, origins: Mapping[str, str], valid: Sequence[str]) -> str:
    key = ".".join(path)
    message = f"unknown key {key} (from {_origin(origins, path)})"
    nearest = difflib.get_close_matches(path[-1], valid, n=1, cutoff=0.5)
    if nearest:
        return f"{message}; did you mean {'.'.join((*path[:-1], nearest[0]))}?"
    return f"{message}; valid keys here: {', '.join(valid)}" if valid else message


def _fields_at(model: type[pdt.BaseModel], path: KeyPath) -> list[str]:
    for part in path:
        field = model.model_fields.get(part)
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, pdt.BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _origin(origins: Mapping[str, str], path: KeyPath) -> str:
    """Return the origin of a key: its own, its nearest parent's, or its first child's."""
    parts = list(path)
    while parts:
        found = origins.get(".".join(parts))
        if found is not None:
            return found
        parts.pop()
    below = ".".join(path) + "."
    return next((origin for key, origin in origins.items() if key.startswith(below)), "default")


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
