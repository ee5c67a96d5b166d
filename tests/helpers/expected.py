"""What the tests expect of the application as a whole, written out once by hand."""

from __future__ import annotations

JOB_NAMES = {
    "tuning",
    "training",
    "evaluation",
    "promotion",
    "inference",
    "serve",
    "explanations",
    "check",
}
"""Every registered job, by name: the command line, the container and the schema list these."""

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
