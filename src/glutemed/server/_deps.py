"""Request dependencies: app state, database session, the logged-in user, CSRF checks."""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import event as sa_event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from glutemed import store
from glutemed.errors import GlutemedError, Problem
from glutemed.knowledge import KnowledgeBase
from glutemed.server._security import (
    CSRF_FIELD,
    CSRF_HEADER,
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    csrf_token_for_session,
    login_csrf_token,
    session_id_for_token,
    tokens_equal,
)
from glutemed.server._settings import Settings
from glutemed.server._wording import Wording

__all__ = [
    "DB",
    "AppState",
    "Auth",
    "CSRFError",
    "CurrentAuth",
    "LoginRequiredError",
    "PerLoop",
    "SessionCache",
    "State",
    "csrf_protect",
    "get_db",
    "get_state",
    "login_required_error",
    "optional_auth",
    "require_auth",
]

#: Unsafe requests that do not need a CSRF token: JSON login (a cross-site page cannot send
#: ``application/json`` without a CORS preflight, which the app never allows).
CSRF_EXEMPT = frozenset({"/api/v1/auth/login"})
#: Forms posted before login, protected by the pre-login double-submit token.
LOGIN_FORM_PATHS = frozenset({"/login"})
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
#: Requests that may write and hold a database session at once, per worker process (SQLite and
#: PostgreSQL alike); the others wait on the event loop (see :func:`get_db`).
WRITERS_PER_WORKER = 2
#: The longest a request waits at the gate (as long as a writer waits for the SQLite write lock).
GATE_WAIT_S = 10.0

_T = TypeVar("_T")


class PerLoop(Generic[_T]):
    """One asyncio primitive per event loop, made on first use in that loop (a lock or a
    semaphore is bound to the loop that first waits on it; tests run several loops)."""

    def __init__(self, make: Callable[[], _T]) -> None:
        self._make = make
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _T] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> _T:
        loop = asyncio.get_running_loop()
        got = self._by_loop.get(loop)
        if got is None:
            got = self._by_loop[loop] = self._make()
        return got


@dataclass
class AppState:
    """Everything a request needs, created once per app by :func:`create_app`."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    kb: KnowledgeBase
    templates: Jinja2Templates
    session_cache: SessionCache = field(default_factory=lambda: SessionCache())
    wording: Wording = field(init=False)
    #: The SQLite file's writer turn (None on PostgreSQL and in-memory SQLite).
    write_lock: store.SQLiteWriteLock | None = field(init=False)
    #: SQLite file only: one connection of its own, used only from the event loop's thread to
    #: check login sessions there (see :func:`optional_auth`).
    loop_engine: Engine | None = field(init=False)
    #: PostgreSQL: the pooled engine in autocommit mode for the login-session check (one
    #: statement; no BEGIN and ROLLBACK round trips around it).
    lookup_engine: Engine = field(init=False)
    #: The writing requests' gate of each event loop (see :meth:`writer_gate`).
    _gates: PerLoop[asyncio.Semaphore] = field(
        init=False, default_factory=lambda: PerLoop(lambda: asyncio.Semaphore(WRITERS_PER_WORKER))
    )

    def __post_init__(self) -> None:
        # every page says names, not ids: the templates get the knowledge base's wording
        self.wording = Wording(self.kb)
        env = self.templates.env
        env.filters["clin"] = self.wording.text
        env.filters["field_label"] = self.wording.label
        env.globals["wording"] = self.wording
        self.write_lock = store.sqlite_write_lock(self.engine)
        self.lookup_engine = self.engine
        if self.engine.dialect.name == "postgresql":
            self.lookup_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.loop_engine = None
        if self.write_lock is not None:
            # never shared with the worker threads, so its checkout never waits
            self.loop_engine = store.make_engine(
                self.engine.url.render_as_string(hide_password=False),
                pool_size=1,
                max_overflow=0,
            )

    def writer_gate(self) -> asyncio.Semaphore:
        """The running event loop's gate for requests that may write."""
        return self._gates.get()

    def dispose(self) -> None:
        """Close the database connections (at shutdown)."""
        self.engine.dispose()
        if self.loop_engine is not None:
            self.loop_engine.dispose()


class LoginRequiredError(GlutemedError):
    """No valid login session (401 for the API, a redirect to the login page for pages)."""


class CSRFError(GlutemedError):
    """A state-changing request without a valid CSRF token (403)."""


@dataclass(frozen=True)
class Auth:
    """The logged-in user, their session id and CSRF token."""

    actor: store.Actor
    session_id: str
    csrf_token: str


async def get_state(request: Request) -> AppState:
    """Return the app's state (async: no thread-pool hop for a dictionary lookup)."""
    state: AppState = request.app.state.glutemed
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_db(request: Request, state: State) -> AsyncIterator[Session]:
    """Open a database session for one request (the endpoint commits).

    Creating and closing a session does no I/O beyond returning a pooled connection, so this runs
    on the event loop; the queries run in the endpoint's worker thread. On SQLite a request that
    may write (POST, PUT, PATCH, DELETE) takes the write lock when its transaction begins
    (``BEGIN IMMEDIATE``, see :func:`_begin_immediate`): a deferred transaction that reads first
    and then writes cannot upgrade its lock while another worker writes. Before that it waits
    its turn in the file's :class:`glutemed.store.SQLiteWriteLock` (shared by the threads and
    worker processes), not in SQLite's busy handler, whose sleeps of up to 100 ms let later
    writers overtake and made the write tail seconds long under load. The turn ends with the
    transaction (commit or rollback), so a request holds it only while it writes.

    Requests that may write first pass the worker's gate (:meth:`AppState.writer_gate`, a few
    at a time: :data:`WRITERS_PER_WORKER`), waiting on the event loop. Without it, 50 clients
    writing at once put 40 worker threads in the line for the write lock or a pooled
    connection, and waking and switching them cost more CPU than the writes themselves (write
    p99 at 50 clients, runs alternated: SQLite 367-451 -> 232-296 ms, PostgreSQL 779-804 ->
    287-437 ms; ``benchmarks/app_benchmark.py``). The request's body is read before it queues,
    so a client sending its body slowly never holds the gate. A long write (a movement file's
    analysis) holds one of the two places while it runs; a request that waits longer than
    :data:`GATE_WAIT_S` is answered "database busy" (503 with Retry-After), nothing written.
    """
    unsafe = request.method not in _SAFE
    gate = state.writer_gate() if unsafe else None
    if gate is not None:
        # RuntimeError: read already, as a form (a form is parsed to its end before it returns)
        with contextlib.suppress(RuntimeError):
            await request.body()
        try:
            await asyncio.wait_for(gate.acquire(), GATE_WAIT_S)
        except TimeoutError:
            raise store.DatabaseBusyError(
                "the database is busy with other changes; try again"
            ) from None
    try:
        session = state.sessions()
        if unsafe and state.engine.dialect.name == "sqlite":
            session.info["begin_immediate"] = True
            session.info["write_lock"] = state.write_lock
        try:
            yield session
        finally:
            session.close()
    finally:
        if gate is not None:
            gate.release()


@sa_event.listens_for(Session, "after_begin")
def _begin_immediate(session: Session, transaction: Any, connection: Any) -> None:
    """Start a writing request's SQLite transaction with the write lock (see :func:`get_db`)."""
    if not session.info.get("begin_immediate"):
        return
    lock: store.SQLiteWriteLock | None = session.info.get("write_lock")
    if lock is not None and not session.info.get("write_lock_held"):
        lock.acquire()
        session.info["write_lock_held"] = True
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _release_write_lock(session)
        raise


def _release_write_lock(session: Session) -> None:
    if session.info.pop("write_lock_held", False):
        session.info["write_lock"].release()


@sa_event.listens_for(Session, "after_transaction_end")
def _end_write_turn(session: Session, transaction: Any) -> None:
    """Let the next writer in once a writing request's transaction has ended."""
    if transaction.parent is None:
        _release_write_lock(session)


DB = Annotated[Session, Depends(get_db)]


class SessionCache:
    """Recently checked sessions, re-checked against the database every ``recheck_s`` seconds.

    Off by default (``recheck_s=0``): every request checks its session in the database, so a
    logout, expiry or deactivated account takes effect at once on every worker. With
    ``recheck_s > 0`` a logout on this worker still takes effect at once (:meth:`forget`), but
    one seen only by another worker takes up to ``recheck_s`` seconds.
    """

    def __init__(self, recheck_s: float = 0.0, size: int = 10_000) -> None:
        self.recheck_s = recheck_s
        self.size = size
        self._data: dict[str, tuple[store.Actor, float]] = {}

    def get(self, session_id: str) -> store.Actor | None:
        hit = self._data.get(session_id)
        if hit is None or time.monotonic() - hit[1] > self.recheck_s:
            return None
        return hit[0]

    def put(self, session_id: str, actor: store.Actor) -> None:
        if self.recheck_s <= 0:
            return
        if len(self._data) >= self.size:
            self._data.clear()
        self._data[session_id] = (actor, time.monotonic())

    def forget(self, session_id: str) -> None:
        self._data.pop(session_id, None)

    def forget_user(self, user_id: int, *, keep: str = "") -> None:
        """Forget every cached session of an account (but ``keep``), e.g. after a reset."""
        for sid, (actor, _) in list(self._data.items()):
            if actor.user_id == user_id and sid != keep:
                self._data.pop(sid, None)


def _lookup_session(engine: Engine, session_id: str) -> store.Actor | None:
    with engine.connect() as conn:
        return store.session_actor(conn, session_id)


async def optional_auth(request: Request, state: State) -> Auth | None:
    """Return the logged-in user, or None."""
    cached: Auth | None = getattr(request.state, "auth", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    key = state.settings.secret_key
    session_id = session_id_for_token(key, token)
    actor = state.session_cache.get(session_id)
    if actor is None:
        if state.loop_engine is not None:
            # SQLite file: one primary-key read of a local file in WAL mode (readers never wait
            # for the writer), ~0.05 ms; cheaper on the event loop than a thread-pool hop
            actor = _lookup_session(state.loop_engine, session_id)
        else:  # PostgreSQL: a network round trip, kept off the event loop
            actor = await run_in_threadpool(_lookup_session, state.lookup_engine, session_id)
        if actor is None:
            state.session_cache.forget(session_id)
            return None
        state.session_cache.put(session_id, actor)
    auth = Auth(actor, session_id, csrf_token_for_session(key, session_id))
    request.state.auth = auth
    return auth


def login_required_error() -> LoginRequiredError:
    """Return the error for a request without a valid login session."""
    return LoginRequiredError(
        "login required",
        [Problem("session", "a valid login session", "none or an expired one", "log in")],
    )


async def require_auth(auth: Annotated[Auth | None, Depends(optional_auth)]) -> Auth:
    """Return the logged-in user or raise :class:`LoginRequiredError`."""
    if auth is None:
        raise login_required_error()
    return auth


CurrentAuth = Annotated[Auth, Depends(require_auth)]


async def csrf_protect(request: Request, state: State) -> None:
    """Refuse unsafe requests without the right CSRF token (header or form field).

    Logged in: the token of the session. Logged out (the login form): the double-submit token
    of the pre-login cookie.
    """
    if request.method in _SAFE or request.url.path in CSRF_EXEMPT:
        return
    sent = request.headers.get(CSRF_HEADER)
    if not sent:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    key = state.settings.secret_key
    token = request.cookies.get(SESSION_COOKIE)
    expected: str | None = None
    if token:
        expected = csrf_token_for_session(key, session_id_for_token(key, token))
    if not tokens_equal(sent, expected):
        pre = request.cookies.get(PRELOGIN_COOKIE)
        if (
            request.url.path in LOGIN_FORM_PATHS
            and pre
            and tokens_equal(sent, login_csrf_token(key, pre))
        ):
            return
        raise CSRFError(
            "missing or wrong CSRF token",
            [
                Problem(
                    CSRF_FIELD,
                    f"the form's {CSRF_FIELD} field or the {CSRF_HEADER} header of your session",
                    "no token" if not sent else "a token of another session",
                    "reload the page and submit again",
                )
            ],
        )
