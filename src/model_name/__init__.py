"""model_name: run a machine learning project's jobs inside a managed context.

The services (logging, alerts, MLflow tracking) are built by a dependency-injection container,
started before a job runs and stopped after, whatever happens. See the README for a tour.
"""
