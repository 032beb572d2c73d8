"""drop the index on the deals' CRM modification times, which no statement reads

``ix_deals_updated`` (crm, updated_at) was made with the canonical schema for incremental reads by modification
time, but every connector keeps its cursor in ``sync_state`` and no query orders or filters deals by it. Each changed
deal wrote an entry into it all the same: one page more of nine to read and write per deal a sync changes (at 5M
deals, a 137 MB index of which a page of 1,000 scattered deals touches some 1,000 pages).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deals") as batch_op:
        batch_op.drop_index("ix_deals_updated")


def downgrade() -> None:
    with op.batch_alter_table("deals") as batch_op:
        batch_op.create_index("ix_deals_updated", ["crm", "updated_at"], unique=False)
