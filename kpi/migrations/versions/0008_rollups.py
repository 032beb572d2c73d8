"""rollups: monthly partial aggregates of additive measures per owner, and which measures they hold for which zone

Revision ID: 0008
Revises: 0007

The tables start empty: with no row in rollup_measures the compiler reads raw rows, as before, until
``kpibot rollups rebuild`` (or the automatic rebuild at start) fills them.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollups")),
    )
    op.create_index("ix_rollups_measure_month", "rollups", ["measure", "month", "owner_id", "value"], unique=False)
    op.create_table(
        "rollup_measures",
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("measure", name=op.f("pk_rollup_measures")),
    )


def downgrade() -> None:
    op.drop_table("rollup_measures")
    op.drop_index("ix_rollups_measure_month", table_name="rollups")
    op.drop_table("rollups")
