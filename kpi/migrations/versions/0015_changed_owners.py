"""which owners each change of the data touched, so that a ranking is kept across it

An organisation's leaderboard ranks 10,000 reps; a sync page of a few hundred deals changes a few hundred of them. Each
committed change now notes, per table it wrote, the owners of the rows it wrote (before and after the write), and the
generation row the number of the last change whose owners are not known (a person, a team or the rollups rebuilt, a
table with no owner): kpi/generation.py, kpi/kept_rankings.py. It also holds the number of the last change that may have
changed the targets, which the organisation's summed targets are kept until (kpi/metrics.py).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("data_generation", sa.Column("unknown_number", sa.Integer(), server_default="0", nullable=False))
    op.add_column("data_generation", sa.Column("targets_number", sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE data_generation SET unknown_number = number, targets_number = number")
    op.create_table(
        "changed_owners",
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("number", "source", "owner_id"),
    )


def downgrade() -> None:
    op.drop_table("changed_owners")
    with op.batch_alter_table("data_generation") as batch:
        batch.drop_column("unknown_number")
        batch.drop_column("targets_number")
