"""inbox list indexes on (status, last_message_at, id) and (last_message_at, id)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_conversations_status_last_message_at", table_name="conversations")
    op.create_index(
        "ix_conversations_status_last_message_at_id",
        "conversations",
        ["status", "last_message_at", "id"],
    )
    op.create_index(
        "ix_conversations_last_message_at_id", "conversations", ["last_message_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_last_message_at_id", table_name="conversations")
    op.drop_index("ix_conversations_status_last_message_at_id", table_name="conversations")
    op.create_index(
        "ix_conversations_status_last_message_at", "conversations", ["status", "last_message_at"]
    )
