"""What the tests expect of the application as a whole."""

from __future__ import annotations

from model_name.jobs import JOBS

BUILT_IN_JOBS = {
    "tuning",
    "training",
    "evaluation",
    "promotion",
    "inference",
    "serve",
    "explanations",
    "check",
}
"""The jobs the project ships, written out by hand: each must stay registered."""

JOB_NAMES = frozenset(JOBS)
"""Every registered job, by name, read from the registry (`model_name.jobs.JOBS`), so that a job
a user adds (README, "Write your own job") needs no change here: the command line, the container
and the schema must each list exactly these."""

HEAVY_MODULES = (
    "mlflow",
    "model_name.containers",
    "dependency_injector",
    "sklearn",
    "optuna",
    "apprise",
    "shap",
)
"""Modules a light command (`--help`, `jobs`, `config show`, `config schema`) must not import."""
