"""The tuning benchmark's reference: the same study run by bare Optuna, without any service.

Same data, objective (`model_name.jobs.tuning.cross_validate`), sampler, per-trial seeding and
number of trials as the job; no MLflow, no logging service, in-memory storage. Prints the
seconds `study.optimize` took, as JSON.

Usage: python benchmarks/tuning_reference.py N_TRIALS SEED
"""

from __future__ import annotations

import json
import sys
import time

import optuna

from model_name.io import datasets
from model_name.jobs.tuning import cross_validate

N_TRIALS, SEED = int(sys.argv[1]), int(sys.argv[2])
frame = datasets.load_sample()
features = datasets.numeric_features(frame.drop(columns=[datasets.SAMPLE_TARGET]))
labels = frame[datasets.SAMPLE_TARGET].astype("float64")
optuna.logging.set_verbosity(optuna.logging.WARNING)
sampler = optuna.samplers.RandomSampler(seed=SEED)


def objective(trial: optuna.Trial) -> float:
    sampler._rng.rng.seed(SEED + trial.number)  # the job's per-trial seed: the same draws
    params = {
        "estimator": trial.suggest_categorical("estimator", ["random_forest"]),
        "n_estimators": trial.suggest_int("n_estimators", 50, 150),
        "max_depth": trial.suggest_categorical("max_depth", [4, 8]),
    }
    scores = cross_validate(params, features, labels, "rmse", 3, 42)
    return sum(scores) / len(scores)


study = optuna.create_study(direction="minimize", sampler=sampler)
started = time.perf_counter()
study.optimize(objective, n_trials=N_TRIALS)
print(json.dumps({"seconds": time.perf_counter() - started, "best": study.best_value}))
