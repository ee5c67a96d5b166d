"""The `pipelines` section: named, ordered lists of steps, each a registered job with overrides.

It is imported by `model_name.settings` (the whole configuration), so it imports nothing of the
application: the jobs named by the steps are checked later, by `model_name.pipelines.validation`
(the machinery is in `model_name.pipelines`).

Example:
    >>> pipeline = PipelineSettings(steps=[{"job": "training", "overrides": {"alpha": 2}}])
    >>> pipeline.steps[0].name, pipeline.steps[0].overrides
    ('training', {'alpha': 2})
"""

from __future__ import annotations

from typing import Any, Self

import pydantic as pdt

STEP_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
"""A step's name: it is a tag value, a `--force` argument and an Argo task name (lower-cased)."""


class StepSettings(pdt.BaseModel):
    """One step of a pipeline: a job, run with its section and these overrides.

    Attributes:
        job: the job's name (`model_name jobs`).
        name: the step's name in the pipeline (`--force NAME`); the job's name by default.
        overrides: values that replace the job section's ones for this step only
            (`{study: model_name}` trains from the tuning study).
        use: parameters taken from an earlier step's outputs, when the step comes up:
            `{version: training.version}` evaluates the version the training step registered
            (a step reads what the step before it wrote).
    """

    model_config = pdt.ConfigDict(extra="forbid")

    job: str = pdt.Field(min_length=1)
    name: str = pdt.Field(default="", pattern=rf"{STEP_NAME}|^$")
    overrides: dict[str, Any] = pdt.Field(default_factory=dict)
    use: dict[str, str] = pdt.Field(default_factory=dict)

    @pdt.field_validator("use")
    @classmethod
    def _step_dot_output(cls, use: dict[str, str]) -> dict[str, str]:
        for param, source in use.items():
            step, _, output = source.partition(".")
            if not step or not output:
                message = f"use.{param}: expected STEP.OUTPUT (training.version), not {source!r}"
                raise ValueError(message)
        return use

    @pdt.model_validator(mode="after")
    def _named(self) -> Self:
        if not self.name:
            self.name = self.job
        return self


class PipelineSettings(pdt.BaseModel):
    """A pipeline: steps run in order, each reused when nothing it depends on changed.

    Attributes:
        steps: the steps, in order; their names must be unique.
        alert_each_step: send each step's own alerts too; by default the pipeline sends one
            alert (its outcome and its steps) and the steps none.
    """

    model_config = pdt.ConfigDict(extra="forbid")

    steps: list[StepSettings] = pdt.Field(min_length=1)
    alert_each_step: bool = False

    @pdt.field_validator("steps")
    @classmethod
    def _unique_names(cls, steps: list[StepSettings]) -> list[StepSettings]:
        names = [step.name for step in steps]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"step names must be unique; twice: {', '.join(twice)} (set `name`)")
        return steps


LIFECYCLE = "lifecycle"
"""The default pipeline's name: the README's lifecycle."""


def default_pipelines() -> dict[str, PipelineSettings]:
    """Return the pipelines of the defaults in code: the README's lifecycle.

    Tuning, training from the tuning study, evaluation, promotion gated by the evaluation, and
    inference with the new champion.
    """
    steps: list[dict[str, Any]] = [
        {"job": "tuning"},
        {"job": "training", "overrides": {"study": "model_name"}},
        {"job": "evaluation", "use": {"version": "training.version"}},
        {
            "job": "promotion",
            "overrides": {"require_evaluation": True},
            "use": {"version": "training.version"},
        },
        {"job": "inference"},
    ]
    return {LIFECYCLE: PipelineSettings.model_validate({"steps": steps})}
