"""Accounts, password hashing, login throttling and login sessions.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106 recommended parameters).
Failed logins are recorded in the database (only hashes of user name and address), so the
throttle holds across server workers and restarts. It slows guessing without locking owners out:

* per account **and** client address: after ``max_failures`` wrong passwords within ``window_s``
  seconds, each further attempt from that address for that account waits an exponential backoff
  (4 s, 8 s, 16 s, ... up to ``window_s``) after the latest failure;
* per account from any address, and per address for any account: the same backoff after
  ``4 * max_failures`` failures, but capped at one minute, so a colleague guessing from another
  workstation (or many accounts tried behind one proxy) delays the owner by a minute at most.

A successful login clears the failures of that account from that address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from glutemed._checks import check_option, short_repr
from glutemed.errors import InputValueError, NotFoundError, Problem
from glutemed.store._db import make_engine, make_sessionmaker, session_scope, upgrade_to_head
from glutemed.store._errors import (
    AuthenticationError,
    ConflictError,
    PermissionDeniedError,
    ThrottledError,
)
from glutemed.store._models import (
    ROLES,
    AuditEvent,
    CdsTokenUse,
    Clinic,
    LoginFailure,
    SessionRecord,
    User,
    utcnow,
)
from glutemed.store._passwords import MIN_PASSWORD_LENGTH, check_password

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "Actor",
    "UserInfo",
    "add_user",
    "authenticate",
    "create_user",
    "end_session",
    "first_use_of_token",
    "get_or_create_clinic",
    "hash_password",
    "list_users",
    "session_actor",
    "start_session",
    "users_of_clinic",
    "verify_password",
]

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("glutemed-timing-equaliser")


@dataclass(frozen=True)
class Actor:
    """The logged-in user on whose behalf the records are read or written."""

    user_id: int
    username: str
    clinic_id: int
    role: str
    display_name: str = ""

    @property
    def can_write(self) -> bool:
        """True for admins and clinicians (read-only users cannot change records)."""
        return self.role in ("admin", "clinician")

    @property
    def is_admin(self) -> bool:
        """True for clinic administrators."""
        return self.role == "admin"

    def require_write(self) -> None:
        """Raise :class:`PermissionDeniedError` for a read-only user."""
        if not self.can_write:
            raise PermissionDeniedError(
                "read-only users cannot change records",
                [Problem("role", "admin or clinician", short_repr(self.role))],
            )

    def require_admin(self) -> None:
        """Raise :class:`PermissionDeniedError` unless the user is an admin."""
        if not self.is_admin:
            raise PermissionDeniedError(
                "only an administrator can do this",
                [Problem("role", "admin", short_repr(self.role))],
            )


@dataclass(frozen=True)
class UserInfo:
    """A user account as shown to callers (never the password hash)."""

    id: int
    username: str
    display_name: str
    role: str
    clinic_id: int
    clinic_name: str
    is_active: bool


def _info(user: User) -> UserInfo:
    return UserInfo(
        user.id,
        user.username,
        user.display_name,
        user.role,
        user.clinic_id,
        user.clinic.name,
        user.is_active,
    )


def hash_password(password: str) -> str:
    """Hash a password with Argon2id.

    Raises
    ------
    InputValueError
        If the password is shorter than :data:`MIN_PASSWORD_LENGTH` characters.
    """
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise InputValueError(
            "password too short",
            [
                Problem(
                    "password",
                    f"at least {MIN_PASSWORD_LENGTH} characters",
                    f"{len(password) if isinstance(password, str) else 0} characters",
                    "a passphrase of several words is easy to remember and hard to guess",
                )
            ],
        )
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Return True if ``password`` matches ``password_hash`` (never raises)."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _username(value: str) -> str:
    name = (value or "").strip().lower()
    if not (2 <= len(name) <= 80) or not all(ch.isalnum() or ch in "._-@" for ch in name):
        raise InputValueError(
            "invalid user name",
            [
                Problem(
                    "username",
                    "2-80 letters, digits or . _ - @",
                    short_repr(value),
                )
            ],
        )
    return name


def _failure_key(kind: str, value: str) -> str:
    return kind + ":" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:64]


def get_or_create_clinic(session: Session, name: str) -> Clinic:
    """Return the clinic called ``name``, creating it if needed."""
    name = (name or "").strip()
    if not name:
        raise InputValueError(
            "invalid clinic", [Problem("clinic", "a clinic name", "an empty name")]
        )
    clinic = session.scalar(sa.select(Clinic).where(Clinic.name == name))
    if clinic is None:
        clinic = Clinic(name=name)
        session.add(clinic)
        session.flush()
        session.add(
            AuditEvent(
                action="create",
                entity_type="clinic",
                entity_id=clinic.id,
                clinic_id=clinic.id,
                changes={"name": [None, name]},
                snapshot={"id": clinic.id, "name": name},
            )
        )
    return clinic


def _insert_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    clinic: Clinic,
    display_name: str,
    created_by: int | None,
) -> User:
    name = _username(username)
    check_option("role", role, ROLES)
    if session.scalar(sa.select(User.id).where(User.username == name)) is not None:
        raise ConflictError(
            "user name already taken",
            [Problem("username", "a user name not in use", short_repr(name))],
        )
    user = User(
        username=name,
        display_name=(display_name or "").strip()[:200],
        password_hash=hash_password(check_password(password, username=name)),
        role=role,
        clinic_id=clinic.id,
    )
    session.add(user)
    try:
        session.flush()
    except sa.exc.IntegrityError:  # taken by a concurrent request since the check above
        raise ConflictError(
            "user name already taken",
            [Problem("username", "a user name not in use", short_repr(name))],
        ) from None
    session.refresh(user)
    session.add(
        AuditEvent(
            user_id=created_by,
            clinic_id=clinic.id,
            action="create",
            entity_type="user",
            entity_id=user.id,
            entity_version=user.version,
            changes={"username": [None, name], "role": [None, role]},
            snapshot={"id": user.id, "username": name, "role": role, "clinic_id": clinic.id},
        )
    )
    return user


def create_user(
    username: str,
    password: str,
    *,
    role: str = "clinician",
    clinic: str = "My clinic",
    display_name: str = "",
    database_url: str | None = None,
) -> UserInfo:
    """Create an account (for ``glutemed users create``); migrates the database first.

    Parameters
    ----------
    username
        Login name (2-80 letters, digits or ``. _ - @``; stored in lower case).
    password
        At least :data:`MIN_PASSWORD_LENGTH` characters.
    role
        ``admin``, ``clinician`` or ``read_only`` (``--admin`` means ``role="admin"``).
    clinic
        The clinic's name; created if it does not exist. Users see only their clinic's patients.
    display_name
        The name shown in the app and on letters.
    database_url
        Default: the embedded SQLite database in the per-user data directory.

    Returns
    -------
    UserInfo

    Raises
    ------
    InputValueError
        For an invalid user name, role or a short password.
    ConflictError
        If the user name is taken.
    """
    from glutemed.store._db import default_database_url

    url = database_url or default_database_url()
    upgrade_to_head(url)
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            user = _insert_user(
                session,
                username=username,
                password=password,
                role=role,
                clinic=get_or_create_clinic(session, clinic),
                display_name=display_name,
                created_by=None,
            )
            return _info(user)
    finally:
        engine.dispose()


def list_users(database_url: str | None = None) -> list[UserInfo]:
    """Return every account (for ``glutemed users list``); never creates a database.

    Raises
    ------
    NotFoundError
        If there is no glutemed database at ``database_url``.
    """
    from glutemed.store._db import require_existing_database

    url = require_existing_database(database_url)
    engine = make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            return [_info(u) for u in session.scalars(sa.select(User).order_by(User.username))]
    finally:
        engine.dispose()


def add_user(
    session: Session,
    actor: Actor,
    *,
    username: str,
    password: str,
    role: str = "clinician",
    display_name: str = "",
) -> UserInfo:
    """Create an account in the administrator's own clinic."""
    actor.require_admin()
    clinic = session.get(Clinic, actor.clinic_id)
    if clinic is None:  # pragma: no cover - foreign key guarantees it
        raise NotFoundError(
            "clinic not found", [Problem("clinic_id", "an existing clinic", "none")]
        )
    user = _insert_user(
        session,
        username=username,
        password=password,
        role=role,
        clinic=clinic,
        display_name=display_name,
        created_by=actor.user_id,
    )
    return _info(user)


def users_of_clinic(session: Session, actor: Actor) -> list[UserInfo]:
    """Return the accounts of the actor's clinic (administrators only)."""
    actor.require_admin()
    rows = session.scalars(
        sa.select(User).where(User.clinic_id == actor.clinic_id).order_by(User.username)
    )
    return [_info(u) for u in rows]


#: First backoff once a throttle's limit is reached, in seconds; it doubles with each failure.
BACKOFF_START_S = 4
#: Longest wait the account-wide and address-wide throttles impose, in seconds.
SHARED_BACKOFF_CAP_S = 60


def _throttle(
    session: Session,
    key: str,
    limit: int,
    window_s: int,
    now: dt.datetime,
    field: str,
    cap_s: int,
) -> None:
    since = now - dt.timedelta(seconds=window_s)
    count, latest = session.execute(
        sa.select(sa.func.count(), sa.func.max(LoginFailure.at)).where(
            LoginFailure.key == key, LoginFailure.at > since
        )
    ).one()
    if not count or count < limit or latest is None:
        return
    if latest.tzinfo is None:  # SQLite returns naive UTC datetimes
        latest = latest.replace(tzinfo=dt.UTC)
    backoff = min(BACKOFF_START_S * 2 ** min(count - limit, 30), cap_s)
    wait = backoff - (now - latest).total_seconds()
    if wait > 0:
        retry = max(int(wait + 0.999), 1)
        raise ThrottledError(
            "too many failed logins",
            [
                Problem(
                    field,
                    f"fewer than {limit} wrong passwords in {window_s // 60} minutes",
                    f"{count} wrong passwords",
                    f"try again in {retry} s",
                )
            ],
            retry_after_s=retry,
        )


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    max_failures: int = 5,
    window_s: int = 900,
    client: str | None = None,
    now: dt.datetime | None = None,
) -> Actor:
    """Check a login; slow down guessing after ``max_failures`` wrong passwords.

    Failures are counted per user name and client address (``max_failures``), per user name
    and per client address (``4 * max_failures``, with a backoff of at most a minute); see the
    module documentation. Only hashes of the user name and address are stored. The caller
    commits the session (failures are recorded even when this raises).

    Raises
    ------
    ThrottledError
        While a backoff runs (even for the right password), with ``retry_after_s``.
    AuthenticationError
        For an unknown user, a wrong password or an inactive account.
    """
    now = now or utcnow()
    name = (username or "").strip().lower()[:80]
    pair_key = _failure_key("pair", f"{name}\x00{client or ''}")
    account_key = _failure_key("user", name)
    keys = [pair_key, account_key]
    _throttle(session, pair_key, max_failures, window_s, now, "username", window_s)
    shared_cap = min(SHARED_BACKOFF_CAP_S, window_s)
    _throttle(session, account_key, 4 * max_failures, window_s, now, "username", shared_cap)
    if client:
        client_key = _failure_key("client", client)
        keys.append(client_key)
        _throttle(session, client_key, 4 * max_failures, window_s, now, "client", shared_cap)
    user = session.scalar(sa.select(User).where(User.username == name))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password or "")
    if user is None or not ok or not user.is_active:
        session.execute(  # failures older than the window no longer count
            sa.delete(LoginFailure).where(
                LoginFailure.key.in_(keys),
                LoginFailure.at <= now - dt.timedelta(seconds=window_s),
            )
        )
        for k in keys:
            session.add(LoginFailure(key=k, at=now))
        session.add(
            AuditEvent(
                user_id=user.id if user else None,
                clinic_id=user.clinic_id if user else None,
                action="login_failed",
                entity_type="user",
                entity_id=user.id if user else None,
            )
        )
        session.flush()
        raise AuthenticationError(
            "wrong user name or password",
            [Problem("password", "the right user name and password", "a mismatch")],
        )
    session.execute(sa.delete(LoginFailure).where(LoginFailure.key == pair_key))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    session.add(
        AuditEvent(
            user_id=user.id,
            clinic_id=user.clinic_id,
            action="login",
            entity_type="user",
            entity_id=user.id,
        )
    )
    session.flush()
    return _actor(user)


def _actor(user: User) -> Actor:
    return Actor(user.id, user.username, user.clinic_id, user.role, user.display_name)


def start_session(session: Session, actor: Actor, session_id: str, ttl_s: int) -> None:
    """Store a login session under ``session_id`` (a keyed hash of the cookie token)."""
    now = utcnow()
    session.execute(sa.delete(SessionRecord).where(SessionRecord.expires_at < now))
    session.add(
        SessionRecord(
            id=session_id,
            user_id=actor.user_id,
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_s),
        )
    )
    session.flush()


#: The login-session check of every request: plain columns, not the User entity (which loads
#: its clinic too), built once.
_SESSION_ACTOR = (
    sa.select(
        SessionRecord.expires_at,
        User.is_active,
        User.id,
        User.username,
        User.clinic_id,
        User.role,
        User.display_name,
    )
    .join(User, User.id == SessionRecord.user_id)
    .where(SessionRecord.id == sa.bindparam("session_id"))
)


def session_actor(session: Session | Connection, session_id: str) -> Actor | None:
    """Return the user of a live session, or None if unknown, expired or deactivated.

    ``session`` may be an ORM session or a plain connection; the connection is about five times
    cheaper (no ORM bookkeeping), which counts because this runs on every request.
    """
    row = session.execute(_SESSION_ACTOR, {"session_id": session_id}).first()
    if row is None:
        return None
    expires_at, is_active, user_id, username, clinic_id, role, display_name = row
    if expires_at <= utcnow() or not is_active:
        return None
    return Actor(user_id, username, clinic_id, role, display_name)


def end_session(session: Session, session_id: str) -> None:
    """Delete a login session (logout), in the audit log as ``logout`` of its user."""
    row = session.execute(
        sa.select(SessionRecord.user_id, User.clinic_id)
        .join(User, User.id == SessionRecord.user_id)
        .where(SessionRecord.id == session_id)
    ).first()
    session.execute(sa.delete(SessionRecord).where(SessionRecord.id == session_id))
    if row is not None:
        user_id, clinic_id = row
        session.add(
            AuditEvent(
                user_id=user_id,
                clinic_id=clinic_id,
                action="logout",
                entity_type="user",
                entity_id=user_id,
            )
        )
        session.flush()


def first_use_of_token(session: Session, issuer: str, jti: str, expires_at: dt.datetime) -> bool:
    """Record a CDS client token (``iss`` + ``jti``) until it expires; False if seen before.

    The record is in the database, so every server worker shares it and it survives restarts.
    Only a hash of issuer and ``jti`` is kept. Expired records are removed on the way. Call it in
    a session of its own and commit: a token recorded at the same moment by another worker
    makes the insert fail, and this function then rolls the session back and returns False.
    """
    now = utcnow()
    key = hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()
    session.execute(sa.delete(CdsTokenUse).where(CdsTokenUse.expires_at < now))
    if session.get(CdsTokenUse, key) is not None:
        return False
    session.add(CdsTokenUse(key=key, expires_at=expires_at))
    try:
        session.flush()
    except sa.exc.IntegrityError:
        session.rollback()
        return False
    return True
