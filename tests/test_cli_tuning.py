"""The command line with the study storage: masked URLs, and an unreachable database."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from model_name.cli import main
from tests.helpers.servers import free_port


def test_config_show_masks_the_password_of_the_study_storage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given a storage URL with a password on the command line
    url = "postgresql://tuner:hunter2@db.example.com:5432/optuna"
    # when the configuration is shown
    code = main(["config", "show", "--set", f"optuna.storage={url}"])
    # then the URL is there, its password masked
    out = capsys.readouterr().out
    assert code == 0
    assert "hunter2" not in out
    shown = yaml.safe_load(out)
    assert shown["optuna"]["storage"] == "postgresql://tuner:**********@db.example.com:5432/optuna"
    assert shown["jobs"]["tuning"]["n_trials"] == 20


def test_an_unreachable_storage_stops_tuning_in_one_line_before_anything_starts(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given a storage URL (with a password) where no database listens
    url = f"postgresql://tuner:hunter2@127.0.0.1:{free_port()}/optuna"
    # when tuning runs
    code = main([
        "run", "tuning", "--set", f"optuna.storage={url}", "--set", "alerts.enable=false",
        "--set", "optuna.connect_timeout_seconds=2",
    ])  # fmt: skip
    # then it exits 1 with one error line naming the storage, its password masked
    err = capsys.readouterr().err
    assert code == 1
    errors = [line for line in err.splitlines() if line.startswith("model_name: error:")]
    assert len(errors) == 1
    assert "could not start" in errors[0]
    assert "postgresql://tuner:**********@127.0.0.1" in errors[0]
    assert "hunter2" not in err
    # and nothing was started: no tracking store, no journal file
    assert not {"mlflow.db", "mlruns", "optuna.journal"} & {p.name for p in isolated.iterdir()}
