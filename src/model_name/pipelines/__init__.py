"""Pipelines: jobs in order in one container lifetime, each reused while nothing it uses changed.

`model_name.pipeline_settings` declares the `pipelines` section (light: `model_name.settings`
imports it); these modules are imported only when a pipeline runs or is exported: `validation`
(every step's section, before anything starts), `fingerprint` (what a step depends on), `outputs`
(what a step leaves and whether it still holds), `reuse` (finding a run to reuse, saying why
not), `runner` (a parent MLflow run and one nested run a step), `command` (the command line's
`run pipeline`), `quick` (a pipeline whose every step is reused, recorded without starting the
services), `sqlite_store` and `stored` (the embedded SQLite store read and written without
MLflow, for `quick` and `--dry-run`), `export` (Argo Workflows and Airflow, one task a step).
"""
