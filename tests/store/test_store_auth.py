"""Accounts: argon2 hashing, the command-line user creation, login throttling, sessions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

import glutemed.store as store
from glutemed.errors import InputValueError

PASSWORD = "correct horse battery"


def test_production_hasher_is_argon2id_with_rfc9106_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import glutemed.store._auth as auth_module

    monkeypatch.undo()  # the real hasher, not the fast one of conftest
    assert auth_module._DUMMY_HASH.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert store.hash_password(PASSWORD).startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_argon2_hashing() -> None:
    h = store.hash_password(PASSWORD)
    assert h.startswith("$argon2id$")
    assert store.verify_password(h, PASSWORD)
    assert not store.verify_password(h, "wrong password")
    assert not store.verify_password("not a hash", PASSWORD)
    with pytest.raises(InputValueError) as err:
        store.hash_password("short")
    assert err.value.problems[0].location == "password"


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'auth.sqlite3'}"


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Session]:
    store.create_user("admin", PASSWORD, role="admin", clinic="North", database_url=sqlite_url)
    engine = store.make_engine(sqlite_url)
    session = store.make_sessionmaker(engine)()
    yield session
    session.close()
    engine.dispose()


def test_create_user_for_the_cli(sqlite_url: str) -> None:
    info = store.create_user(
        "Admin", PASSWORD, role="admin", clinic="North", database_url=sqlite_url
    )
    assert (info.username, info.role, info.clinic_name) == ("admin", "admin", "North")
    with pytest.raises(store.ConflictError):
        store.create_user("admin", PASSWORD, database_url=sqlite_url)
    with pytest.raises(InputValueError):
        store.create_user("x y", PASSWORD, database_url=sqlite_url)
    with pytest.raises(InputValueError):
        store.create_user("carol", PASSWORD, role="superuser", database_url=sqlite_url)
    assert [u.username for u in store.list_users(sqlite_url)] == ["admin"]


def test_five_wrong_passwords_slow_that_address_down_with_backoff(db: Session) -> None:
    actor = store.authenticate(db, "ADMIN", PASSWORD)
    assert actor.role == "admin"
    t0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    attacker, owner = "203.0.113.7", "198.51.100.1"
    for i in range(5):
        with pytest.raises(store.AuthenticationError):
            store.authenticate(
                db, "admin", "wrong", client=attacker, now=t0 + dt.timedelta(seconds=i)
            )
    db.commit()
    last = t0 + dt.timedelta(seconds=4)
    with pytest.raises(store.ThrottledError) as err:  # even the right password must wait
        store.authenticate(db, "admin", PASSWORD, client=attacker, now=last)
    assert err.value.retry_after_s == 4
    # the owner at another address is not locked out
    assert store.authenticate(db, "admin", PASSWORD, client=owner, now=last).username == "admin"
    # each further failure doubles the wait
    at, wait, waits = last, 4, []
    for _ in range(4):
        at += dt.timedelta(seconds=wait)
        with pytest.raises(store.AuthenticationError):
            store.authenticate(db, "admin", "wrong", client=attacker, now=at)
        with pytest.raises(store.ThrottledError) as err:
            store.authenticate(db, "admin", "wrong", client=attacker, now=at)
        wait = err.value.retry_after_s
        waits.append(wait)
    assert waits == [8, 16, 32, 64]
    # after the window the failures no longer count, and success clears them
    later = at + dt.timedelta(seconds=905)
    assert store.authenticate(db, "admin", PASSWORD, client=attacker, now=later).username == "admin"


def test_guessing_from_many_addresses_delays_the_owner_by_a_minute_at_most(db: Session) -> None:
    at = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
    failures = 0
    while failures < 30:  # an attacker rotating addresses, waiting out every backoff
        try:
            store.authenticate(db, "admin", "guess", client=f"192.0.2.{failures}", now=at)
        except store.ThrottledError as exc:
            at += dt.timedelta(seconds=exc.retry_after_s)
        except store.AuthenticationError:
            failures += 1
            at += dt.timedelta(seconds=1)
    db.commit()
    with pytest.raises(store.ThrottledError) as err:
        store.authenticate(db, "admin", PASSWORD, client="198.51.100.1", now=at)
    assert err.value.retry_after_s <= 60
    after = at + dt.timedelta(seconds=60)
    assert store.authenticate(db, "admin", PASSWORD, client="198.51.100.1", now=after)


def test_unknown_users_are_throttled_too(db: Session) -> None:
    for _ in range(5):
        with pytest.raises(store.AuthenticationError):
            store.authenticate(db, "nobody", "guess")
    with pytest.raises(store.ThrottledError):
        store.authenticate(db, "nobody", "guess")


def test_sessions(db: Session) -> None:
    actor = store.authenticate(db, "admin", PASSWORD)
    store.start_session(db, actor, "s" * 64, ttl_s=3600)
    assert store.session_actor(db, "s" * 64) == actor
    assert store.session_actor(db, "t" * 64) is None
    store.end_session(db, "s" * 64)
    assert store.session_actor(db, "s" * 64) is None
    store.start_session(db, actor, "e" * 64, ttl_s=-1)
    assert store.session_actor(db, "e" * 64) is None


def test_admin_adds_users_to_own_clinic(db: Session) -> None:
    admin = store.authenticate(db, "admin", PASSWORD)
    info = store.add_user(db, admin, username="carol", password=PASSWORD, role="read_only")
    assert info.clinic_id == admin.clinic_id
    carol = store.authenticate(db, "carol", PASSWORD)
    with pytest.raises(store.PermissionDeniedError):
        store.add_user(db, carol, username="dave", password=PASSWORD)
    assert {u.username for u in store.users_of_clinic(db, admin)} == {"admin", "carol"}


def test_one_client_guessing_many_user_names_is_throttled(db: Session) -> None:
    for i in range(20):
        with pytest.raises(store.AuthenticationError):
            store.authenticate(db, f"guess{i}", "password", client="203.0.113.7")
    with pytest.raises(store.ThrottledError) as err:
        store.authenticate(db, "admin", PASSWORD, client="203.0.113.7")
    assert err.value.problems[0].location == "client" and err.value.retry_after_s <= 60
    assert store.authenticate(db, "admin", PASSWORD, client="198.51.100.1").username == "admin"
