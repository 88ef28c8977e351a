"""``glutemed serve``: run the app with uvicorn.

With no configuration it serves on 127.0.0.1:8000 from the embedded SQLite database in the
per-user data directory, created and migrated at start-up. The secret key comes from
``secret_key``, else ``GLUTEMED_SECRET_KEY``, else a random key generated on first start and
kept in ``<data dir>/secret_key`` (mode 0600). Cookies are ``Secure`` unless the app listens on a
loopback address only without a proxy in front (``GLUTEMED_TRUSTED_PROXIES``); on a network
address put a TLS-terminating proxy in front or pass ``ssl_certfile``/``ssl_keyfile``. uvicorn's
own proxy-header handling is off: the app believes forwarded headers from the configured proxies
only.

uvicorn's own access log is off: it would write query strings (patient search words) to the log.
The app logs method, route template, status and duration instead.
"""

from __future__ import annotations

import copy
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from glutemed import store
from glutemed.server._settings import Settings
from glutemed.server._uvicorn import protocol_path

__all__ = ["run", "stored_secret_key"]

log = logging.getLogger("glutemed.server")

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def stored_secret_key(folder: Path | None = None) -> str:
    """Return the secret key kept in the data directory, creating it (mode 0600) if needed."""
    path = (folder or store.default_data_dir()) / "secret_key"
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process won the race
            pass
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(secrets.token_urlsafe(48))
            log.info("generated a new secret key in the data directory")
    return path.read_text("utf-8").strip()


def _log_config(level: str) -> dict[str, Any]:
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["glutemed"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def run(
    host: str = "127.0.0.1",
    port: int = 8000,
    database_url: str | None = None,
    workers: int = 1,
    *,
    secret_key: str | None = None,
    environment: str | None = None,
    log_level: str = "info",
    ssl_certfile: str | None = None,
    ssl_keyfile: str | None = None,
) -> None:
    """Serve the clinician web app (blocks until interrupted).

    Parameters
    ----------
    host, port
        Address to listen on (default 127.0.0.1:8000: this computer only).
    database_url
        ``postgresql://user:password@host/db`` for PostgreSQL; default ``GLUTEMED_DATABASE_URL`` or
        the embedded SQLite database in the per-user data directory. Migrated at start-up.
    workers
        uvicorn worker processes (2 or more for a clinic server).
    secret_key
        Default ``GLUTEMED_SECRET_KEY``, else a key generated once and kept in the data directory.
    environment
        ``production`` (default), ``development`` or ``test``.
    log_level
        uvicorn / glutemed log level.
    ssl_certfile, ssl_keyfile
        Serve HTTPS directly (otherwise use a TLS-terminating proxy on a network address).

    Raises
    ------
    InputValueError
        For unsafe settings (e.g. a default secret key) or an unsupported database URL.
    """
    import uvicorn

    url = store.normalise_database_url(
        database_url or os.environ.get("GLUTEMED_DATABASE_URL") or store.default_database_url()
    )
    key = secret_key or os.environ.get("GLUTEMED_SECRET_KEY") or stored_secret_key()
    tls = bool(ssl_certfile and ssl_keyfile)
    overrides: dict[str, Any] = {"database_url": url, "secret_key": key, "auto_migrate": False}
    if environment:
        overrides["environment"] = environment
    settings = Settings.from_env(**overrides)
    if "GLUTEMED_COOKIE_SECURE" not in os.environ:
        # plain HTTP only on loopback without a proxy; a TLS-terminating proxy in front
        # (trusted_proxies) means the browser speaks HTTPS, so the cookies are Secure
        secure = tls or host not in _LOOPBACK or bool(settings.trusted_proxies.strip())
        settings = settings.with_changes(cookie_secure=secure)
    store.upgrade_to_head(url)
    if host not in _LOOPBACK and not tls:
        log.warning(
            "listening on %s without TLS: cookies are Secure, so browsers need HTTPS; put a "
            "TLS-terminating proxy in front or pass ssl_certfile/ssl_keyfile",
            host,
        )
    os.environ.update(settings.to_env())  # the worker processes read their settings from here
    uvicorn.run(
        "glutemed.server._app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=max(1, int(workers)),
        access_log=False,
        log_level=log_level,
        log_config=_log_config(log_level),
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        proxy_headers=False,  # the app believes forwarded headers from trusted_proxies only
        server_header=False,
        http=protocol_path(),
    )
