"""Alembic environment: the URL comes from reviewq's config, never from alembic.ini."""

from alembic import context
from sqlmodel import SQLModel

import reviewq.models  # noqa: F401  (registers every table on SQLModel.metadata)
from reviewq.config import load_settings
from reviewq.db import make_engine

config = context.config
target_metadata = SQLModel.metadata


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    settings = config.attributes.get("settings") or load_settings()
    engine = make_engine(settings)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    settings = config.attributes.get("settings") or load_settings()
    context.configure(
        url=settings.database.url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=settings.database.url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
