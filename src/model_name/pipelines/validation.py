"""Check a whole pipeline before anything starts: every step's job, and its section with overrides.

A step's parameters are its job's section (already validated by `load_configuration`) with the
step's `overrides` on top, validated again by the job's model: a typo in the last step's
overrides stops the command (exit 2, one line) before the first step starts.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

import pydantic as pdt

from model_name.configuration import Configuration
from model_name.errors import ConfigurationError
from model_name.pipeline_settings import LIFECYCLE, PipelineSettings


@dataclasses.dataclass(frozen=True)
class Step:
    """A step ready to run: its name, its job, and its validated parameters.

    Attributes:
        name: the step's name in the pipeline.
        kind: the job's `KIND`.
        params: the job's parameters (section + overrides), validated, as JSON values.
        overrides: the step's overrides alone (what the factory call passes).
        use: parameters taken from earlier steps' outputs: `{version: ("training", "version")}`.
    """

    name: str
    kind: str
    params: dict[str, Any]
    overrides: dict[str, Any]
    use: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def with_upstream(self, outputs: Mapping[str, Mapping[str, str]]) -> Step:
        """Return the step with its `use` parameters filled from earlier steps' outputs.

        A missing output (the step before it recorded none) leaves the parameter as it is.
        """
        taken = {
            param: outputs[step][output]
            for param, (step, output) in self.use.items()
            if output in outputs.get(step, {})
        }
        return dataclasses.replace(
            self, params={**self.params, **taken}, overrides={**self.overrides, **taken}
        )


def pipeline_named(configuration: Configuration, name: str | None) -> tuple[str, PipelineSettings]:
    """Return the pipeline called `name` (None: `lifecycle`, or the only one there is).

    Raises:
        ConfigurationError: no pipeline of that name; the line names the nearest one.
    """
    pipelines = configuration.settings.pipelines
    if name is None:
        name = LIFECYCLE if LIFECYCLE in pipelines or len(pipelines) != 1 else next(iter(pipelines))
    if name in pipelines:
        return name, pipelines[name]
    nearest = difflib.get_close_matches(name, list(pipelines), n=1)
    hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
    known = ", ".join(pipelines) or "none"
    where = configuration.origin("pipelines")
    raise ConfigurationError(f"unknown pipeline {name!r} (from {where}){hint} (pipelines: {known})")


def validate_pipeline(
    configuration: Configuration,
    name: str,
    pipeline: PipelineSettings,
    jobs: Mapping[str, type[pdt.BaseModel]],
) -> list[Step]:
    """Return the pipeline's steps with their parameters, every one checked.

    Args:
        configuration: the validated configuration (jobs' sections, origins).
        name: the pipeline's name, for error messages.
        pipeline: its settings.
        jobs: the registered jobs by `KIND`.

    Raises:
        ConfigurationError: an unknown job, an unknown override key or a wrong value, named as
            `pipelines.NAME.steps[i]...` with where it came from.
    """
    steps = []
    for index, step in enumerate(pipeline.steps):
        path = f"pipelines.{name}.steps[{index}]"
        where = configuration.origin(f"pipelines.{name}.steps")
        if step.job not in jobs:
            nearest = difflib.get_close_matches(step.job, list(jobs), n=1)
            hint = f"; did you mean {nearest[0]!r}?" if nearest else ""
            raise ConfigurationError(f"{path}.job (from {where}): unknown job {step.job!r}{hint}")
        model = jobs[step.job]
        reserved = set(getattr(model, "reserved_fields", lambda: ())())
        params = [field for field in model.model_fields if field not in reserved]
        for key in step.overrides:
            if key not in params:
                nearest = difflib.get_close_matches(key, params, n=1, cutoff=0.5)
                hint = f"; did you mean {nearest[0]}?" if nearest else ""
                raise ConfigurationError(f"unknown key {path}.overrides.{key} (from {where}){hint}")
        section = configuration.settings.jobs.get(step.job, {})
        try:
            job = model.model_validate({**section, **step.overrides})
        except pdt.ValidationError as error:
            detail = error.errors(include_url=False, include_input=False)[0]
            key = ".".join(str(part) for part in detail["loc"])
            raise ConfigurationError(
                f"{path}.overrides.{key} (from {where}): {detail['msg']}"
            ) from None
        values = _sorted_sets(job.model_dump(include=set(params)))
        use = {}
        before = [earlier.name for earlier in pipeline.steps[:index]]
        for param, source in step.use.items():
            upstream, _, output = source.partition(".")
            if param not in params:
                raise ConfigurationError(f"unknown key {path}.use.{param} (from {where})")
            if upstream not in before:
                raise ConfigurationError(
                    f"{path}.use.{param} (from {where}): {upstream!r} is not a step before "
                    f"{step.name!r} (before it: {', '.join(before) or 'none'})"
                )
            use[param] = (upstream, output)
        steps.append(Step(step.name, step.job, values, dict(step.overrides), use))
    return steps


def _sorted_sets(value: Any) -> Any:
    """Return a value as JSON-able data, sets sorted: the same settings, the same fingerprint."""
    if isinstance(value, dict):
        return {str(key): _sorted_sets(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(_sorted_sets(item) for item in value)
    if isinstance(value, list | tuple):
        return [_sorted_sets(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # paths, enums
