"""Settings of the web app, from arguments or ``GLUTEMED_*`` environment variables.

Outside development the settings refuse a missing, short or well-known secret key: the key
signs nothing a user could forge only if nobody else knows it. ``glutemed serve`` (see
:func:`glutemed.server.run`) generates a random key on first start and keeps it, readable only by
the user, next to the embedded database, unless ``GLUTEMED_SECRET_KEY`` is set.

Environment variables
---------------------
``GLUTEMED_ENV``                 ``production`` (default), ``development`` or ``test``
``GLUTEMED_DATABASE_URL``        default: SQLite in the per-user data directory
``GLUTEMED_SECRET_KEY``          at least 32 random characters (required outside development)
``GLUTEMED_COOKIE_SECURE``       ``1``/``0``: send cookies over HTTPS only (default 1)
``GLUTEMED_SESSION_TTL_S``       login session lifetime in seconds (default 43200 = 12 h)
``GLUTEMED_LOGIN_MAX_FAILURES``  wrong passwords before throttling (default 5)
``GLUTEMED_LOGIN_WINDOW_S``      throttling window in seconds (default 900)
``GLUTEMED_MAX_UPLOAD_BYTES``    largest movement file accepted (default 50 MB)
``GLUTEMED_MAX_BODY_BYTES``      largest JSON or form request body (default 1 MB)
``GLUTEMED_MAX_FHIR_BYTES``      largest FHIR Bundle or CDS Hooks request (default 4 MB)
``GLUTEMED_AUTO_MIGRATE``        ``1``/``0``: migrate the database at start-up (default 1)
``GLUTEMED_KB_FOLDER``           a knowledge-base folder (default: the bundled one)
``GLUTEMED_TRUSTED_PROXIES``     addresses or networks of reverse proxies whose X-Forwarded-For
                                 and X-Forwarded-Proto are believed, e.g. ``10.0.0.5,10.1.0.0/16``
                                 (default: none, not even 127.0.0.1)
``GLUTEMED_PUBLIC_BASE_URL``     the app's public URL, e.g. ``https://glutemed.example.org``
                                 (card links and the ``aud`` of CDS client tokens; default: the
                                 URL of the request)
``GLUTEMED_CDS_ISSUERS``         trusted CDS clients: a JSON file path, or the JSON itself, of
                                 ``{"<iss>": {"keys": [<public JWK>, ...]}, ...}``
``GLUTEMED_CDS_REQUIRE_AUTH``    ``1``/``0``: CDS service calls need a signed bearer JWT
                                 (default 1, except in development)
``GLUTEMED_CDS_DEFAULT_SETTING`` care setting of CDS patients whose data carry none
                                 (``primary_care``)
``GLUTEMED_LETTERHEAD``          lines under the clinic name on letters (address, telephone,
                                 e-mail), separated by ``|`` or new lines
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from glutemed._checks import check_option, short_repr
from glutemed.errors import InputValueError, Problem

__all__ = ["ENVIRONMENTS", "WEAK_SECRET_KEYS", "Settings"]

ENVIRONMENTS = ("production", "development", "test")
MIN_SECRET_KEY_LENGTH = 32
#: Keys seen in examples and templates: refused outside development, whatever their length.
WEAK_SECRET_KEYS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "secret-key",
        "secret_key",
        "development",
        "dev",
        "test",
        "glutemed",
        "insecure",
        "default",
        "please-change-me",
        "changethis",
        "your-secret-key",
    }
)

_ENV = "GLUTEMED_"


def _flag(name: str, value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InputValueError(
        f"invalid {name}", [Problem(name, "1/0, true/false, yes/no or on/off", short_repr(value))]
    )


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputValueError(
            f"invalid {name}", [Problem(name, "a whole number", short_repr(value))]
        ) from None


@dataclass(frozen=True)
class Settings:
    """Configuration of one app instance.

    Parameters
    ----------
    database_url
        SQLAlchemy URL; ``""`` means the embedded SQLite database in the per-user data directory.
    secret_key
        Keys the session-cookie hashes and CSRF tokens. Required (>= 32 characters, not a
        well-known value) unless ``environment`` is ``development``.
    environment
        ``production``, ``development`` (a random key is generated if none is given; cookies may
        travel over plain HTTP) or ``test``.
    cookie_secure
        Mark cookies ``Secure`` (HTTPS only). ``glutemed serve`` turns it off when it listens on
        a loopback address only.
    session_ttl_s
        Lifetime of a login session.
    login_max_failures, login_window_s
        Throttle: this many wrong passwords within the window lock the account for the rest of
        the window.
    max_upload_bytes
        Largest movement file accepted.
    max_body_bytes
        Largest JSON or form request body (checked while it streams in; 413 beyond).
    max_fhir_bytes
        Largest request body of ``POST /fhir`` and the CDS Hooks services.
    auto_migrate
        Migrate the database to the newest schema when the app starts.
    kb_folder
        A knowledge-base folder to use instead of the bundled one.
    trusted_proxies
        Comma-separated IP addresses or networks of the reverse proxies in front of the app.
        Only requests from them may set the client address (``X-Forwarded-For``, used by the
        login throttle) and the scheme (``X-Forwarded-Proto``). Empty: no forwarded header is
        believed.
    public_base_url
        The app's public base URL (behind a proxy). CDS cards link to it and a CDS client's
        token must be addressed (``aud``) to ``{public_base_url}/cds-services/{id}``; default:
        the base URL of each request.
    cds_issuers
        Trusted CDS clients (issuer -> JWK Set of public keys): a path to a JSON file or the
        JSON text ``{"https://ehr.example.org": {"keys": [...]}}``.
    cds_require_auth
        Require a signed bearer JWT from a configured issuer on CDS service calls. ``None``
        (default) means on, except in development.
    cds_default_setting
        Care setting for the priors of CDS patients whose data carry none.
    letterhead
        Lines printed under the clinic name on letters (address, telephone, e-mail), separated
        by ``|`` or new lines; the clinic name itself comes from the user's clinic.
    """

    database_url: str = ""
    secret_key: str = field(default="", repr=False)
    environment: str = "production"
    cookie_secure: bool = True
    session_ttl_s: int = 12 * 3600
    login_max_failures: int = 5
    login_window_s: int = 900
    max_upload_bytes: int = 50 * 1024 * 1024
    max_body_bytes: int = 1024 * 1024
    max_fhir_bytes: int = 4 * 1024 * 1024
    auto_migrate: bool = True
    kb_folder: str = ""
    trusted_proxies: str = ""
    public_base_url: str = ""
    cds_issuers: str = field(default="", repr=False)
    cds_require_auth: bool | None = None
    cds_default_setting: str = "primary_care"
    letterhead: str = ""

    def __post_init__(self) -> None:
        check_option("environment", self.environment, ENVIRONMENTS)
        check_option(
            "cds_default_setting",
            self.cds_default_setting,
            ("community", "primary_care", "specialist"),
        )
        if self.cds_require_auth is None:
            object.__setattr__(self, "cds_require_auth", self.environment != "development")
        problems: list[Problem] = []
        key = self.secret_key
        if self.environment == "development" and not key:
            object.__setattr__(self, "secret_key", secrets.token_urlsafe(48))
        elif self.environment != "development":
            hint = (
                "set GLUTEMED_SECRET_KEY to a random value, e.g. the output of "
                '`python -c "import secrets; print(secrets.token_urlsafe(48))"`'
            )
            if key.strip().lower() in WEAK_SECRET_KEYS:
                found = "a missing value" if not key else "a well-known default value"
                problems.append(Problem("secret_key", "a random secret key", found, hint))
            elif len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 8:
                problems.append(
                    Problem(
                        "secret_key",
                        f"a random secret of at least {MIN_SECRET_KEY_LENGTH} characters",
                        f"{len(key)} characters with {len(set(key))} distinct",
                        hint,
                    )
                )
        for name, low in (
            ("session_ttl_s", 60),
            ("login_max_failures", 1),
            ("login_window_s", 1),
            ("max_upload_bytes", 1024),
            ("max_body_bytes", 1024),
            ("max_fhir_bytes", 1024),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < low:
                problems.append(Problem(name, f"a whole number >= {low}", short_repr(value)))
        for entry in (e.strip() for e in self.trusted_proxies.split(",")):
            if not entry:
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                problems.append(
                    Problem(
                        "trusted_proxies",
                        "IP addresses or networks such as 10.0.0.5 or 10.1.0.0/16",
                        short_repr(entry),
                    )
                )
        base = self.public_base_url
        if base and not base.startswith(("https://", "http://")):
            problems.append(Problem("public_base_url", "an absolute http(s) URL", short_repr(base)))
        if problems:
            raise InputValueError(
                f"the settings are not safe to run with ({self.environment})", problems
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``GLUTEMED_*`` variables; keyword arguments take precedence."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(_ENV + f.name.upper())
            if raw is None and f.name == "environment":
                raw = env.get(_ENV + "ENV")
            if raw is None:
                continue
            name = _ENV + f.name.upper()
            if f.type in ("bool", bool, "bool | None"):
                values[f.name] = _flag(name, raw)
            elif f.type in ("int", int):
                values[f.name] = _int(name, raw)
            else:
                values[f.name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """Return the ``GLUTEMED_*`` variables that reproduce these settings (for workers)."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[_ENV + f.name.upper()] = (
                ("1" if value else "0") if isinstance(value, bool) else str(value)
            )
        return out

    def cds_issuer_keys(self) -> dict[str, Any]:
        """Return the trusted CDS issuers, ``{iss: JWK Set}`` (empty when none are configured).

        Raises
        ------
        InputValueError
            When ``cds_issuers`` is neither JSON text nor a readable JSON file.
        """
        text = self.cds_issuers.strip()
        if not text:
            return {}
        where = "GLUTEMED_CDS_ISSUERS"
        if not text.startswith("{"):
            try:
                text = Path(text).expanduser().read_text("utf-8")
            except OSError as exc:
                raise InputValueError(
                    "cannot read the CDS issuers file",
                    [Problem(where, "a readable JSON file or JSON text", type(exc).__name__)],
                ) from None
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in data.items()
        ):
            raise InputValueError(
                "invalid CDS issuers",
                [Problem(where, "JSON {iss: {keys: [public JWK, ...]}}", "something else")],
            )
        return data

    def letterhead_lines(self) -> list[str]:
        """Return the letterhead's lines (``|`` or new lines separate them)."""
        return [p.strip() for p in self.letterhead.replace("|", "\n").splitlines() if p.strip()]

    def with_changes(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (validated again)."""
        return replace(self, **changes)
