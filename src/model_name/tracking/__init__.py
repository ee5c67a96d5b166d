"""The tracking machinery `MlflowService` holds: what makes runs survive processes and networks.

Its modules, each one idea:

- `records`: `RunConfig`, `EndedRun`, and what every run records (tags, `config.yaml`).
- `state`: MLflow's process-wide state (URIs, experiment, `MLFLOW_*` variables, the run stack),
  saved at start and put back at stop.
- `stores`: SQLite stores created once under a lock; the one full-disk test (`store_full`).
- `batches`: how many metrics, params and tags MLflow takes in one `log_batch` call.
- `metrics`: the metric buffer of `log_metrics`, and how a batch of points is written.
- `heartbeat`: the process record and heartbeat of every run.
- `reaper`: ends, KILLED, the RUNNING runs whose process is dead.
- `outbox`: the durable local queue of what a job logged; `sender`: the thread that ships it;
  `delivery`: the two as one object, held by the service and used by `model_name runs sync`.
- `offline`, `offline_models`: offline mode, and uploading offline runs (and models) to a server.

Import from the modules (`from model_name.tracking.reaper import reap_stale_runs`): the package
re-exports nothing, so that importing one module never imports the others. The layer rule
(`tests/test_imports.py`): this package imports `errors`, `redaction` and `settings` only, never
the services. See docs/tracking-reliability.md for the guarantees.
"""
