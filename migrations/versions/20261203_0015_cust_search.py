"""contacts.search_text (generated) and the indexes of the customers list's search (issue 15)

The customers list's `q=` was an ILIKE '%...%' over name, phone and email of every
contact. `search_text` is one generated column over the three (virtual on SQLite,
stored on PostgreSQL); on SQLite it lives in the recency index the list walks, on
PostgreSQL a pg_trgm GIN index answers it.

Revision ID: 0014cust
Revises: 0014due
Create Date: 2026-12-03 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014cust"
down_revision: str | None = "0014due"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_TEXT_SQL = (
    "lower(coalesce(name, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(email, ''))"
)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # A trusted extension since PostgreSQL 13: the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Not in a batch: SQLite adds a virtual generated column in place (no table copy);
    # PostgreSQL stores it (the trigram index needs a stored column).
    op.add_column(
        "contacts",
        sa.Column(
            "search_text",
            sa.Text(),
            sa.Computed(SEARCH_TEXT_SQL, persisted=postgres),
            nullable=True,
        ),
    )
    op.drop_index("ix_contacts_last_interaction_at", table_name="contacts")
    op.create_index(
        "ix_contacts_recent_search",
        "contacts",
        ["last_interaction_at", "id", "merged_into_id", "search_text"],
    )
    op.create_index(
        "ix_contacts_search_text_trgm",
        "contacts",
        ["search_text"],
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
        sqlite_where=sa.text("0"),
    )


def downgrade() -> None:
    op.drop_index("ix_contacts_search_text_trgm", table_name="contacts")
    op.drop_index("ix_contacts_recent_search", table_name="contacts")
    op.create_index("ix_contacts_last_interaction_at", "contacts", ["last_interaction_at"])
    # In place on SQLite too (ALTER TABLE DROP COLUMN, SQLite 3.35): no table copy.
    op.drop_column("contacts", "search_text")
