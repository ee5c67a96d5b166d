"""Serving a registered model over HTTP, following its alias: the parts of the `serve` job.

- `payloads`: MLflow's scoring protocol (JSON, CSV, Parquet) read into a table;
- `signature`: that table checked against the model's signature, one line naming what is wrong;
- `arrays`: the lean read: a JSON body of plain numbers straight to a NumPy array;
- `batching`: requests waiting together predicted in one call;
- `models`: the version served, loaded beside the old one and switched atomically;
- `follower`: polls the registry and switches when the alias moves;
- `invocations`: `POST /invocations` as a plain ASGI application (the request path);
- `app`: the whole application: `/invocations` first, FastAPI's operations routes for the rest;
  `server`: uvicorn in a thread, drained at stop;
- `metrics`: request counts and latencies for the run and for Prometheus;
- `recorder`: what the job's MLflow run records.

Modules import FastAPI, uvicorn, pandas and MLflow inside their functions: importing this package
is cheap.
"""
