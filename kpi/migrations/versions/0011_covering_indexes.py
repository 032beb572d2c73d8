"""deals and activities: the time-range indexes every period's edge reads cover the columns its KPIs read

An organisation leaderboard reads its period's edge days from the rows (the whole months from the rollups): a
week of calls is 120,000 activities, each on its own page of a 25M-row table (350 ms). With the owner, the
deletion mark and the deal columns the KPIs aggregate kept in the index (PostgreSQL's INCLUDE), those rows are
read from the index alone (75 ms). SQLite has no INCLUDE: its indexes stay as they are.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: name -> (table, key columns, included columns); the included ones are the same as kpi/schema.py declares.
COVERING = {
    "ix_deals_status_close": (
        "deals",
        ["status", "close_date"],
        ["owner_id", "amount", "created_at", "type", "deleted_at"],
    ),
    "ix_deals_created": ("deals", ["created_at"], ["owner_id", "status", "close_date", "amount", "deleted_at"]),
    "ix_activities_type_occurred": ("activities", ["type", "occurred_at"], ["owner_id", "deleted_at"]),
    "ix_activities_type_created": ("activities", ["type", "created_at"], ["owner_id", "deleted_at"]),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, columns, included) in COVERING.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, postgresql_include=included)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, columns, _included) in COVERING.items():
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
