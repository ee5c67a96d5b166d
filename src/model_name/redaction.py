"""Hide the credentials a URL may embed (`postgresql://user:PASSWORD@host/db`) in any text.

A storage or store URL is configuration a user wants to see, but the password in its user-info
part is a secret: whatever shows or logs such a URL (`config show`, the log, run tags, params,
the recorded command line, error messages) passes it through `mask_url` first.

Example:
    >>> mask_url("could not reach postgresql://optuna:s3cr3t@db:5432/optuna")
    'could not reach postgresql://optuna:**********@db:5432/optuna'
"""

from __future__ import annotations

import re

URL_MASK = "**********"
"""What replaces the password of a URL (the mask of every other secret)."""

_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^\s:/?#@]*):(?P<password>[^\s/?#@]*)@"
)
"""A URL's `scheme://user:password@`: the password is whatever sits between `:` and `@`."""


def mask_url(text: str) -> str:
    """Return the text with the password of every URL in it replaced by a mask.

    The user name stays (it is not a secret and says who connects); a URL without a password
    is unchanged.

    Args:
        text: any text: one URL, a message quoting URLs, a command line.

    Example:
        >>> mask_url("sqlite:///optuna.db"), mask_url("redis://:token@cache:6379/0")
        ('sqlite:///optuna.db', 'redis://:**********@cache:6379/0')
    """
    return _USERINFO.sub(lambda match: f"{match['scheme']}{match['user']}:{URL_MASK}@", text)
