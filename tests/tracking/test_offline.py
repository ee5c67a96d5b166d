"""Offline tracking: a local store and folder instead of the server, and the way back."""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient

from model_name.io.services import MlflowService, RunConfig
from model_name.tracking.offline import server_answers
from tests.helpers.servers import free_port


def test_offline_mode_tracks_locally_and_puts_the_server_back_at_stop(tmp_path: Path) -> None:
    # given a service in offline mode whose server address has nothing listening
    url = f"http://127.0.0.1:{free_port()}"
    service = MlflowService(tracking_uri=url, mode="offline", offline_dir=str(tmp_path / "off"))

    # when it runs a job's run
    with service:
        used = service.tracking_uri
        with service.run_context(RunConfig(name="on the train", config={"a": 1})) as run:
            service.log_metrics({"loss": 0.5}, step=3)

    # then the run is whole in the offline store, its artifacts in the offline folder
    store = f"sqlite:///{(tmp_path / 'off' / 'mlflow.db').resolve()}"
    assert used == store
    client = MlflowClient(tracking_uri=store)
    assert client.get_run(run.info.run_id).info.status == "FINISHED"
    assert [(p.step, p.value) for p in client.get_metric_history(run.info.run_id, "loss")] == [
        (3, 0.5)
    ]
    assert (tmp_path / "off" / "artifacts").is_dir()
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"config.yaml", "logs"}
    # and the service's configuration is the server again
    assert service.tracking_uri == url


def test_a_silent_server_does_not_answer_and_a_local_store_always_does() -> None:
    assert not server_answers(f"http://127.0.0.1:{free_port()}")
    assert server_answers("sqlite:///mlflow.db")
