"""Alembic environment: migrations run on the engine kpibot hands over (see kpi.db.upgrade)."""

from alembic import context

from kpi.schema import Base

engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    context.run_migrations()
