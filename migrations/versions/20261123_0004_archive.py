"""archive: the message search index, agent presence, conversations.assigned_at

The search index is built by the application (app/searchindex/terms.py): on SQLite a
contentless FTS5 table, on PostgreSQL a tsvector table with a GIN index. Both live
outside the ORM metadata. Messages stored before this revision are indexed here.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.base
from app.searchindex import index as search

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = app.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agent_presence",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_seen_at", UTC, nullable=False),
        sa.Column("last_assigned_at", UTC, nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_agent_presence_user_id_users")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_agent_presence")),
    )
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("assigned_at", UTC, nullable=True))
    # Existing assignments start their clock now rather than at the epoch, so the
    # first re-queue sweep after the upgrade does not empty everyone's list.
    op.execute(
        sa.text("UPDATE conversations SET assigned_at = updated_at WHERE assignee_id IS NOT NULL")
    )

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.create_table(
            "message_search",
            sa.Column("message_id", sa.Integer(), nullable=False),
            sa.Column("channel_id", sa.Integer(), nullable=False),
            sa.Column("created_at", UTC, nullable=False),
            sa.Column("tsv", postgresql.TSVECTOR(), nullable=False),
            sa.ForeignKeyConstraint(
                ["message_id"], ["messages.id"], name=op.f("fk_message_search_message_id_messages")
            ),
            sa.PrimaryKeyConstraint("message_id", name=op.f("pk_message_search")),
        )
        op.create_index("ix_message_search_tsv", "message_search", ["tsv"], postgresql_using="gin")
    else:
        op.execute(sa.text(search.fts5_create()))
    search.backfill(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_index("ix_message_search_tsv", table_name="message_search")
        op.drop_table("message_search")
    else:
        op.execute(sa.text("DROP TABLE message_search"))
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_column("assigned_at")
    op.drop_table("agent_presence")
