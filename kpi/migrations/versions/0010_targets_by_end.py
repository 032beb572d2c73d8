"""targets: an index by KPI and period end, for the targets that contain a period

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_targets_ends", "targets", ["kpi", "period_end"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_targets_ends", table_name="targets")
