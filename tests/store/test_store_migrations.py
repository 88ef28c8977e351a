"""Migrations: the shipped Alembic scripts build exactly the schema of the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import glutemed.store as store
from glutemed.errors import InputValueError
from glutemed.store._models import Base


def test_upgrade_creates_schema_and_is_idempotent(db_url: str) -> None:
    assert store.current_revision(db_url) is None
    head = store.upgrade_to_head(db_url)
    assert head == store.head_revision()
    assert store.current_revision(db_url) == head
    assert store.upgrade_to_head(db_url) == head  # second run changes nothing


def test_migrations_match_models(db_url: str) -> None:
    """Every schema change is a migration: autogenerate finds nothing left to migrate."""
    store.upgrade_to_head(db_url)
    engine = store.make_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_downgrade_to_base_and_back(db_url: str) -> None:
    from alembic import command

    from glutemed.store._db import _alembic_config

    store.upgrade_to_head(db_url)
    url = store.normalise_database_url(db_url)
    command.downgrade(_alembic_config(url), "base")
    engine = store.make_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        tables = set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()
    assert tables == set()
    assert store.upgrade_to_head(db_url) == store.head_revision()


def test_normalise_database_url(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert store.normalise_database_url("postgresql://u:p@h/db").startswith("postgresql+psycopg://")
    assert store.normalise_database_url("postgres://u:p@h/db").startswith("postgresql+psycopg://")
    path = tmp_path / "sub" / "x.sqlite3"
    assert store.normalise_database_url(f"sqlite:///{path}") == f"sqlite:///{path}"
    assert path.parent.is_dir()
    try:
        store.normalise_database_url("mysql://u@h/db")
    except InputValueError as exc:
        assert exc.problems[0].location == "database_url"
    else:  # pragma: no cover
        raise AssertionError("mysql accepted")


def test_default_database_is_in_the_user_data_dir(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    url = store.default_database_url()
    assert url.startswith(f"sqlite:///{tmp_path}")
    assert url.endswith("glutemed.sqlite3")
