"""delivery ledger: typed delivery states, a log of every attempt, no celebrations table

The ``celebrations`` table was written but never read (``deliveries`` is what makes a celebration post once):
it goes. ``deliveries.status`` takes the states of kpi/delivery_state.py, checked by the database ("pending",
a post claimed and not confirmed, becomes "sending"); ``deliveries.error`` moves to ``delivery_attempts``,
where each existing delivery becomes its attempt 1.

The state names are written out here, not imported: a migration describes the schema of its own day.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

STATES = "'sending', 'sent', 'failed', 'unconfirmed', 'review'"
OUTCOMES = "'sent', 'failed', 'unconfirmed'"


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.execute(
        "UPDATE deliveries SET updated_at = COALESCE(sent_at, created_at), status = CASE"
        " WHEN status = 'pending' THEN 'sending' WHEN status IN ('sent', 'failed', 'review') THEN status"
        " ELSE 'review' END"
    )
    op.create_table(
        "delivery_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_key", sa.String(length=300), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.CheckConstraint(f"outcome IN ({OUTCOMES})", name=op.f("ck_delivery_attempts_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_attempts")),
        sa.UniqueConstraint("delivery_key", "number", name=op.f("uq_delivery_attempts_delivery_key")),
    )
    # A "sending" row's attempt is still open (its worker may have died mid-post); "review" was a post
    # kpibot could not confirm.
    op.execute(
        "INSERT INTO delivery_attempts (delivery_key, number, started_at, finished_at, outcome, error)"
        " SELECT key, 1, created_at,"
        " CASE WHEN status = 'sending' THEN NULL ELSE COALESCE(sent_at, created_at) END,"
        " CASE WHEN status IN ('sent', 'failed') THEN status WHEN status = 'review' THEN 'unconfirmed' END,"
        " error FROM deliveries"
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("error")
        batch.alter_column("updated_at", existing_type=sa.DateTime(), nullable=False)
        batch.create_check_constraint(op.f("ck_deliveries_status"), f"status IN ({STATES})")
        batch.create_index(op.f("ix_deliveries_status_updated"), ["status", "updated_at"])
        batch.create_index(op.f("ix_deliveries_updated_at"), ["updated_at"])
    # Only now: SQLite alters a table by copying it, and a table that others reference cannot be dropped.
    with op.batch_alter_table("delivery_attempts") as batch:
        batch.create_foreign_key(
            op.f("fk_delivery_attempts_delivery_key_deliveries"),
            "deliveries",
            ["delivery_key"],
            ["key"],
            ondelete="CASCADE",
        )
    op.drop_table("celebrations")


def downgrade() -> None:
    op.create_table(
        "celebrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_celebrations")),
        sa.UniqueConstraint("key", name=op.f("uq_celebrations_key")),
    )
    op.execute(
        "INSERT INTO celebrations (key, created_at) SELECT key, created_at FROM deliveries"
        " WHERE key LIKE 'celebration:%' OR key LIKE 'big-deal:%'"
    )
    op.add_column("deliveries", sa.Column("error", sa.String(length=1000), nullable=True))
    op.execute(
        "UPDATE deliveries SET error = (SELECT error FROM delivery_attempts"
        " WHERE delivery_attempts.delivery_key = deliveries.key ORDER BY number DESC LIMIT 1)"
    )
    op.drop_table("delivery_attempts")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_index(op.f("ix_deliveries_updated_at"))
        batch.drop_index(op.f("ix_deliveries_status_updated"))
        batch.drop_constraint(op.f("ck_deliveries_status"), type_="check")
        batch.drop_column("updated_at")
    # Before 0003 a post not confirmed was "pending", settled by looking in the channel's history.
    op.execute("UPDATE deliveries SET status = 'pending' WHERE status IN ('sending', 'unconfirmed')")
