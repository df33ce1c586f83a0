"""search: id-bucket lexemes in the PostgreSQL index (app/searchindex/index.py BUCKET_SHIFT)

Documents indexed before this revision get their bucket lexeme, so that the bucketed
search steps find them. Nothing changes on SQLite (FTS5 walks rowids newest first).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fixed here as it was when written: a later change of the constant needs its own migration.
BUCKET_SHIFT = 14


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "UPDATE message_search SET tsv = tsv || "
        f"array_to_tsvector(ARRAY['~b' || (message_id >> {BUCKET_SHIFT})])"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "UPDATE message_search SET tsv = ts_delete(tsv, "
        f"'~b' || (message_id >> {BUCKET_SHIFT}))"
    )
