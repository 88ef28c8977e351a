"""The password policy: long enough, not a common password, not the user name.

Follows NIST SP 800-63B §5.1.1.2 (memorized secrets): a minimum length, a check against a list of
commonly used or compromised passwords, no composition rules (no "one digit and one symbol") and
no context words such as the user name. The common passwords are the first
:data:`COMMON_PASSWORDS_CHECKED` entries of the ``passwords`` frequency list that ships with the
``zxcvbn`` package (Dropbox's zxcvbn, MIT licence; ranked from leaked password sets).

References
----------
Grassi PA et al. Digital Identity Guidelines: Authentication and Lifecycle Management. NIST
Special Publication 800-63B, 2017, §5.1.1.2. doi:10.6028/NIST.SP.800-63b
"""

from __future__ import annotations

import functools

from glutemed.errors import InputValueError, Problem

__all__ = ["COMMON_PASSWORDS_CHECKED", "MIN_PASSWORD_LENGTH", "check_password"]

#: Shortest password accepted (NIST SP 800-63B: at least 8 characters).
MIN_PASSWORD_LENGTH = 8
#: How many of the most common passwords are refused.
COMMON_PASSWORDS_CHECKED = 10_000
_HINT = "a passphrase of several words is easy to remember and hard to guess"


@functools.cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"][:COMMON_PASSWORDS_CHECKED])


def _folded(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def check_password(password: object, *, username: str = "", field: str = "password") -> str:
    """Return the password if the policy accepts it.

    Raises
    ------
    InputValueError
        Naming ``field``: too short, one of the common passwords, or containing the user name.
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        n = len(password) if isinstance(password, str) else 0
        raise InputValueError(
            "password too short",
            [
                Problem(
                    field, f"at least {MIN_PASSWORD_LENGTH} characters", f"{n} characters", _HINT
                )
            ],
        )
    folded = _folded(password)
    if password.lower() in _common() or folded in _common():
        raise InputValueError(
            "password too common",
            [
                Problem(
                    field, "a password that is not a commonly used one", "a common password", _HINT
                )
            ],
        )
    name = _folded(username)
    if len(name) >= 3 and name in folded:
        raise InputValueError(
            "password contains the user name",
            [Problem(field, "a password without the user name in it", "the user name", _HINT)],
        )
    return password
