"""Pipelines: ordered jobs run in one container lifetime, reused when nothing they depend on changed.

`settings` declares the `pipelines` section (light: `model_name.settings` imports it); the rest is
imported only when a pipeline runs: `validation` (every step's section, before anything starts),
`fingerprint` (what a step depends on), `outputs` (what a step leaves and whether it still holds),
`runner` (one container lifetime, a parent MLflow run and one nested run a step), `export`
(Argo Workflows and Airflow, each step a plain `model_name run JOB`).
"""
