"""What is a secret, and how it is kept out of every output: URIs' user-info, known values.

Settings named like secrets (`tracking_password`) are `SecretStr` and masked by pydantic; a secret
can also hide inside any URI-shaped setting (`http://user:PASSWORD@host`, `postgresql://user:
PASSWORD@db/mlflow`, storage and channel URLs), and then reach the console through an exception's
text (MLflow quotes the URL it failed to reach). This module is the one rule for both:

- `is_secret_key` says which settings hold secrets, by their key path: their values are read as
  plain text, never quoted in an error, masked wherever a command line is recorded;
- `mask_url` masks the user-info of URIs in a text, wherever they are;
- `mask_secrets_in_text` also replaces each known secret value (and its URL-quoted form);
- `remember_secrets` / `known_secrets` keep the process's secret values, read from the
  configuration and MLflow's credential variables, so that every exit point (the command line's
  error lines, the log sinks, the recorded command and configuration) masks them without being
  handed them;
- `MaskingSink` is a loguru sink that masks each formatted message before it reaches its target.

Example:
    >>> mask_url("http://alice:pa55@mlflow.example.com:5000/api")
    'http://alice:**********@mlflow.example.com:5000/api'
    >>> mask_secrets_in_text("token pa55 refused", {"pa55"})
    'token ********** refused'
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

MASK = "**********"
"""What a secret is replaced with (the same text pydantic shows for a `SecretStr`)."""

MIN_SECRET_CHARS = 4
"""Shorter values are not masked in free text: masking `a` would garble every message."""

SECRET_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
"""MLflow's own credential variables: secrets even though no setting holds them."""

# A scheme, `://`, then either `user:password@` or a bare `token@`. The password runs up to the
# last `@` before whitespace or a quote: it may hold an unescaped `@` or `/` (S3 secret keys do),
# and masking a little too much beats leaving half a password. A bare token (no colon) stops at
# the authority's end (`/`), so `http://host/path@x` is left alone.
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)"
    r"(?:(?P<user>[^\s/?#@:'\"<>]*):(?P<password>[^\s'\"<>]*)|(?P<token>[^\s/?#@:'\"<>]+))@"
)

SECRET_KEY = re.compile(r"(password|passwd|token|secret|credential|api_?key)", re.IGNORECASE)
"""What the last part of a secret setting's key path says (`tracking_token`, a job's `api_key`)."""

SECRET_PATHS = frozenset({("alerts", "channels")})
"""Whole key paths that hold secrets though their name does not say so: notification URLs embed
tokens and passwords."""

_lock = threading.Lock()
_secrets: set[str] = set()


def is_secret_key(path: str | tuple[str, ...]) -> bool:
    """Say whether a setting holds a secret, by its key path (`mlflow.tracking_token`).

    A secret's value is taken as plain text, never parsed as YAML, never quoted in an error
    message, and masked wherever a command line is recorded.

    Example:
        >>> is_secret_key("mlflow.tracking_token"), is_secret_key(("secrets", "url"))
        (True, False)
    """
    parts = path.split(".") if isinstance(path, str) else path
    if tuple(parts) in SECRET_PATHS:
        return True
    return bool(parts) and SECRET_KEY.search(parts[-1]) is not None


def mask_url(text: str) -> str:
    """Mask the credentials in the user-info of every URI in a text.

    `user:password@` keeps the user and masks the password; a user-info without a colon
    (`https://TOKEN@host`) is often a token, and is masked whole.

    Example:
        >>> mask_url("postgresql://mlflow:pw@db:5432/mlflow and https://ghp_x@github.com")
        'postgresql://mlflow:**********@db:5432/mlflow and https://**********@github.com'
        >>> mask_url("sqlite:///mlflow.db")
        'sqlite:///mlflow.db'
    """

    def replace(match: re.Match[str]) -> str:
        user = match.group("user")
        masked = MASK if user is None else f"{user}:{MASK}"
        return f"{match.group('scheme')}{masked}@"

    return _USERINFO.sub(replace, text) if "://" in text else text


def url_password(text: str) -> str | None:
    """Return the password in a URI's user-info (`user:password@`), decoded; None without one.

    Example:
        >>> url_password("http://alice:p%40ss@host"), url_password("sqlite:///mlflow.db")
        ('p@ss', None)
    """
    match = _USERINFO.search(text)
    if match is None:
        return None
    if match.group("user") is None:
        # a bare user-info is masked inside URIs, but not remembered as a secret: it is often
        # just a user name (`postgresql://postgres@db`), and masking it in every text would
        # garble them ("**********ql://")
        return None
    return urllib.parse.unquote(match.group("password")) or None


def mask_secrets_in_text(text: str, secrets: Iterable[str] | None = None) -> str:
    """Mask URIs' user-info and every given secret value in a text.

    Args:
        text: any text bound for an output: an error line, a log message, a tag.
        secrets: the secret values to mask; None means those remembered (`known_secrets`).

    Example:
        >>> mask_secrets_in_text("login as bob with hunter22", ["hunter22"])
        'login as bob with **********'
    """
    values = known_secrets() if secrets is None else secrets
    for secret in sorted(set(values), key=len, reverse=True):  # longest first: no partial leftovers
        if len(secret) < MIN_SECRET_CHARS:
            continue
        for form in {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)}:
            text = text.replace(form, MASK)
    return mask_url(text)


def secrets_in(value: Any) -> set[str]:
    """Return the secret values held in settings: `SecretStr` values and URIs' passwords.

    Args:
        value: a pydantic model, a mapping, a sequence, or a plain value.
    """
    import pydantic as pdt

    found: set[str] = set()
    if isinstance(value, pdt.BaseModel):
        value = dict(value)
    if isinstance(value, pdt.SecretStr):
        found.add(value.get_secret_value())
    elif isinstance(value, str):
        if (password := url_password(value)) is not None:
            found.add(password)
    elif isinstance(value, Mapping):
        for item in value.values():
            found |= secrets_in(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            found |= secrets_in(item)
    return {secret for secret in found if secret}


def remember_secrets(values: Iterable[str]) -> None:
    """Add secret values to those every exit point masks, for the life of the process."""
    with _lock:
        _secrets.update(value for value in values if value)


def forget_secrets() -> None:
    """Forget the remembered secret values (a test, or a process that runs several commands)."""
    with _lock:
        _secrets.clear()


def known_secrets() -> frozenset[str]:
    """Return the secret values remembered, plus MLflow's credential variables' current values."""
    import os

    current = {os.environ.get(name, "") for name in SECRET_VARIABLES}
    with _lock:
        return frozenset(_secrets | {value for value in current if value})


class MaskingSink:
    """A loguru sink that masks secrets in each formatted message, then writes it to a target.

    The message loguru hands a sink is the whole formatted record, exception and traceback
    included, so a secret quoted by an exception is masked too.

    Args:
        target: a text stream (`sys.stderr`), or a file path (appended to, folder created).
    """

    def __init__(self, target: IO[str] | Path) -> None:
        self._owned = isinstance(target, Path)
        if isinstance(target, Path):
            target.parent.mkdir(parents=True, exist_ok=True)
            self._stream: IO[str] = target.open("a", encoding="utf-8")
        else:
            self._stream = target

    def write(self, message: str) -> None:
        """Write one formatted message, secrets masked, and flush it."""
        self._stream.write(mask_secrets_in_text(message))
        self._stream.flush()

    def isatty(self) -> bool:
        """Say whether the target is a terminal: loguru colours only terminals by default."""
        return not self._owned and bool(getattr(self._stream, "isatty", lambda: False)())

    def stop(self) -> None:
        """Close the file this sink opened (loguru calls it when the handler is removed)."""
        if self._owned and not self._stream.closed:
            self._stream.close()


class MaskingStream:
    """A text stream that masks secrets in what is written, then passes it to the stream it wraps.

    Libraries print straight to `sys.stdout` (MLflow prints the run's URL, tracking credentials
    included, when a run ends); `masked_output` puts these in place of `sys.stdout` and
    `sys.stderr` for a command. Everything but `write` is the wrapped stream's.

    Args:
        stream: the stream to write to.
    """

    def __init__(self, stream: IO[str]) -> None:
        self.wrapped = stream

    def write(self, text: str) -> int:
        """Write a text, secrets masked; return the length of the text given (as `write` does)."""
        self.wrapped.write(mask_secrets_in_text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        """Write each line, secrets masked."""
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


@contextlib.contextmanager
def masked_output() -> Iterator[None]:
    """Mask secrets in everything written to `sys.stdout` and `sys.stderr` during the block."""
    saved = sys.stdout, sys.stderr
    sys.stdout = MaskingStream(saved[0])
    sys.stderr = MaskingStream(saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved
