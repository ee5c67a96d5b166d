"""What the command line writes for a person: its name, and its error lines, secrets masked.

Every error line of every command takes `say_error`: MLflow's messages quote URLs, credentials
included, so each line is masked on its way out.
"""

from __future__ import annotations

import sys

PROG = "model_name"
"""The command's name, which starts every line it writes for a person."""


def say_error(message: str) -> None:
    r"""Write `model_name: error: ...` on standard error, one line per line of the message, masked.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     say_error("no such job")
        >>> err.getvalue()
        'model_name: error: no such job\n'
    """
    from model_name.redaction import mask_secrets_in_text

    for line in mask_secrets_in_text(message).splitlines():
        print(f"{PROG}: error: {line}", file=sys.stderr)
