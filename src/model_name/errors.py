"""Every error model_name raises on purpose, under one base class, and the exit code of each.

The tree:

    ModelNameError                  an error model_name raises and explains in one line
    ├── UsageError                  exit 2: a bad command line
    │   └── ConfigurationError      exit 2: a bad configuration file, variable, flag or value
    ├── ServiceError                exit 1: a service could not start, stop or reach its store
    │   └── StoreFullError          exit 1: a disk is full: a tracking store, the outbox or
    │                               an artifact cannot grow (the file and what to do)
    ├── ModelNotFoundError          exit 1: no such registered model, version or alias
    └── JobError                    exit 1: a job refused to go on (data too small, a failed
        │                           check); its message is the one line the user sees
        ├── GateFailedError         exit 1: a model version failed its evaluation gate
        └── ContractViolation       exit 1: a table breaks its data contract (the file, the
                                    column, the check, the rows); `.report` holds all of it

    Terminated                      SIGTERM, raised in the main thread: exit 143

`Terminated` is a `KeyboardInterrupt`, not a `ModelNameError`: like Ctrl-C, it must unwind through
every `except Exception` of the job and its libraries, and end the run KILLED.

The command line prints `model_name: error: <message>` and exits with the error's `exit_code`;
any other exception raised by a job exits 1 with its type and message.

Example:
    >>> error = ConfigurationError("unknown key logger.levle (from --set logger.levle)")
    >>> isinstance(error, ModelNameError), error.exit_code
    (True, 2)
"""

from __future__ import annotations

from typing import Any, ClassVar

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class ModelNameError(Exception):
    """The base of every error model_name raises on purpose; its message is one clear line.

    Attributes:
        exit_code: the command line's exit code for this kind of error.
    """

    exit_code: ClassVar[int] = EXIT_FAILED


class UsageError(ModelNameError):
    """A bad command line: an unknown job, a malformed flag."""

    exit_code: ClassVar[int] = EXIT_USAGE


class ConfigurationError(UsageError, ValueError):
    """A configuration value or file is wrong; the message says what, where and how to fix it."""


class ServiceError(ModelNameError):
    """A service could not start, stop, or reach what it needs (a store, a server)."""


class StoreFullError(ServiceError):
    """A disk is full: the tracking store, its outbox or an artifact file cannot grow.

    Raised, from the operating system's or SQLite's error, where that error is caught
    (`model_name.tracking.stores.store_full`); its message names the file and what to do.
    """


class ModelNotFoundError(ModelNameError, LookupError):
    """The registry has no such model, version or alias; the message lists what exists."""


class JobError(ModelNameError):
    """A job refused to go on: its inputs or results break one of its rules."""


class GateFailedError(JobError):
    """A model version failed a check of its evaluation gate (`r2 0.31 < 0.40`)."""


class ContractViolation(JobError):  # noqa: N818  (the name says what it is: no Error suffix)
    """A table breaks its data contract: one line naming the first failure, the whole report kept.

    Attributes:
        report: every failed check (JSON-able): the source, the column, the check, how many rows
            fail, the first row numbers and values (`model_name.contracts.checks`).
    """

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:  # picklable (a Dask task's error) with its report
        return (type(self), (str(self), self.report))


class Terminated(KeyboardInterrupt):
    """The process was asked to stop (SIGTERM): unwinds like Ctrl-C, and ends the run KILLED."""


def exit_code(error: BaseException) -> int:
    """Return the command line's exit code for an error that ended a command.

    Example:
        >>> exit_code(Terminated()), exit_code(KeyboardInterrupt()), exit_code(RuntimeError())
        (143, 130, 1)
    """
    if isinstance(error, Terminated):
        return EXIT_TERMINATED
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, ModelNameError):
        return error.exit_code
    return EXIT_FAILED


def one_line(error: BaseException) -> str:
    r"""Say what an exception is in one line, line breaks collapsed.

    An error of model_name's own is its message alone: it was written for the user. Any other
    is its type and its message. SQLAlchemy's messages end with the failed statement
    (`[SQL: INSERT ...]`) and its parameters: they stay in the log, not in the line.

    Example:
        >>> one_line(ValueError("bad\n  input")), one_line(JobError("no data"))
        ('ValueError: bad input', 'no data')
    """
    message = " ".join(str(error).split("[SQL:", 1)[0].split())
    if isinstance(error, ModelNameError) and message:
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
