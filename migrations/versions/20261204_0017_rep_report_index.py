"""conversation_facts: a covering index for the service report on SQLite (issue 16)

On SQLite the report over a year read every conversation's facts row through the
`created_at` index, one random table read per row; it now reads only the covering
index `ix_conversation_facts_report` (every column the report uses), and the
`created_at` index is kept empty there (WHERE 0) so each facts write updates one index.
PostgreSQL keeps the `created_at` index (a year's report is one sequential scan and
the counts' updates stay HOT): the covering index is empty there (WHERE false).

Revision ID: 0016rep
Revises: 0016trgm
Create Date: 2026-12-04 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016rep"
down_revision: str | None = "0016trgm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = [
    "created_at",
    "channel_id",
    "first_response_agent_id",
    "first_response_business_s",
    "resolution_s",
    "csat_score",
    "messages_in",
    "messages_out",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_conversation_facts_created_at", table_name="conversation_facts")
        op.create_index(
            "ix_conversation_facts_created_at",
            "conversation_facts",
            ["created_at"],
            sqlite_where=sa.text("0"),
        )
    op.create_index(
        "ix_conversation_facts_report",
        "conversation_facts",
        COLUMNS,
        postgresql_where=sa.text("false"),
    )


def downgrade() -> None:
    op.drop_index("ix_conversation_facts_report", table_name="conversation_facts")
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("ix_conversation_facts_created_at", table_name="conversation_facts")
        op.create_index("ix_conversation_facts_created_at", "conversation_facts", ["created_at"])
