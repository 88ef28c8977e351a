"""Session cookies and CSRF tokens.

* The session cookie holds a random 256-bit token; the database stores only
  ``HMAC-SHA256(secret_key, token)``, so a copy of the database cannot be replayed as cookies
  and changing the secret key logs everybody out.
* CSRF (synchroniser token): every form carries ``csrf_token`` and every htmx or JSON request
  sends the header ``X-CSRF-Token``; the token is ``HMAC(secret_key, "csrf" | session id)``.
  Before login, the login form uses a double-submit token bound to a random pre-login cookie.
* Cookies are ``HttpOnly``, ``SameSite=Lax`` and ``Secure`` unless configured otherwise.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "PRELOGIN_COOKIE",
    "SESSION_COOKIE",
    "csrf_token_for_session",
    "login_csrf_token",
    "new_token",
    "session_id_for_token",
    "tokens_equal",
]

SESSION_COOKIE = "glutemed_session"
PRELOGIN_COOKIE = "glutemed_prelogin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


def new_token() -> str:
    """Return a new random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def _mac(secret_key: str, purpose: str, value: str) -> str:
    return hmac.new(
        secret_key.encode("utf-8"), f"{purpose}|{value}".encode(), hashlib.sha256
    ).hexdigest()


def session_id_for_token(secret_key: str, token: str) -> str:
    """Return the database id of the session whose cookie holds ``token``."""
    return _mac(secret_key, "session", token)


def csrf_token_for_session(secret_key: str, session_id: str) -> str:
    """Return the CSRF token of a logged-in session."""
    return _mac(secret_key, "csrf", session_id)


def login_csrf_token(secret_key: str, prelogin_token: str) -> str:
    """Return the CSRF token of the login form for a pre-login cookie value."""
    return _mac(secret_key, "login-csrf", prelogin_token)


def tokens_equal(a: str | None, b: str | None) -> bool:
    """Compare two tokens in constant time (False if either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
