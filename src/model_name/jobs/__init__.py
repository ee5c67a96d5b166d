"""The application's jobs, registered by name.

To add a job: write a `Job` subclass in a module of its own here and add it to `JOBS`. Job modules
must stay light to import (import scikit-learn, pandas, MLflow inside `run`), because the command
line reads this registry for `model_name jobs` and `model_name config show` without loading them.
"""

from model_name.jobs.base import Job, Locals
from model_name.jobs.check import CheckJob
from model_name.jobs.evaluation import EvaluationJob
from model_name.jobs.explanations import ExplanationsJob
from model_name.jobs.inference import InferenceJob
from model_name.jobs.promotion import PromotionJob
from model_name.jobs.serve import ServeJob
from model_name.jobs.training import TrainingJob
from model_name.jobs.tuning import TuningJob

JOBS: dict[str, type[Job]] = {
    job.KIND: job
    for job in (
        TuningJob,
        TrainingJob,
        EvaluationJob,
        PromotionJob,
        InferenceJob,
        ServeJob,
        ExplanationsJob,
        CheckJob,
    )
}
"""Every job the application can run, by its `KIND`."""

__all__ = [
    "JOBS",
    "CheckJob",
    "EvaluationJob",
    "ExplanationsJob",
    "InferenceJob",
    "Job",
    "Locals",
    "PromotionJob",
    "ServeJob",
    "TrainingJob",
    "TuningJob",
]
