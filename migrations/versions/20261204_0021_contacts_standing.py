"""contacts.standing: the lifecycle the customers list shows, beside the recency (issue 15)

The list's `lifecycle=` filter probed each customer's score while walking the recency
index: a lifecycle whose customers are far down that order (`lost` is by definition
old) read tens of thousands of contacts per page, and a lifecycle's last page walked
them all (at 100,000 customers, in process: `lost`'s first page 229 ms p50 on SQLite,
the last pages of new, at_risk and recovered 0.3-0.4 s on SQLite, 0.13-0.26 s on
PostgreSQL, whose `active` pages took 60-70 ms).
`contacts.standing` holds what the list shows (CONTRACT section 11: `lost` when an
agent marked the customer lost, else the retention row's lifecycle, else
`contacts.lifecycle`) and `(standing, last_interaction_at, id)` lists one lifecycle as
one index range in the list's order.

Triggers keep it, in the transaction of whoever writes: a score row inserted, its
lifecycle changed or deleted; a contact inserted or its `lifecycle` (the agent's mark)
changed. They set only `standing`: `updated_at`, which the retention worker reads as a
change, never moves, and a score rewritten with the same lifecycle (the daily pass)
writes no contact. A changed lifecycle costs one contact row written: about 90 us on
PostgreSQL (a contact row's update, whatever the column) and 10-30 us on SQLite.
0019life's index on `contacts.lifecycle`, which only the list's filter read, is dropped.

Cost on an existing install: adding the column rewrites nothing (a constant default,
PostgreSQL 11+ and SQLite); the backfill writes each customer whose standing is not
`active`, then the index is built (at 100,000 customers, 41,000 not active:
1.1-1.7 s on SQLite, 1.5-2.3 s on PostgreSQL, at load 4-5).

Revision ID: 0020standing
Revises: 0020facts
Create Date: 2026-12-04 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020standing"
down_revision: str | None = "0020facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What the list shows for contact `cid` whose own lifecycle column is `own`
# (app/contacts/customers_queries.py customer_items, the reference).
SHOWN = (
    "CASE WHEN {own} = 'lost' THEN 'lost' ELSE coalesce("
    "(SELECT r.lifecycle FROM retention_scores r WHERE r.contact_id = {cid}), {own}) END"
)

# SQLite: AFTER triggers that update the one contact row by primary key. An UPDATE from
# a trigger fires no trigger on the same table (recursive_triggers is off), and the
# trigram triggers (0016trgm) watch only name, phone and email.
SQLITE_SCORE_SET = (
    "UPDATE contacts SET standing = new.lifecycle"
    " WHERE id = new.contact_id AND lifecycle <> 'lost' AND standing <> new.lifecycle"
)
SQLITE_DDL = (
    "CREATE TRIGGER contacts_standing_score_ai AFTER INSERT ON retention_scores"
    f" BEGIN {SQLITE_SCORE_SET}; END",
    "CREATE TRIGGER contacts_standing_score_au AFTER UPDATE OF lifecycle ON retention_scores"
    f" WHEN old.lifecycle IS NOT new.lifecycle BEGIN {SQLITE_SCORE_SET}; END",
    "CREATE TRIGGER contacts_standing_score_ad AFTER DELETE ON retention_scores BEGIN"
    " UPDATE contacts SET standing = lifecycle"
    " WHERE id = old.contact_id AND standing <> lifecycle; END",
    "CREATE TRIGGER contacts_standing_ai AFTER INSERT ON contacts"
    " WHEN new.standing IS NOT new.lifecycle BEGIN"
    f" UPDATE contacts SET standing = {SHOWN.format(own='new.lifecycle', cid='new.id')}"
    " WHERE id = new.id; END",
    "CREATE TRIGGER contacts_standing_au AFTER UPDATE OF lifecycle ON contacts"
    " WHEN old.lifecycle IS NOT new.lifecycle BEGIN"
    f" UPDATE contacts SET standing = {SHOWN.format(own='new.lifecycle', cid='new.id')}"
    " WHERE id = new.id; END",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS contacts_standing_au",
    "DROP TRIGGER IF EXISTS contacts_standing_ai",
    "DROP TRIGGER IF EXISTS contacts_standing_score_ad",
    "DROP TRIGGER IF EXISTS contacts_standing_score_au",
    "DROP TRIGGER IF EXISTS contacts_standing_score_ai",
)

# PostgreSQL: the contact's own row is set BEFORE it is written (no second version);
# a score's change updates its contact by primary key. The WHEN conditions skip the
# function call when nothing the list shows changes (the daily pass rewrites every
# score row with mostly the same lifecycle).
PG_DDL = (
    "CREATE FUNCTION contacts_standing_of_score() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN"
    " IF TG_OP = 'DELETE' THEN"
    " UPDATE contacts SET standing = lifecycle"
    " WHERE id = OLD.contact_id AND standing IS DISTINCT FROM lifecycle;"
    " ELSE"
    " UPDATE contacts SET standing = NEW.lifecycle"
    " WHERE id = NEW.contact_id AND lifecycle <> 'lost'"
    " AND standing IS DISTINCT FROM NEW.lifecycle;"
    " END IF;"
    " RETURN NULL;"
    " END $$",
    "CREATE FUNCTION contacts_standing() RETURNS trigger LANGUAGE plpgsql AS $$"
    f" BEGIN NEW.standing := {SHOWN.format(own='NEW.lifecycle', cid='NEW.id')};"
    " RETURN NEW; END $$",
    "CREATE TRIGGER contacts_standing_score_ai AFTER INSERT ON retention_scores"
    " FOR EACH ROW EXECUTE FUNCTION contacts_standing_of_score()",
    "CREATE TRIGGER contacts_standing_score_au AFTER UPDATE OF lifecycle ON retention_scores"
    " FOR EACH ROW WHEN (OLD.lifecycle IS DISTINCT FROM NEW.lifecycle)"
    " EXECUTE FUNCTION contacts_standing_of_score()",
    "CREATE TRIGGER contacts_standing_score_ad AFTER DELETE ON retention_scores"
    " FOR EACH ROW EXECUTE FUNCTION contacts_standing_of_score()",
    # A new contact has no score row yet (the foreign key): its standing is its own
    # lifecycle, so only a contact inserted as lost (or with a standing given) calls it.
    "CREATE TRIGGER contacts_standing_bi BEFORE INSERT ON contacts"
    " FOR EACH ROW WHEN (NEW.standing IS DISTINCT FROM NEW.lifecycle)"
    " EXECUTE FUNCTION contacts_standing()",
    "CREATE TRIGGER contacts_standing_bu BEFORE UPDATE OF lifecycle ON contacts"
    " FOR EACH ROW WHEN (OLD.lifecycle IS DISTINCT FROM NEW.lifecycle)"
    " EXECUTE FUNCTION contacts_standing()",
)
PG_DROP = (
    "DROP TRIGGER IF EXISTS contacts_standing_bu ON contacts",
    "DROP TRIGGER IF EXISTS contacts_standing_bi ON contacts",
    "DROP TRIGGER IF EXISTS contacts_standing_score_ad ON retention_scores",
    "DROP TRIGGER IF EXISTS contacts_standing_score_au ON retention_scores",
    "DROP TRIGGER IF EXISTS contacts_standing_score_ai ON retention_scores",
    "DROP FUNCTION IF EXISTS contacts_standing()",
    "DROP FUNCTION IF EXISTS contacts_standing_of_score()",
)

# Every contact starts `active` (the column's default): the ones whose own lifecycle
# says otherwise (an agent's `lost`, by its index), then the scored ones not marked
# lost whose score says otherwise. UPDATE ... FROM: PostgreSQL, and SQLite 3.33+.
BACKFILL = (
    "UPDATE contacts SET standing = lifecycle WHERE lifecycle <> 'active'",
    "UPDATE contacts SET standing = r.lifecycle FROM retention_scores r"
    " WHERE r.contact_id = contacts.id AND contacts.lifecycle <> 'lost'"
    " AND contacts.standing <> r.lifecycle",
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # Not in a batch: SQLite adds a column with a constant default in place.
    op.add_column(
        "contacts",
        sa.Column("standing", sa.String(length=20), server_default="active", nullable=False),
    )
    for statement in BACKFILL:
        op.execute(sa.text(statement))
    op.create_index(
        "ix_contacts_standing_recent", "contacts", ["standing", "last_interaction_at", "id"]
    )
    # 0019life's index for the list's `lifecycle=lost` (the agent's mark): nothing reads
    # it now, and every contact written moves it.
    op.drop_index("ix_contacts_lifecycle", table_name="contacts")
    for statement in PG_DDL if postgres else SQLITE_DDL:
        op.execute(sa.text(statement))


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in PG_DROP if postgres else SQLITE_DROP:
        op.execute(sa.text(statement))
    op.create_index("ix_contacts_lifecycle", "contacts", ["lifecycle"])
    op.drop_index("ix_contacts_standing_recent", table_name="contacts")
    # In place on SQLite too (ALTER TABLE DROP COLUMN, SQLite 3.35): no table copy.
    op.drop_column("contacts", "standing")
