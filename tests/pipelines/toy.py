"""A toy project for pipeline tests: a package of two jobs, written to a folder, importable.

`produce` writes a number (scaled by `toyjobs.helpers`) to `produced.txt`; `consume` reads it
(its `inputs`) and fails while a file `broken` exists in the current folder.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.pipelines.helpers import statuses

PACKAGE = "toyjobs"

SOURCES = {
    "__init__.py": '"""Toy jobs."""\n',
    "helpers.py": "def scale(value: int) -> int:\n    return value * 2\n",
    "unrelated.py": "VALUE = 1\n",
    "produce.py": '''"""Produce."""
from pathlib import Path

from model_name.jobs import Job, Locals


class ProduceJob(Job):
    """Write a number to a file."""

    KIND = "produce"
    factor: int = 1
    outputs: str = "produced.txt"

    def run(self) -> Locals:
        from toyjobs.helpers import scale

        with self.mlflow_service.run_context(self.run_config()) as run:
            Path(self.outputs).write_text(str(scale(self.factor)))
        return locals()
''',
    "consume.py": '''"""Consume."""
from pathlib import Path

from model_name.jobs import Job, Locals


class ConsumeJob(Job):
    """Read the number back."""

    KIND = "consume"
    inputs: str = "produced.txt"

    def run(self) -> Locals:
        with self.mlflow_service.run_context(self.run_config()) as run:
            if Path("broken").exists():
                raise RuntimeError("broken on purpose")
            value = int(Path(self.inputs).read_text())
        return locals()
''',
}

CONFIGURATION = """
jobs:
  produce: {factor: 1}
pipelines:
  toy:
    steps:
      - job: produce
      - job: consume
"""


def write_package(folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, type[Any]]:
    """Write the toy package under `folder`, make it importable; return its jobs by kind."""
    package = folder / PACKAGE
    package.mkdir(parents=True)
    for name, text in SOURCES.items():
        (package / name).write_text(text)
    monkeypatch.syspath_prepend(str(folder))
    for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
        monkeypatch.delitem(sys.modules, name)
    importlib.invalidate_caches()
    produce = importlib.import_module(f"{PACKAGE}.produce").ProduceJob
    consume = importlib.import_module(f"{PACKAGE}.consume").ConsumeJob
    return {"produce": produce, "consume": consume}


def run_toy(
    folder: Path,
    jobs: dict[str, type[Any]],
    capsys: pytest.CaptureFixture[str],
    *overrides: str,
    **options: Any,
) -> tuple[int, dict[str, str]]:
    """Run the toy pipeline on the folder's store; return its code and each step's status.

    `options` go to `run_pipeline` (`force`, `no_cache`).
    """
    from model_name.configuration import load_configuration
    from model_name.containers import Container, register_job
    from model_name.jobs import JOBS
    from model_name.pipelines.command import prepare, run_pipeline

    (folder / "containers.yaml").write_text(CONFIGURATION)
    flags = [
        f"mlflow.tracking_uri=sqlite:///{(folder / 'mlflow.db').resolve()}",
        "alerts.enable=false",
        "mlflow.outbox=false",
        f"logger.sink={folder / 'pipeline.log'}",
        *overrides,
    ]
    registry = {**JOBS, **jobs}
    configuration = load_configuration(
        config_files=[folder / "containers.yaml"], overrides=flags, jobs=registry
    )
    name, steps, _ = prepare(configuration, "toy", jobs=registry)
    container = Container()
    container.config.from_dict(configuration.settings.model_dump())
    for job_type in jobs.values():
        register_job(container, job_type)
    capsys.readouterr()
    code = run_pipeline(container, name, steps, configuration.settings, **options)
    out = capsys.readouterr().out
    print(out)  # shown when a test fails: each step's reason
    return code, statuses(out)
