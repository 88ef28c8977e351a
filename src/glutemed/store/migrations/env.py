"""Alembic environment for glutemed's records database.

Run through :func:`glutemed.store.upgrade_to_head`, which passes the connection (or the URL) in
``config.attributes``; there is no ``alembic.ini``. To write a new migration during development::

    python -m glutemed.store.revision "what changed"

(autogenerates against the models and writes a file in ``versions/`` to review and edit).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from glutemed.store._models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.attributes["database_url"],
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from glutemed.store._db import make_engine

    engine = make_engine(config.attributes["database_url"], poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
