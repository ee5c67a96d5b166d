"""The validated configuration: read from its layers, every job's section checked, errors described.

`load_configuration` is the one path from the layers (`model_name.sources`) to validated settings:
the command line, `create_container()` and the test plugin all take it. It validates the service
sections with `AppSettings`, each job's section with the job's own model, and keeps where every
value came from, so an error is one line naming the key, its origin and the nearest valid key.
`settings_schema` is the JSON Schema of the whole configuration, for editors.

Example:
    >>> configuration = load_configuration(overrides=["logger.level=debug"], environ={})
    >>> configuration.settings.logger.level, configuration.origins["logger.level"]
    ('DEBUG', '--set logger.level')
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pydantic as pdt

from model_name.errors import ConfigurationError
from model_name.settings import AppSettings
from model_name.sources import Inputs, KeyPath, NotYaml, reading

SCHEMA_ID = "https://model-name.invalid/containers.schema.json"
"""The `$id` of the configuration's JSON Schema (an identifier, never fetched)."""


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


def load_configuration(
    config_files: Sequence[Path] | None = None,
    overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    jobs: Mapping[str, type[pdt.BaseModel]] | None = None,
    reserved_job_fields: Iterable[str] | None = None,
) -> Configuration:
    """Build and validate the whole configuration from its layers.

    Args:
        config_files: the files to read, later ones winning; `None` reads `containers.yaml` in
            the current folder when there is one.
        overrides: the `--set key.path=value` flags.
        environ: the environment; `None` means `os.environ`.
        jobs: the jobs by name, each `jobs.<name>` section validated by its model; `None` means
            the registered jobs (`model_name.jobs.JOBS`).
        reserved_job_fields: job fields the container sets, refused in a job's section; `None`
            means each job's own (`Job.reserved_fields()`: its services and `configuration`).

    Raises:
        ConfigurationError: any problem, as one line per error naming the key and its origin.
    """
    inputs = Inputs(config_files, overrides, environ)
    with reading(inputs):
        try:
            settings = AppSettings()
        except pdt.ValidationError as error:
            where = {**inputs.key_origins(), **inputs.origins()}
            raise ConfigurationError(_describe(error, (), where, AppSettings)) from None
    origins = inputs.origins()
    where = {**inputs.key_origins(), **origins}  # errors about a section's key name its line
    settings.jobs = validate_jobs(settings.jobs, where, jobs, reserved_job_fields)
    return Configuration(settings, origins)


def validate_settings(settings: AppSettings) -> AppSettings:
    """Validate the job sections of settings built in Python; return them with defaults filled.

    Raises:
        ConfigurationError: a job section with an unknown key or a wrong value.
    """
    validated = settings.model_copy()
    validated.jobs = validate_jobs(settings.jobs, {})
    return validated


def settings_schema(jobs: Mapping[str, type[pdt.BaseModel]] | None = None) -> dict[str, Any]:
    """Return the JSON Schema of the whole configuration: the services and every job's section.

    Example:
        >>> sorted(settings_schema()["properties"])
        ['alerts', 'jobs', 'logger', 'mlflow', 'optuna', 'pipelines']
    """
    jobs = _registered_jobs() if jobs is None else jobs
    sections: dict[str, Any] = {}
    for kind, model in jobs.items():
        fields: dict[str, Any] = {
            name: (field.annotation, field)
            for name, field in model.model_fields.items()
            if name not in _reserved_fields(model)
        }
        section = pdt.create_model(
            f"{model.__name__}Settings",
            __config__=pdt.ConfigDict(extra="forbid"),
            __doc__=model.__doc__,
            **fields,
        )
        sections[kind] = (section, pdt.Field(default_factory=section))
    jobs_model = pdt.create_model(
        "JobsSettings", __config__=pdt.ConfigDict(extra="forbid"), **sections
    )
    services = {
        name: (field.annotation, field)
        for name, field in AppSettings.model_fields.items()
        if name != "jobs"
    }
    whole = pdt.create_model(  # type: ignore[call-overload]
        "ModelNameConfiguration",
        __config__=pdt.ConfigDict(extra="forbid", title="model_name configuration"),
        __doc__="model_name's containers.yaml: one section per service, one per job.",
        jobs=(jobs_model, pdt.Field(default_factory=jobs_model)),
        **services,
    )
    schema: dict[str, Any] = whole.model_json_schema(mode="validation")
    _add_renamed_keys(schema)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def _add_renamed_keys(schema: dict[str, Any]) -> None:
    """Accept the old keys still read for one release, marked `deprecated` (editors strike them)."""
    from model_name.renamed_keys import RENAMED_KEYS

    def properties(path: KeyPath) -> dict[str, Any]:
        node = schema
        for part in path:
            node = node["properties"][part]
            if "$ref" in node:
                node = schema["$defs"][node["$ref"].rpartition("/")[2]]
        found: dict[str, Any] = node["properties"]
        return found

    for old, new in RENAMED_KEYS.items():
        current = properties(new[:-1])[new[-1]]
        properties(old[:-1])[old[-1]] = {
            **{key: value for key, value in current.items() if key != "title"},
            "deprecated": True,
            "description": f"Deprecated: use {'.'.join(new)} (read for one more release).",
        }


def _registered_jobs() -> dict[str, type[pdt.BaseModel]]:
    from model_name.jobs import JOBS  # the jobs import the services: only when needed

    return dict(JOBS)


def _reserved_fields(model: type[pdt.BaseModel]) -> set[str]:
    """The fields of a job the container sets (its services, `configuration`), not its section."""
    from model_name.jobs.base import RESERVED_FIELDS

    reserved_fields = getattr(model, "reserved_fields", None)
    return set(reserved_fields() if callable(reserved_fields) else RESERVED_FIELDS)


def validate_jobs(
    sections: Any,
    origins: Mapping[str, str],
    jobs: Mapping[str, type[pdt.BaseModel]] | None = None,
    reserved_job_fields: Iterable[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Validate each job's section with the job's model; return every job's parameters.

    Raises:
        ConfigurationError: an unknown job or key, or a wrong value, named with its origin.
    """
    jobs = _registered_jobs() if jobs is None else jobs
    given = None if reserved_job_fields is None else set(reserved_job_fields)
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
        reserved = _reserved_fields(model) if given is None else given
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
    for detail in error.errors(include_url=False):
        path = (*prefix, *(str(part) for part in detail["loc"]))
        if detail["type"] == "extra_forbidden":
            siblings = _fields_at(model, path[len(prefix) : -1])
            lines.append(_unknown(path, origins, siblings))
            continue
        # A list item is named by its index, `alerts.channels[1]`, never by its value.
        key = ".".join(path[: len(prefix)] + tuple(_keyed(detail["loc"])))
        where = _origin(origins, tuple(p for p in path if not p.isdigit()))
        given = detail.get("input")  # never quoted, but for a text that tried to be YAML
        problem = given.refusal() if isinstance(given, NotYaml) else detail["msg"]
        lines.append(f"{key} (from {where}): {problem}")
    return "\n".join(lines)


def _keyed(loc: Sequence[int | str]) -> list[str]:
    """Return a validation error's location as key parts, list indexes as `[i]` suffixes."""
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int) and parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(str(part))
    return parts


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
