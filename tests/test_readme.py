"""The README's "Write your own job", followed step by step in a copy of the project."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.servers import without_coverage

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COPIED = (
    "src",
    "tests",
    "containers.yaml",
    "containers.schema.json",
    "pyproject.toml",
    "README.md",
)


def snippet(name: str) -> str:
    """Return the code block that follows `<!-- readme-test: NAME -->` in the README."""
    found = re.search(
        rf"<!-- readme-test: {name} -->\n```(?:python|yaml)\n(.*?)```",
        README.read_text(),
        re.DOTALL,
    )
    assert found, f"README has no readme-test block named {name}"
    return found.group(1)


def target(block: str) -> str:
    """The file a snippet is for: its first line, `# path/to/file`."""
    first = block.splitlines()[0]
    assert first.startswith("# "), first
    return first[2:].strip()


def copy_project(folder: Path) -> None:
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
            shutil.copytree(source, folder / name, ignore=ignore)
        else:
            shutil.copy2(source, folder / name)


def follow_the_readme(project: Path) -> None:
    # step 1: the job's module, as written
    job = snippet("job")
    (project / target(job)).write_text(job)
    # step 2: its import with the other jobs', and its entry at the end of JOBS' tuple
    register = snippet("register")
    registry = project / target(register)
    import_line = next(line for line in register.splitlines() if line.startswith("from "))
    entry = next(line for line in register.splitlines() if line.strip() == "ReportJob,")
    text = registry.read_text()
    text = text.replace(
        "from model_name.jobs.promotion import PromotionJob\n",
        f"from model_name.jobs.promotion import PromotionJob\n{import_line}\n",
    )
    text = text.replace("        CheckJob,\n    )\n", f"        CheckJob,\n{entry}\n    )\n")
    registry.write_text(text)
    # step 3: the section, nested under the file's `jobs:` (its last section), and the schema
    config = snippet("config")
    lines = config.splitlines()
    section = lines[[line.strip().startswith("#") for line in lines].index(True, 1) + 1 :]
    with (project / target(config)).open("a") as file:
        file.write("\n".join(section) + "\n")
    schema = run(project, "-m", "model_name", "config", "schema")
    (project / "containers.schema.json").write_text(schema.stdout)
    # step 4: the test
    test = snippet("test")
    (project / target(test)).write_text(test)


def run(project: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**without_coverage(os.environ), "PYTHONPATH": f"{project / 'src'}{os.pathsep}{project}"}
    for name in [name for name in env if name.startswith(("MODEL_NAME_", "MLFLOW_"))]:
        del env[name]
    env["MLFLOW_DISABLE_TELEMETRY"] = "true"
    result = subprocess.run(
        [sys.executable, *arguments], cwd=project, env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{arguments}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_the_readme_job_is_green_on_the_first_try(tmp_path: Path) -> None:
    # given a copy of the project, and the README's four steps followed as written
    project = tmp_path / "project"
    project.mkdir()
    copy_project(project)
    follow_the_readme(project)

    # when the user runs the new job's test file (coverage on, as `uv run pytest FILE` has it)
    own = run(project, "-m", "pytest", "-n0", "-p", "no:randomly", "tests/jobs/test_report.py")

    # then it passes, with no coverage bound for one file
    assert "1 passed" in own.stdout
    assert "Required test coverage" not in own.stdout
    # and the project's tests that list the jobs, the linter and the command line agree
    listing = run(
        project, "-m", "pytest", "-n0", "--no-cov", "-p", "no:randomly", "-q",
        "tests/test_schema.py", "tests/test_containers.py::test_every_registered_job_has_a_factory",
        "tests/test_cli.py::test_jobs_lists_each_job_with_its_summary",
    )  # fmt: skip
    assert " passed" in listing.stdout and "failed" not in listing.stdout
    run(project, "-m", "ruff", "check", "src/model_name/jobs", "tests/jobs/test_report.py")
    dry_run = run(project, "-m", "model_name", "run", "report", "--dry-run")
    assert "would run job report (ReportJob)" in dry_run.stdout
    shown = run(project, "-m", "model_name", "config", "show", "report")
    assert "sample_size: 500" in shown.stdout


@pytest.mark.slow
def test_the_readme_entry_point_runs_a_job_injected_by_the_wiring(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    # given the README's own entry point as a user's script, in a folder without configuration
    (tmp_path / "nightly.py").write_text(snippet("entrypoint"))

    # when it runs
    result = subprocess.run(
        [sys.executable, "nightly.py"],
        cwd=tmp_path,
        env={**without_coverage(os.environ), "MODEL_NAME_ALERTS__ENABLE": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # then the injected training ran in the container's services, and its run is in the store
    assert result.returncode == 0, result.stdout + result.stderr
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    [run] = client.search_runs(
        [experiment.experiment_id for experiment in client.search_experiments()]
    )
    assert (run.info.run_name, run.info.status) == ("training", "FINISHED")
