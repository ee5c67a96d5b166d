"""The study storage service: where Optuna keeps the studies that tuning workers share.

Optuna is imported inside the methods that need it: importing this module stays cheap, and a job
that never opens a study never imports Optuna nor creates the journal file.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pydantic as pdt

from model_name.errors import ModelNotFoundError, ServiceError
from model_name.io.services.base import Service
from model_name.io.services.logger import LoggerService
from model_name.redaction import mask_url
from model_name.settings import StudySettings

if TYPE_CHECKING:
    import optuna


CREATE_ATTEMPTS = 4
"""How many times a worker tries to set up a database storage that other workers set up too."""


class StudyService(Service, StudySettings):
    """Open Optuna studies on the configured storage: a journal file, or a shared database.

    `start()` connects to a database URL and creates Optuna's tables there (so a wrong or
    unreachable URL fails before any job starts, in one line, its password masked); a journal
    file is opened on first use. With a database, running trials send Optuna's heartbeat every
    `heartbeat_seconds`; a trial whose worker died (no heartbeat for `grace_period_seconds`) is
    failed by the next worker that starts a trial, and run again up to `retries` times (the
    tuning job does the same for a journal file, with a heartbeat of its own).
    `stop()` closes the database connections.

    Attributes:
        logger_service: where the storage says what it does.

    Example:
        with StudyService(storage="tmp/optuna.journal") as service:
            study = service.open_study("demo", direction="minimize")
    """

    logger_service: LoggerService = pdt.Field(
        default_factory=LoggerService, exclude=True, repr=False
    )

    _storage: Any = pdt.PrivateAttr(default=None)

    def start(self) -> None:
        """Connect to a database storage (journal files open on first use).

        Raises:
            ServiceError: the database cannot be reached or used; the message masks its password.
        """
        if self._running:
            return
        if self.is_database():
            self._storage = self._connect()
        self._running = True
        self.logger_service.logger().debug("Study storage {} ready", self.location())

    def stop(self) -> None:
        """Close the database connections; does nothing when not running."""
        if not self._running:
            return
        self._running = False
        storage, self._storage = self._storage, None
        engine = getattr(storage, "engine", None)
        if engine is not None:
            storage.remove_session()
            engine.dispose()

    def location(self) -> str:
        """Return the storage as it may be shown: the URL with its password masked."""
        return mask_url(self.storage)

    def backend(self) -> optuna.storages.BaseStorage:
        """Return Optuna's storage object (the journal file is opened here on first use).

        Raises:
            RuntimeError: the service is not started.
        """
        if not self._running:
            raise RuntimeError("StudyService is not started: start it before opening studies")
        if self._storage is None:
            from optuna.storages import JournalStorage
            from optuna.storages.journal import JournalFileBackend

            path = Path(self.storage)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Optuna's advice for several processes on one machine: a journal file, appended
            # under a lock (a symlink next to it), instead of SQLite and its lock errors.
            self._storage = JournalStorage(JournalFileBackend(str(path)))
        storage: optuna.storages.BaseStorage = self._storage
        return storage

    def open_study(
        self,
        name: str,
        direction: Literal["minimize", "maximize"],
        sampler: optuna.samplers.BaseSampler | None = None,
    ) -> optuna.Study:
        """Return the study called `name`, created when missing (several workers may race).

        Args:
            name: the study's name in the storage.
            direction: `minimize` or `maximize`.
            sampler: how trials pick their parameters; Optuna's default (TPE) when None.
        """
        import optuna

        return optuna.create_study(
            study_name=name,
            storage=self.backend(),
            sampler=sampler,
            direction=direction,
            load_if_exists=True,
        )

    def load_study(self, name: str) -> optuna.Study:
        """Return an existing study.

        Raises:
            ModelNotFoundError: no study has that name; the message lists those that exist.
        """
        import optuna

        storage = self.backend()
        names = [summary.study_name for summary in optuna.get_all_study_summaries(storage)]
        if name not in names:
            known = ", ".join(sorted(names)) or "none"
            raise ModelNotFoundError(
                f"no study {name!r} in {self.location()} (studies: {known}); "
                "run the tuning job first"
            )
        return optuna.load_study(study_name=name, storage=storage)

    def _connect(self) -> Any:
        import warnings

        from optuna.exceptions import ExperimentalWarning
        from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

        engine_kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.storage.startswith("postgresql"):
            engine_kwargs["connect_args"] = {"connect_timeout": self.connect_timeout_seconds}
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                with warnings.catch_warnings():  # heartbeats are "experimental" since Optuna 2.8
                    warnings.simplefilter("ignore", ExperimentalWarning)
                    return RDBStorage(
                        database_url(self.storage),
                        engine_kwargs=engine_kwargs,
                        heartbeat_interval=self.heartbeat_seconds,
                        grace_period=self.grace_period_seconds,
                        heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(
                            max_retry=self.retries
                        ),
                    )
            except Exception as error:
                # Workers started together on an empty database all create Optuna's tables;
                # the losers get a duplicate-key error, and find the tables made on a retry.
                racing = type(error).__name__ in {"IntegrityError", "ProgrammingError"}
                if racing and attempt < CREATE_ATTEMPTS:
                    time.sleep(0.5 * attempt)
                    continue
                text = str(error).strip()
                reason = mask_url(text.splitlines()[0] if text else "")
                raise ServiceError(
                    f"study storage {self.location()} cannot be used: "
                    f"{type(error).__name__}: {reason}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def database_url(url: str) -> str:
    """Return a database URL with the PostgreSQL driver that is installed, when it names none.

    SQLAlchemy 2.1 reads `postgresql://` as psycopg 3; this project installs psycopg2.

    Example:
        >>> database_url("postgresql://optuna@db/optuna")
        'postgresql+psycopg2://optuna@db/optuna'
    """
    import importlib.util

    scheme, separator, rest = url.partition("://")
    if scheme in {"postgresql", "postgres"} and importlib.util.find_spec("psycopg") is None:
        return f"postgresql+psycopg2{separator}{rest}"
    return url
