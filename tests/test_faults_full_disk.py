"""The fault matrix: a full disk, on a small tmpfs the test mounts (and always unmounts).

A disk full while the store is created, while a run writes to its store, and while a training
writes its artifacts: one line saying the disk is full and where, no SQL on the console, the
store intact, and the next run working once space is back.

A job runs in this process (`run_here`, as `model_name run` runs it) unless the disk must fill up
while it runs: then it is a real process, started on a copy of the migrated store where the
store's creation is not the case.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from model_name.cli import main
from tests.helpers.disks import fill, resize, small_disk
from tests.helpers.faults import JOB_SECONDS, assert_one_line_error, runs
from tests.helpers.jobs import check_command, job_command
from tests.helpers.servers import without_coverage


def run_here(
    folder: Path, log: Path, capsys: pytest.CaptureFixture[str], *flags: str, job: str = "check"
) -> tuple[int, str]:
    """`model_name run JOB` in this process, in a folder (its default store `mlflow.db` there),
    its log elsewhere at DEBUG; return its exit code and what it wrote on stderr.

    A store MLflow opens in this process is given by its full path: MLflow keeps each store it
    opened for the process, by its URI, and the default `sqlite:///mlflow.db` is another folder's
    in every test.
    """
    capsys.readouterr()  # only this job's output
    with contextlib.chdir(folder):
        code = main(job_command(job, log, *flags)[3:])
    return code, capsys.readouterr().err


def assert_no_sql(err: str) -> None:
    assert "[SQL" not in err and "INSERT" not in err and "UPDATE" not in err, err


def intact(store: Path) -> bool:
    with sqlite3.connect(store) as connection:
        return connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.slow
def test_a_disk_full_while_the_store_is_created_says_so_and_the_next_run_works(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(isolated / "disk", "300k") as disk:  # a new store needs about 1 MB
        # when a first run creates its store on a disk too small for it
        code, err = run_here(disk, isolated / "job.log", capsys)

        # then one line says the disk is full and where; nothing half-made is left
        assert code == 1, err
        assert_one_line_error(
            err,
            f"the disk is full: cannot create the tracking store mlflow.db; free space in {disk}",
        )
        assert_no_sql(err)
        assert sorted(path.name for path in disk.iterdir()) == ["mlflow.db.lock"]

        # and once space is back, the next run works
        resize(disk, "20m")
        store = f"mlflow.tracking_uri=sqlite:///{disk / 'mlflow.db'}"
        again, err = run_here(disk, isolated / "job2.log", capsys, "--set", store)
        assert again == 0, err
        assert intact(disk / "mlflow.db")


@pytest.mark.slow
def test_a_disk_full_during_a_run_says_so_keeps_the_store_intact_and_the_next_run_works(
    isolated: Path, mlflow_store_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(isolated / "disk", "4m") as disk:
        # given a run writing a heartbeat a second to its store (made before: its creation is
        # the case above)
        shutil.copyfile(mlflow_store_template, disk / "mlflow.db")
        log = isolated / "job.log"
        argv = check_command(
            log, "--set", "jobs.check.hold_seconds=60", "--set", "mlflow.metrics_flush_size=1"
        )
        process = subprocess.Popen(
            argv, cwd=disk, env=without_coverage(os.environ), stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + JOB_SECONDS
        while not (log.exists() and "Check run" in log.read_text()):
            assert time.monotonic() < deadline and process.poll() is None, "the run never opened"
            time.sleep(0.1)

        # when the disk fills up
        filler = fill(disk)
        _, err = process.communicate(timeout=JOB_SECONDS)

        # then the job fails in one line saying the disk is full and where, without SQL
        assert process.returncode == 1, err
        assert_one_line_error(
            err,
            f"job check failed: the disk is full: the tracking store mlflow.db cannot grow; free space in {disk}",
        )
        assert_no_sql(err)
        # and the store is intact; the run ended FAILED, or, when the store could not even take
        # that update, stays RUNNING (what SQLite refused is in the log)
        store = f"sqlite:///{disk / 'mlflow.db'}"
        assert intact(disk / "mlflow.db")
        (run,) = runs(store)
        assert run.info.status in ("FAILED", "RUNNING")

        # and once space is back, the next run works, and no run is left RUNNING: the next
        # start reaps a run its dead process could not end
        filler.unlink()
        again, err = run_here(
            disk, isolated / "job2.log", capsys, "--set", f"mlflow.tracking_uri={store}"
        )
        assert again == 0, err
        assert intact(disk / "mlflow.db")
        statuses = {found.info.run_id: found.info.status for found in runs(store)}
        assert statuses.pop(run.info.run_id) in ("FAILED", "KILLED")
        assert list(statuses.values()) == ["FINISHED"]


@pytest.mark.slow
def test_a_disk_full_for_a_trainings_artifacts_fails_its_run_in_one_line(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(isolated / "disk", "64k") as disk:
        # given a store and an outbox with room, and artifacts (./mlruns) on a full disk
        fill(disk)

        # when a training runs
        code, err = run_here(
            disk, isolated / "job.log", capsys,
            "--set", f"mlflow.tracking_uri={tracking_uri}",
            "--set", f"mlflow.outbox_dir={isolated / 'outbox'}",
            job="training",
        )  # fmt: skip

        # then one line says the disk is full and which file; the run is FAILED; no model
        assert code == 1, err
        assert_one_line_error(
            err,
            "job training failed: the disk is full: no space left (OSError: No space left on device)",
        )
        (run,) = runs(tracking_uri)
        assert run.info.status == "FAILED"
        assert intact(Path(tracking_uri.removeprefix("sqlite:///")))


@pytest.mark.slow
def test_an_outbox_on_a_full_disk_stops_the_job_before_it_starts(
    isolated: Path, tracking_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(isolated / "disk", "64k") as disk:
        # given the outbox's default folder (./.model_name/outbox) on a full disk
        fill(disk)

        # when a job runs there
        code, err = run_here(
            disk, isolated / "job.log", capsys, "--set", f"mlflow.tracking_uri={tracking_uri}"
        )

        # then one line names the outbox and what to do; no run was opened
        assert code == 1, err
        assert_one_line_error(
            err,
            "job check failed: a service could not start: the disk is full: cannot create the "
            f"tracking outbox {disk / '.model_name' / 'outbox' / 'outbox.db'}",
        )
        assert_no_sql(err)
        assert runs(tracking_uri) == []


@pytest.mark.slow
def test_a_training_whose_disk_fills_up_mid_run_keeps_its_run(
    isolated: Path, mlflow_store_template: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(isolated / "disk", "3m") as disk:
        # given a training with its store, outbox and artifacts on one disk, under way
        shutil.copyfile(mlflow_store_template, disk / "mlflow.db")
        log = isolated / "job.log"
        process = subprocess.Popen(
            job_command("training", log), cwd=disk, env=without_coverage(os.environ),
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + JOB_SECONDS
        while not (log.exists() and "Training " in log.read_text()):
            assert time.monotonic() < deadline and process.poll() is None, "training never began"
            time.sleep(0.05)

        # when the disk fills up
        filler = fill(disk)
        _, err = process.communicate(timeout=JOB_SECONDS)

        # then the job fails in one line saying the disk is full, and the store keeps its run:
        # FAILED, or RUNNING when the store could not even take that update
        assert process.returncode == 1, err
        assert_one_line_error(err, "job training failed: the disk is full")
        store = f"sqlite:///{disk / 'mlflow.db'}"
        (run,) = runs(store)
        assert (run.info.run_name, run.info.status) in (
            ("training", "FAILED"),
            ("training", "RUNNING"),
        )

        # and once space is back, the next job ends a RUNNING one KILLED (its process is gone)
        filler.unlink()
        again, err = run_here(
            disk, isolated / "job2.log", capsys, "--set", f"mlflow.tracking_uri={store}"
        )
        assert again == 0, err
        statuses = {found.info.run_name: found.info.status for found in runs(store)}
        assert statuses == {"training": statuses["training"], "check": "FINISHED"}
        assert statuses["training"] in ("FAILED", "KILLED")
