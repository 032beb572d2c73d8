"""the number of the last change to the people, the teams or the rollups built

Each server process keeps the people and teams (and which rollups are built) in memory and reloaded them whenever the
data generation moved: after every committed sync page, though a page of deals changes none of them. The generation
row now also holds the number of the last change that did (kpi/generation.py), and a process reloads when that moves.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("data_generation", sa.Column("directory_number", sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE data_generation SET directory_number = number")


def downgrade() -> None:
    with op.batch_alter_table("data_generation") as batch:
        batch.drop_column("directory_number")
