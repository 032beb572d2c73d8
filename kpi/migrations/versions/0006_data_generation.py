"""data generation: the number every change of the data advances, which keys the answer cache

Revision ID: 0006
Revises: 0005
"""

import datetime as dt
import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "data_generation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_generation")),
    )
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    op.bulk_insert(table, [{"id": 1, "number": 0, "epoch": uuid.uuid4().hex, "changed_at": now}])


def downgrade() -> None:
    op.drop_table("data_generation")
