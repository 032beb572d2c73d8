"""rollup_days: the organisation's daily totals of additive measures

Revision ID: 0009
Revises: 0008

The rollups held so far are forgotten (``rollup_measures`` emptied): the compiler reads a held measure's days
from the new table, which starts empty, so until ``kpibot rollups rebuild`` (or the automatic rebuild at start)
fills both, every measure reads its rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_days",
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("measure", "day", name=op.f("pk_rollup_days")),
    )
    op.execute("DELETE FROM rollup_measures")


def downgrade() -> None:
    op.drop_table("rollup_days")
    op.execute("DELETE FROM rollup_measures")
