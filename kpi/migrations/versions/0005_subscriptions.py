"""subscriptions and alerts: digests people choose for themselves in Slack (/kpi subscribe), and goal alerts

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("audience", sa.String(length=32), nullable=False),
        sa.Column("cadence", sa.String(length=8), nullable=False),
        sa.Column("time", sa.String(length=5), nullable=False),
        sa.Column("day", sa.String(length=16), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("timezone_checked_at", sa.DateTime(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.create_index(op.f("ix_subscriptions_slack_user_id"), "subscriptions", ["slack_user_id"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slack_user_id", sa.String(length=32), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("threshold", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("measure", sa.String(length=16), nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("fired_period", sa.String(length=32), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_slack_user_id"), "alerts", ["slack_user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_slack_user_id"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_index(op.f("ix_subscriptions_slack_user_id"), table_name="subscriptions")
    op.drop_table("subscriptions")
