"""slack_users.im_channel_id: the bot's IM channel with a member, recorded from the first DM posted to them

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("slack_users") as batch:
        batch.add_column(sa.Column("im_channel_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("slack_users") as batch:
        batch.drop_column("im_channel_id")
