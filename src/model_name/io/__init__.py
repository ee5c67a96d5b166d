"""Input and output: the services a job runs with, datasets, and the MLflow model registry.

Every module here imports its heavy libraries (MLflow, plyer, scikit-learn, loguru) inside the
functions that need them, so importing the package stays cheap.
"""
