"""Alembic environment: runs on the connection that storage.migrate hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from storage.migrate import include_name
from storage.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `facetag migrate` (storage.migrate), not the alembic CLI")

context.configure(
    connection=connection, target_metadata=Base.metadata, compare_type=True, include_name=include_name
)
with context.begin_transaction():
    context.run_migrations()
