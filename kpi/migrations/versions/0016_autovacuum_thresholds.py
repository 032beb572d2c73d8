"""vacuum the owners' months and the deals after thousands of changed rows, not a fifth of the table

Every sync page rewrites the owners' months its deals fall in (``rollups``) and the deals themselves, and answers read
both through index-only scans, which visit the table for every page changed since its last vacuum. PostgreSQL's
default waits for a fifth of a table to be dead before vacuuming it: a million versions of the rollups at 5M deals,
weeks of syncs. At 5M deals, the 43,000 dead versions of a dozen sync pages made every cold answer a third slower
(bench/RESULTS.md). On PostgreSQL only; SQLite has no vacuum of its own.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: Per table, when autovacuum vacuums it: a fixed count of dead versions (the rollups'), or a hundredth of the deals.
SETTINGS = {
    "rollups": "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000",
    "deals": "autovacuum_vacuum_scale_factor = 0.01",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, settings in SETTINGS.items():
        op.execute(f"ALTER TABLE {table} SET ({settings})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, settings in SETTINGS.items():
        names = ", ".join(setting.split(" = ")[0] for setting in settings.split(", "))
        op.execute(f"ALTER TABLE {table} RESET ({names})")
