"""Fixtures for the records layer: databases on SQLite and on a throwaway PostgreSQL cluster.

The PostgreSQL cluster is started once per test session from Debian's server binaries
(``/usr/lib/postgresql/*/bin``) on loopback; the tests that need it are skipped, with the reason,
only when the binaries are absent. Every test gets a fresh database: empty (``db_url``) or
migrated (``migrated_url``, copied from a template migrated once).

Password hashing uses cheap Argon2 parameters here (the production parameters are tested once in
``test_store_auth.py``), so that login tests stay fast.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy.orm import Session

import glutemed.store as store
import glutemed.store._auth as auth_module
from glutemed.store._pgcluster import TemporaryPostgres, shared_cluster, unavailable_reason


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(auth_module, "_hasher", cheap)
    monkeypatch.setattr(auth_module, "_DUMMY_HASH", cheap.hash("timing"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TemporaryPostgres]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    yield shared_cluster()


@pytest.fixture(scope="session")
def _pg_migrated(pg_cluster: TemporaryPostgres) -> str:
    url = pg_cluster.create_database("glutemed_store_tests")
    store.upgrade_to_head(url)
    return url


def _truncate_all(url: str) -> None:
    import sqlalchemy as sa

    from glutemed.store._models import Base

    engine = store.make_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            # the audit log is append-only (a trigger); the test cluster's superuser may
            # switch triggers off for this transaction to empty it between tests
            conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "glutemed.sqlite3"
    store.upgrade_to_head(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'glutemed.sqlite3'}"
    cluster: TemporaryPostgres = request.getfixturevalue("pg_cluster")
    return cluster.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An empty database at the newest schema on each backend.

    SQLite: a copy of a migrated file. PostgreSQL: one migrated database, emptied with
    ``TRUNCATE`` before each test (creating a database per test costs ~0.5 s).
    """
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_sqlite_template")
        path = tmp_path_factory.mktemp("db") / "glutemed.sqlite3"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("_pg_migrated")
    _truncate_all(url)
    return url


@pytest.fixture
def db(migrated_url: str) -> Iterator[Session]:
    """A session on a migrated database (SQLite and PostgreSQL)."""
    engine = store.make_engine(migrated_url)
    session = store.make_sessionmaker(engine)()
    try:
        yield session
    finally:
        session.close()
        engine.dispose()
