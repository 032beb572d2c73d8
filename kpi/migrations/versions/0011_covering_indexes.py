"""covering time-range indexes of deals and activities

The time-range indexes every period's edge reads hold the columns the common KPIs read. An organisation leaderboard
reads its period's edge days from the rows (the whole months from the rollups): a week of calls is 120,000
activities, each on its own page of a 25M-row table (350 ms). With the owner, the deletion mark and the deal columns
the KPIs aggregate kept in the index (PostgreSQL's INCLUDE), those rows are read from the index alone (75 ms).
SQLite has no INCLUDE: its indexes stay as they are.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: name -> (table, key columns, included columns), as kpi/schema.py declares them. No deal's creation time: an index
#: holding it held all an organisation's open pipeline reads, and the planner read all of that index (850-1,000 ms)
#: rather than the open deals by status (200 ms); so the sales cycle's edge days still read their table pages.
COVERING = {
    "ix_deals_status_close": (
        "deals",
        ["status", "close_date"],
        ["owner_id", "amount", "deleted_at"],
    ),
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
