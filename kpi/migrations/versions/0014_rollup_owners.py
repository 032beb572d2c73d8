"""rollup_owners: each owner's totals, over all time, of a stock's flows

Revision ID: 0014
Revises: 0013

Every rep's pipeline at the end of a period to date was read from the open deals (260,000 at 5M deals); it is now
what entered the pipeline less what left it, per owner, less the few deals dated after the period's end
(kpi/rollups.py, kpi/compiler.py); at a past month's start, less the owners' months of those flows from then on,
which ``rollups`` now holds too (rebuilt, as below). The rollups held so far are forgotten (``rollup_measures``
emptied): the compiler reads a stock's flows from the new table, which starts empty, so until ``kpibot rollups
rebuild`` (or the automatic rebuild at start) fills it, every measure reads its rows.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rollup_owners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("measure", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("value", sa.Numeric(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollup_owners")),
    )
    op.create_index("ix_rollup_owners_measure", "rollup_owners", ["measure", "owner_id", "value", "rows"])
    op.execute("DELETE FROM rollup_measures")


def downgrade() -> None:
    op.drop_index("ix_rollup_owners_measure", table_name="rollup_owners")
    op.drop_table("rollup_owners")
    op.execute("DELETE FROM rollup_measures")
