"""index the deals by owner, status and close date, in place of owner and close date

Every statement that reads deals by their owners and close dates also names a status: a rep's revenue (won), a win
rate (won or lost), the rows a month's rollup leaves out ahead of today (won or lost, closing after it). Through
(owner, close date) the last read every open deal each owner expects to close in the rest of the month, some 20 per
rep, to find none won or lost: 5 ms of an organisation leaderboard brought up to date for 200 reps. With the status
second, each (owner, status) is one descent to the close dates asked.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deals") as batch_op:
        batch_op.create_index("ix_deals_owner_status_close", ["owner_id", "status", "close_date"], unique=False)
        batch_op.drop_index("ix_deals_owner_close")


def downgrade() -> None:
    with op.batch_alter_table("deals") as batch_op:
        batch_op.create_index("ix_deals_owner_close", ["owner_id", "close_date"], unique=False)
        batch_op.drop_index("ix_deals_owner_status_close")
