"""The explanations job: SHAP plots and importance of real models trained in the test's store."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from model_name.errors import ModelNotFoundError
from model_name.io import datasets, registries
from model_name.io.services import MlflowService, RunConfig
from model_name.jobs.explanations import ARTIFACTS, ExplanationsJob
from model_name.jobs.training import TrainingJob

RunsOf = Callable[[str], list[Any]]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def signal_table(tmp_path: Path) -> Path:
    """A CSV where `signal` alone carries the target; `noise_a` and `noise_b` are noise."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 3)), columns=["noise_a", "signal", "noise_b"])
    frame["target"] = 5.0 * frame["signal"] + rng.normal(scale=0.1, size=200)
    return datasets.write_table(frame, tmp_path / "signal.csv")


def png_size(path: Path) -> tuple[int, int]:
    """Return a PNG's width and height, read from its header (after checking its signature)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def explain(services: dict[str, Any], **params: Any) -> None:
    settings = {"alias": None, "sample_size": 60, "background_size": 20, **params}
    with ExplanationsJob(**settings, **services) as job:
        job.run()


def downloaded(mlflow_service: MlflowService, run_id: str, tmp_path: Path) -> Path:
    client = mlflow_service.client()
    return Path(client.download_artifacts(run_id, "explanations", str(tmp_path / "downloaded")))


@pytest.mark.parametrize(
    ("training", "explainer"),
    [
        ({"estimator": "ridge"}, "linear"),
        ({"estimator": "random_forest", "n_estimators": 10, "max_depth": 4}, "tree"),
    ],
)
def test_the_feature_carrying_the_signal_ranks_first(
    services: dict[str, Any],
    mlflow_service: MlflowService,
    runs_of: RunsOf,
    signal_table: Path,
    tmp_path: Path,
    training: dict[str, Any],
    explainer: str,
) -> None:
    # given a model trained on data where only `signal` matters
    with TrainingJob(inputs=signal_table, **training, **services) as job:
        job.run()

    # when its latest version is explained
    explain(services, inputs=signal_table)

    # then the run finished with the fitting explainer, and links to the version both ways
    (run,) = runs_of("explanations")
    assert run.info.status == "FINISHED"
    assert run.data.tags["model_name.explainer"] == explainer
    assert run.data.tags["model_name.explained_version"] == "1"
    version = mlflow_service.client().get_model_version(mlflow_service.registry_name, "1")
    assert version.tags["model_name.explanations.run_id"] == run.info.run_id
    assert version.tags["model_name.explainer"] == explainer
    # and the importance table ranks `signal` first, far above the noise
    folder = downloaded(mlflow_service, run.info.run_id, tmp_path)
    assert {f"explanations/{item.name}" for item in folder.iterdir()} == set(ARTIFACTS)
    table = pd.read_csv(folder / "importance.csv")
    assert list(table.columns) == ["feature", "mean_abs_shap", "mean_shap", "rank"]
    assert table["feature"][0] == "signal"
    assert table["mean_abs_shap"][0] > 10 * table["mean_abs_shap"][1]
    # and both plots are real PNGs of a readable size
    for plot in ("shap_beeswarm.png", "shap_importance.png"):
        width, height = png_size(folder / plot)
        assert 400 <= width <= 2000
        assert 300 <= height <= 2000


@pytest.mark.slow  # numba compiles SHAP's permutation code on first use: 10-40 s
def test_a_model_of_another_kind_is_explained_through_the_whole_pipeline(
    services: dict[str, Any],
    mlflow_service: MlflowService,
    runs_of: RunsOf,
    signal_table: Path,
    tmp_path: Path,
) -> None:
    # given a scaled small neural network: neither linear nor a tree
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = datasets.read_table(signal_table)
    features = frame.drop(columns=["target"])
    model = make_pipeline(
        StandardScaler(),
        MLPRegressor(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=2000, random_state=0),
    )
    model.fit(features, frame["target"])
    with mlflow_service, mlflow_service.run_context(RunConfig(name="fixture")):
        info = registries.log_model(model, signature_input=features)
        registries.register_model(info.model_uri, mlflow_service.registry_name)

    # when it is explained (few rows: the permutation explainer calls the model ~500 times a row)
    explain(services, inputs=signal_table, sample_size=20, background_size=10)

    # then the permutation explainer explained the pipeline's predictions, `signal` first
    (run,) = runs_of("explanations")
    assert run.data.tags["model_name.explainer"] == "permutation"
    assert run.data.params["explained"] == "pipeline"
    table = pd.read_csv(downloaded(mlflow_service, run.info.run_id, tmp_path) / "importance.csv")
    assert table["feature"][0] == "signal"


def test_no_pyplot_figure_is_left_behind(services: dict[str, Any], registered_model: str) -> None:
    import matplotlib.pyplot as plt

    # given no pyplot figure open
    plt.close("all")

    # when a version is explained (the fixture's ridge on the diabetes data)
    explain(services)

    # then pyplot holds no figure
    assert plt.get_fignums() == []


def test_a_missing_alias_fails_naming_the_aliases_there_are(
    services: dict[str, Any], registered_model: str
) -> None:
    job = ExplanationsJob(**services)  # the default: the champion, which does not exist
    with (
        pytest.raises(ModelNotFoundError, match="cannot explain the version aliased 'champion'"),
        job,
    ):
        job.run()
