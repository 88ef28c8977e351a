"""Database URLs, engines and migrations.

``glutemed serve`` works with no configuration: the records live in an SQLite file in the
per-user data directory (``platformdirs.user_data_dir("glutemed")``), created and migrated to
the newest schema at start-up. For a clinic server, pass a PostgreSQL URL
(``postgresql://user:password@host/dbname``); the psycopg 3 driver is used.

Every schema change is an Alembic migration shipped inside the package
(``glutemed/store/migrations``); :func:`upgrade_to_head` applies the missing ones.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from glutemed._checks import short_repr
from glutemed.errors import InputValueError, NotFoundError, Problem
from glutemed.store._errors import DatabaseBusyError

__all__ = [
    "SQLiteWriteLock",
    "current_revision",
    "default_data_dir",
    "default_database_url",
    "head_revision",
    "make_engine",
    "make_sessionmaker",
    "normalise_database_url",
    "require_existing_database",
    "session_scope",
    "sqlite_write_lock",
    "upgrade_to_head",
]

try:
    import fcntl as _fcntl
except ImportError:  # not POSIX: the write lock serialises the threads of one process only
    _fcntl = None  # type: ignore[assignment]

log = logging.getLogger("glutemed.store")

_MIGRATIONS = Path(__file__).with_name("migrations")


def default_data_dir() -> Path:
    """Return the per-user data directory (created with mode 0700 if missing)."""
    import platformdirs

    path = Path(platformdirs.user_data_dir("glutemed", appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def default_database_url() -> str:
    """Return the URL of the embedded SQLite database in the per-user data directory."""
    return f"sqlite:///{default_data_dir() / 'glutemed.sqlite3'}"


def normalise_database_url(url: str) -> str:
    """Check a database URL and select the drivers glutemed ships with.

    ``postgresql://`` and ``postgres://`` become ``postgresql+psycopg://`` (psycopg 3);
    ``sqlite:///path`` is kept, and the folder of the file is created.

    Raises
    ------
    InputValueError
        For a URL that is not SQLite or PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise InputValueError(
            "invalid database URL",
            [
                Problem(
                    "database_url",
                    "a URL such as sqlite:///path/glutemed.sqlite3 or "
                    "postgresql://user:password@host/dbname",
                    "an unparsable value",
                )
            ],
        ) from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend == "sqlite":
        if (
            parsed.database
            and parsed.database != ":memory:"
            and not parsed.database.startswith("file:")
        ):
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    else:
        raise InputValueError(
            "unsupported database",
            [
                Problem(
                    "database_url",
                    "an sqlite:/// or postgresql:// URL",
                    short_repr(backend),
                    "glutemed supports SQLite (default) and PostgreSQL",
                )
            ],
        )
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


#: the longest a writing request waits for another writer (SQLite's own busy timeout is the same)
WRITE_WAIT_S = 10.0


class _FifoLock:
    """A lock handed to its waiters in the order they came (first come, first served).

    ``threading.Lock`` wakes an arbitrary waiter, so under many writers some wait far longer
    than others. Releasable from any thread, like ``threading.Lock``.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait for the lock (at most ``timeout`` seconds); True once it is held."""
        with self._guard:
            if not self._held:
                self._held = True
                return True
            turn = threading.Lock()
            turn.acquire()
            self._waiters.append(turn)
        # released by release(): the lock is handed over, still held
        try:
            got = turn.acquire(timeout=-1 if timeout is None else max(timeout, 0.0))
        except BaseException:  # interrupted while waiting: leave no dead entry in the queue
            with self._guard:
                handed_over = turn not in self._waiters
                if not handed_over:
                    self._waiters.remove(turn)
            if handed_over:
                self.release()  # it was ours: pass it on
            raise
        if got:
            return True
        with self._guard:
            if turn in self._waiters:
                self._waiters.remove(turn)
                return False
        turn.acquire()  # handed over between the timeout and the guard: it is ours
        return True

    def release(self) -> None:
        with self._guard:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._held = False

    def locked(self) -> bool:
        with self._guard:
            return self._held


class SQLiteWriteLock:
    """One writing transaction at a time on an SQLite file, across threads and processes.

    SQLite lets one connection write at a time. A transaction that finds the write lock taken
    waits in SQLite's busy handler, which polls with sleeps growing to 100 ms: a waiting writer
    sleeps on while the lock is free and later arrivals overtake it, so under many concurrent
    writers the tail of the write latency reaches seconds. Waiting here instead, in a thread
    lock (writers of one process) and an ``flock`` on a file beside the database (the server's
    worker processes), wakes the next writer as soon as the previous one commits, and the
    writers of one process take their turns in the order they came.

    Not re-entrant; it may be released by another thread than the one that acquired it (a
    request's session may be closed on the event loop). On platforms without ``fcntl`` only the
    threads of one process are serialised (other processes fall back to SQLite's busy handler).

    Parameters
    ----------
    path
        The lock file (created if missing; it holds no data).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._turns = _FifoLock()
        self._fd: int | None = None
        self._pid = 0

    def _file(self) -> int | None:
        if _fcntl is None:
            return None
        if self._fd is None or self._pid != os.getpid():  # not inherited across a fork
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def acquire(self, timeout: float = WRITE_WAIT_S) -> None:
        """Wait until no other thread or process holds the lock, then hold it.

        Raises
        ------
        DatabaseBusyError
            When another writer holds it for more than ``timeout`` seconds (a transaction that
            never ends must not block every other writer for ever).
        """
        deadline = time.monotonic() + timeout
        if not self._turns.acquire(timeout):
            raise DatabaseBusyError("the database is busy with another change; try again")
        try:
            if (fd := self._file()) is not None:
                pause = 0.0001
                while True:
                    try:
                        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() >= deadline:
                            raise DatabaseBusyError(
                                "the database is busy with another change; try again"
                            ) from None
                        time.sleep(pause)
                        pause = min(pause * 2, 0.0004)
        except BaseException:
            self._turns.release()
            raise

    def release(self) -> None:
        """Release the lock (once per :meth:`acquire`)."""
        try:
            if self._fd is not None and self._pid == os.getpid():
                _fcntl.flock(self._fd, _fcntl.LOCK_UN)
        finally:
            self._turns.release()

    def locked(self) -> bool:
        """True while a thread of this process holds the lock or waits for the file lock."""
        return self._turns.locked()


_WRITE_LOCKS: dict[str, SQLiteWriteLock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def sqlite_write_lock(engine: Engine) -> SQLiteWriteLock | None:
    """Return the :class:`SQLiteWriteLock` of an engine's SQLite file (None: not a file)."""
    url = engine.url
    if url.get_backend_name() != "sqlite":
        return None
    name = url.database or ""
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name).expanduser().resolve()
    key = str(path)
    with _WRITE_LOCKS_GUARD:
        lock = _WRITE_LOCKS.get(key)
        if lock is None:
            lock = _WRITE_LOCKS[key] = SQLiteWriteLock(path.with_name(path.name + "-writelock"))
        return lock


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the settings glutemed needs.

    SQLite: foreign keys on, WAL journal (readers do not block the writer), a busy timeout so
    two server workers wait for each other instead of failing. PostgreSQL: pre-ping pooled
    connections.
    """
    url = normalise_database_url(url)
    backend = make_url(url).get_backend_name()
    # bound values (names, dates of birth ...) never appear in error messages or logs
    kwargs.setdefault("hide_parameters", True)
    if backend == "sqlite":
        kwargs.setdefault("connect_args", {"check_same_thread": False})
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    return sa.create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    # passed as an attribute, not a main option: configparser would mangle '%' in passwords
    cfg.attributes["database_url"] = url
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """Return the newest migration revision shipped with this version of glutemed."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    return str(head)


def current_revision(url: str) -> str | None:
    """Return the migration revision a database is at (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            rev = MigrationContext.configure(conn).get_current_revision()
            return None if rev is None else str(rev)
    finally:
        engine.dispose()


def upgrade_to_head(url: str | None = None) -> str:
    """Create or migrate a database to the newest schema.

    Parameters
    ----------
    url
        Database URL; default: the embedded SQLite database (:func:`default_database_url`).

    Returns
    -------
    str
        The revision the database is at afterwards.

    Notes
    -----
    On PostgreSQL a transaction-level advisory lock serialises concurrent upgrades (two server
    workers starting together).
    """
    from alembic import command

    url = normalise_database_url(url or default_database_url())
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(727105331)"))
            cfg = _alembic_config(url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
    head = head_revision()
    log.info("database schema at revision %s", head)
    return head


def require_existing_database(url: str | None = None) -> str:
    """Return the URL of an existing glutemed database (migrated to the newest schema).

    For read-only commands (``users list``, ``fhir export``): unlike :func:`upgrade_to_head` it
    never creates a database.

    Raises
    ------
    NotFoundError
        If the SQLite file does not exist, or the database has no glutemed schema.
    """
    raw = url or default_database_url()
    hint = "create the first account with `glutemed users create NAME --admin`, or check the URL"
    try:
        parsed = make_url(raw)
    except sa.exc.ArgumentError:
        parsed = None
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        on_disk = bool(path) and path != ":memory:" and not path.startswith("file:")
        if on_disk and not Path(path).expanduser().is_file():
            raise NotFoundError(
                "no glutemed database",
                [
                    Problem(
                        "database_url",
                        "an existing database",
                        f"no file {Path(path).name}",
                        hint,
                    )
                ],
            )
    url = normalise_database_url(raw)
    if current_revision(url) is None:
        raise NotFoundError(
            "no glutemed database",
            [
                Problem(
                    "database_url", "a database with glutemed's tables", "an empty database", hint
                )
            ],
        )
    upgrade_to_head(url)
    return url
