"""A real PostgreSQL server for the tests: Debian's `initdb` and `pg_ctl` in a temporary folder.

Started once per session on 127.0.0.1 (a free port) and a Unix socket in its folder, with trust
authentication, and always stopped (`pg_ctl -m fast stop`) and removed after. PostgreSQL refuses
to run as root: as root, its programs run as the `postgres` user on a folder that user owns.
The binaries are not on PATH on Debian: they are found in /usr/lib/postgresql/<version>/bin.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.programs import find_program, require_programs
from tests.helpers.servers import free_port

POSTGRES_USER = "postgres"
START_SECONDS = 60


def postgres_bin() -> Path | None:
    """Return the newest /usr/lib/postgresql/<version>/bin holding `initdb`, or None."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    return found[-1].parent if found else None


@dataclasses.dataclass(frozen=True)
class PostgresServer:
    """A running PostgreSQL server.

    Attributes:
        port: its TCP port on 127.0.0.1.
        socket_dir: the folder of its Unix socket.
        folder: its data and log folder.
    """

    port: int
    socket_dir: Path
    folder: Path

    def url(self, database: str, password: str | None = None) -> str:
        """Return the SQLAlchemy URL of a database (psycopg2), with a password if given.

        The server trusts every local connection: a password is accepted and ignored, which lets
        tests check that it is masked wherever the URL shows.
        """
        secret = f":{password}" if password else ""
        return f"postgresql://{POSTGRES_USER}{secret}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str) -> str:
        """Create a database with a unique name starting with `prefix`; return its name."""
        import psycopg2

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user=POSTGRES_USER)
        try:
            connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{name}"')
        finally:
            connection.close()
        return name


def _as_postgres(command: list[str]) -> list[str]:
    """Run a PostgreSQL program as the `postgres` user when we are root (it refuses root)."""
    runuser = find_program("runuser") or "runuser"  # util-linux, in /usr/sbin
    return [runuser, "-u", POSTGRES_USER, "--", *command] if os.geteuid() == 0 else command


def start_postgres(bin_dir: Path) -> PostgresServer:
    """Initialise a cluster in a new temporary folder and start it; the caller stops it.

    Raises:
        subprocess.CalledProcessError: `initdb` or `pg_ctl` failed (the folder is removed).
    """
    folder = Path(tempfile.mkdtemp(prefix="model_name-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, POSTGRES_USER, POSTGRES_USER)
    port = free_port()
    data = folder / "data"
    try:
        subprocess.run(
            _as_postgres([str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U",
                          POSTGRES_USER, "--no-sync", "-E", "UTF8"]),
            check=True, capture_output=True, timeout=START_SECONDS,
        )  # fmt: skip
        options = f"-k {folder} -h 127.0.0.1 -p {port} -c fsync=off -c max_connections=200"
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(data), "-l",
                          str(folder / "server.log"), "-o", options, "-w", "start"]),
            check=True, capture_output=True, timeout=START_SECONDS,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return PostgresServer(port=port, socket_dir=folder, folder=folder)


def stop_postgres(bin_dir: Path, server: PostgresServer) -> None:
    """Stop the server (fast mode: sessions are cut) and remove its folder."""
    try:
        subprocess.run(
            _as_postgres([str(bin_dir / "pg_ctl"), "-D", str(server.folder / "data"),
                          "-m", "fast", "-w", "stop"]),
            check=False, capture_output=True, timeout=START_SECONDS,
        )  # fmt: skip
    finally:
        shutil.rmtree(server.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session; tests create their own databases on it.

    Skips (fails under CI) without Debian's `postgresql` package.
    """
    bin_dir = postgres_bin()
    programs = ["initdb", "pg_ctl"] if bin_dir is None else [str(bin_dir / "initdb")]
    if os.geteuid() == 0:
        programs.append("runuser")
    require_programs(*programs)
    assert bin_dir is not None
    server = start_postgres(bin_dir)
    try:
        yield server
    finally:
        stop_postgres(bin_dir, server)
